#!/usr/bin/python3
"""FAISS measures a two-level coarse quantiser for an IVF index published as one static file.

Today a visitor downloads all nlist centroids (2048 x 384 at f16 = 1.57 MB) before the first answer.
The plan: k-means the nlist centroids into G super-centroids (each list belongs to its nearest one);
a query ranks the G super-centroids, fetches the centroids of the first g groups only, and probes the
best nprobe lists among them. This script says how many groups g(q) a query needs so that its exact
top-nprobe lists (by L2 over all nlist centroids) are all inside the groups fetched, the list recall
at fixed g, and the bytes:

    opening      G x 384 x 2 (super-centroids, f16) + nlist x 4 (list -> group map)
    each group   (its lists) x (384 x 2 centroid bytes + 120 bytes of table-of-contents entries)

Data: --data minilm is ivfpq_faiss.py's "MiniLM with noise" (minilm_noisy.py; data drawn from
default_rng(seed)); --data gaussian is a mixture of --centres random Gaussian directions in 384-d,
each point = its centre (unit) + N(0, noise) per dimension, normalised. Queries: half drawn the same
way as the data from default_rng(seed + 1000); half the normalised midpoint of two data vectors of
the same list (pairs taken among a sample of assigned data points). All vectors are unit length, so
L2 ranks as cosine does.

    /usr/bin/python3 bench/anchors/coarse_groups_faiss.py --data minilm --out /tmp/groups-anchor
    /usr/bin/python3 bench/anchors/coarse_groups_faiss.py --data gaussian --out /tmp/groups-anchor-gauss

Writes centroids.fvecs and queries.fvecs into OUT and the numbers to --json
(default bench/results/coarse-groups-faiss-<minilm-noisy|gaussian>[-nlistN][-nK].json).
Needs Debian's python3-faiss and python3-numpy.
"""
import argparse
import json
import math
import os
import sys
import time

import faiss
import numpy as np

from minilm_noisy import DEFAULT_ASSETS, DIM, group_centroids, load_real, midpoint_queries, noisy, write_fvecs

p = argparse.ArgumentParser()
p.add_argument('--data', choices=['minilm', 'gaussian'], default='minilm')
p.add_argument('--n', type=int, default=1000000)
p.add_argument('--nq', type=int, default=1000)
p.add_argument('--noise', type=float, default=0.035, help='per-dimension standard deviation of the noise')
p.add_argument('--centres', type=int, default=4096, help='--data gaussian: number of mixture centres')
p.add_argument('--nlist', type=int, default=2048)
p.add_argument('--groups', default='32,64,128,256')
p.add_argument('--nprobe', default='4,8,16,32')
p.add_argument('--niter', type=int, default=10)
p.add_argument('--seed', type=int, default=1)
p.add_argument('--assets', default=DEFAULT_ASSETS)
p.add_argument('--out', required=True)
p.add_argument('--json')
p.add_argument('--spherical', action='store_true',
               help='super-centroids by spherical k-means (normalised), so lists and queries pick groups by cosine')
p.add_argument('--k', type=int, default=10, help='neighbour recall: the true top-k vectors of each query (0: skip)')
p.add_argument('--pair-sample', type=int, default=200000, help='data points assigned to lists to draw midpoint pairs from')
a = p.parse_args()

