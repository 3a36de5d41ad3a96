// my-engine.worker.ts
import { serveEngine } from 'weft-rag/worker';
serveEngine();
