// Whose stage takes the generator next (RuntimeSettings.generatorOrder): by arrival, a workflow
// that gave the generator back gets it before the requests that came after it; by least attained
// service, a request that has not generated yet goes before one that has.
import { expect, test } from 'vitest';
import { createHolds } from '../../src/runtime/holds.js';
import { createSlots } from '../../src/schedule/slots.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function whoGoesNext(order: 'arrival' | 'least-attained'): Promise<string[]> {
  const locks = { generator: createSlots(1), lookahead: createSlots(4) };
  const old = createHolds(locks, 0, order); // a multistep request: it has generated once already
  await old.takeGenerator();
  await pause(20);
  old.releaseGenerator();
  const blocker = createHolds(locks, 1, order);
  await blocker.takeGenerator(); // someone's answer decoding
  const got: string[] = [];
  const fresh = createHolds(locks, 2, order); // a new request, never generated
  const waits = [
    fresh.takeGenerator().then(() => got.push('new request') && fresh.release()),
    old.takeGenerator().then(() => got.push('older request') && old.release()),
  ];
  await pause(0);
  blocker.release();
  await Promise.all(waits);
  return got;
}

test('arrival: the older request first; least-attained: the one that has held the generator least', async () => {
  expect(await whoGoesNext('arrival')).toEqual(['older request', 'new request']);
  expect(await whoGoesNext('least-attained')).toEqual(['new request', 'older request']);
});
