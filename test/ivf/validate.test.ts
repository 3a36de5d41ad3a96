import { describe, expect, test } from 'vitest';
import { checkIds, checkK, checkVectors } from '../../src/ivf/validate.js';

describe('input validation', () => {
  test('vectors: shape, finiteness, cosine zero rows, f16 range', () => {
    expect(checkVectors('v', new Float32Array(8), 4)).toBe(2);
    expect(() => checkVectors('v', new Float32Array(7), 4)).toThrow(expect.objectContaining({ code: 'DIMENSION_MISMATCH' }));
    expect(() => checkVectors('v', Float32Array.from([1, NaN]), 2)).toThrow(expect.objectContaining({ code: 'INVALID_VECTOR', details: { row: 0, dim: 1 } }));
    expect(() => checkVectors('v', new Float32Array(4), 2, { metric: 'cosine' })).toThrow(expect.objectContaining({ code: 'INVALID_VECTOR' }));
    expect(() => checkVectors('v', Float32Array.from([70000, 1]), 2, { storage: 'f16' })).toThrow(expect.objectContaining({ code: 'INVALID_VECTOR' }));
    expect(checkVectors('v', Float32Array.from([70000, 1]), 2, { storage: 'f32' })).toBe(1);
  });

  test('ids: integers in range, unique, not present', () => {
    expect(Array.from(checkIds([3, 1, 2], 3, () => false))).toEqual([3, 1, 2]);
    expect(() => checkIds([1, 1], 2, () => false)).toThrow(expect.objectContaining({ code: 'DUPLICATE_ID' }));
    expect(() => checkIds([1, 2], 2, (id) => id === 2)).toThrow(expect.objectContaining({ code: 'DUPLICATE_ID' }));
    expect(() => checkIds([0xffffffff], 1, () => false)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
    expect(() => checkIds([1.5], 1, () => false)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
  });

  test('k: within the index, within the device, within MAX_K', () => {
    expect(checkK(undefined, 5, 512)).toBe(5);
    expect(checkK(undefined, 500, 512)).toBe(10);
    expect(() => checkK(6, 5, 512)).toThrow(expect.objectContaining({ code: 'K_OUT_OF_RANGE' }));
    expect(() => checkK(600, 5000, 512)).toThrow(expect.objectContaining({ code: 'DEVICE_LIMIT' }));
    expect(() => checkK(2000, 5000, 1024)).toThrow(expect.objectContaining({ code: 'K_OUT_OF_RANGE' }));
  });
});
