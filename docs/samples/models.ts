import { startEngineWorker } from 'weft-rag/client';
import { createOnnxEmbedder } from 'weft-rag/rag';

const engine = startEngineWorker();                               // a dedicated worker, comlink-typed
await engine.api.loadWebLlm({ model: { id: 'Llama-3.2-1B-Instruct-q4f16_1-MLC' } }, engine.callback((p) => console.log(p)));
await engine.api.prefill('Why is the sky blue?');
let text = '';
for (let t = await engine.api.step(); !t.done; t = await engine.api.step()) text += t.piece; // one decode step per call
console.log(text);

const embedder = await createOnnxEmbedder({ device: 'webgpu' });  // all-MiniLM-L6-v2 (quantised) from the Hub, cached
const vectors = await embedder.embed(['first passage', 'second passage']); // 2 x 384, mean-pooled, L2-normalised
console.log(vectors.length / embedder.dim);
