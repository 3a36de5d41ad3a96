// What a 'pq' index's published file (layout 4) holds more compactly than its store does.
//
// Its list codes: each vector's row (its term word, then its codes) without the scan's padding.
// The scan reads whole vec4 units in blocks of 32 vectors (src/ivf/codec.ts), so at m = 48 a
// 52-byte row takes 64 bytes and a list is padded to a multiple of 32 rows; in a file that a
// visitor reads by ranges those are bytes fetched for nothing (about a fifth of a query's list
// bytes). The reader lays the rows out for
// the scan again (zero padding, as every writer of the store pads), and the manifest's list
// checksums are over that layout, so a list read from the file is checked as a stored one.
//
// Its centroids and codebook: as f16 where every value is one, which a 'pq' index's training
// makes so (codec.ts's halfRounded), else as f32; a reader tells them apart by their length, and
// the centroids' checksum is over the f32 values either way. At 1M vectors and nlist 2048 x 384
// that is 1.6 MB a visitor does not read before a first answer.

import { allHalf, deinterleave, fromHalf, packRows, toHalf, type Layout } from '../ivf/codec.js';
import { pqCodeBytes } from '../ivf/pq.js';
import type { IndexPq } from '../ivf/types.js';

/** Words of a vector's row in the file: the term word, then its codes. */
export const fileRowWords = (pq: IndexPq): number => 1 + Math.ceil(pqCodeBytes(pq.m, pq.bits) / 4);

/** A list's `count` vectors of scan-layout `codes` as the file's rows. */
export function fileCodes(codes: Uint32Array, count: number, layout: Layout, pq: IndexPq): Uint32Array {
  const rows = deinterleave(codes, count, layout.units);
  const words = fileRowWords(pq);
  const out = new Uint32Array(count * words);
  for (let i = 0; i < count; i++) out.set(rows.subarray(i * layout.words, i * layout.words + words), i * words);
  return out;
}

/** The file's rows of `count` vectors laid out for the scan again (the inverse of fileCodes). */
export function scanCodes(rows: Uint32Array, count: number, layout: Layout, pq: IndexPq): Uint32Array {
  const words = fileRowWords(pq);
  const full = new Uint32Array(count * layout.words);
  for (let i = 0; i < count; i++) full.set(rows.subarray(i * words, (i + 1) * words), i * layout.words);
  return packRows(full, count, layout.units);
}

/** `values` as the file holds them: f16 bytes where every value is an f16 value, else f32 bytes. */
export function fileFloats(values: Float32Array): Uint8Array {
  if (!allHalf(values)) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const half = Uint16Array.from(values, (v) => toHalf(v));
  return new Uint8Array(half.buffer);
}

/** The `count` values of `bytes` written by fileFloats (undefined when their length fits neither f16 nor f32). */
export function floatsOfFile(bytes: Uint8Array, count: number): Float32Array | undefined {
  const copy = bytes.slice();
  if (bytes.byteLength === count * 4) return new Float32Array(copy.buffer);
  if (bytes.byteLength !== count * 2) return undefined;
  return Float32Array.from(new Uint16Array(copy.buffer), fromHalf);
}
