// The worker's half of the page's watch for a dead worker; the page's half is in engine.ts.

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
