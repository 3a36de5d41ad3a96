// Product quantisation of IVF residuals (src/ivf/pq.ts) on the CPU, on fresh random data each
// run (the seed is printed): a scan's key is the exact distance to the vector as decoded, for l2
// and inner product, 8- and 4-bit codes; 4-bit codes pack two per byte; PQ's candidates re-ranked
// with the full vectors find the true neighbours; the options are checked.
import { describe, expect, test } from 'vitest';
import { checkPq, decodePq, defaultPq, encodePq, pqCode, pqCodeBytes, pqScan, pqTable, trainPq, type PqBits } from '../../src/ivf/pq.js';
import { createRng, gaussianMixture } from '../../src/random.js';

const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
console.log(`pq.test seed ${seed}`);

/** Two lists' worth of vectors with their centroids, and queries. */
function data(n: number, dim: number) {
  const rng = createRng(seed);
  const x = gaussianMixture(n, dim, { centers: 8, seed });
  const centroids = [0, 1].map(() => Float32Array.from({ length: dim }, () => rng.normal() * 0.3));
  const list = Uint8Array.from({ length: n }, () => rng.int(2));
  const residuals = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let t = 0; t < dim; t++) residuals[i * dim + t] = x[i * dim + t]! - centroids[list[i]!]![t]!;
  const queries = gaussianMixture(20, dim, { centers: 8, seed: seed + 1 });
  return { x, centroids, list, residuals, queries };
}

const dot = (a: Float32Array, b: Float32Array, at = 0) => a.reduce((s, v, t) => s + v * b[at + t]!, 0);
const l2 = (a: Float32Array, b: Float32Array, at = 0) => a.reduce((s, v, t) => s + (v - b[at + t]!) ** 2, 0);

