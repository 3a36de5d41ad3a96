// Input checks shared by the indexes. Every check runs before anything is mutated, so a
// rejected call leaves the index exactly as it was.

import { WeftError, type WeftErrorCode } from '../errors.js';
import { HALF_MAX } from './codec.js';
import { MAX_K, METRICS, NO_ID, STORAGE_TYPES, type IndexStorage, type Metric, type StorageType } from './types.js';

/** The largest dimension and number of lists an index takes. */
export const MAX_DIM = 65536;
export const MAX_NLIST = 65535;

export function checkOption<T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) {
    throw new WeftError('INVALID_OPTION', `Unknown ${name} '${String(value)}'. Valid values: ${allowed.join(', ')}.`);
  }
  return value;
}

export function checkMetric(m: Metric | undefined): Metric {
  return checkOption('metric', m, METRICS, 'l2');
}
export function checkStorage(s: StorageType | undefined): StorageType {
  return checkOption('storage', s, STORAGE_TYPES, 'f32');
}

/**
 * The largest squared L2 norm a vector (a row added, a query, a centroid) may have. The scan adds
 * d squares (or products) in f32, whose largest finite value is ~3.4e38, and an L2 distance can
 * reach |q - c|² ≤ 2(|q|² + |c|²): with both squared norms within FLT_MAX / 4 every distance and
 * inner product (|q·c| ≤ |q||c|) stays finite. A finite but larger value (3e38, say) makes the
 * distances Inf or NaN, and the probe then picks no list at all (an index of 2^32 - 1): such rows
 * are refused where they come in (INVALID_VECTOR; INVALID_FILE for an imported file's).
 */
export const MAX_SQUARED_NORM = 3.4028234663852886e38 / 4;

/**
 * Why row `row` of `values` (rows of `dim`) is too long, naming its largest value: the caller has
 * found its squared norm above MAX_SQUARED_NORM (only then is the row read again).
 */
export function normProblem(values: ArrayLike<number>, dim: number, row: number): string {
  let at = 0;
  for (let j = 1; j < dim; j++) if (Math.abs(values[row * dim + j]!) > Math.abs(values[row * dim + at]!)) at = j;
  return `row ${row} has ${values[row * dim + at]} at dimension ${at}; a vector's squared length must stay within f32 with room for distances (its norm below ~${Math.sqrt(MAX_SQUARED_NORM).toPrecision(2)}): scale the vectors down`;
}

/** The first row of `values` (rows of `dim`) whose squared norm is beyond MAX_SQUARED_NORM, described; undefined if none. */
export function oversizedRow(values: ArrayLike<number>, dim: number): string | undefined {
  const n = Math.floor(values.length / dim);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const x = values[i * dim + j]!;
      norm += x * x;
    }
    if (!(norm <= MAX_SQUARED_NORM)) return normProblem(values, dim, i);
  }
  return undefined;
}

/** A value as a message quotes it: the value given, never a clamped or converted one. */
const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === null || typeof v !== 'object' ? String(v) : describe(v));

/**
 * The one check of a numeric option that takes whole numbers (the index's and the runtime's): an
 * integer in [min, max], or `fallback` when it is left out (undefined; without a fallback that is
 * an error too). Otherwise `code` (INVALID_OPTION, or the API's own: K_OUT_OF_RANGE,
 * NPROBE_OUT_OF_RANGE) with a message that quotes the value given and the range.
 */
export function checkInteger(name: string, v: unknown, range: { min: number; max?: number; fallback?: number; code?: WeftErrorCode }): number {
  if (v === undefined && range.fallback !== undefined) return range.fallback;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > max) {
    throw new WeftError(range.code ?? 'INVALID_OPTION', `${name} must be an integer between ${range.min} and ${max}; got ${shown(v)}.`, {
      details: { [name]: v, min: range.min, max },
    });
  }
  return v;
}

/**
 * The same for options that take any finite number in a range (fractions, temperatures): `above`
 * excludes the minimum itself ((min, max] rather than [min, max]).
 */
export function checkNumber(name: string, v: unknown, range: { min: number; max?: number; above?: boolean; fallback?: number; code?: WeftErrorCode }): number {
  if (v === undefined && range.fallback !== undefined) return range.fallback;
  const max = range.max ?? Number.MAX_VALUE;
  if (typeof v !== 'number' || !Number.isFinite(v) || (range.above ? v <= range.min : v < range.min) || v > max) {
    const rule = range.max === undefined ? `${range.above ? 'above' : 'at least'} ${range.min}` : `in ${range.above ? '(' : '['}${range.min}, ${max}]`;
    throw new WeftError(range.code ?? 'INVALID_OPTION', `${name} must be a finite number ${rule}; got ${shown(v)}.`, { details: { [name]: v } });
  }
  return v;
}