groups_list = [int(s) for s in a.groups.split(',')]
nprobes = [int(s) for s in a.nprobe.split(',')]
d = DIM
CENTROID_BYTES = d * 2
TOC_BYTES = 120
ALL_CENTROIDS = a.nlist * CENTROID_BYTES
walls = {}
t_all = time.time()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# 1. the points
t0 = time.time()
if a.data == 'minilm':
    real = load_real(a.assets)
    data = noisy(real, np.random.default_rng(a.seed), a.n, a.noise)
    qrng = np.random.default_rng(a.seed + 1000)
    plain_queries = noisy(real, qrng, a.nq - a.nq // 2, a.noise)
else:
    crng = np.random.default_rng(a.seed)
    centres = crng.normal(0, 1, (a.centres, d)).astype('f4')
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def mixture(rng, count):
        rows = centres[rng.integers(0, a.centres, count)] + rng.normal(0, a.noise, (count, d)).astype('f4')
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype('f4')

    data = mixture(np.random.default_rng([a.seed, 1]), a.n)
    qrng = np.random.default_rng(a.seed + 1000)
    plain_queries = mixture(qrng, a.nq - a.nq // 2)
walls['generate'] = time.time() - t0
log(f'generated {a.n} x {d} ({a.data}) in {walls["generate"]:.1f} s')

# the nlist centroids (FAISS subsamples to 256 x nlist points)
t0 = time.time()
km = faiss.Kmeans(d, a.nlist, niter=a.niter, seed=a.seed, max_points_per_centroid=256, verbose=False)
km.train(data)
centroids = km.centroids.astype('f4')
walls['trainCentroids'] = time.time() - t0
log(f'trained {a.nlist} centroids in {walls["trainCentroids"]:.1f} s')

# the midpoint queries: two data vectors of the same list
t0 = time.time()
flat = faiss.IndexFlatL2(d)
flat.add(centroids)
mids = midpoint_queries(data, flat, a.nlist, qrng, a.nq // 2, a.pair_sample)
queries = np.vstack([plain_queries] + ([np.array(mids, dtype='f4')] if mids else [])).astype('f4')
walls['queries'] = time.time() - t0

# neighbour recall: which list holds each query's true top-k vectors (IVF-Flat reach: exact distances inside lists)
nb_list = None
if a.k:
    t0 = time.time()
    _, assign = flat.search(data, 1)
    exact = faiss.IndexFlatL2(d)
    exact.add(data)
    _, truth = exact.search(queries, a.k)
    nb_list = assign[:, 0][truth]  # nq x k
    del exact, assign
    walls['neighbours'] = time.time() - t0
    log(f'assigned {a.n} points and found the exact top-{a.k} in {walls["neighbours"]:.1f} s')
del data

os.makedirs(a.out, exist_ok=True)
write_fvecs(os.path.join(a.out, 'centroids.fvecs'), centroids)
write_fvecs(os.path.join(a.out, 'queries.fvecs'), queries)

# 2. the exact ranking of the lists for each query
maxp = max(nprobes)
_, full = flat.search(queries, a.nlist)  # every list, nearest centroid first
top = full[:, :maxp]
qi = np.arange(len(queries))[:, None]
flat_recall = {}
if nb_list is not None:
    list_rank = np.empty_like(full)
    list_rank[qi, full] = np.arange(a.nlist)[None, :]
    nb_rank = list_rank[qi, nb_list]  # rank of each neighbour's list in the exact coarse order
    flat_recall = {p: float((nb_rank < p).mean()) for p in nprobes}


def quantile(x, q):
    return int(np.quantile(x, q, method='higher'))


# 3./4. the groups
t0 = time.time()
results = []
for G in groups_list:
    supers, sflat, grp, gsize = group_centroids(centroids, G, a.seed, a.spherical)
    _, gorder = sflat.search(queries, G)  # each query's groups, nearest super-centroid first
    rank = np.empty_like(gorder)
    rank[np.arange(len(queries))[:, None], gorder] = np.arange(G)[None, :]  # rank[q, group]
    cum_lists = np.cumsum(gsize[gorder], axis=1)  # lists held by the first g groups, per query
    opening = G * CENTROID_BYTES + a.nlist * 4
    gs = sorted({min(1 << i, G) for i in range(int(math.log2(G)) + 1)} | {G})
    nb_by_g = {}  # neighbour recall of the two-level probe, per g then nprobe
    if nb_list is not None:
        fetched_rank_sorted = rank[qi, grp[full]]  # group rank of each list, lists in exact coarse order
        for g in range(1, G + 1):
            fetched = fetched_rank_sorted < g
            pos = np.cumsum(fetched, axis=1)  # probe order among the fetched lists
            probed_sorted = {p: fetched & (pos <= p) for p in nprobes}
            nb_by_g[g] = {}
            for p_ in nprobes:
                probed = np.zeros_like(fetched)
                probed[qi, full] = probed_sorted[p_]
                nb_by_g[g][p_] = float(probed[qi, nb_list].mean())
    row = {'G': G, 'groupSizes': {'min': int(gsize.min()), 'median': float(np.median(gsize)),
                                  'max': int(gsize.max()), 'empty': int((gsize == 0).sum())},
           'openingBytes': opening, 'nprobe': []}
    for nprobe in nprobes:
        need_rank = rank[np.arange(len(queries))[:, None], grp[top[:, :nprobe]]]  # group rank of each true list
        gq = need_rank.max(axis=1) + 1
        qs = {k: quantile(gq, q) for k, q in (('q50', 0.5), ('q90', 0.9), ('q99', 0.99))}
        qs['max'] = int(gq.max())
        qs['mean'] = float(gq.mean())

        def bytes_at(g):
            lists = cum_lists[:, g - 1]
            return {'g': g, 'meanLists': float(lists.mean()),
                    'bytes': float(opening + lists.mean() * (CENTROID_BYTES + TOC_BYTES)),
                    'maxBytes': int(opening + lists.max() * (CENTROID_BYTES + TOC_BYTES))}
        recall_by_g = np.cumsum(np.bincount(need_rank.ravel(), minlength=G)) / need_rank.size  # [g - 1]
        for_recall = {}
        for target in (0.9, 0.95, 0.99):
            g = int(np.argmax(recall_by_g >= target - 1e-12)) + 1
            for_recall[str(target)] = {'g': g, 'listRecall': float(recall_by_g[g - 1]),
                                       'allHeld': float((gq <= g).mean()), **bytes_at(g)}
        at = [{'g': g, 'listRecall': float((need_rank < g).mean()), 'allHeld': float((gq <= g).mean()),
               'bytes': bytes_at(g)['bytes'], **({'neighbourRecall': nb_by_g[g][nprobe]} if nb_by_g else {})} for g in gs]
        nb = {}
        if nb_by_g:
            nb = {'flatNeighbourRecall': flat_recall[nprobe], 'neighbourRecallAtQ99': nb_by_g[qs['q99']][nprobe]}
            for loss in (0.01, 0.005):
                g = next(g for g in range(1, G + 1) if nb_by_g[g][nprobe] >= flat_recall[nprobe] - loss - 1e-12)
                nb[f'forNeighbourLoss{loss}'] = {'g': g, 'neighbourRecall': nb_by_g[g][nprobe], **bytes_at(g)}
        row['nprobe'].append({'nprobe': nprobe, 'gq': qs, 'atG': at,
                              'bytesAtQ50': bytes_at(qs['q50']), 'bytesAtQ90': bytes_at(qs['q90']),
                              'bytesAtQ99': bytes_at(qs['q99']), 'forListRecall': for_recall,
                              'bytesAtQ99OverAllCentroids': bytes_at(qs['q99'])['bytes'] / ALL_CENTROIDS, **nb})
    results.append(row)
walls['groups'] = time.time() - t0
walls['total'] = time.time() - t_all

# 5. the table
print(f'{a.data} n={a.n} nq={len(queries)} nlist={a.nlist} noise={a.noise}  all centroids {ALL_CENTROIDS} B '
      f'({ALL_CENTROIDS / 1e6:.2f} MB); walls ' + ', '.join(f'{k} {v:.0f}s' for k, v in walls.items()))
print('   G sizes(min/med/max) nprobe | g(q) q50 q90 q99 max | recall@g=1,2,4,8,16 | all@g=1,2,4,8,16 | '
      'lists@q99  KB@q99 (x all) | g,KB for list recall .95 .99')
for row in results:
    s = row['groupSizes']
    for r in row['nprobe']:
        byg = {x['g']: x for x in r['atG']}
        rec = ' '.join(f'{byg[g]["listRecall"]:.3f}' if g in byg else '  -  ' for g in (1, 2, 4, 8, 16))
        held = ' '.join(f'{byg[g]["allHeld"]:.2f}' if g in byg else '  - ' for g in (1, 2, 4, 8, 16))
        b = r['bytesAtQ99']
        print(f'{row["G"]:4d} {s["min"]:4d}/{s["median"]:5.1f}/{s["max"]:4d}  {r["nprobe"]:6d} | '
              f'{r["gq"]["q50"]:8d} {r["gq"]["q90"]:3d} {r["gq"]["q99"]:3d} {r["gq"]["max"]:3d} | {rec} | {held} | '
              f'{b["meanLists"]:8.1f} {b["bytes"] / 1e3:7.1f} ({r["bytesAtQ99OverAllCentroids"]:.2f}) | ' +
              ' '.join(f'{r["forListRecall"][t]["g"]:3d},{r["forListRecall"][t]["bytes"] / 1e3:6.1f}' for t in ('0.95', '0.99')))

if nb_list is not None:
    print(f'neighbour recall (true top-{a.k} vectors whose list is probed; flat = all centroids, exact coarse):')
    print('   G nprobe | flat  | two-level at g=1,2,4,8,16         | g,KB,recall for loss <= .01  <= .005')
    for row in results:
        for r in row['nprobe']:
            byg = {x['g']: x for x in r['atG']}
            rec = ' '.join(f'{byg[g]["neighbourRecall"]:.3f}' if g in byg else '  -  ' for g in (1, 2, 4, 8, 16))
            f1, f2 = r['forNeighbourLoss0.01'], r['forNeighbourLoss0.005']
            print(f'{row["G"]:4d} {r["nprobe"]:6d} | {r["flatNeighbourRecall"]:.3f} | {rec} | '
                  f'{f1["g"]:3d},{f1["bytes"] / 1e3:6.1f},{f1["neighbourRecall"]:.3f}  {f2["g"]:3d},{f2["bytes"] / 1e3:6.1f},{f2["neighbourRecall"]:.3f}')

name = 'minilm-noisy' if a.data == 'minilm' else 'gaussian'
if a.nlist != 2048:
    name += f'-nlist{a.nlist}'
if a.spherical:
    name += '-spherical'
if a.n != 1000000:
    name += f'-n{a.n // 1000}k'
path = a.json or os.path.join(os.path.dirname(os.path.abspath(__file__)), f'../results/coarse-groups-faiss-{name}.json')
with open(path, 'w') as f:
    json.dump({'faiss': faiss.__version__, 'options': vars(a), 'dim': d, 'nqActual': len(queries),
               'midpointQueries': len(mids), 'allCentroidsBytes': ALL_CENTROIDS, 'centroidBytes': CENTROID_BYTES,
               'tocBytesPerList': TOC_BYTES, 'wallSeconds': walls, 'groups': results}, f, indent=1)
log(f'wrote {path}')
