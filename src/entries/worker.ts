// `weft-rag/worker`: the inside of the engine worker, for apps that start the worker themselves
// (WebLLM's WebWorkerMLCEngineHandler convention). The app's worker script is
//   import { serveEngine } from 'weft-rag/worker';
//   serveEngine();
// and the page hands that Worker to `startEngineWorker({ worker })` (`weft-rag/client`). The
// package's own engine worker (workers/engine.worker.ts, built to dist/lib/engine.worker.js) is
// those two lines too.
import type { Endpoint } from 'comlink';
import { serveEngine as serveEngineHost } from '../runtime/engine-host.js';

/** Serves the engine (EngineApi over comlink) on `endpoint`, by default the worker's own scope. */
export function serveEngine(endpoint: Endpoint = self as unknown as Endpoint): void {
  holdLifeline(endpoint);
  serveEngineHost(endpoint);
}

/**
 * The worker's half of the page's watch for a dead worker (the other half is in
 * src/runtime/engine.ts, which uses the same two message fields). Sent `{ weftLifeline: name }`,
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
