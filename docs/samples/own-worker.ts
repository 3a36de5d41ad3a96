// the page
import { createRagInWorker } from 'weft-rag/client';

const worker = new Worker(new URL('./my-engine.worker.ts', import.meta.url), { type: 'module' });
const rag = await createRagInWorker({
  indexName: 'notes',
  embedder: {},                                                      // all-MiniLM-L6-v2 from the Hub
  generator: { webllm: { model: { id: 'Llama-3.2-1B-Instruct-q4f16_1-MLC' } } },
}, { worker });                                                      // startEngineWorker({ worker }) likewise
console.log(await rag.info());
