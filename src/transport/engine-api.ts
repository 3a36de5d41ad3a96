// The engine worker's RPC contract: what the main thread can ask of the worker (EngineApi, typed
// end to end by comlink's Remote<EngineApi>) and the options that open a RAG runtime there. Types
// only; the engine host (engine-host.ts, run by workers/engine.worker.ts) implements it, src/transport/engine.ts and client.ts call it.

import type { RemoteStoreOptions } from '../storage/remote/remote-store.js';
import type { Backend } from '../gpu/option.js';
import type { GpuMemoryReport } from '../gpu/budget.js';
import type { GeneratedToken, GeneratorTimings, LoadProgress, SamplingOptions } from '../generate/types.js';
import type { WebLlmModel } from '../generate/webllm.js';
import type { PinnedFile } from '../util/fetch-bytes.js';
import type { EmbedderDevice } from '../embed/types.js';
import type { DocumentInput } from '../ingest/documents.js';
import type { CrossEncoderOptions } from '../rerank/cross-encoder.js';
import type { Llama2cRerankerOptions } from '../rerank/llama2c-reranker.js';
import type { OnnxDecoderRerankerOptions } from '../rerank/onnx-decoder-reranker.js';
import type {
  GenerateInput,
  GenerateOptions,
  IndexSettings,
  IngestProgress,
  Passage,
  RagEvent,
  RagInfo,
  RuntimeSettings,
  RagSearchOptions,
} from '../runtime/types.js';

/** The reference model's files: URLs, pinned files `{ url, sha256 }` (CHECKSUM_MISMATCH on a mismatch), or bytes. */
export interface ReferenceModelSource {
  model: string | PinnedFile | ArrayBuffer;
  tokenizer: string | PinnedFile | ArrayBuffer;
}

/**
 * The reranker the worker creates for `rerank` (plain data): a cross-encoder (onnxruntime-web), the
 * decoder reranker on a llama2.c checkpoint with per-passage KV reuse (its own generator on the
 * worker's GPU), or an ONNX decoder with past_key_values. Functions (onProgress, signal) and the
 * GPU are the worker's own.
 */
export type RerankerSpec =
  | { crossEncoder: Omit<CrossEncoderOptions, 'gpu' | 'onProgress' | 'signal'> }
  | { decoder: ReferenceModelSource & Pick<Llama2cRerankerOptions, 'modelId' | 'reuse' | 'kv' | 'maxQueryTokens'> }
  | { onnxDecoder: Omit<OnnxDecoderRerankerOptions, 'gpu' | 'onProgress' | 'signal'> };

/** What of RemoteStoreOptions can cross into the worker (no AbortSignal). */
export type RemoteStoreOptionsCloneable = Omit<RemoteStoreOptions, 'signal'>;

/**
 * Everything the worker needs to open a RAG runtime; all of it crosses by structured clone. The
 * index's and the runtime's settings are createRag's own types (IndexSettings, RuntimeSettings),
 * passed on whole; only what cannot cross — the store, the models, a prompt template function —
 * is described here instead (a database or a URL, model sources, a reranker spec).
 */
export interface RagWorkerOptions extends IndexSettings, RuntimeSettings {
  /** IndexedDB database (default 'weft'). */
  dbName?: string;
  /** Name of the index in the database (with `remote`, the file's own index is used and this is only a label). */
  indexName: string;
  /**
   * Search an index published as one file on a static host instead (openRemoteIndex): read-only,
   * its sections fetched by HTTP range requests and kept in IndexedDB (`localBytes`), then on the GPU.
   */
  remote?: { url: string } & RemoteStoreOptionsCloneable;
  embedder: {
    model?: string | ArrayBuffer;
    tokenizer?: string | object;
    tokenizerConfig?: string | object;
    modelId?: string;
    device?: EmbedderDevice;
    maxLength?: number;
    wasmPaths?: string;
    /** Expected SHA-256 of each downloaded file, as in createOnnxEmbedder (mismatch: CHECKSUM_MISMATCH, nothing cached). */
    sha256?: { model?: string; tokenizer?: string; tokenizerConfig?: string };
  };
  generator: { reference: ReferenceModelSource } | { webllm: { model: WebLlmModel } };
  /** The reranker `rerank` uses (see GenerateOptions.rerank); created in the worker, released with the runtime. */
  reranker?: RerankerSpec;
  /**
   * GPU memory the engine may hold, bytes: the generator (the reference generator's weights and
   * KV cache, or WebLLM's model by its record's vram_required_MB), the embedder on WebGPU (its
   * model's size, an estimate), the list cache, the decoder reranker's passage KV and the search's
   * buffers. WebGPU does not tell a device's memory, so there is none by default (only
   * accounting, in info().memory). The list cache and the passage KV are elastic: a load that
   * needs memory takes it from them first (down to their least), and they grow back when it is
   * freed. A load that would still pass the budget fails with DEVICE_LIMIT before allocating,
   * naming what holds the memory (or a cacheBytes too big, when the index opens).
   */
  gpuBudgetBytes?: number;
}

