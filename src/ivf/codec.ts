// How stored vectors are laid out: padding to whole vec4<u32> units, f16 packing, int8 scalar
// quantisation with a per-dimension range (FAISS QT_8bit), the 32-vector interleaved blocks the
// scan kernel reads, and the matching CPU decoders used by the reference search.

import type { IndexStorage, StorageType } from './types.js';

/** Vectors per interleaved block (a warp reads one 128-byte line per word). */
export const BLOCK = 32;

/**
 * How vectors of a dimension and storage type are laid out on the GPU: padding, vec4 units, words and
 * bytes per vector.
 */
export interface Layout<S extends string = IndexStorage> {
  dim: number;
  /** The storage type ('pq': product-quantised residuals, pq.ts's pqLayout: a term word, then the codes). */
  storage: S;
  /** Dimensions after padding to whole units (padding is zero and scores zero). */
  dimPad: number;
  /** vec4<u32> units per stored vector. */
  units: number;
  /** u32 words per stored vector (4 x units). */
  words: number;
  /** vec4<f32> units per (padded) query row. */
  queryUnits: number;
  /** Stored bytes per vector. */
  bytesPerVector: number;
}

/** The layout of a storage type whose codes decode to vectors on their own (f32, f16, int8: not 'pq'). */
export type FlatLayout = Layout<StorageType>;

/** Whether `layout` is a flat storage type's (its rows decode on their own), not 'pq''s. */
export const isFlat = (layout: Layout): layout is FlatLayout => layout.storage !== 'pq';

const DIMS_PER_UNIT: Record<StorageType, number> = { f32: 4, f16: 8, int8: 16 };

/** The GPU layout of `dim`-dimensional vectors stored as `storage` (f32, f16 or int8). */
export function layoutFor(dim: number, storage: StorageType): FlatLayout {
  const per = DIMS_PER_UNIT[storage];
  const units = Math.ceil(dim / per);
  const dimPad = units * per;
  return { dim, storage, dimPad, units, words: units * 4, queryUnits: dimPad / 4, bytesPerVector: units * 16 };
}

/** Per-dimension int8 range: x ≈ vmin + code * scale, code in 0..255. Padded with zeros to dimPad. */
export interface ScalarQuantizer {
  vmin: Float32Array;
  scale: Float32Array;
}

export function trainScalarQuantizer(vectors: Float32Array, dim: number, dimPad: number): ScalarQuantizer {
  const n = vectors.length / dim;
  const vmin = new Float32Array(dimPad);
  const scale = new Float32Array(dimPad);
  for (let j = 0; j < dim; j++) {
    let lo = Infinity,
      hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = vectors[i * dim + j]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    vmin[j] = lo;
    scale[j] = (hi - lo) / 255;
  }
  return { vmin, scale };
}

// ---- f16 -----------------------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 → IEEE binary16 bits, round to nearest even (what WGSL's pack2x16float does). */
export function toHalf(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** IEEE binary16 bits → number (exact). */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export const HALF_MAX = 65504;

/**
 * `values` rounded to the nearest f16 values, where that loses no more than f16's own precision
 * relative to their scale (the largest magnitude within [2^-14, HALF_MAX]); else `values` as they
 * are. A 'pq' index rounds its centroids and codebook so before it encodes anything with them:
 * its published file then holds them as f16 (half the bytes a visitor reads to open it) with
 * nothing lost, since the codes were made with exactly those values.
 */
export function halfRounded(values: Float32Array): Float32Array {
  let scale = 0;
  for (const v of values) scale = Math.max(scale, Math.abs(v));
  if (!(scale >= 2 ** -14 && scale <= HALF_MAX)) return values;
  return values.map((v) => fromHalf(toHalf(v)));
}

/** Whether every one of `values` is exactly an f16 value (so f16 bytes hold them with nothing lost). */
export function allHalf(values: Float32Array): boolean {
  for (const v of values) if (fromHalf(toHalf(v)) !== v) return false;
  return true;
}

// ---- encode / decode (row-major words) -----------------------------------------------------

/** Encodes n rows of `dim` floats into n x layout.words u32 words, row-major. */
export function encodeRows(vectors: Float32Array, layout: FlatLayout, sq?: ScalarQuantizer): Uint32Array {
  const { dim, words } = layout;
  const n = vectors.length / dim;
  const out = new Uint32Array(n * words);
  if (layout.storage === 'f32') {
    const f = new Float32Array(out.buffer);
    for (let i = 0; i < n; i++) f.set(vectors.subarray(i * dim, (i + 1) * dim), i * words);
  } else if (layout.storage === 'f16') {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dim; j++) {
        out[i * words + (j >>> 1)]! |= toHalf(vectors[i * dim + j]!) << ((j & 1) * 16);
      }
    }
  } else {
    if (!sq) throw new Error('int8 storage needs a trained scalar quantizer');
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dim; j++) {
        const s = sq.scale[j]!;
        let c = s > 0 ? Math.round((vectors[i * dim + j]! - sq.vmin[j]!) / s) : 0;
        c = c < 0 ? 0 : Math.min(c, 255);
        out[i * words + (j >>> 2)]! |= c << ((j & 3) * 8);
      }
    }
  }
  return out;
}

