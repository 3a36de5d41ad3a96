import { expect, test } from 'vitest';
import { createLatencyLine } from '../../src/schedule/perf-model.js';
import { createRng } from '../../src/random.js';

test('the latency line fits noisy samples and picks the largest nprobe that fits a budget', () => {
  const rng = createRng(4);
  const line = createLatencyLine({ forget: 1 });
  expect(line.nprobeFor(100, 1, 64)).toBe(1); // nothing measured yet: the smallest
  for (let rep = 0; rep < 20; rep++) for (const p of [1, 2, 4, 8, 16, 32]) line.observe(p, 3 + 0.5 * p + rng.normal() * 0.05);
  expect(line.intercept).toBeCloseTo(3, 1);
  expect(line.slope).toBeCloseTo(0.5, 2);
  expect(line.nprobeFor(13, 1, 64)).toBe(19); // (13 - 3) / 0.5 = 20, and the fitted line is a hair off
  expect(line.nprobeFor(1, 2, 64)).toBe(2); // nothing fits: the minimum
  expect(line.nprobeFor(1e9, 1, 64)).toBe(64);
});

test('online samples correct the line as the device slows down', () => {
  const line = createLatencyLine({ forget: 0.8 });
  for (const p of [1, 2, 4, 8, 16]) line.observe(p, 1 + 0.25 * p);
  const before = line.nprobeFor(5, 1, 64);
  expect(before).toBe(16);
  // Later searches run 3x slower (other work on the GPU): the same budget buys fewer lists.
  for (let i = 0; i < 30; i++) line.observe([2, 4, 8][i % 3]!, 3 * (1 + 0.25 * [2, 4, 8][i % 3]!));
  expect(line.slope).toBeCloseTo(0.75, 1);
  expect(line.nprobeFor(5, 1, 64)).toBeLessThan(before);
  expect(line.predict(8)).toBeCloseTo(9, 0);
});
