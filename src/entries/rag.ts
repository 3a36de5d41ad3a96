// `weft-rag/rag`: the RAG runtime on the page's own thread and the models it runs (the
// onnxruntime-web embedder, the WebGPU llama2.c reference generator, WebLLM loaded on first use),
// with the model cache. Apps that run all of it in the engine worker import `weft-rag/client`
// instead, which keeps onnxruntime-web and WebLLM out of the page's bundle.

export { createRag } from '../runtime/rag.js';
export { defaultPromptTemplate } from '../runtime/citations.js';
export type * from './runtime-types.js';
export type { LocalRag, RagOptions, PromptTemplate } from '../runtime/types.js';
export { DEFAULT_REWRITE_INSTRUCTION } from '../runtime/conversation.js';
export { createOnnxEmbedder, EMBEDDER_DEVICES, DEFAULT_EMBEDDING_MODEL, DEFAULT_EMBEDDING_REVISION, type Embedder, type EmbedderDevice, type OnnxEmbedderOptions } from '../embed/onnx-embedder.js';
export {
  createTransformersEmbedder,
  type TransformersEmbedderOptions, type FeatureExtractionPipelineLike, type TransformersTensor, type TransformersTokenizer,
} from '../embed/transformers-embedder.js';
export { loadLlama2c, type Llama2cGenerator, type Llama2cSource, type KvSnapshot } from '../generate/llama2c-gpu.js';
export {
  createWebLlmGenerator, createWebLlmSampler, mapWebLlmError,
  type WebLlmGenerator, type WebLlmGeneratorOptions, type WebLlmModel, type WebLlmEngineLike, type WebLlmSampler,
  type WebLlmEngineConfig, type WebLlmEngineFactory, type WebLlmChatConfig,
} from '../generate/webllm.js';
export type { Generator } from '../generate/types.js';
export { listCachedModels, deleteCachedModel, type CachedModel, type CachedModelFile } from '../models/cache.js';
export { hasWebLlmModelInCache, deleteWebLlmModelFromCache, type WebLlmModelRef, type WebLlmCacheOptions } from '../models/webllm-cache.js';
export { storageEstimate, persistStorage, type StorageEstimateReport } from '../models/storage.js';
export { createLatencyLine, type LatencyLine } from '../schedule/perf-model.js';
export { chunkDocument, parseSections, readDocument, type DocumentInput, type DocumentType, type Chunk, type Section } from '../ingest/documents.js';
export { WeftError, isWeftError, type WeftErrorCode } from '../errors.js';
