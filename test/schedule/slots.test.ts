// The runtime's concurrency primitives: counting slots (arrival order, idempotent release) and
// the serial queue (one task at a time; a failure does not stop the next).
import { expect, test } from 'vitest';
import { createSlots } from '../../src/schedule/slots.js';
import { createSerialQueue } from '../../src/util/serial-queue.js';

const turn = () => new Promise<void>((r) => setTimeout(r, 0));

test('slots are taken in arrival order, and a release frees exactly one slot however often it is called', async () => {
  const s = createSlots(2);
  expect(s.idle()).toBe(true);
  const a = await s.acquire(),
    b = await s.acquire();
  expect(s.idle()).toBe(false);
  const got: string[] = [];
  const c = s.acquire().then((r) => {
    got.push('c');
    return r;
  });
  const d = s.acquire().then((r) => {
    got.push('d');
    return r;
  });
  await turn();
  expect(got).toEqual([]); // both slots are taken
  a();
  a();
  a(); // idempotent: one slot, to the first waiter
  await turn();
  expect(got).toEqual(['c']);
  b();
  await turn();
  expect(got).toEqual(['c', 'd']);
  (await c)();
  (await d)();
  expect(s.idle()).toBe(true);
  // A newcomer does not overtake a waiter: the released slot goes to the one queued first.
  const only = createSlots(1);
  const first = await only.acquire();
  const order: string[] = [];
  const queued = only.acquire().then((r) => {
    order.push('queued');
    r();
  });
  first();
  const late = only.acquire().then((r) => {
    order.push('late');
    r();
  });
  await Promise.all([queued, late]);
  expect(order).toEqual(['queued', 'late']);
  expect(only.idle()).toBe(true);
});

test('the serial queue runs one task at a time in order; a failed task rejects its caller only', async () => {
  const q = createSerialQueue();
  const log: string[] = [];
  let running = 0,
    most = 0;
  const task = (name: string, fail = false) =>
    q.run(async () => {
      running++;
      most = Math.max(most, running);
      log.push(`${name}:start`);
      await turn();
      log.push(`${name}:end`);
      running--;
      if (fail) throw new Error(name);
      return name;
    });
  const results = await Promise.allSettled([task('a'), task('b', true), task('c')]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect(most).toBe(1);
  expect(log).toEqual(['a:start', 'a:end', 'b:start', 'b:end', 'c:start', 'c:end']);
  // settled() waits for what is queued and never rejects.
  let done = false;
  const last = q.run(async () => {
    await turn();
    done = true;
    throw new Error('late');
  });
  last.catch(() => undefined);
  await q.settled();
  expect(done).toBe(true);
});

test('waiters with priorities are served lowest first, then in arrival order', async () => {
  const s = createSlots(1);
  const held = await s.acquire(5);
  const order: string[] = [];
  const wait = (name: string, priority?: number) =>
    s.acquire(priority).then((release) => {
      order.push(name);
      release();
    });
  const all = Promise.all([wait('late-7', 7), wait('none'), wait('first-2', 2), wait('second-2', 2), wait('low-0', 0)]);
  await turn();
  held();
  await all;
  expect(order).toEqual(['low-0', 'first-2', 'second-2', 'late-7', 'none']);
});
