// The vectors the search and peers benchmarks run on when no file gives them: queries near the
// data (held-in rows with a little noise) or data and queries drawn from one Gaussian mixture.

import { gaussianMixture, type Rng } from '../src/random.js';
import type { Matrix } from './formats.js';

/** `nq` rows of `base` picked by `rng`, each value scaled by 1 + 0.01·N(0, 1). */
export function heldInQueries(base: Matrix, nq: number, rng: Rng): Float32Array {
  const queries = new Float32Array(nq * base.dim);
  for (let i = 0; i < nq; i++) {
    const r = rng.int(base.n);
    for (let j = 0; j < base.dim; j++) queries[i * base.dim + j] = base.data[r * base.dim + j]! * (1 + 0.01 * rng.normal());
  }
  return queries;
}

/** `n` data rows and `queries` query rows of one mixture (the queries from the data's distribution). */
export function mixtureSplit(n: number, queries: number, dim: number, seed: number): { base: Matrix; queries: Float32Array } {
  const all = gaussianMixture(n + queries, dim, { centers: Math.max(8, Math.round(Math.sqrt(n) / 2)), seed });
  return { base: { data: all.subarray(0, n * dim), n, dim }, queries: all.slice(n * dim) };
}
