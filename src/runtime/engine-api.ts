// The engine worker's RPC contract: what the main thread can ask of the worker (EngineApi, typed
// end to end by comlink's Remote<EngineApi>) and the options that open a RAG runtime there. Types
// only; the engine host (engine-host.ts, run by workers/engine.worker.ts) implements it, src/runtime/engine.ts and client.ts call it.

import type { GeneratedToken, GeneratorTimings, LoadProgress, SamplingOptions } from '../generate/types.js';
import type { WebLlmModel } from '../generate/webllm.js';
import type { EmbedderDevice } from '../embed/onnx-embedder.js';
import type { DocumentInput } from '../ingest/documents.js';
import type { Metric, StorageType } from '../ivf/types.js';
import type { GenerateOptions, IngestProgress, Passage, RagEvent } from './types.js';

export interface ReferenceModelSource { model: string | ArrayBuffer; tokenizer: string | ArrayBuffer }

/** Everything the worker needs to open a RAG runtime; all of it crosses by structured clone. */
export interface RagWorkerOptions {
  /** IndexedDB database (default 'weft'). */
  dbName?: string;
  /** Name of the index in the database. */
  indexName: string;
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
  openRag(options: RagWorkerOptions, onProgress?: (p: LoadProgress) => void): Promise<{ indexName: string; size: number }>;
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