export function checkPositiveInt(name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  return checkInteger(name, v, { min: 1, max });
}

/**
 * Checks a batch of row-major vectors: a Float32Array whose length is a whole, non-zero number
 * of rows of `dim`, with finite values, each row's squared norm within MAX_SQUARED_NORM (and what
 * the metric and storage need).
 * Returns the number of rows.
 */
export function checkVectors(what: string, v: unknown, dim: number, opts: { metric?: Metric; storage?: IndexStorage } = {}): number {
  if (!(v instanceof Float32Array)) {
    throw new WeftError('INVALID_VECTOR', `${what} must be a Float32Array of row-major vectors (n x ${dim}); got ${describe(v)}.`);
  }
  if (v.length === 0 || v.length % dim !== 0) {
    throw new WeftError(
      'DIMENSION_MISMATCH',
      `${what} has ${v.length} values, which is not a non-zero multiple of the index dimension ${dim}. Pass n x ${dim} values (was the embedder's output dimension ${v.length} meant for another index?).`,
      { details: { length: v.length, dim } },
    );
  }
  const n = v.length / dim;
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const x = v[i * dim + j]!;
      if (!Number.isFinite(x)) {
        throw new WeftError(
          'INVALID_VECTOR',
          `${what} row ${i} has a non-finite value (${x}) at dimension ${j}. Remove or fix NaN/Infinity values before adding or searching.`,
          { details: { row: i, dim: j } },
        );
      }
      // 'pq' keeps each vector's full-precision copy as f16 too.
      if ((opts.storage === 'f16' || opts.storage === 'pq') && Math.abs(x) > HALF_MAX) {
        throw new WeftError(
          'INVALID_VECTOR',
          `${what} row ${i} has ${x} at dimension ${j}, beyond the f16 range (±${HALF_MAX}) that storage '${opts.storage}' keeps. Scale the vectors or use storage 'f32'.`,
          { details: { row: i, dim: j } },
        );
      }
      norm += x * x; // in f64: no overflow for any finite f32
    }
    if (norm > MAX_SQUARED_NORM) {
      throw new WeftError('INVALID_VECTOR', `${what} ${normProblem(v, dim, i)}.`, { details: { row: i } });
    }
    if (opts.metric === 'cosine' && norm === 0) {
      throw new WeftError('INVALID_VECTOR', `${what} row ${i} is all zeros, which has no direction for the cosine metric. Drop it or use metric 'l2'.`, {
        details: { row: i },
      });
    }
  }
  return n;
}

/** Checks user ids: n integers in [0, 2^32 - 2], unique in the batch and not already present. */
export function checkIds(ids: ArrayLike<number>, n: number, present: (id: number) => boolean): Uint32Array {
  if (ids.length !== n) {
    throw new WeftError('INVALID_ID', `Got ${ids.length} ids for ${n} vectors; pass exactly one id per vector.`);
  }
  const out = new Uint32Array(n);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= NO_ID) {
      throw new WeftError('INVALID_ID', `Id ${id} at position ${i} is not an integer in [0, ${NO_ID - 1}].`, { details: { position: i } });
    }
    if (seen.has(id) || present(id)) {
      throw new WeftError('DUPLICATE_ID', `Id ${id} is already in the index (or repeated in this call). Ids must be unique; delete the old vector first.`, {
        details: { id },
      });
    }
    seen.add(id);
    out[i] = id;
  }
  return out;
}

export function checkK(k: number | undefined, size: number, maxK: number): number {
  const v = k ?? Math.min(10, size);
  if (!Number.isInteger(v) || v < 1) {
    throw new WeftError('K_OUT_OF_RANGE', `k must be a positive integer; got ${String(k)}.`);
  }
  if (v > size) {
    throw new WeftError('K_OUT_OF_RANGE', `k = ${v} is larger than the index, which holds ${size} vectors. Ask for at most ${size}.`, {
      details: { k: v, size },
    });
  }
  if (v > MAX_K) {
    throw new WeftError('K_OUT_OF_RANGE', `k = ${v} is above the largest supported k (${MAX_K}). Ask for fewer results.`, { details: { k: v, maxK: MAX_K } });
  }
  if (v > maxK) {
    throw new WeftError('DEVICE_LIMIT', `k = ${v} needs more workgroup memory than this device offers; it supports k ≤ ${maxK}.`, { details: { k: v, maxK } });
  }
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
