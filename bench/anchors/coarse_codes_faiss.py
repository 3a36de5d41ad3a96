#!/usr/bin/python3
"""Ranking the lists by PQ codes of their centroids, against the exact coarse step (issue 24: a
visitor's first answer from a 1M-passage index on a static host).

A grouped file (layout 5) makes a reader fetch the super-centroids at open and then the groups a
query reaches. On the MiniLM set with noise of the real vectors' covariance (minilm_noisy.py
--shape covariance, whose neighbours are not near-ties) a query needs 12-13 groups to keep
recall@10 within 0.01 of the exact coarse step, whatever the number of groups (45-256):
340-660 KB of centroids before its lists (coarse_groups_recall.py --shape covariance). This
measures the other way to fetch less than every centroid: every list's centroid as a PQ code
(a coarse codebook trained on the centroids), all of them read at open (48 bytes a list at
m 96 x 4 bits: 98 KB at nlist 2048), the lists ranked by those codes, and either the best nprobe
probed as ranked, or the best 2 x nprobe re-ranked by their exact centroids (fetched with the
lists' places) and the best nprobe of those probed. Recall@10 is IVF-Flat's with exactly those
lists probed (FAISS search_preassigned), against the exact top 10.

The re-ranking needs the best 2 x nprobe lists' exact centroids (and the scan their toc entries):
with the lists' places kept in pages (lists grouped by k-means on their centroids, as layout 5
groups them), `pages` reports how many pages, and bytes, a query reads for them with the m 96 x 4
codes (a place: 384 x 2 centroid bytes and 120 of toc entries).

Data and queries as coarse_groups_recall.py makes them (seed 1, n 1,000,000, nq 1000: half drawn
like the data, half midpoints of two vectors of one list); the centroids trained here (k-means,
niter 10).

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 bench/anchors/coarse_codes_faiss.py \\
        --shape covariance --json bench/results/coarse-codes-faiss-minilm-shaped.json

Needs Debian's python3-faiss and python3-numpy.
"""
import argparse
import json
import sys
import time

import faiss
import numpy as np

from minilm_noisy import DIM, covariance_shape, group_centroids, load_real, midpoint_queries, noisy

p = argparse.ArgumentParser()
p.add_argument('--shape', choices=['iid', 'covariance'], default='covariance')
p.add_argument('--n', type=int, default=1000000)
p.add_argument('--nq', type=int, default=1000)
p.add_argument('--noise', type=float, default=0.035)
p.add_argument('--nlist', type=int, default=2048)
p.add_argument('--nprobe', default='8,16')
p.add_argument('--codes', default='96x4,48x8,192x4', help='coarse codes to try, m x bits')
p.add_argument('--pages', default='91,256,512,2048',
               help="lists' places (toc entries and exact centroid) kept in this many pages, by k-means on the centroids (nlist: one a list)")
p.add_argument('--seed', type=int, default=1)
p.add_argument('--json')
a = p.parse_args()
K = 10
d = DIM
t_all = time.time()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


