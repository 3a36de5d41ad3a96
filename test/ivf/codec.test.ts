import { describe, expect, test } from 'vitest';
import { BLOCK, decodeRows, encodeRows, fromHalf, interleave, layoutFor, toHalf, trainScalarQuantizer } from '../../src/ivf/codec.js';
import { createRng } from '../../src/random.js';

function randomRows(n: number, dim: number, seed: number, scale = 3) {
  const rng = createRng(seed);
  return Float32Array.from({ length: n * dim }, () => rng.normal() * scale);
}

describe('f16', () => {
  test('known encodings (IEEE binary16, round to nearest even)', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(65520)).toBe(0x7c00); // rounds up to infinity
    expect(toHalf(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toHalf(2 ** -26)).toBe(0x0000);
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(toHalf(0.1)).toBe(0x2e66);
  });

  test('round trip of every half value is exact', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >>> 10) & 0x1f;
      if (exp === 0x1f) continue; // inf / NaN
      expect(toHalf(fromHalf(h)) === h || (h === 0x8000 && toHalf(fromHalf(h)) === 0x8000)).toBe(true);
    }
  });

  test('encoding picks the nearest half', () => {
    const rng = createRng(Date.now());
    for (let i = 0; i < 2000; i++) {
      const v = Math.fround((rng.next() - 0.5) * 200); // inputs are float32, as stored vectors are
      const h = toHalf(v);
      const err = Math.abs(fromHalf(h) - v);
      // The neighbours one step up and down in magnitude, same sign.
      const sign = h & 0x8000,
        mag = h & 0x7fff;
      for (const m of [mag - 1, mag + 1]) {
        if (m < 0) continue;
        expect(err).toBeLessThanOrEqual(Math.abs(fromHalf(sign | m) - v));
      }
    }
  });
});

describe('row codecs', () => {
  test('f32 round trip is exact and padding is zero', () => {
    const dim = 7,
      layout = layoutFor(dim, 'f32');
    expect(layout).toMatchObject({ dimPad: 8, units: 2, words: 8, queryUnits: 2, bytesPerVector: 32 });
    const v = randomRows(5, dim, Date.now());
    const codes = encodeRows(v, layout);
    expect(Array.from(decodeRows(codes, layout))).toEqual(Array.from(v));
    expect(new Float32Array(codes.buffer)[7]).toBe(0);
  });

  test('f16 decodes to the nearest half of each value', () => {
    const dim = 9,
      layout = layoutFor(dim, 'f16');
    expect(layout).toMatchObject({ dimPad: 16, units: 2, queryUnits: 4 });
    const v = randomRows(4, dim, Date.now());
    const d = decodeRows(encodeRows(v, layout), layout);
    for (let i = 0; i < v.length; i++) expect(d[i]).toBe(fromHalf(toHalf(v[i]!)));
  });

  test('int8 stays within half a step of the value inside the trained range', () => {
    const dim = 19,
      layout = layoutFor(dim, 'int8');
    expect(layout).toMatchObject({ dimPad: 32, units: 2, queryUnits: 8, bytesPerVector: 32 });
    const v = randomRows(200, dim, Date.now());
    const sq = trainScalarQuantizer(v, dim, layout.dimPad);
    expect(sq.vmin.length).toBe(32);
    expect(sq.scale[dim]).toBe(0); // padding scores zero
    const d = decodeRows(encodeRows(v, layout, sq), layout, sq);
    for (let i = 0; i < v.length; i++) {
      expect(Math.abs(d[i]! - v[i]!)).toBeLessThanOrEqual(sq.scale[i % dim]! / 2 + 1e-5);
    }
  });

  test('interleave puts unit u of slot s at ((s/32)·units + u)·32 + s%32', () => {
    const units = 3,
      count = 70,
      dstSlot = 64;
    const rows = Uint32Array.from({ length: count * units * 4 }, (_, i) => i + 1);
    const dst = new Uint32Array(Math.ceil((dstSlot + count) / BLOCK) * BLOCK * units * 4);
    interleave(rows, count, units, dst, dstSlot);
    for (let e = 0; e < count; e++) {
      const s = dstSlot + e;
      for (let u = 0; u < units; u++) {
        for (let c = 0; c < 4; c++) {
          expect(dst[((Math.floor(s / BLOCK) * units + u) * BLOCK + (s % BLOCK)) * 4 + c]).toBe(rows[e * units * 4 + u * 4 + c]);
        }
      }
    }
  });
});

describe('interleaved records', () => {
  test('deinterleave inverts interleave; append keeps the old slots', async () => {
    const { appendInterleaved, deinterleave } = await import('../../src/ivf/codec.js');
    const units = 2,
      words = 8;
    const a = Uint32Array.from({ length: 45 * words }, (_, i) => i * 3 + 1);
    const b = Uint32Array.from({ length: 30 * words }, (_, i) => i * 5 + 2);
    const rec = appendInterleaved(new Uint32Array(0), 0, a, 45, units);
    expect(Array.from(deinterleave(rec, 45, units))).toEqual(Array.from(a));
    const rec2 = appendInterleaved(rec, 45, b, 30, units);
    expect(rec2.length).toBe(Math.ceil(75 / BLOCK) * BLOCK * words);
    expect(Array.from(deinterleave(rec2, 75, units))).toEqual([...a, ...b]);
  });
});
