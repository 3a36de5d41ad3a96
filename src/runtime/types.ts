// The RAG runtime's public types: its options, the passages it returns, the events an answer
// streams and the trace stages they report. Kept apart from the code so that every part of the
// runtime (and the worker's RPC contract) can name them without importing the runtime itself.

import type { GpuContext } from '../gpu/context.js';
import type { Embedder } from '../embed/onnx-embedder.js';
import type { Generator } from '../generate/types.js';
import type { Metric, StorageType } from '../ivf/types.js';
import type { DocumentInput } from '../ingest/documents.js';
import type { WeftStore } from '../store/idb-store.js';
import type { StoredIndex } from '../store/stored-index.js';

export interface RagOptions {
  store: WeftStore;
  /** Name of the index in the store (created on the first ingest if it does not exist). */
  indexName: string;
  /** false: the index must exist already (UNKNOWN_INDEX otherwise), e.g. an app that only reads. Default true. */
  create?: boolean;
  embedder: Embedder;
  generator: Generator;
  /** The GPU the index runs on (share the generator's); without it the index creates its own device. */
  gpu?: GpuContext;
  /** For a new index. Defaults: cosine, f16, nlist from the corpus size. */
  metric?: Metric;
  storage?: StorageType;
  nlist?: number;
  /** Byte budget of the index's GPU list cache (the stored index's default otherwise). */
  cacheBytes?: number;
  /**
   * 'woven' (default): a question's embedding and search slices run in the gaps between the
   * decode steps of the answer in progress (at most `maxSlowdown` of its step time per gap), and
   * its lists are prefetched as soon as it is embedded. 'sequential': embed, search everything,
   * then generate — the baseline, through the same code.
   */
  schedule?: 'sequential' | 'woven';
  /** Woven schedule: how much background work may slow decoding, as a fraction. Default 0.1. */
  maxSlowdown?: number;
  /**
   * Woven schedule: how many questions waiting for the generator may retrieve ahead (embed,
   * prefetch, search) in the gaps of the answer in progress. Default 2: enough to have the next
   * question's passages ready when the generator frees up, without the background reads of a
   * long queue slowing decoding or thrashing the GPU list cache.
   */
  lookahead?: number;
  /** Replaces the default prompt (passages first, then the question, asking for cited answers). */
  promptTemplate?: PromptTemplate;
}

/** Keeps a passage whose chunk has this metadata and document id. */
export type PassageFilter = (metadata: Record<string, unknown>, docId: string) => boolean;

/** The prompt built from the passages in the context and the question. */
export type PromptTemplate = (passages: readonly Passage[], question: string) => string;

export interface Passage {
  /** Citation number in the prompt, from 1. */
  citation: number;
  id: number;
  score: number;
  docId: string;
  text: string;
  metadata: Record<string, unknown>;
}

export type IngestProgress =
  | { status: 'read'; done: number; total: number }
  | { status: 'embed'; done: number; total: number }
  | { status: 'index'; done: number; total: number }
  | { status: 'persist'; done: number; total: number };

export interface TraceStage {
  /**
   * profile: the performance model timing searches (once); speculate: prefill on a partial top-k;
   * restart: the final top-k differed, so the speculative prefill was thrown away; refresh: a
   * periodic retrieval's passages replaced those in the context (re-prefill).
   */
  kind: 'embed' | 'search' | 'prefetch' | 'prefill' | 'decode' | 'profile' | 'speculate' | 'restart' | 'refresh';
  /** Milliseconds since the request started. */
  start: number; end: number;
  clusters?: number; bytes?: number; nprobe?: number;
  /** Periodic retrieval: the window whose text was the query. */
  window?: number;
}

export interface PeriodicOptions {
  /** A retrieval every `interval` generated tokens, with the window's text as the query (PipeRAG). */
  interval: number;
  /**
   * 1 (default with the woven schedule): the query is one window old, so its search can run while
   * the current window decodes. 0 (default with the sequential schedule): the query is the window
   * just decoded, and decoding waits for its search.
   */
  staleness?: 0 | 1;
  /**
   * With staleness 1: run the search in the gaps of the current window's decoding (true, default
   * with the woven schedule) or at the end of the window while decoding waits (false: the same
   * retrievals, the same answer, without pipelining — the baseline PipeRAG compares with).
   */
  pipeline?: boolean;
  /** Lists per periodic search, or 'auto' (default): the performance model's largest that fits the window. */
  nprobe?: number | 'auto';
  /** Upper bound for 'auto' (default nlist). */
  maxNprobe?: number;
  /**
   * Share of the window's decode time this answer's periodic search may take (its own budget,
   * beside the runtime's maxSlowdown for other requests' work). Default: the runtime's maxSlowdown.
   */
  maxSlowdown?: number;
  /** Passages per periodic retrieval. Default: the request's k. */
  k?: number;
}

export interface GenerateOptions {
  /** Passages in the prompt (default 3). */
  k?: number;
  /** Lists probed by the question's search (default min(nlist, 8)). */
  nprobe?: number;
  /** Longest answer in tokens (default 64). */
  maxTokens?: number;
  signal?: AbortSignal;
  /** Periodic retrieval during the answer (PipeRAG). */
  periodic?: PeriodicOptions;
  /**
   * Woven schedule: start prefill on the partial top-k after `afterSlices` search slices
   * (default 1) while the rest of the search runs (HedraRAG). If the final top-k differs, the
   * prefill is thrown away and redone; the answer is always the final top-k's.
   */
  speculate?: boolean | { afterSlices?: number };
}

export interface PeriodicWindow { window: number; nprobe: number; searchMs: number; waitedMs: number; refreshed: boolean }

export interface PeriodicReport {
  interval: number; staleness: 0 | 1; pipelined: boolean; refreshes: number;
  /** Time spent re-prefilling the context with new passages, ms. */
  refreshMs: number;
  windows: PeriodicWindow[];
}

export type RagEvent =
  | { type: 'retrieval'; passages: Passage[] }
  | { type: 'token'; text: string }
  | { type: 'trace'; stages: TraceStage[] }
  | {
    type: 'done'; answer: string; citations: number[];
    /** Every passage that was in the context, by citation number (periodic retrieval adds some). */
    passages: Passage[];
    timings: { totalMs: number; firstTokenMs: number }; tokens: { prompt: number; generated: number };
    periodic?: PeriodicReport;
  };

export interface Rag {
  /** The stored index (undefined until the first ingest creates it, and after close). */
  readonly index: StoredIndex | undefined;
  ingest(documents: readonly (DocumentInput | Blob)[], options?: { signal?: AbortSignal; onProgress?: (p: IngestProgress) => void }): Promise<{ documents: number; chunks: number }>;
  search(query: string, options?: { k?: number; nprobe?: number; filter?: PassageFilter }): Promise<Passage[]>;
  generate(question: string, options?: GenerateOptions): AsyncGenerator<RagEvent>;
  /**
   * Times searches at several nprobe on this device and fits the performance model's
   * latency line (done on first need otherwise); later searches correct it online.
   */
  profile(): Promise<{ intercept: number; slope: number }>;
  close(): Promise<void>;
}
