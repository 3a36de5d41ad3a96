#!/usr/bin/python3
"""Re-ranked recall@10 of FAISS's IVF-PQ against the candidates re-scored per result, for 4-bit and
8-bit codes of the same bytes a vector (issue 24: the choice of Weft's default codes).

On the files ivfpq_faiss.py writes (data.fvecs, queries.fvecs): one coarse quantiser trained once
(on a quarter of the data), IVF-Flat beside it, then IndexIVFPQ with m 96 x 4 bits and m 48 x 8
bits on that quantiser (codebooks trained on an eighth of the data), each query's k x R best by
the codes re-scored exactly. Also prints how close the neighbours are (median squared distances
of the 1st, 10th, 11th and 100th): where the 10th and 11th are near-ties, every method needs
many candidates.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 bench/anchors/pq_rerank_sweep.py \\
        --dir /tmp/pq1m --nlist 2048 --nprobe 8
"""
import argparse
import json
import time

import faiss
import numpy as np

p = argparse.ArgumentParser()
p.add_argument('--dir', required=True)
p.add_argument('--nlist', type=int, default=2048)
p.add_argument('--nprobe', type=int, default=8)
p.add_argument('--k', type=int, default=10)
p.add_argument('--rerank', default='4,8,16,32,64')
a = p.parse_args()


def read_fvecs(path):
    raw = np.fromfile(path, dtype='int32')
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].copy().view('float32')


data, queries = read_fvecs(f'{a.dir}/data.fvecs'), read_fvecs(f'{a.dir}/queries.fvecs')
d, k = data.shape[1], a.k
flat = faiss.IndexFlatL2(d)
flat.add(data)
dist, truth = flat.search(queries, 100)
ties = {f'd{i + 1}': float(np.median(dist[:, i])) for i in (0, 9, 10, 99)}
coarse = faiss.IndexFlatL2(d)
ivf = faiss.IndexIVFFlat(coarse, d, a.nlist)
ivf.train(data[::4])
ivf.add(data)
ivf.nprobe = a.nprobe
_, found = ivf.search(queries, k)
recall_flat = float(np.mean([len(set(found[i]) & set(truth[i][:k])) / k for i in range(len(queries))]))
reranks = [int(r) for r in a.rerank.split(',')]
codes = {}
for m, bits in [(96, 4), (48, 8)]:
    t0 = time.time()
    pq = faiss.IndexIVFPQ(coarse, d, a.nlist, m, bits)
    pq.train(data[::8])
    pq.add(data)
    pq.nprobe = a.nprobe
    _, cand = pq.search(queries, k * max(reranks))
    out = {}
    for r in reranks:
        rec = []
        for i in range(len(queries)):
            c = cand[i][: k * r]
            c = c[c >= 0]
            exact = ((data[c] - queries[i]) ** 2).sum(1)
            rec.append(len(set(c[np.argsort(exact)[:k]]) & set(truth[i][:k])) / k)
        out[r] = float(np.mean(rec))
    codes[f'm{m}x{bits}'] = {'recallReranked': out, 'seconds': time.time() - t0}
print(json.dumps({'faiss': faiss.__version__, 'n': len(data), 'nlist': a.nlist, 'nprobe': a.nprobe, 'k': k, 'neighbourDistances': ties,
                  'recallIvfFlat': recall_flat, 'codes': codes}, indent=1))
