// Weft's public entry point.

export { WeftError, isWeftError, type WeftErrorCode } from './errors.js';
export { createGpuContext, contextFrom, type GpuContext, type GpuContextOptions, type GpuSource } from './gpu/context.js';
export {
  createIvfIndex, createFlatIndex,
  type IvfIndex, type IvfIndexOptions, type FlatIndex, type IndexOptions,
} from './ivf/ivf.js';
export {
  METRICS, STORAGE_TYPES, NO_ID, MAX_K,
  type Metric, type StorageType, type SearchOptions, type SearchResult, type SearchSession,
} from './ivf/types.js';
export { referenceSearch, referenceIvfSearch, referenceProbes, recallAtK, type ReferenceList } from './ivf/reference.js';
export { layoutFor, toHalf, fromHalf, type Layout, type ScalarQuantizer } from './ivf/codec.js';
export { gaussianMixture, createRng, type Rng } from './random.js';
export { openStore, deleteStore, FORMAT_VERSION, type WeftStore, type Manifest, type ListRecord, type ChunkRecord, type CommitChanges, type StoreOptions } from './store/idb-store.js';
export {
  createStoredIndex, openStoredIndex,
  type StoredIndex, type CreateStoredIndexOptions, type OpenStoredIndexOptions, type CacheOptions, type CacheStats, type PrefetchHandle, type ChunkInput,
} from './store/stored-index.js';
export type { CachePolicyName } from './cache/policy.js';
export { exportIndex, importIndex, parseIndexFile } from './store/portable.js';
export { loadLlama2c, type Llama2cGenerator, type Llama2cSource, type KvSnapshot } from './generate/llama2c-gpu.js';
export { createWebLlmGenerator, mapWebLlmError, type WebLlmGenerator, type WebLlmGeneratorOptions, type WebLlmModel, type WebLlmEngineLike } from './generate/webllm.js';
export type { Generator, GeneratedToken, GeneratorTimings, LoadProgress, SamplingOptions } from './generate/types.js';
export { createOnnxEmbedder, EMBEDDER_DEVICES, DEFAULT_EMBEDDING_MODEL, type Embedder, type EmbedderDevice, type OnnxEmbedderOptions } from './embed/onnx-embedder.js';
export { startEngineWorker, type EngineHandle } from './runtime/engine.js';
export type { EngineApi, RagWorkerOptions, ReferenceModelSource } from './runtime/engine-api.js';
export { installErrorTransfer } from './runtime/error-transfer.js';
export { createRag } from './runtime/rag.js';
export { defaultPromptTemplate } from './runtime/citations.js';
export type { Rag, RagOptions, RagEvent, Passage, PassageFilter, PromptTemplate, IngestProgress, TraceStage, GenerateOptions, PeriodicOptions, PeriodicReport, PeriodicWindow } from './runtime/types.js';
export { chunkDocument, parseSections, readDocument, type DocumentInput, type DocumentType, type Chunk, type Section } from './ingest/documents.js';
export { createLatencyLine, type LatencyLine } from './schedule/perf-model.js';
export { createRagInWorker, type RagClient } from './runtime/client.js';
