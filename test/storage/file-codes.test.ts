// What a 'pq' index's published file (layout 4) holds more compactly than its store
// (src/storage/file-codes.ts): list codes without the scan's padding, laid out for the scan again
// bit for bit; centroids and codebook as f16 exactly where they are f16 values (a 'pq' index's
// training rounds them so), else f32; and the rounding leaves data at scales f16 cannot hold alone.

import { describe, expect, it } from 'vitest';
import { halfRounded, packRows } from '../../src/ivf/codec.js';
import { pqLayout } from '../../src/ivf/pq.js';
import { fileCodes, fileFloats, fileRowWords, floatsOfFile, scanCodes } from '../../src/storage/file-codes.js';

const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => (Math.random() - 0.5) * scale);

describe("a 'pq' index's file encodings", () => {
  for (const [m, bits] of [
    [48, 8],
    [96, 4],
    [6, 8],
  ] as const) {
    it(`codes of m ${m} x ${bits} bits: rows without padding, laid out for the scan again bit for bit`, () => {
      const dim = 384;
      const layout = pqLayout(dim, m, bits);
      const words = fileRowWords({ m, bits });
      for (const count of [0, 1, 31, 33, 100]) {
        // Rows as the store writes them: the term word and the codes, then zeros to the unit.
        const rows = new Uint32Array(count * layout.words);
        for (let i = 0; i < count; i++) for (let w = 0; w < words; w++) rows[i * layout.words + w] = (Math.random() * 2 ** 32) >>> 0;
        const stored = packRows(rows, count, layout.units);
        const file = fileCodes(stored, count, layout, { m, bits });
        expect(file.length).toBe(count * words);
        expect(Array.from(scanCodes(file, count, layout, { m, bits }))).toEqual(Array.from(stored));
      }
      // m 48 at 8 bits: 52 bytes a vector in the file against 64 in the scan's layout.
      if (m === 48) expect(words * 4).toBe(52);
    });
  }

  it('f16 values take f16 bytes and come back exactly; other values stay f32', () => {
    const rounded = halfRounded(random(1000, 2));
    const half = fileFloats(rounded);
    expect(half.byteLength).toBe(2000);
    expect(Array.from(floatsOfFile(half, 1000)!)).toEqual(Array.from(rounded));
    const raw = random(1000, 2);
    const full = fileFloats(raw);
    expect(full.byteLength).toBe(4000);
    expect(Array.from(floatsOfFile(full, 1000)!)).toEqual(Array.from(raw));
    expect(floatsOfFile(new Uint8Array(3000), 1000)).toBeUndefined();
  });

  it('rounding to f16 leaves values alone where f16 would lose more than its own precision (tiny or huge scales)', () => {
    const tiny = random(100, 1e-6);
    expect(halfRounded(tiny)).toBe(tiny);
    const huge = random(100, 1e6);
    expect(halfRounded(huge)).toBe(huge);
    const usual = random(100, 0.2);
    const r = halfRounded(usual);
    expect(r).not.toBe(usual);
    for (let i = 0; i < 100; i++) expect(Math.abs(r[i]! - usual[i]!)).toBeLessThanOrEqual(0.1 * 2 ** -11);
  });
});
