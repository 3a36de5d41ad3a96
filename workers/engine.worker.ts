// The engine worker's entry (built to dist/lib/engine.worker.js, which startEngineWorker() starts):
// the engine itself is src/runtime/engine-host.ts.
import { serveEngine } from '../src/runtime/engine-host.js';

serveEngine();