describe('product quantisation of residuals', () => {
  for (const nbits of [8, 4] as PqBits[]) {
    for (const metric of ['l2', 'ip'] as const) {
      test(`a scan's key is the distance to the vector as decoded (${nbits}-bit codes, ${metric})`, async () => {
        const dim = 24,
          m = 6,
          n = 600;
        const { centroids, list, residuals, queries } = data(n, dim);
        const book = await trainPq(undefined, residuals, dim, { m, nbits, seed, niter: 8 });
        expect(book.centroids.length).toBe(m * 2 ** nbits * (dim / m));
        for (const l of [0, 1]) {
          const rows = [...list.keys()].filter((i) => list[i] === l);
          const r = new Float32Array(rows.length * dim);
          rows.forEach((i, k) => r.set(residuals.subarray(i * dim, (i + 1) * dim), k * dim));
          const enc = encodePq(book, r, centroids[l]!, metric);
          expect(enc.codes.length).toBe(rows.length * pqCodeBytes(m, nbits));
          for (let qi = 0; qi < 3; qi++) {
            const q = queries.subarray(qi * dim, (qi + 1) * dim);
            const coarse = metric === 'l2' ? l2(q, centroids[l]!) : dot(q, centroids[l]!);
            const keys = pqScan(book, pqTable(book, q), enc, rows.length, coarse, metric);
            rows.forEach((_, k) => {
              const decoded = decodePq(book, enc.codes, k, centroids[l]!);
              const want = metric === 'l2' ? l2(q, decoded) : -dot(q, decoded);
              expect(Math.abs(keys[k]! - want), `seed ${seed}, list ${l}, vector ${k}`).toBeLessThan(1e-4 * (1 + Math.abs(want)));
            });
          }
        }
      });
    }
  }

  test('4-bit codes pack two per byte, the even sub-space in the low nibble; every code is the nearest sub-centroid', async () => {
    const dim = 10,
      m = 5;
    const { residuals } = data(200, dim);
    const book = await trainPq(undefined, residuals, dim, { m, nbits: 4, seed, niter: 4 });
    const enc = encodePq(book, residuals, new Float32Array(dim), 'l2');
    expect(pqCodeBytes(m, 4)).toBe(3);
    for (let i = 0; i < 200; i++) {
      for (let j = 0; j < m; j++) {
        const byte = enc.codes[i * 3 + (j >> 1)]!;
        const code = pqCode(book, enc.codes, i, j);
        expect(code).toBe(j & 1 ? byte >> 4 : byte & 15);
        const sub = residuals.subarray(i * dim + j * 2, i * dim + j * 2 + 2);
        const d = (k: number) => l2(sub, book.centroids, (j * 16 + k) * 2);
        for (let k = 0; k < 16; k++) expect(d(code)).toBeLessThanOrEqual(d(k));
      }
      expect(enc.codes[i * 3 + 2]! >> 4, 'the unused high nibble of an odd m').toBe(0);
    }
  });

  test("PQ's top candidates re-ranked with the full vectors find the true nearest neighbours", async () => {
    const dim = 32,
      n = 3000,
      k = 10;
    const { x, queries } = data(n, dim);
    const zero = new Float32Array(dim);
    // One list centred at 0: the residuals are the vectors.
    // 8 bytes a vector either way (1/16 of f32): 8 sub-spaces of 8 bits, or 16 of 4 bits (coarser
    // per sub-space: more candidates to re-rank).
    for (const [nbits, m, factor] of [
      [8, 8, 10],
      [4, 16, 30],
    ] as [PqBits, number, number][]) {
      const book = await trainPq(undefined, x, dim, { m, nbits, seed, niter: 10 });
      const enc = encodePq(book, x, zero, 'l2');
      let found = 0,
        rawFound = 0;
      for (let qi = 0; qi < 20; qi++) {
        const q = queries.subarray(qi * dim, (qi + 1) * dim);
        const exact = Array.from({ length: n }, (_, i) => ({ i, d: l2(q, x, i * dim) })).sort((a, b) => a.d - b.d);
        const truth = new Set(exact.slice(0, k).map((e) => e.i));
        const keys = pqScan(book, pqTable(book, q), enc, n, l2(q, zero), 'l2');
        const ranked = Array.from(keys, (d, i) => ({ i, d })).sort((a, b) => a.d - b.d);
        rawFound += ranked.slice(0, k).filter((e) => truth.has(e.i)).length;
        // Re-rank factor x k candidates by their exact distance.
        const reranked = ranked
          .slice(0, factor * k)
          .map((e) => ({ i: e.i, d: l2(q, x, e.i * dim) }))
          .sort((a, b) => a.d - b.d);
        found += reranked.slice(0, k).filter((e) => truth.has(e.i)).length;
      }
      const recall = found / (20 * k),
        raw = rawFound / (20 * k);
      console.log(
        `seed ${seed}, ${nbits}-bit, m ${m}: recall@10 ${raw.toFixed(3)} from the codes, ${recall.toFixed(3)} re-ranked from ${factor * k} candidates`,
      );
      expect(recall).toBeGreaterThan(0.95);
      expect(recall).toBeGreaterThan(raw);
    }
  });

  test('options: m must divide the dimension, 4 or 8 bits, enough training vectors', async () => {
    expect(() => checkPq(384, 48, 8)).not.toThrow();
    expect(() => checkPq(384, 50, 8)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/must divide the dimension 384.*Try one of/) }),
    );
    expect(() => checkPq(384, 48, 6)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/4 or 8/) }));
    await expect(trainPq(undefined, new Float32Array(100 * 8), 8, { m: 2, nbits: 8, seed: 1 })).rejects.toMatchObject({ code: 'TOO_FEW_TRAINING_VECTORS' });
  });

  test('the default codes: 4 bits, a sub-quantiser per 4 dimensions (the largest divisor of dim up to dim / 4)', () => {
    expect(defaultPq(384)).toEqual({ m: 96, bits: 4 });
    expect(defaultPq(768)).toEqual({ m: 192, bits: 4 });
    expect(defaultPq(100)).toEqual({ m: 25, bits: 4 });
    expect(defaultPq(90)).toEqual({ m: 18, bits: 4 });
    expect(defaultPq(7)).toEqual({ m: 1, bits: 4 });
    for (const dim of [3, 64, 100, 300, 384, 1024, 1536]) expect(() => checkPq(dim, defaultPq(dim).m, 4)).not.toThrow();
  });
});