/** Decodes row-major words back to n x dim floats (the values the GPU scores against). */
export function decodeRows(codes: Uint32Array, layout: FlatLayout, sq?: ScalarQuantizer): Float32Array {
  const { dim, words } = layout;
  const n = codes.length / words;
  const out = new Float32Array(n * dim);
  if (layout.storage === 'f32') {
    const f = new Float32Array(codes.buffer, codes.byteOffset, codes.length);
    for (let i = 0; i < n; i++) out.set(f.subarray(i * words, i * words + dim), i * dim);
  } else if (layout.storage === 'f16') {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dim; j++) out[i * dim + j] = fromHalf((codes[i * words + (j >>> 1)]! >>> ((j & 1) * 16)) & 0xffff);
    }
  } else {
    if (!sq) throw new Error('int8 storage needs a trained scalar quantizer');
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dim; j++) {
        const c = (codes[i * words + (j >>> 2)]! >>> ((j & 3) * 8)) & 0xff;
        out[i * dim + j] = Math.fround(sq.vmin[j]! + c * sq.scale[j]!);
      }
    }
  }
  return out;
}

/**
 * Row-major words of `count` vectors → interleaved blocks starting at a block boundary:
 * word c of unit u of vector e goes to ((⌊e/32⌋·units + u)·32 + e mod 32)·4 + c.
 */
export function interleave(rows: Uint32Array, count: number, units: number, dst: Uint32Array, dstSlot: number): void {
  const words = units * 4;
  for (let e = 0; e < count; e++) {
    const s = dstSlot + e;
    const blockBase = Math.floor(s / BLOCK) * units * BLOCK;
    const lane = s % BLOCK;
    for (let u = 0; u < units; u++) {
      const d = (blockBase + u * BLOCK + lane) * 4;
      const src = e * words + u * 4;
      dst[d] = rows[src]!;
      dst[d + 1] = rows[src + 1]!;
      dst[d + 2] = rows[src + 2]!;
      dst[d + 3] = rows[src + 3]!;
    }
  }
}

/** Copies rows into a zero-padded row stride (queries and training points are padded to dimPad). */
export function padRows(vectors: Float32Array, dim: number, dimPad: number): Float32Array {
  if (dim === dimPad) return vectors;
  const n = vectors.length / dim;
  const out = new Float32Array(n * dimPad);
  for (let i = 0; i < n; i++) out.set(vectors.subarray(i * dim, (i + 1) * dim), i * dimPad);
  return out;
}

/** L2-normalised copy of each row (cosine). Rows must be non-zero (validated before). */
export function normalizeRows(vectors: Float32Array, dim: number): Float32Array {
  const n = vectors.length / dim;
  const out = new Float32Array(vectors.length);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const v = vectors[i * dim + j]!;
      s += v * v;
    }
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dim; j++) out[i * dim + j] = vectors[i * dim + j]! * inv;
  }
  return out;
}

/** The row-major words of the `count` vectors of an interleaved record (inverse of interleave). */
export function deinterleave(codes: Uint32Array, count: number, units: number): Uint32Array {
  const words = units * 4;
  const out = new Uint32Array(count * words);
  for (let e = 0; e < count; e++) {
    const blockBase = Math.floor(e / BLOCK) * units * BLOCK;
    const lane = e % BLOCK;
    for (let u = 0; u < units; u++) {
      const s = (blockBase + u * BLOCK + lane) * 4;
      out[e * words + u * 4] = codes[s]!;
      out[e * words + u * 4 + 1] = codes[s + 1]!;
      out[e * words + u * 4 + 2] = codes[s + 2]!;
      out[e * words + u * 4 + 3] = codes[s + 3]!;
    }
  }
  return out;
}

/** u32 words of an interleaved record of `count` vectors: whole blocks of BLOCK vectors. */
export function packedWords(count: number, units: number): number {
  return Math.ceil(count / BLOCK) * BLOCK * units * 4;
}

/** `count` row-major rows as a new interleaved record (whole blocks, the tail zero). */
export function packRows(rows: Uint32Array, count: number, units: number): Uint32Array {
  const out = new Uint32Array(packedWords(count, units));
  interleave(rows, count, units, out, 0);
  return out;
}

/** A new interleaved record: the first `count` vectors of `codes`, then `m` row-major `rows`. */
export function appendInterleaved(codes: Uint32Array, count: number, rows: Uint32Array, m: number, units: number): Uint32Array {
  const out = new Uint32Array(packedWords(count + m, units));
  out.set(codes.subarray(0, Math.min(codes.length, packedWords(count, units))));
  interleave(rows, m, units, out, count);
  return out;
}