/**
 * The runtime's info() as the engine worker reports it: RagInfo, plus who shares the engine —
 * the connections to it (tabs of the app, with the default shared engine), those using its
 * runtime, and the generators it has loaded since it started (a tab that joins loads none).
 */
export interface EngineInfo extends RagInfo {
  engine: { connections: number; users: number; loads: number };
  /** The engine's GPU memory: its budget (Infinity without gpuBudgetBytes), the bytes used and each holder's share; undefined without WebGPU. */
  memory: GpuMemoryReport | undefined;
}

/**
 * What the main thread can ask of the engine worker. The runtime's long calls take a `call`
 * number the caller picks (a positive integer, unique among its calls in flight): abort(call)
 * aborts that call's signal in the worker, which is how an AbortSignal on the main thread
 * reaches it.
 */
export interface EngineApi {
  /**
   * Opens (or prepares to create) a named index with its embedder and generator in the worker,
   * or joins the runtime another connection opened with the same options. `key`: the options'
   * engine key where the caller has it already (createRagInWorker named the shared engine after
   * it), so they are not hashed again, model bytes and all; else the engine computes it.
   * `backend`: where the index searches ('cpu' where the worker has no WebGPU); `answers`: false
   * when no generator could load for lack of WebGPU (generate rejects; ingest and search work).
   */
  openRag(
    options: RagWorkerOptions,
    onProgress?: (p: LoadProgress) => void,
    key?: string,
  ): Promise<{ indexName: string; size: number; backend: Backend; answers: boolean }>;
  ingest(documents: (DocumentInput | Blob)[], onProgress?: (p: IngestProgress) => void, call?: number): Promise<{ documents: number; chunks: number }>;
  search(query: string, options?: Omit<RagSearchOptions, 'signal'>, call?: number): Promise<Passage[]>;
  /** Starts an answer (as `call`, or a number the worker picks); pull its events with nextEvent (undefined once it is over). */
  startGenerate(input: GenerateInput, options?: Omit<GenerateOptions, 'signal'>, call?: number): Promise<number>;
  nextEvent(call: number): Promise<RagEvent | undefined>;
  /** The caller stopped reading an answer: it ends now and gives back the generator. */
  endGenerate(call: number): Promise<void>;
  profile(call?: number): Promise<{ intercept: number; slope: number }>;
  info(): Promise<EngineInfo>;
  /** Aborts the signal of a call in flight (ingest, search, generate, profile); other numbers are ignored. */
  abort(call: number): void;
  closeRag(): Promise<void>;
  ping(): string;
}

/**
 * The generator's own calls, which the worker's host uses to load and drive the model: not part
 * of the public contract (the runtime's calls above are), reached by the client's close and by
 * tests through engineInternals (engine.ts), which no package entry exports.
 */
export interface GeneratorRpc {
  /** Loads a WebLLM model (prebuilt id or custom record) as the generator. */
  loadWebLlm(
    options: { model: WebLlmModel; sampling?: SamplingOptions; maxTokens?: number },
    onProgress?: (p: LoadProgress) => void,
  ): Promise<{ modelId: string }>;
  /** Loads a llama2.c checkpoint as the generator (the WebGPU reference generator). */
  loadReference(source: ReferenceModelSource, onProgress?: (p: LoadProgress) => void): Promise<{ contextLength: number }>;
  prefill(prompt: string): Promise<void>;
  step(): Promise<GeneratedToken>;
  interrupt(): Promise<void>;
  timings(): GeneratorTimings;
  /** Releases the generator (and with it the worker's GPU memory for the model). */
  unload(): Promise<void>;
}

/** What the engine worker implements: the public contract and the generator's own calls. */
export interface EngineRpc extends EngineApi, GeneratorRpc {}
