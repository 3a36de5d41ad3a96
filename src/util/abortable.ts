// A wait that a signal ends: the caller of a read shared with others (the remote tier's
// in-flight sections) stops waiting at once when its own signal aborts, while the read goes on
// for the others. What is awaited is not cancelled here; its owner decides that.

import { WeftError } from '../errors.js';

/** `work`, or ABORTED ("`what` was aborted.") as soon as `signal` aborts, whichever comes first. */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(new WeftError('ABORTED', `${what} was aborted.`));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => undefined);
      reject(new WeftError('ABORTED', `${what} was aborted.`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
