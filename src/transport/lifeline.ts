// The two watches across the engine worker's boundary, both on Web Locks: the page's watch for a
// dead worker (the worker's half here, the page's in engine.ts) and the engine's watch for a
// connection whose tab is gone.

import type { Endpoint } from 'comlink';

/**
 * Sent `{ weftLifeline: name }` (by engine.ts, which uses the same two message fields),
 * the worker takes the Web Lock `name` for as long as it lives and answers
 * `{ weftLifelineHeld: name }`; the page then queues for the same lock, which it is granted only
 * once the worker is gone (terminated, closed, crashed). Where navigator.locks is missing (an
 * insecure context) there is no answer, and the page relies on the Worker's own events.
 */
export function holdLifeline(endpoint: Endpoint = self as unknown as Endpoint): void {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return;
  endpoint.addEventListener('message', (ev) => {
    const name: unknown = (ev as MessageEvent<{ weftLifeline?: unknown } | null>).data?.weftLifeline;
    if (typeof name !== 'string') return;
    // The callback's promise never settles: the lock is released only when this worker ends.
    void locks.request(name, () => {
      endpoint.postMessage({ weftLifelineHeld: name });
      return new Promise<never>(() => {});
    });
  });
}

/**
 * The engine's watch for a connection that is gone (a SharedWorker's tab closed or crashed; no
 * event says so, a MessagePort has no close event): sent `{ weftConnection: name }` by a page
 * that holds the Web Lock `name` for as long as it uses the connection (engine.ts), the engine
 * queues for the same lock and calls `onGone` when it is granted — when the page let go of it or
 * died. Without navigator.locks the connection is only released by its own close.
 */
export function watchConnection(endpoint: Endpoint, onGone: () => void): void {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return;
  let watched = false;
  endpoint.addEventListener('message', (ev) => {
    const name: unknown = (ev as MessageEvent<{ weftConnection?: unknown } | null>).data?.weftConnection;
    if (typeof name !== 'string' || watched) return;
    watched = true;
    void locks.request(name, () => {
      onGone();
    });
  });
}
