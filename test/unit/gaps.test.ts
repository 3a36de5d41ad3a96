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

test('drain runs queued sub-stages at once until the awaited work is over', async () => {
  const s = createGapScheduler({ maxSlowdown: 0.01 });
  s.decoding(true);
  const log: string[] = [];
  // A piece of background work made of sub-stages with pauses between them (like a search
  // that reads IndexedDB between slices); the decode loop needs its result now.
  const work = (async () => {
    for (let i = 0; i < 3; i++) {
      await s.run(async () => { log.push(`slice${i}`); await sleep(2); });
      await sleep(3);
    }
    return 'result';
  })();
  const other = s.run(async () => { log.push('other'); });
  await s.drain(work);
  expect(await work).toBe('result');
  expect(log.filter((l) => l.startsWith('slice'))).toEqual(['slice0', 'slice1', 'slice2']);
  s.decoding(false);
  await other;
});
