// A vector as text: its float32 values rounded to IEEE binary16 (codec.ts's toHalf), as
// little-endian bytes in base64. A 'pq' index keeps each vector's full-precision copy this way in
// the vector's chunk record, for exact re-ranking (pq.ts): text goes unchanged through
// IndexedDB and the file tier's JSON chunk shards, so one checksum covers it everywhere, at 4/3
// of the f16 bytes. A published file keeps the f16 bytes themselves (storage/index-file.ts).

import { fromHalf, toHalf } from './codec.js';

/** `dim` values of `v` from `offset` as f16 text. */
export function halfText(v: Float32Array, offset: number, dim: number): string {
  let s = '';
  for (let j = 0; j < dim; j++) {
    const h = toHalf(v[offset + j]!);
    s += String.fromCharCode(h & 0xff, h >>> 8);
  }
  return btoa(s);
}

/** f16 bytes (little-endian, 2 a value) as f16 text. */
export function textOfHalfBytes(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** The f16 bytes of f16 text, or undefined when it is not `dim` values of it. */
export function halfBytes(text: unknown, dim: number): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length !== 4 * Math.ceil((2 * dim) / 3)) return undefined;
  let s: string;
  try {
    s = atob(text);
  } catch {
    return undefined;
  }
  if (s.length !== 2 * dim) return undefined;
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** The `dim` values of f16 bytes. */
export function valuesOfHalfBytes(bytes: Uint8Array, dim: number): Float32Array {
  const out = new Float32Array(dim);
  for (let j = 0; j < dim; j++) out[j] = fromHalf(bytes[2 * j]! | (bytes[2 * j + 1]! << 8));
  return out;
}

/** The `dim` values of f16 text (what halfText wrote), or undefined when it is not `dim` values of it. */
export function halfValues(text: unknown, dim: number): Float32Array | undefined {
  const bytes = halfBytes(text, dim);
  return bytes && valuesOfHalfBytes(bytes, dim);
}
