import { describe, expect, test } from 'vitest';
import { NO_ID, recallAtK, referenceIvfSearch, referenceProbes, referenceSearch } from '../../src/weft.js';
import { createRng, gaussianMixture, sampleIndices } from '../../src/random.js';

describe('CPU reference search', () => {
  const lists = [
    { ids: Uint32Array.from([10, 11]), vectors: Float32Array.from([0, 0, 1, 0]) },
    { ids: Uint32Array.from([20, 21]), vectors: Float32Array.from([5, 5, 0, 1]) },
  ];

  test('l2 ranks by squared distance, ties by id', () => {
    const r = referenceSearch(lists, Float32Array.from([0.5, 0.5]), 2, 'l2', 4);
    // (1,0) and (0,1) and (0,0) are all at 0.5 from (0.5, 0.5): ids 10, 11, 21 in id order.
    expect(Array.from(r.ids)).toEqual([10, 11, 21, 20]);
    expect(Array.from(r.distances)).toEqual([0.5, 0.5, 0.5, 40.5]);
  });

  test('ip reports the inner product, largest first; empty slots are NO_ID', () => {
    const r = referenceSearch(lists.slice(0, 1), Float32Array.from([2, 1]), 2, 'ip', 3);
    expect(Array.from(r.ids)).toEqual([11, 10, NO_ID]);
    expect(Array.from(r.distances)).toEqual([2, 0, -Infinity]);
  });

  test('IVF reference with every list probed equals the flat reference', () => {
    const dim = 6;
    const data = gaussianMixture(300, dim, { seed: 5 });
    const centroids = data.slice(0, 4 * dim);
    const probes = referenceProbes(centroids, data, dim, 'l2', 1);
    const members: number[][] = [[], [], [], []];
    probes.forEach((p, i) => members[p[0]!]!.push(i));
    const ivfLists = members.map((m) => ({
      ids: Uint32Array.from(m),
      vectors: Float32Array.from(m.flatMap((i) => Array.from(data.subarray(i * dim, (i + 1) * dim)))),
    }));
    const q = gaussianMixture(7, dim, { seed: 6 });
    const flat = referenceSearch(ivfLists, q, dim, 'l2', 5);
    expect(referenceIvfSearch(centroids, ivfLists, q, dim, 'l2', 5, 4)).toEqual(flat);
    expect(recallAtK(referenceIvfSearch(centroids, ivfLists, q, dim, 'l2', 5, 1), flat)).toBeLessThanOrEqual(1);
  });
});

describe('seeded randomness', () => {
  test('same seed, same stream; sampleIndices is a partial permutation', () => {
    const a = createRng(42),
      b = createRng(42);
    for (let i = 0; i < 100; i++) expect(a.next()).toBe(b.next());
    const s = sampleIndices(1000, 300, createRng(7));
    expect(new Set(s).size).toBe(300);
    expect(Math.max(...s)).toBeLessThan(1000);
    expect(Array.from(sampleIndices(1000, 300, createRng(7)))).toEqual(Array.from(s));
  });

  test('gaussianMixture is clustered and never all zeros', () => {
    const v = gaussianMixture(500, 8, { centers: 5, seed: 3 });
    expect(v.some((x) => x !== 0)).toBe(true);
    expect(v.every(Number.isFinite)).toBe(true);
  });
});
