// `weft-rag/rag`: the RAG runtime on the page's own thread and the models it runs (the
// onnxruntime-web embedder, the WebGPU llama2.c reference generator, WebLLM loaded on first use),
// with the model cache. Apps that run all of it in the engine worker import `weft-rag/client`
// instead, which keeps onnxruntime-web and WebLLM out of the page's bundle.

export { createRag } from '../runtime/rag.js';
export { defaultPromptTemplate, passageLine, passagePage } from '../runtime/answer-context.js';
export type * from './runtime-types.js';
export type { RagOptions, IndexSettings, RuntimeSettings, PromptTemplate } from '../runtime/types.js';
export type { LocalRag } from '../runtime/rag-api.js';
export { DEFAULT_REWRITE_INSTRUCTION } from '../runtime/conversation.js';
export { BUILTIN_WORKFLOWS } from '../workflow/builtins.js';
export { workflowMermaid } from '../workflow/mermaid.js';
export { checkWorkflow, type CheckedWorkflow, type SlotKind } from '../workflow/check-graph.js';
export {
  createOnnxEmbedder,
  EMBEDDER_DEVICES,
  DEFAULT_EMBEDDING_MODEL,
  DEFAULT_EMBEDDING_REVISION,
  type OnnxEmbedderOptions,
} from '../embed/onnx-embedder.js';
export type { Embedder, EmbedderDevice } from '../embed/types.js';
export {
  createTransformersEmbedder,
  type TransformersEmbedderOptions,
  type FeatureExtractionPipelineLike,
  type TransformersTensor,
  type TransformersTokenizer,
} from '../embed/transformers-embedder.js';
export { loadLlama2c, type Llama2cGenerator, type Llama2cSource, type KvSnapshot, type GpuKvSnapshot, type RestoreOptions } from '../generate/llama2c-gpu.js';
export {
  rerank,
  type Reranker,
  type RerankSession,
  type RerankPassage,
  type RerankStep,
  type RerankSessionOptions,
  type RerankedPassage,
} from '../rerank/types.js';
export { createCrossEncoder, type CrossEncoderOptions, type CrossEncoderReranker, type PairEncoding } from '../rerank/cross-encoder.js';
export { createLlama2cReranker, PASSAGE_PREFIX, QUESTION_PREFIX, type Llama2cRerankerOptions, type DecoderReranker } from '../rerank/llama2c-reranker.js';
export { createOnnxDecoderReranker, type OnnxDecoderRerankerOptions, type OnnxDecoderReranker } from '../rerank/onnx-decoder-reranker.js';
export type { KvTierOptions, KvTierStats } from '../rerank/kv-tier.js';
export { fuse, type Fused, type Ranking } from '../runtime/fusion.js';
export {
  createWebLlmGenerator,
  createWebLlmSampler,
  mapWebLlmError,
  type WebLlmGenerator,
  type WebLlmGeneratorOptions,
  type WebLlmModel,
  type WebLlmEngineLike,
  type WebLlmSampler,
  type WebLlmEngineConfig,
  type WebLlmEngineFactory,
  type WebLlmChatConfig,
} from '../generate/webllm.js';
export type { Generator } from '../generate/types.js';
export { listCachedModels, deleteCachedModel, type CachedModel, type CachedModelFile } from '../models/cache.js';
export { hasWebLlmModelInCache, deleteWebLlmModelFromCache, type WebLlmModelRef, type WebLlmCacheOptions } from '../models/webllm-cache.js';
export { storageEstimate, persistStorage, type StorageEstimateReport } from '../models/storage.js';
export { createLatencyLine, type LatencyLine } from '../schedule/perf-model.js';
export {
  chunkDocument,
  chunkSections,
  parseDocument,
  parseSections,
  readDocument,
  type DocumentInput,
  type TextDocumentInput,
  type BinaryDocumentInput,
  type TextDocumentType,
  type ReadDocument,
  type DocumentType,
  type Chunk,
  type ChunkOptions,
  type Section,
} from '../ingest/documents.js';
export {
  readableTypes,
  documentTypeOf,
  documentTypeOfName,
  mimeTypeOfName,
  acceptAttribute,
  readableTypesText,
  type ReadableType,
} from '../ingest/file-types.js';
export { WeftError, isWeftError, type WeftErrorCode } from '../errors.js';
