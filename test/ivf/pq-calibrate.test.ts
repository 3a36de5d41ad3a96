// The candidates per result a 'pq' index's searches need, measured where it is published
// (src/ivf/pq-calibrate.ts): on the CPU, with no GPU. Checked on fresh gaussian mixtures: the
// figure is within the range a search takes; coarser codes (4 bits) need at least as many as 8-bit
// codes; a lower target never needs more; and re-ranking the published figure finds the exact top
// k (among the probed lists) for at least the share of fresh queries the target asks.

import { describe, expect, it } from 'vitest';
import { measureRerank, needQuantile, RERANK_RANGE, type PqIndexParts } from '../../src/ivf/pq-calibrate.js';
import { coarseKey, encodePqRows, pqLayout, pqRowKeys, pqTables, trainCodebook, type PqBits } from '../../src/ivf/pq.js';
import { deinterleave } from '../../src/ivf/codec.js';
import { recordsFromLabels } from '../../src/ivf/list-records.js';
import { referenceKey } from '../../src/ivf/reference.js';
import { assignLists, trainIvf } from '../../src/ivf/train.js';
import { gaussianMixture } from '../../src/random.js';

const dim = 16,
  n = 2000,
  nlist = 16;

async function pqIndex(data: Float32Array, bits: PqBits, seed: number): Promise<PqIndexParts> {
  const layout = pqLayout(dim, 8, bits);
  const { centroids } = await trainIvf(undefined, data, { nlist, metric: 'l2', layout, seed, niter: 8, maxTrainPointsPerCentroid: 256 });
  const book = await trainCodebook(undefined, data, centroids, dim, 'l2', { m: 8, nbits: bits, niter: 8, seed, maxTrainPointsPerCentroid: 64 });
  const labels = await assignLists(undefined, data, centroids, dim, 'l2');
  const rows = encodePqRows(book, data, labels, centroids, layout, 'l2');
  const lists = recordsFromLabels(
    labels,
    rows,
    Array.from({ length: n }, (_, i) => i),
    nlist,
    layout,
  );
  return { metric: 'l2', dim, nlist, centroids, book, layout, lists, vectorOf: (id) => data.subarray(id * dim, (id + 1) * dim), prepare: (q) => q };
}

/** Whether re-ranking k x r code-ranked candidates of the nprobe nearest lists finds the exact top k there, for `query`. */
function served(index: PqIndexParts, query: Float32Array, k: number, nprobe: number, r: number): boolean {
  const probed = Array.from({ length: nlist }, (_, l) => ({ l, key: coarseKey('l2', query, 0, index.centroids, l, dim) }))
    .sort((a, b) => a.key - b.key)
    .slice(0, nprobe);
  const table = pqTables(index.book, query);
  const all: { id: number; code: number; exact: number }[] = [];
  for (const { l, key } of probed) {
    const rec = index.lists[l]!;
    const keys = pqRowKeys(index.book, table, deinterleave(rec.codes, rec.count, index.layout.units), rec.count, index.layout, key, 'l2');
    for (let s = 0; s < rec.count; s++)
      all.push({ id: rec.ids[s]!, code: keys[s]!, exact: referenceKey('l2', query, 0, index.vectorOf(rec.ids[s]!)!, 0, dim) });
  }
  const exact = all
    .slice()
    .sort((a, b) => a.exact - b.exact || a.id - b.id)
    .slice(0, k)
    .map((x) => x.id);
  const kept = all.sort((a, b) => a.code - b.code || a.id - b.id).slice(0, k * r);
  const reranked = kept
    .sort((a, b) => a.exact - b.exact || a.id - b.id)
    .slice(0, k)
    .map((x) => x.id);
  return reranked.join() === exact.join();
}

describe('measureRerank', () => {
  it('needQuantile takes the target quantile within the range a search takes', () => {
    expect(needQuantile([1, 1, 1, 1], 0.99)).toBe(RERANK_RANGE.min);
    expect(needQuantile([3, 9, 4, 5], 0.5)).toBe(4);
    expect(needQuantile([3, 9, 4, 5], 1)).toBe(9);
    expect(needQuantile([500], 0.99)).toBe(RERANK_RANGE.max);
  });

  it('measures what fresh queries need: 4-bit codes at least as many as 8-bit, a lower target no more', async () => {
    const seed = (Math.random() * 2 ** 31) >>> 0;
    // 100 more points of the same mixture are the fresh queries: not in the index, as a visitor's are not.
    const points = gaussianMixture(n + 100, dim, { centers: 24, seed });
    const data = points.subarray(0, n * dim);
    const eight = await pqIndex(data, 8, seed);
    const four = await pqIndex(data, 4, seed);
    const o = { k: 10, nprobe: 4, target: 0.95, queries: 128 };
    const r8 = measureRerank(eight, o);
    const r4 = measureRerank(four, o);
    expect(r8).toBeGreaterThanOrEqual(RERANK_RANGE.min);
    expect(r4).toBeLessThanOrEqual(RERANK_RANGE.max);
    expect(r4).toBeGreaterThanOrEqual(r8);
    expect(measureRerank(four, { ...o, target: 0.5 })).toBeLessThanOrEqual(r4);
    // Fresh queries from the same mixture: the measured figure serves about the target's share of them.
    const queries = points.subarray(n * dim);
    for (const [index, r] of [
      [eight, r8],
      [four, r4],
    ] as const) {
      let ok = 0;
      for (let q = 0; q < 100; q++) if (served(index, queries.subarray(q * dim, (q + 1) * dim), 10, 4, r)) ok++;
      expect(ok, `seed ${seed}`).toBeGreaterThanOrEqual(95);
    }
  });
});
