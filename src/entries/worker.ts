// `weft-rag/worker`: the inside of the engine worker, for apps that start the worker themselves
// (WebLLM's WebWorkerMLCEngineHandler convention). The app's worker script is
//   import { serveEngine } from 'weft-rag/worker';
//   serveEngine();
// and the page hands that Worker to `startEngineWorker({ worker })` (`weft-rag/client`). The
// package's own engine worker (workers/engine.worker.ts, built to dist/lib/engine.worker.js) is
// those two lines too.

export { serveEngine, createEngineHost } from '../transport/engine-host.js';
export type { EngineHostOptions } from '../transport/engine-host.js';
