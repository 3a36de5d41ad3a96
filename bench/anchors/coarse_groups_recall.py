#!/usr/bin/python3
"""End-to-end recall@10 of IVF-Flat with a grouped (two-level) coarse step, against the exact coarse step.

coarse_groups_faiss.py measured whether the first g groups hold a query's nearest LISTS. This script
measures what a reader gets back: an IndexIVFFlat over the same 1M x 384 "MiniLM with noise" set and
the same 2048 centroids (a fixed quantiser, not trained here), searched with exact distances inside
the probed lists. A query ranks the G super-centroids, takes the first g groups, and probes the best
nprobe lists (exact centroid distance) among the lists of those groups. Recall@10 = |returned top-10
n exact top-10| / 10, averaged over the queries. The baseline and the fixed g of --search-g run FAISS's
search_preassigned with that assignment; the other rows (larger g, the adaptive rules) count the true
top-10 whose list is probed, which is the same number for IVF-Flat (the search is exact inside the
probed lists), and the JSON's identityMaxAbsDiff is the largest gap where both were computed.

Bytes a query reads for the coarse step (as in coarse_groups_faiss.py; the list -> group map,
nlist x 4 bytes, is reported apart):

    super-centroids   G x 384 x 2 (f16)
    each group taken  (its lists) x (384 x 2 centroid bytes + 120 bytes of table-of-contents entries)

Adaptive rules (each query picks its own g):
    ratio t     take groups while the group's super-centroid L2 distance <= best x (1 + t)
    lists c     take groups until the lists held reach c x nprobe (known from the group sizes)
    min(t, c)   stop at whichever of the two stops first
    bound a     take groups in order until no group left can hold one of the best nprobe lists seen so
                far by the bound d(q, super) - a x radius(group) (a = 1 is exact by the triangle
                inequality; it needs one round trip per group, the others decide from the opening)

Data, centroids and queries are coarse_groups_faiss.py's defaults (--data minilm, seed 1, noise
0.035, n 1,000,000, nq 1000: half drawn like the data from default_rng(seed + 1000), half midpoints of
two data vectors of the same list). The centroids are read from CENTROIDS (an fvecs file
coarse_groups_faiss.py wrote) when it exists, else trained as it trains them (k-means, niter 10).

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread /usr/bin/python3 bench/anchors/coarse_groups_recall.py

(LD_LIBRARY_PATH picks OpenBLAS for this process where the system's libblas.so.3 is the reference BLAS,
about 10x slower here; the midpoint queries depend on BLAS rounding through the list assignment of a
sample, and the JSON's queriesCheck says whether they equal the queries.fvecs coarse_groups_faiss.py wrote.)

Writes bench/results/coarse-groups-recall-minilm-noisy.json. Needs Debian's python3-faiss and
python3-numpy.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import faiss
import numpy as np

from minilm_noisy import DEFAULT_ASSETS, DIM, covariance_shape, group_centroids, load_real, midpoint_queries, noisy

p = argparse.ArgumentParser()
p.add_argument('--n', type=int, default=1000000)
p.add_argument('--nq', type=int, default=1000)
p.add_argument('--noise', type=float, default=0.035)
p.add_argument('--shape', choices=['iid', 'covariance'], default='iid',
               help="the noise's shape (minilm_noisy.py); with covariance, give --centroids '' --check-queries '' (theirs are iid's)")
p.add_argument('--nlist', type=int, default=2048)
p.add_argument('--niter', type=int, default=10, help='k-means iterations of the centroids when they are trained here')
p.add_argument('--seed', type=int, default=1)
p.add_argument('--assets', default=DEFAULT_ASSETS)
p.add_argument('--centroids', default='/tmp/groups-anchor/centroids.fvecs')
p.add_argument('--check-queries', default='/tmp/groups-anchor/queries.fvecs',
               help='compare the queries made here with this fvecs file when it exists')
p.add_argument('--groups', default='32,45,64,128')
p.add_argument('--nprobe', default='8,16,32')
p.add_argument('--k', type=int, default=10)
p.add_argument('--pair-sample', type=int, default=200000)
p.add_argument('--search-g', default='1,2,3,4,6,8',
               help='fixed g run through FAISS search_preassigned; the other rows count the true neighbours in the probed lists')
p.add_argument('--json')
a = p.parse_args()

d = DIM
K = a.k
CENTROID_BYTES = d * 2
TOC_BYTES = 120
GROUP_LIST_BYTES = CENTROID_BYTES + TOC_BYTES
groups_list = [int(s) for s in a.groups.split(',')]
search_gs = {int(s) for s in a.search_g.split(',')}
nprobes = [int(s) for s in a.nprobe.split(',')]
walls = {}
t_all = time.time()


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def read_fvecs(path):
    raw = np.fromfile(path, dtype='<i4')
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].view('<f4').copy()


# 1. the data, the centroids and the queries, exactly as coarse_groups_faiss.py --data minilm makes them
t0 = time.time()
real = load_real(a.assets)
shape = covariance_shape(real) if a.shape == 'covariance' else None
data = noisy(real, np.random.default_rng(a.seed), a.n, a.noise, shape)
qrng = np.random.default_rng(a.seed + 1000)
plain_queries = noisy(real, qrng, a.nq - a.nq // 2, a.noise, shape)
walls['generate'] = time.time() - t0
log(f'generated {a.n} x {d} in {walls["generate"]:.1f} s')

t0 = time.time()
centroid_source = {}
if a.centroids and os.path.exists(a.centroids):
    centroids = read_fvecs(a.centroids)
    assert centroids.shape == (a.nlist, d), centroids.shape
    with open(a.centroids, 'rb') as f:
        centroid_source = {'file': a.centroids, 'sha256': hashlib.sha256(f.read()).hexdigest()}
else:
    km = faiss.Kmeans(d, a.nlist, niter=a.niter, seed=a.seed, max_points_per_centroid=256, verbose=False)
    km.train(data)
    centroids = km.centroids.astype('f4')
    centroid_source = {'trained': True, 'niter': a.niter}
walls['centroids'] = time.time() - t0
log(f'centroids {centroid_source} in {walls["centroids"]:.1f} s')

t0 = time.time()
flat = faiss.IndexFlatL2(d)  # the coarse quantiser: the fixed centroids
flat.add(centroids)
mids = midpoint_queries(data, flat, a.nlist, qrng, a.nq // 2, a.pair_sample)
queries = np.ascontiguousarray(np.vstack([plain_queries] + ([np.array(mids, dtype='f4')] if mids else [])), dtype='f4')
nq = len(queries)
qi = np.arange(nq)[:, None]
queries_check = None
if a.check_queries and os.path.exists(a.check_queries):
    ref = read_fvecs(a.check_queries)
    queries_check = {'file': a.check_queries, 'sameShape': ref.shape == queries.shape,
                     'maxAbsDiff': float(np.abs(ref - queries).max()) if ref.shape == queries.shape else None}
    log(f'queries against {a.check_queries}: {queries_check}')
walls['queries'] = time.time() - t0

# 2. the IVF-Flat index on the fixed quantiser, and the exact top-k
t0 = time.time()
index = faiss.IndexIVFFlat(flat, d, a.nlist, faiss.METRIC_L2)
index.is_trained = True
index.add(data)
list_sizes = np.array([index.invlists.list_size(l) for l in range(a.nlist)])
walls['ivfAdd'] = time.time() - t0
log(f'IVF-Flat: added {a.n} in {walls["ivfAdd"]:.1f} s; list sizes min {list_sizes.min()} '
    f'median {np.median(list_sizes):.0f} max {list_sizes.max()}')

t0 = time.time()
exact = faiss.IndexFlatL2(d)
exact.add(data)
_, truth = exact.search(queries, K)
del exact
list_of = np.empty(a.n, dtype='int64')  # the list each vector went to, read back from the index
for l in range(a.nlist):
    if list_sizes[l]:
        list_of[faiss.rev_swig_ptr(index.invlists.get_ids(l), int(list_sizes[l]))] = l
truth_list = list_of[truth]  # the list of each true neighbour (nq x k)
del list_of, data
walls['groundTruth'] = time.time() - t0
log(f'exact top-{K} in {walls["groundTruth"]:.1f} s')


def recall_of(labels):
    return float(np.mean([len(np.intersect1d(labels[q], truth[q])) for q in range(nq)]) / K)


def search_assigned(assign, cdis):
    """IVF-Flat search of exactly the lists in assign (nq x w, -1 = no list)."""
    w = assign.shape[1]
    index.nprobe = w
    D = np.empty((nq, K), dtype='f4')
    I = np.empty((nq, K), dtype='int64')
    assign = np.ascontiguousarray(assign, dtype='int64')
    cdis = np.ascontiguousarray(cdis, dtype='f4')
    index.search_preassigned(nq, faiss.swig_ptr(queries), K, faiss.swig_ptr(assign), faiss.swig_ptr(cdis),
                             faiss.swig_ptr(D), faiss.swig_ptr(I), False)
    return I


# 3. the exact coarse step
t0 = time.time()
full_d, full = flat.search(queries, a.nlist)  # every list, nearest centroid first
list_rank = np.empty_like(full)
list_rank[qi, full] = np.arange(a.nlist)[None, :]
truth_rank = list_rank[qi, truth_list]  # rank of each true neighbour's list in the exact coarse order
baseline = {}
for nprobe in nprobes:
    index.nprobe = nprobe
    _, I = index.search(queries, K)
    I2 = search_assigned(full[:, :nprobe], full_d[:, :nprobe])
    baseline[nprobe] = {'recall': recall_of(I), 'listsHoldTruth': float((truth_rank < nprobe).mean()),
                        'preassignedSame': bool((np.sort(I, 1) == np.sort(I2, 1)).all())}
walls['baseline'] = time.time() - t0
log('baseline ' + ', '.join(f'nprobe {k} {v["recall"]:.4f}' for k, v in baseline.items()))


def probe_of(fetched, nprobe):
    """The best nprobe lists (exact order) among those fetched (nq x nlist, columns in exact order)."""
    idx = np.argsort(~fetched, axis=1, kind='stable')[:, :nprobe]
    ok = fetched[qi, idx]
    assign = np.where(ok, full[qi, idx], -1)
    cdis = np.where(ok, full_d[qi, idx], np.float32(np.inf))
    return assign, cdis, ok


identity_diffs = []


def evaluate(fetched, nprobe, g_q, lists_q, G, search):
    """Recall@10 of probing, per query, the best nprobe lists among those fetched. With search, FAISS's
    IVF-Flat search of exactly those lists; without, the share of the true top-k whose list is probed,
    which is the same number (exact distances inside the probed lists find every true neighbour they
    hold; checked wherever both are computed, identityMaxAbsDiff in the JSON)."""
    assign, cdis, ok = probe_of(fetched, nprobe)
    probed = np.zeros((nq, a.nlist), dtype=bool)
    probed[qi, np.where(ok, assign, 0)] = ok
    held = float(probed[qi, truth_list].mean())
    if search:
        recall = recall_of(search_assigned(assign, cdis))
        identity_diffs.append(abs(recall - held))
    else:
        recall = held
    group_bytes = lists_q * GROUP_LIST_BYTES
    return {'recall': recall, 'recallFrom': 'search' if search else 'listsHoldTruth', 'listsHoldTruth': held,
            'meanGroups': float(g_q.mean()), 'maxGroups': int(g_q.max()),
            'meanLists': float(lists_q.mean()), 'probedShort': float((ok.sum(1) < nprobe).mean()),
            'groupBytes': float(group_bytes.mean()), 'maxGroupBytes': int(group_bytes.max()),
            'bytes': float(G * CENTROID_BYTES + group_bytes.mean()),
            'maxBytes': int(G * CENTROID_BYTES + group_bytes.max())}


G_GRID = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
t0 = time.time()
results = []
for G in groups_list:
    t1 = time.time()
    supers, sflat, grp, gsize = group_centroids(centroids, G, a.seed)
    radius = np.zeros(G, dtype='f4')
    np.maximum.at(radius, grp, np.linalg.norm(centroids - supers[grp], axis=1))
    sd2, gorder = sflat.search(queries, G)  # each query's groups, nearest super-centroid first
    sdist = np.sqrt(np.maximum(sd2, 0))
    grank = np.empty_like(gorder)
    grank[qi, gorder] = np.arange(G)[None, :]
    cum_lists = np.cumsum(gsize[gorder], axis=1)  # lists held by the first g groups
    frank = grank[qi, grp[full]]  # group rank of each list, lists in exact coarse order
    truth_grank = grank[qi, grp[truth_list]]
    gs = [g for g in G_GRID if g < G] + [G]
    row = {'G': G, 'groupSizes': {'min': int(gsize.min()), 'median': float(np.median(gsize)),
                                  'max': int(gsize.max()), 'empty': int((gsize == 0).sum())},
           'superBytes': G * CENTROID_BYTES, 'mapBytes': a.nlist * 4, 'nprobe': []}
    for nprobe in nprobes:
        base = baseline[nprobe]['recall']
        # the share of true neighbours whose list is probed, for every g (IVF-Flat finds exactly these)
        held_by_g = []
        for g in range(1, G + 1):
            fetched = frank < g
            pos = np.cumsum(fetched, axis=1)
            probed_sorted = fetched & (pos <= nprobe)
            held_by_g.append(float(probed_sorted[qi, list_rank[qi, truth_list]].mean()))
        at = []
        for g in gs:
            lists_q = cum_lists[:, g - 1]
            r = evaluate(frank < g, nprobe, np.full(nq, g), lists_q, G, g in search_gs and g < G)
            at.append({'g': g, **r, 'loss': base - r['recall']})
        smallest = {}
        for loss in (0.01, 0.005):
            on_grid = next(x for x in at if x['recall'] >= base - loss - 1e-12)
            g_any = next(g for g in range(1, G + 1) if held_by_g[g - 1] >= baseline[nprobe]['listsHoldTruth'] - loss - 1e-12)
            lists_q = cum_lists[:, g_any - 1]
            smallest[str(loss)] = {'gOnGrid': on_grid['g'], 'recall': on_grid['recall'], 'bytes': on_grid['bytes'],
                                   'maxBytes': on_grid['maxBytes'], 'groupBytes': on_grid['groupBytes'],
                                   'gAny': g_any, 'listsHoldTruthAtGAny': held_by_g[g_any - 1],
                                   'bytesAtGAny': float(G * CENTROID_BYTES + lists_q.mean() * GROUP_LIST_BYTES)}
        # adaptive rules
        adaptive = []
        for t in (0.01, 0.02, 0.05, 0.1, 0.2):
            g_ratio = (sdist <= sdist[:, :1] * (1 + t)).sum(1)
            for c in (None, 2, 4, 8):
                g_q = g_ratio
                if c is not None:
                    g_lists = np.minimum((cum_lists < c * nprobe).sum(1) + 1, G)
                    g_q = np.minimum(g_ratio, g_lists)
                r = evaluate(frank < g_q[:, None], nprobe, g_q, cum_lists[np.arange(nq), g_q - 1], G, False)
                adaptive.append({'rule': 'ratio' if c is None else 'min(ratio,lists)', 't': t, 'c': c, **r,
                                 'loss': base - r['recall']})
        for c in (1, 2, 3, 4, 6, 8, 12, 16):
            g_q = np.minimum((cum_lists < c * nprobe).sum(1) + 1, G)
            r = evaluate(frank < g_q[:, None], nprobe, g_q, cum_lists[np.arange(nq), g_q - 1], G, False)
            adaptive.append({'rule': 'lists', 'c': c, **r, 'loss': base - r['recall']})
        # bound: after the first g groups, the nprobe-th best centroid distance held; stop when every group
        # left has d(q, super) - alpha x radius above it
        # the nprobe-th best centroid distance among the lists of the first g groups, for every g
        fetched_d = np.sqrt(np.maximum(full_d, 0))
        kth_by_g = np.full((nq, G), np.inf, dtype='f4')
        for g in range(1, G + 1):
            pos = np.cumsum(frank < g, axis=1)
            reached = pos[:, -1] >= nprobe
            kth_by_g[:, g - 1] = np.where(reached, fetched_d[qi[:, 0], np.argmax(pos >= nprobe, axis=1)], np.inf)
        for alpha in (1.0, 0.75, 0.5, 0.25, 0.0):
            lb = sdist - alpha * radius[gorder]  # lower bound of each group's centroid distances, query's order
            suffix_min = np.minimum.accumulate(lb[:, ::-1], axis=1)[:, ::-1]  # [:, g] = min over groups g..G-1
            stop = np.concatenate([suffix_min[:, 1:] > kth_by_g[:, :-1], np.ones((nq, 1), dtype=bool)], axis=1)
            g_q = np.argmax(stop, axis=1) + 1  # first g after which no group left can do better
            r = evaluate(frank < g_q[:, None], nprobe, g_q, cum_lists[np.arange(nq), g_q - 1], G, False)
            adaptive.append({'rule': 'bound', 'alpha': alpha, **r, 'loss': base - r['recall']})
        row['nprobe'].append({'nprobe': nprobe, 'baselineRecall': base, 'atG': at,
                              'listsHoldTruthByG': held_by_g, 'smallestG': smallest, 'adaptive': adaptive})
    results.append(row)
    log(f'G {G} in {time.time() - t1:.1f} s')
walls['groups'] = time.time() - t0
walls['total'] = time.time() - t_all

# the table
print(f'minilm-noisy n={a.n} nq={nq} nlist={a.nlist} noise={a.noise}; walls ' +
      ', '.join(f'{k} {v:.0f}s' for k, v in walls.items()))
print(f'searched rows {len(identity_diffs)}, largest |search - neighbours held| {max(identity_diffs, default=0):.2g}')
print('baseline recall@10 (exact coarse): ' + ', '.join(f'nprobe {k} {v["recall"]:.4f}' for k, v in baseline.items()))
print('   G nprobe  base   | recall@10 at g = 1 2 3 4 6 8                  | loss<=.01 g,KB   loss<=.005 g,KB  (g any)')
for row in results:
    for r in row['nprobe']:
        byg = {x['g']: x for x in r['atG']}
        rec = ' '.join(f'{byg[g]["recall"]:.4f}' if g in byg else '  -   ' for g in (1, 2, 3, 4, 6, 8))
        s1, s2 = r['smallestG']['0.01'], r['smallestG']['0.005']
        print(f'{row["G"]:4d} {r["nprobe"]:6d} {r["baselineRecall"]:.4f} | {rec} | '
              f'{s1["gOnGrid"]:3d},{s1["bytes"] / 1e3:6.1f}  {s2["gOnGrid"]:3d},{s2["bytes"] / 1e3:6.1f}  ({s1["gAny"]},{s2["gAny"]})')
print('adaptive rules: the cheapest (mean bytes) within loss .01 / .005 of each rule family, against fixed g')
for row in results:
    for r in row['nprobe']:
        parts = []
        for loss in (0.01, 0.005):
            fixed = r['smallestG'][str(loss)]
            best = {}
            for x in r['adaptive']:
                if x['loss'] <= loss + 1e-12 and (x['rule'] not in best or x['bytes'] < best[x['rule']]['bytes']):
                    best[x['rule']] = x
            desc = ' '.join(f'{k}:{v["meanGroups"]:.2f}g,{v["bytes"] / 1e3:.1f}KB' for k, v in best.items())
            parts.append(f'<= {loss}: fixed {fixed["gOnGrid"]}g,{fixed["bytes"] / 1e3:.1f}KB {desc}')
        print(f'{row["G"]:4d} {r["nprobe"]:3d} | ' + ' | '.join(parts))

path = a.json or os.path.join(os.path.dirname(os.path.abspath(__file__)), '../results/coarse-groups-recall-minilm-noisy.json')
with open(path, 'w') as f:
    json.dump({'faiss': faiss.__version__, 'options': vars(a), 'dim': d, 'nqActual': nq, 'midpointQueries': len(mids),
               'centroids': centroid_source, 'queriesCheck': queries_check,
               'listSizes': {'min': int(list_sizes.min()), 'median': float(np.median(list_sizes)), 'max': int(list_sizes.max())},
               'centroidBytes': CENTROID_BYTES, 'tocBytesPerList': TOC_BYTES, 'allCentroidsBytes': a.nlist * CENTROID_BYTES,
               'baseline': {str(k): v for k, v in baseline.items()},
               'searchedRows': len(identity_diffs), 'identityMaxAbsDiff': max(identity_diffs, default=None), 'wallSeconds': walls, 'groups': results}, f, indent=1)
log(f'wrote {path}')
