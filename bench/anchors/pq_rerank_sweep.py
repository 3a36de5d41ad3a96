#!/usr/bin/python3
"""Re-ranked recall@10 of FAISS's IVF-PQ against the candidates re-scored per result, for 4-bit and
8-bit codes of the same bytes a vector (issue 24: the choice of Weft's default codes).

On the files ivfpq_faiss.py writes (data.fvecs, queries.fvecs): one coarse quantiser trained once
(on a quarter of the data), IVF-Flat beside it, then IndexIVFPQ with m 96 x 4 bits and m 48 x 8
bits on that quantiser (codebooks trained on an eighth of the data), each query's k x R best by
the codes re-scored exactly. Also prints how close the neighbours are (median squared distances
of the 1st, 10th, 11th and 100th, and the queries' local intrinsic dimension, minilm_noisy.lid):
where the 10th and 11th are near-ties, every method needs many candidates.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 bench/anchors/pq_rerank_sweep.py \\
        --dir /tmp/pq1m --nlist 2048 --nprobe 8,16
"""
import argparse
import json
import time

import faiss
import numpy as np

from minilm_noisy import lid

p = argparse.ArgumentParser()
p.add_argument('--dir', required=True)
p.add_argument('--nlist', type=int, default=2048)
p.add_argument('--nprobe', default='8', help='one figure or several (8,16)')
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
nprobes = [int(s) for s in a.nprobe.split(',')]
reranks = [int(r) for r in a.rerank.split(',')]


def recall(found):
    return float(np.mean([len(set(found[i]) & set(truth[i][:k])) / k for i in range(len(queries))]))


coarse = faiss.IndexFlatL2(d)
ivf = faiss.IndexIVFFlat(coarse, d, a.nlist)
ivf.train(data[::4])
ivf.add(data)
recall_flat = {}
flat_found = {}
for nprobe in nprobes:
    ivf.nprobe = nprobe
    flat_found[nprobe] = ivf.search(queries, k)[1]
    recall_flat[nprobe] = recall(flat_found[nprobe])


def need_quantiles(cand, found):
    """Weft's measure of a query's need (src/ivf/pq-calibrate.ts, the rerank tuner): the candidates
    per result that hold all of IVF-Flat's top k in the code ranking of the same lists, capped at
    the most searched + 1; its median, 0.9 and 0.99 quantiles (export publishes twice the 0.99)."""
    needs = []
    for i in range(len(queries)):
        position = {int(c): p for p, c in enumerate(cand[i]) if c >= 0}
        last = max(position.get(int(t), len(cand[i])) for t in found[i])
        needs.append(min(max(reranks) + 1, -(-(last + 1) // k)))
    return {str(q): float(np.quantile(needs, q, method='higher')) for q in (0.5, 0.9, 0.99)}


codes = {}
for m, bits in [(96, 4), (48, 8)]:
    t0 = time.time()
    pq = faiss.IndexIVFPQ(coarse, d, a.nlist, m, bits)
    pq.train(data[::8])
    pq.add(data)
    at = {}
    needs = {}
    for nprobe in nprobes:
        pq.nprobe = nprobe
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
        at[nprobe] = out
        needs[nprobe] = need_quantiles(cand, flat_found[nprobe])
    # One nprobe: its figures alone, as before; several: by nprobe.
    one = len(nprobes) == 1
    codes[f'm{m}x{bits}'] = {'recallReranked': at[nprobes[0]] if one else at, 'needQuantiles': needs[nprobes[0]] if one else needs,
                             'seconds': time.time() - t0}
print(json.dumps({'faiss': faiss.__version__, 'n': len(data), 'nlist': a.nlist, 'nprobe': nprobes[0] if len(nprobes) == 1 else nprobes, 'k': k,
                  'neighbourDistances': ties, 'lid': lid(dist), 'recallIvfFlat': recall_flat[nprobes[0]] if len(nprobes) == 1 else recall_flat,
                  'codes': codes}, indent=1))
