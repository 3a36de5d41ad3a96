import { expect, test } from 'vitest';
import { canonicalText, crc32, valueChecksum } from '../../src/storage/checksum.js';

test('crc32 matches the standard check value and detects a flipped bit', () => {
  expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  const a = new TextEncoder().encode('hello ');
  const b = new TextEncoder().encode('world');
  expect(crc32(a, b)).toBe(crc32(new TextEncoder().encode('hello world')));
  const data = crypto.getRandomValues(new Uint8Array(4096));
  const before = crc32(data);
  data[1234]! ^= 0x10;
  expect(crc32(data)).not.toBe(before);
});

test('canonicalText ignores key order and undefined keys but tells apart what JSON would merge', () => {
  const a = { text: 'x', id: 1, metadata: { b: [1, { d: 2, c: 3 }], a: null }, gone: undefined };
  const b = { id: 1, metadata: { a: null, b: [1, { c: 3, d: 2 }] }, text: 'x' };
  expect(canonicalText(a)).toBe(canonicalText(b));
  expect(valueChecksum(a)).toBe(valueChecksum(b));
  expect(canonicalText({ x: 'é\n"' })).toBe('{"x":"é\\n\\""}');
  const distinct: unknown[] = [
    NaN,
    null,
    Infinity,
    '1',
    1,
    1n,
    [],
    {},
    new Map([[1, 2]]),
    new Set([1]),
    new Date(5),
    new Uint8Array([1, 2]),
    new Uint16Array([1, 2]),
    undefined,
    [undefined],
    'undefined',
  ];
  expect(new Set(distinct.map(canonicalText)).size).toBe(distinct.length);
  expect(valueChecksum({ id: 1, text: 'seven' })).not.toBe(valueChecksum({ id: 1, text: 'seveN' }));
});
