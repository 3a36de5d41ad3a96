import { expect, test } from 'vitest';
import { crc32 } from '../../src/store/checksum.js';

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
