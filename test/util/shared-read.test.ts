import { describe, expect, it } from 'vitest';
import { WeftError } from '../../src/errors.js';
import { sharedRead } from '../../src/util/shared-read.js';

/** A promise with its settle functions outside. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('sharedRead', () => {
  it('starts one read for every caller, and none until one asks', async () => {
    let starts = 0;
    const gate = deferred<number>();
    const read = sharedRead(() => {
      starts++;
      return gate.promise;
    }, 'Reading it');
    expect(starts).toBe(0);
    const a = read.get();
    const b = read.get();
    gate.resolve(7);
    expect(await a).toBe(7);
    expect(await b).toBe(7);
    expect(await read.get()).toBe(7);
    expect(starts).toBe(1);
  });

  it("ends an aborted caller's wait at once while the read goes on for the others", async () => {
    const gate = deferred<string>();
    const read = sharedRead(() => gate.promise, 'Reading the catalog');
    const stop = new AbortController();
    const aborted = read.get(stop.signal);
    const other = read.get();
    stop.abort();
    const e = await aborted.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WeftError);
    expect((e as WeftError).code).toBe('ABORTED');
    expect((e as WeftError).message).toBe('Reading the catalog was aborted.');
    gate.resolve('done');
    expect(await other).toBe('done');
    // A signal already aborted does not wait either, even for a finished read.
    await expect(read.get(AbortSignal.abort())).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('forgets a failed read, so the next caller reads again', async () => {
    let starts = 0;
    const read = sharedRead(async () => {
      starts++;
      if (starts === 1) throw new WeftError('REMOTE_UNAVAILABLE', 'The host did not answer.');
      return starts;
    }, 'Reading it');
    const first = read.get();
    const second = read.get(); // shares the failing read
    await expect(first).rejects.toMatchObject({ code: 'REMOTE_UNAVAILABLE' });
    await expect(second).rejects.toMatchObject({ code: 'REMOTE_UNAVAILABLE' });
    expect(await read.get()).toBe(2);
    expect(await read.get()).toBe(2);
    expect(starts).toBe(2);
  });

  it('fails the read, not the caller, when the start throws at once', async () => {
    let starts = 0;
    const read = sharedRead<number>(() => {
      starts++;
      throw new Error('broken');
    }, 'Reading it');
    const p = read.get();
    await expect(p).rejects.toThrow('broken');
    await expect(read.get()).rejects.toThrow('broken');
    expect(starts).toBe(2);
  });
});
