// `weft-rag/client`: the page's handle on the engine worker, where the embedder, the generator and
// the index run. It pulls only comlink into the page; the worker is the package's own
// engine.worker.js, which the app's bundler finds and bundles (with onnxruntime-web and WebLLM)
// from the `new Worker(new URL('./engine.worker.js', import.meta.url))` in the built file, or one
// the app starts itself on a script that calls `serveEngine()` from `weft-rag/worker`.

export { startEngineWorker, type EngineHandle, type EngineWorkerOptions } from '../transport/engine.js';
export { createRagInWorker, type RagClient, type RagWorkerInit } from '../transport/client.js';
export { installErrorTransfer } from '../transport/error-transfer.js';
export type { EngineApi, RagWorkerOptions, ReferenceModelSource, RerankerSpec } from '../transport/engine-api.js';
export type * from './runtime-types.js';
export { BUILTIN_WORKFLOWS } from '../workflow/builtins.js';
export { workflowMermaid } from '../workflow/mermaid.js';
export { checkWorkflow, type CheckedWorkflow, type SlotKind } from '../workflow/check-graph.js';
export type { WebLlmModel } from '../generate/webllm.js';
export type { DocumentInput, DocumentType, TextDocumentInput, BinaryDocumentInput } from '../ingest/documents.js';
export {
  readableTypes,
  documentTypeOf,
  documentTypeOfName,
  mimeTypeOfName,
  acceptAttribute,
  readableTypesText,
  type ReadableType,
} from '../ingest/file-types.js';
// The model cache, without WebLLM's (its lookup loads WebLLM: `weft-rag/rag` has it).
export { listCachedModels, deleteCachedModel, type CachedModel, type CachedModelFile } from '../models/cache.js';
export { storageEstimate, persistStorage, type StorageEstimateReport } from '../models/storage.js';
export { WeftError, isWeftError, type WeftErrorCode } from '../errors.js';
export { sourceLabel } from '../chat/citation-marks.js';
