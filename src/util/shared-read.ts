// A read made once for every caller: the remote tier reads a publication's page index, its
// catalog and its groups the first time any caller wants them, and every later caller shares
// that one read. The read runs without any caller's signal (one caller giving up must not fail
// the others); each caller's wait ends at once when its own signal aborts (abortable.ts). A read
// that fails is forgotten, so the next caller tries again instead of inheriting the failure.

import { abortable } from './abortable.js';

/** One shared read (see the header): `get` starts it on first use and waits for it. */
export interface SharedRead<T> {
  /** The read's value; ABORTED ("`what` was aborted.") as soon as `signal` aborts. */
  get(signal?: AbortSignal): Promise<T>;
}

/** A SharedRead of `start`; `what` names the read in an ABORTED message ("Reading the catalog of index 'docs'"). */
export function sharedRead<T>(start: () => Promise<T>, what: string): SharedRead<T> {
  let pending: Promise<T> | undefined;
  return {
    get(signal) {
      if (!pending) {
        const p = (async () => start())(); // a start that throws at once fails the read the same way
        pending = p;
        p.catch(() => {
          if (pending === p) pending = undefined;
        });
      }
      return abortable(pending, signal, what);
    },
  };
}
