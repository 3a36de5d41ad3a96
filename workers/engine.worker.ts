// The engine worker's entry (built to dist/lib/engine.worker.js, which startEngineWorker() starts):
// the engine itself is src/transport/engine-host.ts.
import { serveEngine } from '../src/transport/engine-host.js';

serveEngine();
