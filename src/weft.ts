// Weft's root entry, `weft-rag`: vector search on WebGPU and the IndexedDB tiers, with nothing of
// the models — importing it pulls idb and no onnxruntime-web, WebLLM or worker. The RAG runtime
// and the models are `weft-rag/rag` (src/entries/rag.ts); the engine worker's handle is
// `weft-rag/client` (src/entries/client.ts), its inside `weft-rag/worker` (src/entries/worker.ts).

export { WeftError, isWeftError, type WeftErrorCode } from './errors.js';
export { createGpuContext, type GpuContext, type GpuContextOptions } from './gpu/context.js';
export type { Elastic, GpuHold, GpuMemoryReport } from './gpu/budget.js';
export {
  contextFrom,
  backendFrom,
  type GpuSource,
  type GpuDeviceOrContext,
  type GpuOption,
  type Backend,
  type GpuOrCpu,
  type GpuOrCpuOption,
} from './gpu/option.js';
export {
  createIvfIndex,
  createFlatIndex,
  type IvfIndex,
  type IvfIndexOptions,
  type FlatIndex,
  type IndexOptions,
  type TrainCallOptions,
} from './ivf/ivf.js';
export { createIvfPqIndex, type IvfPqIndex, type IvfPqIndexOptions, type IvfPqSearchOptions } from './ivf/ivf-pq.js';
export { defaultPq, type PqBits } from './ivf/pq.js';
export type { TrainProgress } from './ivf/train.js';
export {
  METRICS,
  STORAGE_TYPES,
  INDEX_STORAGE_TYPES,
  NO_ID,
  MAX_K,
  type Metric,
  type StorageType,
  type IndexStorage,
  type IndexPq,
  type SearchOptions,
  type SearchResult,
  type SearchSession,
} from './ivf/types.js';
export { referenceSearch, referenceIvfSearch, referenceProbes, recallAtK, type ReferenceList } from './ivf/reference.js';
export { layoutFor, toHalf, fromHalf, type Layout, type ScalarQuantizer } from './ivf/codec.js';
export { gaussianMixture, createRng, type Rng } from './random.js';
export { openStore, deleteStore, FORMAT_VERSION, type StoreOptions } from './storage/idb-store.js';
export type { WeftStore, Manifest, ListRecord, ChunkRecord, CommitChanges } from './storage/contract.js';
export {
  createStoredIndex,
  openStoredIndex,
  type StoredIndex,
  type StoredSearchOptions,
  type CreateStoredIndexOptions,
  type OpenStoredIndexOptions,
  type CacheOptions,
  type CacheStats,
  type PrefetchHandle,
  type ChunkInput,
} from './stored-index/stored-index.js';
export type { CachePolicyName } from './util/cache-policy.js';
export type { LexicalSession, LexicalSearchOptions, LexicalStats, LexicalHits } from './stored-index/lexical-search.js';
export { loadAnalyzer, STEMMED_LANGUAGES } from './lexical/analyzer.js';
export type { LexicalManifest } from './storage/records.js';
export type { PassageFilter, MetadataValue, MetadataRange, MetadataCondition } from './stored-index/passage-filter.js';
export { exportIndex, importIndex, parseIndexFile, type ExportOptions } from './storage/portable.js';
export { openFileStore, type FileStoreOptions } from './storage/file-store.js';
export { denoFileSystem } from './storage/fs-deno.js';
export type { StoreFileSystem } from './storage/file-system.js';
export { openRemoteIndex, type RemoteIndex, type RemoteIndexOptions } from './stored-index/remote-index.js';
export { openRemoteStore, type RemoteStore, type RemoteStoreOptions, type RemoteStats } from './storage/remote/remote-store.js';
export { clearRemoteCache } from './storage/remote/section-cache.js';
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
} from './ingest/documents.js';
export {
  readableTypes,
  documentTypeOf,
  documentTypeOfName,
  mimeTypeOfName,
  acceptAttribute,
  readableTypesText,
  type ReadableType,
} from './ingest/file-types.js';
