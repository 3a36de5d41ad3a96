import { pipeline } from '@huggingface/transformers';
import { createTransformersEmbedder } from 'weft-rag/rag';

const extractor = await pipeline('feature-extraction', 'Xenova/all-MiniLM-L6-v2', { device: 'webgpu' });
const embedder = createTransformersEmbedder(extractor, { modelId: 'Xenova/all-MiniLM-L6-v2', device: 'webgpu' });
console.log(await embedder.embed(['a passage']));                // 1 x 384
