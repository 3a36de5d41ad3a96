import { expect, test } from 'vitest';
import { createGapScheduler } from '../../src/schedule/gaps.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('background sub-stages run at once when idle, and only in gaps (within budget, at least one) while decoding', async () => {
  const s = createGapScheduler({ maxSlowdown: 0.5 });
  const log: string[] = [];
  await s.run(async () => { log.push('idle'); });
  expect(log).toEqual(['idle']);
  s.decoding(true);
  const jobs = [1, 2, 3, 4].map((i) => s.run(async () => { log.push(`job${i}`); await sleep(6); return i; }));
  await sleep(20);
  expect(log).toEqual(['idle']); // nothing runs while a step is in progress
  await s.gap(10); // budget 5 ms: one 6 ms job (the minimum), then the budget is spent
  expect(log).toEqual(['idle', 'job1']);
  await s.gap(200); // budget 0.5 x (0.8 x 10 + 0.2 x 200) = 24 ms: more than one job this time
  expect(log.length).toBeGreaterThanOrEqual(4);
  expect(s.stepMs).toBeCloseTo(48, 5);
  s.decoding(false); // decoding over: the rest runs
  expect(await Promise.all(jobs)).toEqual([1, 2, 3, 4]);
  expect(log).toEqual(['idle', 'job1', 'job2', 'job3', 'job4']);
  expect(s.spentMs).toBeGreaterThanOrEqual(12);
});
