#!/usr/bin/python3
"""FAISS's IVF-PQ as the anchor for `npm run bench -- search --storage pq` (issue 24).

Builds a realistic set from the 778 real all-MiniLM-L6-v2 vectors in ../shared/assets (each row
repeated with Gaussian noise and normalised again), writes it as data.fvecs and queries.fvecs into
OUT, and reports FAISS's recall@10 against nprobe for IndexIVFFlat, IndexIVFPQ (the codes alone)
and IndexIVFPQ refined by the exact vectors (k x rerank candidates). Weft's run on the same files:

    /usr/bin/python3 bench/anchors/ivfpq_faiss.py --out /tmp/pq-anchor
    npm run bench -- search --storage pq --data /tmp/pq-anchor/data.fvecs --queries /tmp/pq-anchor/queries.fvecs \
        --nlist 128 --pq-m 48 --nprobe 2,4,8,16,32

Needs Debian's python3-faiss and python3-numpy (apt install python3-faiss).
"""
import argparse
import json
import os
import time

import numpy as np

from minilm_noisy import covariance_shape, load_real, noisy as noisy_rows, write_fvecs

p = argparse.ArgumentParser()
p.add_argument('--out', required=True)
p.add_argument('--assets', default=os.path.join(os.path.dirname(__file__), '../../../shared/assets'))
p.add_argument('--n', type=int, default=20000)
p.add_argument('--nq', type=int, default=100)
p.add_argument('--noise', type=float, default=0.02, help='per-dimension standard deviation of the noise')
p.add_argument('--shape', choices=['iid', 'covariance'], default='iid',
               help="the noise's shape: the same in every direction, or the real vectors' covariance (minilm_noisy.py)")
p.add_argument('--write-only', action='store_true', help='write the set and stop (pq_rerank_sweep.py measures it)')
p.add_argument('--nlist', type=int, default=128)
p.add_argument('--m', type=int, default=48)
p.add_argument('--bits', type=int, default=8)
p.add_argument('--rerank', default='10', help='candidates re-ranked per result: one figure, or several (4,16,64)')
p.add_argument('--k', type=int, default=10)
p.add_argument('--nprobe', default='2,4,8,16,32')
p.add_argument('--seed', type=int, default=1)
a = p.parse_args()

real = load_real(a.assets)
rng = np.random.default_rng(a.seed)


shape = covariance_shape(real) if a.shape == 'covariance' else None


def noisy(count):
    return noisy_rows(real, rng, count, a.noise, shape)


data, queries = noisy(a.n), noisy(a.nq)
os.makedirs(a.out, exist_ok=True)


write_fvecs(os.path.join(a.out, 'data.fvecs'), data)
write_fvecs(os.path.join(a.out, 'queries.fvecs'), queries)
if a.write_only:
    raise SystemExit(0)

import faiss  # noqa: E402 (after the set is written: --write-only runs where numpy is and FAISS is not, e.g. a lent GPU machine)

d = 384
flat = faiss.IndexFlatL2(d)
flat.add(data)
_, truth = flat.search(queries, a.k)


def recall(ids):
    return float(np.mean([len(set(ids[i]) & set(truth[i])) / a.k for i in range(len(truth))]))


ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, a.nlist)
ivf.train(data)
ivf.add(data)
t0 = time.time()
pq = faiss.IndexIVFPQ(faiss.IndexFlatL2(d), d, a.nlist, a.m, a.bits)
pq.train(data)
refined = faiss.IndexRefineFlat(pq)  # adds to the PQ index and keeps the exact vectors beside it
refined.add(data)
build = time.time() - t0
reranks = [int(s) for s in a.rerank.split(',')]
rows = []
for nprobe in [int(s) for s in a.nprobe.split(',')]:
    ivf.nprobe = nprobe
    pq.nprobe = nprobe
    refinedAt = {}
    for r in reranks:
        refined.k_factor = r
        refinedAt[r] = recall(refined.search(queries, a.k)[1])
    rows.append({
        'nprobe': nprobe,
        'recallIvfFlat': recall(ivf.search(queries, a.k)[1]),
        'recallCodes': recall(pq.search(queries, a.k)[1]),
        # At the first --rerank figure; `refined` has each figure's.
        'recallRefined': refinedAt[reranks[0]],
        'refined': refinedAt,
    })
bytes_per_vector = pq.code_size + 8  # codes + the 8-byte id FAISS keeps per vector
print(json.dumps({'faiss': faiss.__version__, 'n': a.n, 'nlist': a.nlist, 'm': a.m, 'bits': a.bits, 'rerank': reranks[0] if len(reranks) == 1 else reranks,
                  'noise': a.noise, 'shape': a.shape, 'buildSeconds': build, 'bytesPerVector': bytes_per_vector, 'rows': rows}, indent=1))
