import { createOnnxEmbedder, createWebLlmGenerator } from 'weft-rag/rag';

const generator = await createWebLlmGenerator({ model: { id: 'Llama-3.2-1B-Instruct-q4f16_1-MLC' } }); // WebLLM, on this page
await generator.prefill('Why is the sky blue?');
let text = '';
for (let t = await generator.step(); !t.done; t = await generator.step()) text += t.piece; // one decode step per call
console.log(text);

const embedder = await createOnnxEmbedder({ device: 'webgpu' });  // all-MiniLM-L6-v2 (quantised) from the Hub, cached
const vectors = await embedder.embed(['first passage', 'second passage']); // 2 x 384, mean-pooled, L2-normalised
console.log(vectors.length / embedder.dim);
