// GPU test harness: one device per test file; every test runs inside validation,
// out-of-memory and internal error scopes, fails on any uncaptured GPU error, and must give
// back every byte it allocated through the context (leak check).

import { expect, test } from 'vitest';
import { createGpuContext, type GpuContext, type GpuContextOptions } from '../../src/weft.js';
import { NO_ID, type Metric, type ReferenceList, type SearchResult } from '../../src/weft.js';
import { referenceKey } from '../../src/ivf/reference.js';

const contexts = new Map<string, Promise<GpuContext>>();

export function sharedContext(options: GpuContextOptions = {}): Promise<GpuContext> {
  const key = JSON.stringify(options);
  let p = contexts.get(key);
  if (!p) {
    p = createGpuContext(options);
    contexts.set(key, p);
  }
  return p;
}

export function gpuTest(name: string, fn: (ctx: GpuContext) => Promise<void>, options: GpuContextOptions & { timeout?: number } = {}) {
  const { timeout, ...ctxOptions } = options;
  test(
    name,
    async () => {
      const ctx = await sharedContext(ctxOptions);
      const uncaptured: string[] = [];
      const off = ctx.onError((e) => uncaptured.push(`${e.code}: ${e.message}`));
      const before = ctx.liveBytes;
      const scopes: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
      for (const s of scopes) ctx.device.pushErrorScope(s);
      let failure: unknown;
      try {
        await fn(ctx);
      } catch (e) {
        failure = e;
      }
      const errors: string[] = [];
      for (let i = scopes.length - 1; i >= 0; i--) {
        const e = await ctx.device.popErrorScope();
        if (e) errors.push(`${scopes[i]}: ${e.message}`);
      }
      off();
      // The test's own failure first: the checks below would only report its leftovers.
      if (failure !== undefined) throw failure;
      expect(errors, 'GPU errors inside the test').toEqual([]);
      expect(uncaptured, 'uncaptured GPU errors').toEqual([]);
      expect(ctx.liveBytes, 'bytes still allocated after the test').toBe(before);
    },
    timeout ?? 120_000,
  );
}

/** A fresh seed per run (logged, so a failure can be replayed with SEED=...). */
export function freshSeed(): number {
  const s = crypto.getRandomValues(new Uint32Array(1))[0]!;
  return s;
}

export function normalized(v: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length / dim; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[i * dim + j]! ** 2;
    for (let j = 0; j < dim; j++) out[i * dim + j] = v[i * dim + j]! / Math.sqrt(s);
  }
  return out;
}

/**
 * The GPU result equals the reference up to float rounding: distances agree rank by rank within
 * `tol` (relative), and where the ids differ the GPU's id is a near-tie of the reference's at
 * that rank (its exact distance is within tol of the reference distance there).
 */
export function expectSameTopK(gpu: SearchResult, ref: SearchResult, lists: ReferenceList[], queries: Float32Array, dim: number, metric: Metric, tol = 1e-4) {
  expect(gpu.numQueries).toBe(ref.numQueries);
  expect(gpu.k).toBe(ref.k);
  const where = new Map<number, { list: ReferenceList; row: number }>();
  for (const list of lists) list.ids.forEach((id, row) => where.set(id, { list, row }));
  let mismatched = 0;
  for (let q = 0; q < ref.numQueries; q++) {
    for (let r = 0; r < ref.k; r++) {
      const i = q * ref.k + r;
      const want = ref.distances[i]!;
      const got = gpu.distances[i]!;
      if (ref.ids[i] === NO_ID) {
        expect(gpu.ids[i]).toBe(NO_ID);
        continue;
      }
      const scale = Math.max(1, Math.abs(want));
      expect(Math.abs(got - want), `query ${q} rank ${r}: distance ${got} vs ${want}`).toBeLessThanOrEqual(tol * scale);
      if (gpu.ids[i] !== ref.ids[i]) {
        mismatched++;
        const at = where.get(gpu.ids[i]!);
        expect(at, `query ${q} rank ${r}: GPU id ${gpu.ids[i]} is not in the index`).toBeDefined();
        const exact = -(-referenceKey(metric, queries, q * dim, at!.list.vectors, at!.row * dim, dim));
        const exactDist = metric === 'l2' ? exact : -exact;
        expect(Math.abs(exactDist - want), `query ${q} rank ${r}: id ${gpu.ids[i]} vs ${ref.ids[i]} is not a tie`).toBeLessThanOrEqual(tol * scale);
      }
    }
    // No id twice in one row.
    const row = [...gpu.ids.subarray(q * gpu.k, (q + 1) * gpu.k)].filter((id) => id !== NO_ID);
    expect(new Set(row).size).toBe(row.length);
  }
  // Ties are rare on random data: most ranks must match exactly.
  expect(mismatched).toBeLessThanOrEqual(Math.max(2, ref.numQueries * ref.k * 0.02));
}
