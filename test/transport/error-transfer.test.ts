// The worker boundary's error transfer, without a worker: a WeftError serialised by the
// installed 'throw' handler comes back a WeftError with its code and details; other errors keep
// their name and message; installing twice changes nothing.
import * as Comlink from 'comlink';
import { expect, test } from 'vitest';
import { WeftError } from '../../src/errors.js';
import { installErrorTransfer } from '../../src/transport/error-transfer.js';

const roundTrip = (value: unknown) => {
  const h = Comlink.transferHandlers.get('throw')!;
  const [wire] = h.serialize({ value });
  try {
    h.deserialize(structuredClone(wire));
  } catch (e) {
    return e;
  }
  throw new Error('deserialize did not throw');
};

test('installErrorTransfer keeps WeftErrors whole across the boundary, and is idempotent', () => {
  const builtin = Comlink.transferHandlers.get('throw');
  installErrorTransfer();
  const installed = Comlink.transferHandlers.get('throw');
  expect(installed).not.toBe(builtin);
  installErrorTransfer();
  expect(Comlink.transferHandlers.get('throw')).toBe(installed);
  const back = roundTrip(new WeftError('EMPTY_INDEX', 'ingest() documents first.', { details: { name: 'docs' } }));
  expect(back).toBeInstanceOf(WeftError);
  expect(back).toMatchObject({ name: 'WeftError', code: 'EMPTY_INDEX', message: 'ingest() documents first.', details: { name: 'docs' } });
  const plain = roundTrip(new TypeError('not a function'));
  expect(plain).toMatchObject({ name: 'TypeError', message: 'not a function' });
  expect(roundTrip('a string')).toBe('a string');
});
