// The CPU backend's parts under Node: the running top-k keeps exactly the k smallest (key, id)
// pairs whatever the order they come in; the kernel's float32 key stays within float32 rounding
// of the float64 reference, and the WebAssembly SIMD scanner gives the scalar kernel's keys bit
// for bit; the coarse step ranks as the reference does on separated data, with and without SIMD; the
// decoded-list cache keeps to its budget, evicts by its policy, and follows replace, invalidate
// and clear. (That the CPU equals the GPU bit for bit is tested in Chromium: test/stored-index/cpu-search.browser.test.ts.)
import { describe, expect, test } from 'vitest';
import { createRng, gaussianMixture, layoutFor, referenceProbes } from '../../src/weft.js';
import { encodeRows, packRows, padRows } from '../../src/ivf/codec.js';
import { kernelKey } from '../../src/ivf/cpu-kernel.js';
import { cpuQueries, cpuRank, decodedBytes, TopK } from '../../src/ivf/cpu-search.js';
import { createQuadScanner, toQuads } from '../../src/ivf/cpu-simd.js';
import { referenceKey } from '../../src/ivf/reference.js';
import { createCpuListCache } from '../../src/stored-index/cache/cpu-list-cache.js';
import type { ListRecord } from '../../src/ivf/types.js';

describe('CPU search parts', () => {
  test('TopK keeps the k smallest (key, id) pairs in order, ties by the smaller id, in any arrival order', () => {
    const rng = createRng(Date.now() >>> 0);
    for (let round = 0; round < 20; round++) {
      const k = 1 + rng.int(20);
      const pairs = Array.from({ length: rng.int(80) }, (_, i) => ({ key: rng.int(10) / 4, id: i * 7 + rng.int(7) }));
      const top = new TopK(k);
      for (const p of [...pairs].sort(() => rng.next() - 0.5)) top.offer(p.key, p.id);
      const want = [...pairs].sort((a, b) => a.key - b.key || a.id - b.id).slice(0, k);
      expect(top.size).toBe(want.length);
      expect(Array.from(top.ids.subarray(0, top.size))).toEqual(want.map((p) => p.id));
      expect(Array.from(top.keys.subarray(0, top.size))).toEqual(want.map((p) => p.key));
    }
  });

  test('the kernel key is the float64 reference key within float32 rounding', () => {
    const dim = 23,
      pad = layoutFor(dim, 'f32').dimPad;
    const x = gaussianMixture(50, dim, { seed: 9 }),
      q = gaussianMixture(5, dim, { seed: 10 });
    const xp = padRows(x, dim, pad),
      qp = padRows(q, dim, pad);
    for (const metric of ['l2', 'ip'] as const) {
      for (let i = 0; i < 50; i++) {
        for (let j = 0; j < 5; j++) {
          const want = referenceKey(metric, q, j * dim, x, i * dim, dim);
          const got = kernelKey(metric === 'ip', qp, j * pad, xp, i * pad, pad);
          expect(Math.fround(got)).toBe(got);
          expect(Math.abs(got - want)).toBeLessThan(1e-5 * (1 + Math.abs(want)) * dim);
        }
      }
    }
  });

  test("the SIMD scanner gives the scalar kernel's keys bit for bit (fresh random data, both metrics, several widths)", () => {
    const scanner = createQuadScanner();
    expect(scanner, 'WebAssembly SIMD in Node').toBeDefined();
    for (const len of [4, 8, 24, 64, 132]) {
      const n = 1 + Math.floor(Math.random() * 70);
      const rows = Float32Array.from({ length: n * len }, () => (Math.random() * 2 - 1) * 10 ** (Math.random() * 4 - 2));
      const q = Float32Array.from({ length: 3 * len }, () => Math.random() * 2 - 1);
      scanner!.load(toQuads(rows, n, len), len);
      for (const ip of [false, true]) {
        for (let j = 0; j < 3; j++) {
          const keys = Array.from(scanner!.keys(ip, q, j * len).subarray(0, n));
          expect(keys).toEqual(Array.from({ length: n }, (_, i) => kernelKey(ip, q, j * len, rows, i * len, len)));
        }
      }
    }
  });

  test('the coarse step ranks as the reference does on separated centroids', () => {
    const dim = 8;
    const centroids = Float32Array.from({ length: 12 * dim }, (_, i) => (i % dim === Math.floor(i / dim) % dim ? Math.floor(i / dim) + 1 : 0));
    const queries = gaussianMixture(6, dim, { seed: 2 });
    const layout = layoutFor(dim, 'f16');
    const want = referenceProbes(centroids, queries, dim, 'l2', 5).flat();
    expect(Array.from(cpuRank(undefined, centroids, cpuQueries(queries, layout), layout, 'l2', 5))).toEqual(want);
    expect(Array.from(cpuRank(createQuadScanner(), centroids, cpuQueries(queries, layout), layout, 'l2', 5))).toEqual(want);
  });
});

describe('the decoded-list cache', () => {
  const dim = 6,
    layout = layoutFor(dim, 'f16');
  const record = (list: number, count: number): ListRecord => ({
    list,
    count,
    ids: Uint32Array.from({ length: count }, (_, i) => list * 100 + i),
    codes: packRows(encodeRows(gaussianMixture(count, dim, { seed: list + 1 }), layout), count, layout.units),
  });

  test('keeps to its budget, evicts the coldest first, and follows replace, invalidate and clear', () => {
    const per = decodedBytes(10, layout);
    const cache = createCpuListCache({ layout, budgetBytes: 3 * per, policy: 'lru', hotnessDecay: 0.5, fill: 1, quantizer: () => undefined });
    for (const l of [0, 1, 2]) {
      cache.touch([l]);
      expect(cache.insert(record(l, 10))).toBe(true);
    }
    expect(cache.resident()).toEqual([0, 1, 2]);
    cache.touch([0]); // 1 is now the least recently used
    expect(cache.insert(record(3, 10))).toBe(true);
    expect(cache.resident()).toEqual([0, 2, 3]);
    expect(cache.used).toBeLessThanOrEqual(cache.budget);
    expect(cache.insert(record(4, 40))).toBe(false); // larger than the whole budget
    // A list kept for the search in progress is never the victim.
    const taken = cache.take(record(5, 10), new Set([0, 2, 3]));
    expect(taken.ids.length).toBe(10);
    expect(cache.has(5)).toBe(false);
    expect(cache.stats().scratchLists).toBe(1);
    expect(cache.get(0)?.quads.length).toBe(12 * layout.dimPad); // 10 vectors in whole quads
    expect(cache.get(1)).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, resident: 3 });
    const newer = record(2, 4);
    cache.replace([newer]);
    expect(cache.get(2)?.ids.length).toBe(4);
    cache.invalidate([3]);
    expect(cache.resident()).toEqual([0, 2]);
    cache.clear();
    expect(cache.resident()).toEqual([]);
    expect(cache.used).toBe(0);
  });
});
