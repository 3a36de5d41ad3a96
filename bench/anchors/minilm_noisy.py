"""The "MiniLM with noise" set the FAISS anchors share: the 778 real all-MiniLM-L6-v2 vectors in
../shared/assets/sap-fiori-minilm-vectors/embeddings.bin, each drawn row repeated with Gaussian noise
(per-dimension standard deviation `noise`) and normalised again. The draws come from the caller's
numpy Generator, so one Generator used for data then queries gives the same rows as before.

The noise is the same in all 384 directions by default ("iid"). That makes a query's neighbours
near-ties: at noise 0.035 the queries' local intrinsic dimension (`lid`, Levina-Bickel's estimate
over the 20 nearest) is 67 in 200k rows and 87 in 1M, where the 778 real vectors measure 14 among
themselves (`python3 minilm_noisy.py`). With `covariance_shape`, the noise varies the way the real
vectors vary (their principal directions, each with its own spread): 25 in 200k rows and 32 in 1M,
neighbours at distinct distances.
"""
import os

import numpy as np

DIM = 384
DEFAULT_ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/assets')


def load_real(assets=DEFAULT_ASSETS):
    return np.fromfile(os.path.join(assets, 'sap-fiori-minilm-vectors/embeddings.bin'), dtype='<f4').reshape(-1, DIM)


def covariance_shape(real):
    """The real vectors' principal directions (rows) and each one's standard deviation over the
    mean one: noise drawn through it has the real vectors' covariance, scaled to the same total."""
    _, s, directions = np.linalg.svd(real - real.mean(0), full_matrices=False)
    variance = s**2 / len(real)
    return np.sqrt(variance / variance.mean()).astype('f4'), directions.astype('f4')


def noisy(real, rng, count, noise, shape=None):
    """`count` rows of `real` drawn with `rng`, each plus noise of per-dimension deviation `noise`
    (through `shape`, a covariance_shape, when given), normalised again."""
    rows = real[rng.integers(0, len(real), count)]
    z = rng.normal(0, noise, (count, DIM)).astype('f4')
    if shape is not None:
        spread, directions = shape
        z = (z[:, : len(spread)] * spread) @ directions
    rows = rows + z
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype('f4')


def lid(distances, k=20):
    """The median local intrinsic dimension (Levina-Bickel's maximum-likelihood estimate) of
    queries whose squared distances to their nearest neighbours, nearest first, are the rows of
    `distances` (k columns or more)."""
    d = np.sqrt(np.maximum(distances[:, :k], 1e-12))
    return float(np.median(-1 / np.mean(np.log(d[:, :-1] / d[:, -1:]), axis=1)))


def write_fvecs(path, x):
    """The standard fvecs layout: per row an int32 dimension then that many float32 values."""
    x = np.ascontiguousarray(x, dtype='<f4')
    rows = np.empty((x.shape[0], x.shape[1] + 1), dtype='<f4')
    rows[:, 1:] = x
    rows.view('<i4')[:, 0] = x.shape[1]
    rows.tofile(path)


def midpoint_queries(data, flat, nlist, rng, count, pair_sample):
    """`count` queries, each the normalised midpoint of two data vectors in the same list (their
    nearest centroid in `flat`, a faiss index of the centroids), drawn with `rng` from a sample of
    `pair_sample` rows: the anchors' harder half of their queries, as a list of rows."""
    n = len(data)
    sample = rng.choice(n, min(pair_sample, n), replace=False)
    _, sample_list = flat.search(data[sample], 1)
    sample_list = sample_list[:, 0]
    order = np.argsort(sample_list, kind='stable')
    sorted_lists = sample_list[order]
    starts = np.searchsorted(sorted_lists, np.arange(nlist))
    ends = np.searchsorted(sorted_lists, np.arange(nlist), side='right')
    sizes_in_sample = ends - starts
    mids = []
    while len(mids) < count:
        i = rng.integers(0, len(sample))
        lst = sample_list[i]
        if sizes_in_sample[lst] < 2:
            continue
        j = order[starts[lst] + rng.integers(0, sizes_in_sample[lst])]
        if j == i:
            continue
        m = data[sample[i]] + data[sample[j]]
        mids.append(m / np.linalg.norm(m))
    return mids


def group_centroids(centroids, count, seed, spherical=False):
    """The two-level coarse quantiser's groups: k-means (FAISS, 20 iterations) on the lists'
    centroids into `count` super-centroids, each list in the group of its nearest one. Returns the
    super-centroids, a faiss index of them, each list's group and each group's size."""
    import faiss

    d = centroids.shape[1]
    km = faiss.Kmeans(d, count, niter=20, seed=seed, spherical=spherical, verbose=False)
    km.train(centroids)
    supers = km.centroids.astype('f4')
    index = faiss.IndexFlatL2(d)
    index.add(supers)
    _, grp = index.search(centroids, 1)
    grp = grp[:, 0]
    return supers, index, grp, np.bincount(grp, minlength=count)


if __name__ == '__main__':
    # The real vectors' own local intrinsic dimension (each against the other 777), the figure
    # the noisy sets are compared with: python3 bench/anchors/minilm_noisy.py
    import faiss

    real = load_real()
    index = faiss.IndexFlatL2(DIM)
    index.add(real)
    distances, _ = index.search(real, 21)
    print({'lid10': lid(distances[:, 1:11], 10), 'lid20': lid(distances[:, 1:21], 20)})
