import { describe, expect, test } from 'vitest';
import { parseVectors } from './formats.js';

function vecs(rows: number[][], bytes: 1 | 4, float: boolean): ArrayBuffer {
  const dim = rows[0]!.length;
  const buf = new ArrayBuffer(rows.length * (4 + dim * bytes));
  const v = new DataView(buf);
  rows.forEach((r, i) => {
    const at = i * (4 + dim * bytes);
    v.setInt32(at, dim, true);
    r.forEach((x, j) => {
      if (bytes === 1) v.setUint8(at + 4 + j, x);
      else if (float) v.setFloat32(at + 4 + j * 4, x, true);
      else v.setInt32(at + 4 + j * 4, x, true);
    });
  });
  return buf;
}

describe('ANN benchmark formats', () => {
  test('fvecs, ivecs, bvecs and raw bin', () => {
    expect(
      parseVectors(
        vecs(
          [
            [1.5, -2],
            [3, 4],
          ],
          4,
          true,
        ),
        'a.fvecs',
      ),
    ).toEqual({ data: Float32Array.from([1.5, -2, 3, 4]), n: 2, dim: 2 });
    expect(parseVectors(vecs([[7, 8, 9]], 4, false), 'gt.ivecs').data).toEqual(Float32Array.from([7, 8, 9]));
    expect(
      parseVectors(
        vecs(
          [
            [0, 255],
            [3, 4],
          ],
          1,
          false,
        ),
        'b.BVECS',
      ).data,
    ).toEqual(Float32Array.from([0, 255, 3, 4]));
    expect(parseVectors(Float32Array.from([1, 2, 3, 4, 5, 6]).buffer, 'x.bin', 3)).toMatchObject({ n: 2, dim: 3 });
  });

  test('truncated or unknown files get a clear error', () => {
    const good = vecs(
      [
        [1, 2],
        [3, 4],
      ],
      4,
      true,
    );
    expect(() => parseVectors(good.slice(0, good.byteLength - 2), 'a.fvecs')).toThrow(/truncated/);
    expect(() => parseVectors(good, 'a.txt')).toThrow(/unknown vector file type/);
    expect(() => parseVectors(new ArrayBuffer(12), 'x.bin')).toThrow(/--dim/);
  });
});
