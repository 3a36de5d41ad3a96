// Product quantisation of IVF residuals (issue 24; FAISS IndexIVFPQ with by_residual and its
// "precomputed table" decomposition). A vector x in list l is stored as its list centroid c plus
// a residual r = x - c cut into m sub-vectors of dsub = dim / m dimensions, each replaced by the
// nearest of ksub (256 for 8-bit codes, 16 for 4-bit) sub-centroids learnt by k-means in that
// sub-space (the project's own k-means: GPU, or the CPU fallback). What a scan needs per vector
// is its m codes and one float, `term`:
//
//   l2:  ||q - c - r^||^2 = ||q - c||^2 + (||r^||^2 + 2<c, r^>) - 2<q, r^>
//   ip:  <q, c + r^>      = <q, c>       + <q, r^>
//
// ||q - c||^2 and <q, c> are the coarse step's distances (one per probed list); <q, r^> is the sum
// of m lookups in a table of <q_j, C_j[k]> made once per query, the same for every list; the term
// (||r^||^2 + 2<c, r^>, 0 for ip) is computed when the vector is encoded. So a query builds one
// table, whatever nprobe, and scoring a vector is m table reads and one add — the distance to
// the vector as decoded (c + r^), exactly up to float rounding. Candidates are then re-ranked with
// their full-precision vectors (stored beside the codes).

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { createRng } from '../random.js';
import { halfRounded, layoutFor, packRows, type Layout } from './codec.js';
import { trainKmeans } from './kmeans.js';
import { groupByList } from './list-records.js';
import { referenceKey } from './reference.js';
import { assignLists, sampleRows } from './train.js';
import type { IndexPq, IndexStorage, ListRecord, Metric } from './types.js';

/** Bits per code: 8 (256 sub-centroids) or 4 (16, two codes per byte: fast-scan style tables). */
export type PqBits = 4 | 8;

/** A product quantiser: m sub-spaces of dsub dimensions, ksub sub-centroids each. */
export interface PqCodebook {
  dim: number;
  m: number;
  nbits: PqBits;
  dsub: number;
  ksub: number;
  /** m x ksub x dsub sub-centroids. */
  centroids: Float32Array;
}

/** Bytes of one vector's codes. */
export const pqCodeBytes = (m: number, nbits: PqBits) => (nbits === 8 ? m : Math.ceil(m / 2));

/**
 * The codes of a 'pq' index that names none: 4 bits a code and a sub-quantiser per 4 dimensions
 * (`bits` 8: per 8), m the largest divisor of dim up to that. As many bytes as 8 bits for every
 * 8 dimensions, with a codebook 16 times smaller (12 KB of f16 at 384 dimensions against 197 KB,
 * fetched before a remote reader's first answer), 5 times faster to train, tables the GPU scan
 * keeps in workgroup memory, and the same recall re-ranked (docs/design/compressed-codes.md).
 */
export function defaultPq(dim: number, bits: PqBits = 4): IndexPq {
  let m = Math.max(1, Math.floor(dim / (bits === 4 ? 4 : 8)));
  while (dim % m !== 0) m--;
  return { m, bits };
}

/** INVALID_OPTION unless m divides dim and nbits is 4 or 8. */
export function checkPq(dim: number, m: number, nbits: number): asserts nbits is PqBits {
  if (nbits !== 4 && nbits !== 8) throw new WeftError('INVALID_OPTION', `pq bits must be 4 or 8, not ${String(nbits)}.`);
  if (!Number.isInteger(m) || m < 1 || dim % m !== 0) {
    const divisors = Array.from({ length: dim }, (_, i) => i + 1).filter((d) => dim % d === 0 && dim / d <= 32 && d <= 256);
    throw new WeftError(
      'INVALID_OPTION',
      `pq m (sub-quantisers) must divide the dimension ${dim}; got ${String(m)}. Try one of ${divisors.slice(-6).join(', ')} (dim / m dimensions each; 4-8 is usual).`,
      { details: { dim, m } },
    );
  }
}

