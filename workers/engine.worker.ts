// The engine worker's entry: everything it does is in src/runtime/engine-host.ts.
import { serveEngine } from '../src/runtime/engine-host.js';

serveEngine();
