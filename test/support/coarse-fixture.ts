// The index the coarse steps on the host are tested on (coarse-groups.ts, coarse-codes.ts): a
// fresh gaussian mixture of 12,000 vectors in 256 lists with 8-bit PQ codes, 600 questions near
// the data; and the share of a search's neighbours (by the scan's PQ keys in the query's nearest
// lists) that a coarse step's lists hold.

import { deinterleave } from '../../src/ivf/codec.js';
import { recordsFromLabels } from '../../src/ivf/list-records.js';
import { coarseKey, encodePqRows, pqLayout, pqRowKeys, pqTable, trainCodebook } from '../../src/ivf/pq.js';
import { assignLists, trainIvf } from '../../src/ivf/train.js';
import type { PqIndexParts } from '../../src/ivf/pq-calibrate.js';
import { gaussianMixture } from '../../src/random.js';

export const COARSE_FIXTURE = { dim: 24, nlist: 256, n: 12_000, k: 10 } as const;

/** The fixture's index and questions for a seed and metric (unit vectors for ip). */
export async function coarseFixture(seed: number, metric: 'l2' | 'ip') {
  const { dim, nlist, n } = COARSE_FIXTURE;
  const normal = (x: Float32Array) => {
    for (let i = 0; i < x.length; i += dim) {
      const r = Math.hypot(...x.subarray(i, i + dim));
      for (let j = 0; j < dim; j++) x[i + j]! /= r;
    }
    return x;
  };
  const data = gaussianMixture(n, dim, { centers: 64, spread: 0.4, seed });
  // Questions near the data: indexed vectors moved a little.
  const queries = Float32Array.from(
    { length: 600 * dim },
    (_, i) => data[(Math.floor(i / dim) * 19 + 7) * dim + (i % dim)]! + 0.05 * Math.sin(i * 12.9898 + seed),
  );
  if (metric === 'ip') {
    normal(data);
    normal(queries);
  }
  const layout = pqLayout(dim, 6, 8);
  const { centroids } = await trainIvf(undefined, data, { nlist, metric, layout, seed, niter: 6, maxTrainPointsPerCentroid: 64 });
  const book = await trainCodebook(undefined, data, centroids, dim, metric, { m: 6, nbits: 8, niter: 6, seed, maxTrainPointsPerCentroid: 16 });
  const labels = await assignLists(undefined, data, centroids, dim, metric);
  const lists = recordsFromLabels(
    labels,
    encodePqRows(book, data, labels, centroids, layout, metric),
    Array.from({ length: n }, (_, i) => i),
    nlist,
    layout,
  );
  return { index: { centroids, dim, metric, book, layout, lists }, queries, data };
}

/**
 * The share (averaged over the queries) of the k neighbours a search finds, by the scan's PQ keys
 * in each query's `truth` lists (its nprobe nearest), whose lists are among `got`'s nprobe per query.
 */
export function keptNeighbours(
  index: Pick<PqIndexParts, 'centroids' | 'dim' | 'metric' | 'book' | 'layout' | 'lists'>,
  queries: Float32Array,
  truth: readonly number[][],
  got: Uint32Array,
  nprobe: number,
): number {
  const { dim, metric, centroids } = index;
  const { k } = COARSE_FIXTURE;
  const byList = new Map(index.lists.map((r) => [r.list, r]));
  let share = 0;
  truth.forEach((lists, q) => {
    const table = pqTable(index.book, queries.subarray(q * dim, (q + 1) * dim));
    const near = lists.flatMap((l) => {
      const rec = byList.get(l)!;
      const keys = pqRowKeys(
        index.book,
        table,
        deinterleave(rec.codes, rec.count, index.layout.units),
        rec.count,
        index.layout,
        coarseKey(metric, queries, q, centroids, l, dim),
        metric,
      );
      return Array.from(keys, (key) => ({ key, l }));
    });
    near.sort((a, b) => a.key - b.key);
    const probed = got.subarray(q * nprobe, (q + 1) * nprobe);
    share += near.slice(0, k).filter((v) => probed.includes(v.l)).length / k;
  });
  return share / truth.length;
}