/** Candidates re-scored per result when a search does not say (IVF-PQ's re-ranking). */
export const DEFAULT_RERANK = 10;

/** `rerank` checked: a whole number of candidates re-scored per result, 1 to 1024 (INVALID_OPTION); DEFAULT_RERANK when absent. */
export function checkRerank(rerank: unknown): number {
  const r = rerank ?? DEFAULT_RERANK;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > 1024)
    throw new WeftError('INVALID_OPTION', `rerank must be a whole number from 1 to 1024 (candidates re-scored per result); got ${String(rerank)}.`);
  return r;
}

export interface TrainPqOptions {
  m: number;
  nbits: PqBits;
  niter?: number;
  seed: number;
  signal?: AbortSignal | undefined;
  /** Sub-spaces trained so far, of m (each is a k-means of its own). */
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/**
 * Learns the sub-centroids from `residuals` (n x dim): k-means in each sub-space, on the GPU with
 * a context, else on the CPU. Needs at least ksub residuals (TOO_FEW_TRAINING_VECTORS).
 */
export async function trainPq(ctx: GpuContext | undefined, residuals: Float32Array, dim: number, o: TrainPqOptions): Promise<PqCodebook> {
  checkPq(dim, o.m, o.nbits);
  const ksub = 2 ** o.nbits;
  const dsub = dim / o.m;
  const n = residuals.length / dim;
  if (n < ksub) {
    throw new WeftError('TOO_FEW_TRAINING_VECTORS', `Product quantisation with ${o.nbits}-bit codes needs at least ${ksub} training vectors; got ${n}.`, {
      details: { n, ksub },
    });
  }
  const centroids = new Float32Array(o.m * ksub * dsub);
  const sub = new Float32Array(n * dsub);
  for (let j = 0; j < o.m; j++) {
    for (let i = 0; i < n; i++) sub.set(residuals.subarray(i * dim + j * dsub, i * dim + (j + 1) * dsub), i * dsub);
    const c = await trainKmeans(ctx, sub, { dim: dsub, k: ksub, metric: 'l2', spherical: false, niter: o.niter ?? 20, seed: o.seed + j, signal: o.signal });
    centroids.set(c, j * ksub * dsub);
    o.onProgress?.(j + 1, o.m);
  }
  // Rounded to f16 before any code is made with it: a published file holds it in half the bytes (codec.ts's halfRounded).
  return { dim, m: o.m, nbits: o.nbits, dsub, ksub, centroids: halfRounded(centroids) };
}

/** The nearest sub-centroid of sub-vector j of `r` (ties: the lower code). */
function nearest(book: PqCodebook, r: Float32Array, at: number, j: number): number {
  const { dsub, ksub, centroids } = book;
  let best = 0,
    bestD = Number.POSITIVE_INFINITY;
  for (let k = 0; k < ksub; k++) {
    const base = (j * ksub + k) * dsub;
    let d = 0;
    for (let t = 0; t < dsub; t++) {
      const e = r[at + j * dsub + t]! - centroids[base + t]!;
      d += e * e;
    }
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

/** Codes of residuals encoded and, per vector, the scan's term (see the header). */
export interface PqEncoded {
  /** n x codeBytes; 4-bit codes two per byte, sub-space 2i in the low nibble. */
  codes: Uint8Array;
  /** l2: ||r^||^2 + 2<c, r^>; ip: 0. */
  terms: Float32Array;
}

/**
 * Encodes the residuals `residuals` (n x dim) of vectors whose list centroid is `centroid` (dim),
 * for `metric` ('l2', or 'ip' for inner product and cosine).
 */
export function encodePq(book: PqCodebook, residuals: Float32Array, centroid: Float32Array, metric: 'l2' | 'ip'): PqEncoded {
  const { dim, m, nbits, dsub, ksub, centroids } = book;
  const n = residuals.length / dim;
  const bytes = pqCodeBytes(m, nbits);
  const codes = new Uint8Array(n * bytes);
  const terms = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let norm = 0,
      cross = 0;
    for (let j = 0; j < m; j++) {
      const k = nearest(book, residuals, i * dim, j);
      if (nbits === 8) codes[i * bytes + j] = k;
      else codes[i * bytes + (j >> 1)]! |= j & 1 ? k << 4 : k;
      const base = (j * ksub + k) * dsub;
      for (let t = 0; t < dsub; t++) {
        const v = centroids[base + t]!;
        norm += v * v;
        cross += centroid[j * dsub + t]! * v;
      }
    }
    terms[i] = metric === 'l2' ? Math.fround(norm + 2 * cross) : 0;
  }
  return { codes, terms };
}

/** Code `j` of vector `i`. */
export function pqCode(book: PqCodebook, codes: Uint8Array, i: number, j: number): number {
  if (book.nbits === 8) return codes[i * book.m + j]!;
  const byte = codes[i * pqCodeBytes(book.m, 4) + (j >> 1)]!;
  return j & 1 ? byte >> 4 : byte & 15;
}

/** Vector `i` as decoded: centroid + its residual's sub-centroids (dim floats). */
export function decodePq(book: PqCodebook, codes: Uint8Array, i: number, centroid: Float32Array): Float32Array {
  const { dim, m, dsub, ksub, centroids } = book;
  const out = new Float32Array(dim);
  for (let j = 0; j < m; j++) {
    const base = (j * ksub + pqCode(book, codes, i, j)) * dsub;
    for (let t = 0; t < dsub; t++) out[j * dsub + t] = centroid[j * dsub + t]! + centroids[base + t]!;
  }
  return out;
}

/** A query's table: m x ksub inner products <q_j, C_j[k]>, the same for every list. */
export function pqTable(book: PqCodebook, query: Float32Array): Float32Array {
  const { m, dsub, ksub, centroids } = book;
  const table = new Float32Array(m * ksub);
  for (let j = 0; j < m; j++) {
    for (let k = 0; k < ksub; k++) {
      const base = (j * ksub + k) * dsub;
      let d = 0;
      for (let t = 0; t < dsub; t++) d += query[j * dsub + t]! * centroids[base + t]!;
      table[j * ksub + k] = d;
    }
  }
  return table;
}

/** The tables of every query of `prepared` (rows of dim floats), one after another: what the scan kernel binds. */
export function pqTables(book: PqCodebook, prepared: Float32Array): Float32Array {
  const { dim, m, ksub } = book;
  const nq = prepared.length / dim;
  const out = new Float32Array(nq * m * ksub);
  for (let q = 0; q < nq; q++) out.set(pqTable(book, prepared.subarray(q * dim, (q + 1) * dim)), q * m * ksub);
  return out;
}

/**
 * The scan's keys (smaller is nearer) of the `count` vectors of one list: `coarse` is ||q - c||^2
 * for l2 and <q, c> for ip (cosine on normalised rows).
 */
export function pqScan(book: PqCodebook, table: Float32Array, enc: PqEncoded, count: number, coarse: number, metric: 'l2' | 'ip'): Float32Array {
  const { m, ksub } = book;
  const keys = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let dot = 0;
    for (let j = 0; j < m; j++) dot += table[j * ksub + pqCode(book, enc.codes, i, j)]!;
    keys[i] = metric === 'l2' ? coarse + enc.terms[i]! - 2 * dot : -(coarse + dot);
  }
  return keys;
}

/**
 * How PQ vectors are laid out for the scan kernel (shaders/scan.wgsl, STORAGE 3): word 0 the term
 * (f32 bits), then the codes packed from the low bits up (4 a word at 8 bits, 8 at 4 bits), in
 * whole vec4<u32> units, interleaved in blocks of 32 as every storage type is.
 */
export function pqLayout(dim: number, m: number, nbits: PqBits): Layout<'pq'> {
  const units = Math.ceil((1 + Math.ceil(pqCodeBytes(m, nbits) / 4)) / 4);
  const queryUnits = Math.ceil(dim / 4);
  return { dim, storage: 'pq', dimPad: queryUnits * 4, units, words: units * 4, queryUnits, bytesPerVector: units * 16 };
}

/** `enc`'s vectors as row-major rows of `layout` (term word, then the codes), before interleaving. */
export function pqRows(enc: PqEncoded, count: number, layout: Layout<'pq'>): Uint32Array {
  const rows = new Uint32Array(count * layout.words);
  const bytes = enc.codes.length / Math.max(1, count);
  const termBits = new Uint32Array(enc.terms.buffer, enc.terms.byteOffset, count);
  const rowBytes = new Uint8Array(rows.buffer);
  for (let i = 0; i < count; i++) {
    rows[i * layout.words] = termBits[i]!;
    rowBytes.set(enc.codes.subarray(i * bytes, (i + 1) * bytes), (i * layout.words + 1) * 4);
  }
  return rows;
}

/**
 * The layout of a stored index's lists: codec.ts's for the flat storage types, pqLayout's for
 * 'pq' (whose `pq` says m and bits; CORRUPT_RECORD without it).
 */
export function indexLayout(m: { name?: string; dim: number; storage: IndexStorage; pq?: IndexPq | undefined }): Layout<IndexStorage> {
  if (m.storage !== 'pq') return layoutFor(m.dim, m.storage);
  if (!m.pq)
    throw new WeftError(
      'CORRUPT_RECORD',
      `Index '${m.name ?? ''}' stores PQ codes but its manifest does not say their shape (pq.m, pq.bits). Re-import or rebuild it.`,
    );
  return pqLayout(m.dim, m.pq.m, m.pq.bits);
}

/** The codebook of a 'pq' index as stored (CentroidData's `codebook`), with its shape. */
export function storedCodebook(dim: number, pq: IndexPq, centroids: Float32Array): PqCodebook {
  const ksub = 2 ** pq.bits;
  return { dim, m: pq.m, nbits: pq.bits, dsub: dim / pq.m, ksub, centroids };
}

/** One list's record for the scan: `enc`'s vectors as rows of `layout`, interleaved. */
export function pqRecord(list: number, ids: Uint32Array, enc: PqEncoded, layout: Layout<'pq'>): ListRecord {
  const count = ids.length;
  return { list, count, ids, codes: packRows(pqRows(enc, count, layout), count, layout.units) };
}

/**
 * Row-major rows of `layout` for `prepared` vectors (n x dim) placed in the lists `labels` of
 * `centroids`: each encoded as its residual from its own list's centroid. Rows keep their input
 * order, as codec.ts's encodeRows does for the other storage types.
 */
export function encodePqRows(
  book: PqCodebook,
  prepared: Float32Array,
  labels: ArrayLike<number>,
  centroids: Float32Array,
  layout: Layout<'pq'>,
  metric: 'l2' | 'ip',
): Uint32Array {
  const { dim } = book;
  const n = labels.length;
  const rows = new Uint32Array(n * layout.words);
  for (const [l, members] of groupByList(labels)) {
    const c = centroids.subarray(l * dim, (l + 1) * dim);
    const r = new Float32Array(members.length * dim);
    members.forEach((i, j) => {
      for (let t = 0; t < dim; t++) r[j * dim + t] = prepared[i * dim + t]! - c[t]!;
    });
    const part = pqRows(encodePq(book, r, c, metric), members.length, layout);
    members.forEach((i, j) => rows.set(part.subarray(j * layout.words, (j + 1) * layout.words), i * layout.words));
  }
  return rows;
}

/** What trainCodebook needs besides the vectors: the shape of the codes and the k-means settings. */
export interface CodebookTraining extends TrainPqOptions {
  /** At most this many residuals per sub-centroid are used (FAISS's rule for its sub-quantisers). */
  maxTrainPointsPerCentroid: number;
}

/**
 * The codebook of an IVF-PQ index whose lists have `centroids`: learnt from the residuals of a
 * sample of `prepared` (n x dim) from their nearest centroid.
 */
export async function trainCodebook(
  ctx: GpuContext | undefined,
  prepared: Float32Array,
  centroids: Float32Array,
  dim: number,
  metric: Metric,
  o: CodebookTraining,
): Promise<PqCodebook> {
  const sample = sampleRows(prepared, dim, o.maxTrainPointsPerCentroid * 2 ** o.nbits, createRng(o.seed ^ 0x2545f491));
  const labels = await assignLists(ctx, sample, centroids, dim, metric);
  const residuals = new Float32Array(sample.length);
  for (let i = 0; i < labels.length; i++) for (let t = 0; t < dim; t++) residuals[i * dim + t] = sample[i * dim + t]! - centroids[labels[i]! * dim + t]!;
  return trainPq(ctx, residuals, dim, o);
}

/** The coarse key the PQ key adds for query row q of `prepared` and list l (referenceKey to its centroid, as float32). */
export function coarseKey(metric: 'l2' | 'ip', prepared: Float32Array, q: number, centroids: Float32Array, l: number, dim: number): number {
  return Math.fround(referenceKey(metric, prepared, q * dim, centroids, l * dim, dim));
}

/**
 * The probe table the PQ scan reads, (coarse key bits, list) for each of `depth` ranked lists per
 * query: the key is the query's distance to the list's centroid (reference.ts's referenceKey,
 * which the PQ key adds to), computed here so that every path (the GPU's ranking of some lists
 * or of all, a reordered or sliced session, the CPU backend) adds the same number.
 */
export function pqProbeTable(
  metric: 'l2' | 'ip',
  prepared: Float32Array,
  centroids: Float32Array,
  dim: number,
  lists: Uint32Array,
  nq: number,
  depth: number,
): Uint32Array {
  const table = new Uint32Array(nq * depth * 2);
  const key = new Float32Array(1);
  const bitsOf = new Uint32Array(key.buffer);
  for (let q = 0; q < nq; q++) {
    for (let r = 0; r < depth; r++) {
      const l = lists[q * depth + r]!;
      key[0] = coarseKey(metric, prepared, q, centroids, l, dim);
      table[(q * depth + r) * 2] = bitsOf[0]!;
      table[(q * depth + r) * 2 + 1] = l;
    }
  }
  return table;
}

/**
 * The scan kernel's PQ keys on the CPU (shaders/scan.wgsl's pq_score, in its float32 order) of
 * `count` row-major rows of `layout`, for a query whose table is `table` and whose probe key for
 * this list is `coarse` (float32).
 */
export function pqRowKeys(
  book: PqCodebook,
  table: Float32Array,
  rows: Uint32Array,
  count: number,
  layout: Layout,
  coarse: number,
  metric: 'l2' | 'ip',
): Float32Array {
  const { m, nbits, ksub } = book;
  const f = Math.fround;
  const keys = new Float32Array(count);
  const bytes = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
  const termOf = new Float32Array(rows.buffer, rows.byteOffset, rows.length);
  for (let i = 0; i < count; i++) {
    const at = (i * layout.words + 1) * 4;
    let sum = 0;
    for (let j = 0; j < m; j++) {
      const code = nbits === 8 ? bytes[at + j]! : (bytes[at + (j >> 1)]! >> ((j & 1) * 4)) & 15;
      sum = f(sum + table[j * ksub + code]!);
    }
    keys[i] = metric === 'l2' ? f(f(coarse + termOf[i * layout.words]!) - f(2 * sum)) : f(coarse - sum);
  }
  return keys;
}