real = load_real()
shape = covariance_shape(real) if a.shape == 'covariance' else None
data = noisy(real, np.random.default_rng(a.seed), a.n, a.noise, shape)
qrng = np.random.default_rng(a.seed + 1000)
plain = noisy(real, qrng, a.nq - a.nq // 2, a.noise, shape)
km = faiss.Kmeans(d, a.nlist, niter=10, seed=a.seed, max_points_per_centroid=256, verbose=False)
km.train(data)
centroids = km.centroids.astype('f4')
flat = faiss.IndexFlatL2(d)
flat.add(centroids)
mids = midpoint_queries(data, flat, a.nlist, qrng, a.nq // 2, 200000)
queries = np.ascontiguousarray(np.vstack([plain, np.array(mids, dtype='f4')]), dtype='f4')
index = faiss.IndexIVFFlat(flat, d, a.nlist)
index.is_trained = True
index.add(data)
exact = faiss.IndexFlatL2(d)
exact.add(data)
_, truth = exact.search(queries, K)
del exact
log(f'data, centroids, queries and truth in {time.time() - t_all:.0f} s')


def recall(found):
    return float(np.mean([len(np.intersect1d(found[q], truth[q])) for q in range(len(queries))]) / K)


def probe(lists):
    """IVF-Flat's top K with exactly `lists` (nq x w) probed."""
    nq, w = lists.shape
    index.nprobe = w
    distances = np.empty((nq, K), dtype='f4')
    found = np.empty((nq, K), dtype='int64')
    assign = np.ascontiguousarray(lists, dtype='int64')
    coarse = np.zeros(assign.shape, dtype='f4')  # unused by IVF-Flat's exact scan
    index.search_preassigned(nq, faiss.swig_ptr(queries), K, faiss.swig_ptr(assign), faiss.swig_ptr(coarse),
                             faiss.swig_ptr(distances), faiss.swig_ptr(found), False)
    return found


nprobes = [int(s) for s in a.nprobe.split(',')]
_, by_exact = flat.search(queries, max(nprobes))
baseline = {n: recall(probe(by_exact[:, :n])) for n in nprobes}
log('exact coarse step: ' + ', '.join(f'nprobe {n} {r:.4f}' for n, r in baseline.items()))


def ranked_by_codes(m, bits):
    """Each query's best 2 x max(nprobe) lists by m x bits PQ codes of the centroids (a coarse codebook trained on them)."""
    pq = faiss.IndexPQ(d, m, bits)
    pq.train(centroids)
    pq.add(centroids)
    return pq.search(queries, 2 * max(nprobes))[1]


rankings = {}
rows = []
for spec in a.codes.split(','):
    m, bits = (int(s) for s in spec.split('x'))
    by_codes = rankings[(m, bits)] = ranked_by_codes(m, bits)
    row = {'m': m, 'bits': bits, 'openBytes': a.nlist * m * bits // 8, 'codebookBytes': 2**bits * d * 2, 'nprobe': {}}
    for n in nprobes:
        wide = by_codes[:, : 2 * n]
        exact_keys = ((centroids[wide] - queries[:, None, :]) ** 2).sum(2)
        reranked = np.take_along_axis(wide, np.argsort(exact_keys, axis=1, kind='stable')[:, :n], axis=1)
        row['nprobe'][n] = {'asRanked': recall(probe(by_codes[:, :n])), 'twiceThenExact': recall(probe(reranked))}
    rows.append(row)
    log(f'm {m} x {bits}: ' + ', '.join(f'nprobe {n} {v["asRanked"]:.4f} / {v["twiceThenExact"]:.4f}' for n, v in row['nprobe'].items()))
PLACE_BYTES = d * 2 + 120
by_codes = rankings[(96, 4)] if (96, 4) in rankings else ranked_by_codes(96, 4)
pages = []
for count in [int(s) for s in a.pages.split(',')]:
    if count >= a.nlist:
        page_of, sizes = np.arange(a.nlist), np.ones(a.nlist, dtype='int64')
    else:
        _, _, page_of, sizes = group_centroids(centroids, count, a.seed)
    row = {'pages': min(count, a.nlist), 'nprobe': {}}
    for n in nprobes:
        read = [np.unique(page_of[by_codes[q, : 2 * n]]) for q in range(len(queries))]
        row['nprobe'][n] = {'meanPages': float(np.mean([len(r) for r in read])),
                            'meanBytes': float(np.mean([sizes[r].sum() * PLACE_BYTES for r in read])),
                            'maxBytes': int(max(sizes[r].sum() * PLACE_BYTES for r in read))}
    pages.append(row)
    log(f'{row["pages"]} pages: ' + ', '.join(f'nprobe {n} {v["meanPages"]:.1f} pages, {v["meanBytes"] / 1e3:.0f} KB' for n, v in row['nprobe'].items()))
out = {'faiss': faiss.__version__, 'options': vars(a), 'baseline': baseline, 'codes': rows, 'pages': pages, 'wallSeconds': time.time() - t_all}
text = json.dumps(out, indent=1)
if a.json:
    with open(a.json, 'w') as f:
        f.write(text + '\n')
print(text)
