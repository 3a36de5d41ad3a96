// A 'pq' index's list codes as the published file holds them (layout 4): each vector's row (its
// term word, then its codes) without the scan's padding. The scan reads whole vec4 units in
// blocks of 32 vectors (src/ivf/codec.ts), so at m = 48 a 52-byte row takes 64 bytes and a list
// is padded to a multiple of 32 rows; in a file that a visitor reads by ranges those are bytes
// fetched for nothing (about a fifth of a query's list bytes). The reader lays the rows out for
// the scan again (zero padding, as every writer of the store pads), and the manifest's list
// checksums are over that layout, so a list read from the file is checked as a stored one.

import { deinterleave, packRows, type Layout } from '../ivf/codec.js';
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
