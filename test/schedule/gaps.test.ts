// The gap scheduler on a fake clock: a piece of fake work advances the clock by the time it
// "takes", so budgets and credits are exact and nothing waits in real time.
import { expect, test } from 'vitest';
import { createGapScheduler } from '../../src/schedule/gaps.js';

function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}
/** Lets every pending promise and timer callback run (one turn of the event loop), no time passing. */
const turn = () => new Promise<void>((r) => setTimeout(r, 0));

test('background sub-stages run at once when idle, and only in gaps (within budget, at least one) while decoding', async () => {
  const clock = fakeClock();
  const s = createGapScheduler({ maxSlowdown: 0.5, now: clock.now });
  const log: string[] = [];
  await s.run(async () => {
    log.push('idle');
  });
  expect(log).toEqual(['idle']);
  s.decoding(true);
  const jobs = [1, 2, 3, 4].map((i) =>
    s.run(async () => {
      log.push(`job${i}`);
      clock.advance(6);
      return i;
    }),
  );
  for (let i = 0; i < 5; i++) await turn();
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
  const clock = fakeClock();
  const s = createGapScheduler({ maxSlowdown: 0.01, now: clock.now });
  s.decoding(true);
  const log: string[] = [];
  // A piece of background work made of sub-stages with pauses between them (like a search
  // that reads IndexedDB between slices); the decode loop needs its result now.
  const work = (async () => {
    for (let i = 0; i < 3; i++) {
      await s.run(async () => {
        log.push(`slice${i}`);
        clock.advance(2);
      });
      await turn();
    }
    return 'result';
  })();
  const other = s.run(async () => {
    log.push('other');
  });
  await s.drain(work);
  expect(await work).toBe('result');
  expect(log.filter((l) => l.startsWith('slice'))).toEqual(['slice0', 'slice1', 'slice2']);
  s.decoding(false);
  await other;
});

test("sub-stages longer than one gap's share leave the following gaps empty: the slowdown holds on average", async () => {
  const clock = fakeClock();
  const s = createGapScheduler({ maxSlowdown: 0.1, now: clock.now });
  s.decoding(true);
  let ran = 0;
  const jobs = Array.from({ length: 20 }, () =>
    s.run(async () => {
      ran++;
      clock.advance(5);
    }),
  );
  const perGap: number[] = [];
  for (let g = 0; g < 20; g++) {
    const before = ran;
    await s.gap(10); // 1 ms of credit per 10 ms step
    perGap.push(ran - before);
  }
  expect(perGap[0]).toBe(1); // the first gap's credit is positive: one job runs
  expect(perGap[1]).toBe(0); // and its debt keeps the next gaps empty
  expect(ran).toBeGreaterThanOrEqual(2);
  expect(ran).toBeLessThanOrEqual(5); // ≈ 20 gaps x 1 ms / 5 ms per job
  expect(s.spentMs).toBeLessThanOrEqual(0.1 * 20 * 10 + 12);
  s.decoding(false);
  await Promise.all(jobs);
  expect(ran).toBe(20);
});

test('gaps serve the lowest priority number first, then the oldest', async () => {
  const s = createGapScheduler({ maxSlowdown: 1, now: fakeClock().now });
  s.decoding(true);
  const order: string[] = [];
  const jobs = [
    ['b1', 2],
    ['a1', 1],
    ['c1', 3],
    ['a2', 1],
  ].map(([name, p]) =>
    s.run(async () => {
      order.push(name as string);
    }, p as number),
  );
  await s.gap(1000);
  await Promise.all(jobs);
  expect(order).toEqual(['a1', 'a2', 'b1', 'c1']);
  s.decoding(false);
});

test('with the generator on another device, a gap that ran work waits for the background device to settle, and that wait is charged to the budget', async () => {
  const clock = fakeClock();
  const settles: number[] = [];
  // The background device still has 7 ms of queued work when the sub-stage returns.
  const s = createGapScheduler({
    maxSlowdown: 0.5,
    now: clock.now,
    settle: async () => {
      settles.push(clock.now());
      clock.advance(7);
    },
  });
  s.decoding(true);
  const log: string[] = [];
  const jobs = [1, 2, 3].map((i) =>
    s.run(async () => {
      log.push(`job${i}`);
      clock.advance(2);
    }),
  );
  await s.gap(20); // budget 10 ms: job1 (2) and job2 (2) and job3 (2) fit, then 7 ms of settling
  expect(log).toEqual(['job1', 'job2', 'job3']);
  expect(settles).toEqual([6]); // once, after the gap's work, before the gap hands back
  expect(s.spentMs).toBe(13);
  await s.gap(20); // nothing ran: no settle
  expect(settles.length).toBe(1);
  const more = [4, 5].map((i) =>
    s.run(async () => {
      log.push(`job${i}`);
      clock.advance(2);
    }),
  );
  // Credit after the first gap: 10 - 13 = -3; the next gap earns 10 → 7 ms: job4, job5 (4 ms), settle (7 ms).
  await s.gap(20);
  expect(log).toEqual(['job1', 'job2', 'job3', 'job4', 'job5']);
  const later = s.run(async () => {
    log.push('job6');
  });
  await s.gap(20); // credit 7 - 11 = -4, + 10 = 6 > 0: job6 runs
  expect(log.at(-1)).toBe('job6');
  s.decoding(false);
  await Promise.all([...jobs, ...more, later]);
});
