// The engine worker's entry (built to dist/lib/engine.worker.js, which startEngineWorker() starts):
// the engine itself is src/runtime/engine-host.ts, served with the page's death watch by
// serveEngine() in src/entries/worker.ts (`weft-rag/worker`).
import { serveEngine } from '../src/entries/worker.js';

serveEngine();
