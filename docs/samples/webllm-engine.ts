import { CreateMLCEngine } from '@mlc-ai/web-llm';
import { createWebLlmGenerator, createWebLlmSampler } from 'weft-rag/rag';

const id = 'Llama-3.2-1B-Instruct-q4f16_1-MLC';
const sampler = createWebLlmSampler(); // optional: lets Weft set temperature/topP/seed per answer
const engine = await CreateMLCEngine(id, { logitProcessorRegistry: new Map([[id, sampler.processor]]) });
const generator = await createWebLlmGenerator({ engine, sampler, model: { id } });
