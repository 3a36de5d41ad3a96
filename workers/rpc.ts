// The engine worker's typed RPC surface (comlink), shared by both sides. Errors keep their
// identity across the boundary: a WeftError thrown in the worker is a WeftError, with its code
// and details, on the main thread.

import * as Comlink from 'comlink';
import { WeftError, type WeftErrorCode } from '../src/errors.js';
import type { GeneratedToken, GeneratorTimings, LoadProgress, SamplingOptions } from '../src/generate/types.js';
import type { WebLlmModel } from '../src/generate/webllm.js';
import type { EmbedderDevice } from '../src/embed/onnx-embedder.js';
import type { GenerateOptions, IngestProgress, Passage, RagEvent } from '../src/runtime/rag.js';
import type { DocumentInput } from '../src/ingest/documents.js';
import type { Metric, StorageType } from '../src/ivf/types.js';

interface SerializedThrow { isError: boolean; value: unknown }
interface SerializedError { name: string; message: string; stack?: string | undefined; code?: WeftErrorCode | undefined; details?: Record<string, unknown> | undefined }

const builtin = Comlink.transferHandlers.get('throw')!;
Comlink.transferHandlers.set('throw', {
  canHandle: builtin.canHandle,
  serialize(thrown: unknown) {
    const { value } = thrown as { value: unknown };
    if (value instanceof Error) {
      const e = value as Error & { code?: WeftErrorCode; details?: Record<string, unknown> };
      let details: Record<string, unknown> | undefined;
      try { details = e.details ? structuredClone(e.details) : undefined; } catch { details = undefined; }
      const out: SerializedError = { name: e.name, message: e.message, stack: e.stack, code: e.code, details };
      return [{ isError: true, value: out } satisfies SerializedThrow, []];
    }
    return [{ isError: false, value } satisfies SerializedThrow, []];
  },
  deserialize(serialized: unknown) {
    const { isError, value } = serialized as SerializedThrow;
    if (!isError) throw value;
    const v = value as SerializedError;
    const err = v.code ? new WeftError(v.code, v.message, v.details ? { details: v.details } : undefined) : Object.assign(new Error(v.message), { name: v.name });
    if (v.stack) err.stack = v.stack;
    throw err;
  },
} as Comlink.TransferHandler<unknown, unknown>);

export interface ReferenceModelSource { model: string | ArrayBuffer; tokenizer: string | ArrayBuffer }

/** Everything the worker needs to open a RAG runtime; all of it crosses by structured clone. */
export interface RagWorkerOptions {
  /** IndexedDB database (default 'weft') and index name. */
  dbName?: string;
  index: string;
  /** false: refuse an index that does not exist yet (UNKNOWN_INDEX). */
  create?: boolean;
  embedder: { model?: string | ArrayBuffer; tokenizer?: string | object; tokenizerConfig?: string | object; modelId?: string; device?: EmbedderDevice; maxLength?: number; wasmPaths?: string };
  generator: { reference: ReferenceModelSource } | { webllm: { model: WebLlmModel } };
  metric?: Metric;
  storage?: StorageType;
  nlist?: number;
  cacheBytes?: number;
}

/** What the main thread can ask of the engine worker. */
export interface EngineApi {
  /** Opens (or prepares to create) a named index with its embedder and generator in the worker. */
  openRag(options: RagWorkerOptions, onProgress?: (p: LoadProgress) => void): Promise<{ index: string; size: number }>;
  ingest(documents: (DocumentInput | Blob)[], onProgress?: (p: IngestProgress) => void): Promise<{ documents: number; chunks: number }>;
  /** `filter`: metadata fields that must equal the given values. */
  search(query: string, options?: { k?: number; nprobe?: number; filter?: Record<string, unknown> }): Promise<Passage[]>;
  /** Starts an answer; pull its events with nextEvent (undefined once it is over). */
  startGenerate(question: string, options?: Omit<GenerateOptions, 'signal'>): Promise<number>;
  nextEvent(request: number): Promise<RagEvent | undefined>;
  abortGenerate(request: number): Promise<void>;
  closeRag(): Promise<void>;
  ping(): string;
  /** Loads a WebLLM model (prebuilt id or custom record) as the generator. */
  loadWebLlm(options: { model: WebLlmModel; sampling?: SamplingOptions; maxTokens?: number }, onProgress?: (p: LoadProgress) => void): Promise<{ modelId: string }>;
  /** Loads a llama2.c checkpoint as the generator (the WebGPU reference generator). */
  loadReference(source: ReferenceModelSource, onProgress?: (p: LoadProgress) => void): Promise<{ contextLength: number }>;
  prefill(prompt: string): Promise<void>;
  step(): Promise<GeneratedToken>;
  interrupt(): Promise<void>;
  timings(): GeneratorTimings;
  unload(): Promise<void>;
}

export { Comlink };
