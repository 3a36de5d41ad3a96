// The RAG runtime's public types: its options, the passages it returns, the events an answer
// streams and the trace stages they report. Kept apart from the code so that every part of the
// runtime (and the worker's RPC contract) can name them without importing the runtime itself.
// Over 400 lines: the public types with one doc comment per option, which the API pages are made
// from; split by topic they would scatter what createRag takes over several files.

import type { Backend, GpuOrCpu, GpuOrCpuOption } from '../gpu/option.js';
import type { Embedder } from '../embed/types.js';
import type { ChatMessage, Generator, SamplingOptions } from '../generate/types.js';
import type { IndexStorage, Metric } from '../ivf/types.js';
import type { WeftStore } from '../storage/contract.js';
import type { PassageFilter } from '../stored-index/passage-filter.js';
import type { Reranker } from '../rerank/types.js';
import type { FusionMethod, FusionOptions, SearchMode } from './fusion.js';
import type { BuiltinWorkflow, FlareOptions, PeriodicOptions, Workflow, WorkflowGraph } from '../workflow/types.js';
import type { TraceStage } from './trace.js';

export type {
  BuiltinWorkflow,
  ChatMessage,
  FlareOptions,
  TraceStage,
  FusionMethod,
  FusionOptions,
  PeriodicOptions,
  Reranker,
  SamplingOptions,
  SearchMode,
  Workflow,
  WorkflowGraph,
};
export type { AnswerNode, EdgeCondition, GenerateNode, RetrieveNode, SplitNode, WorkflowEdge, WorkflowNode } from '../workflow/types.js';

/**
 * How an index is made and cached: carried whole from createRag's options (and the engine
 * worker's, which extend the same type) down to the stored index. All serializable.
 */
export interface IndexSettings {
  /** For a new index. Defaults: cosine, f16, nlist from the corpus size. */
  metric?: Metric;
  /** For a new index: f16 (default), f32, int8, or 'pq' (codes re-ranked with full vectors; a first ingest needs 2^bits passages). */
  storage?: IndexStorage;
  /**
   * For a new 'pq' index: sub-quantisers m (dividing the embedding dimension; dim / m of 4 to 8 is
   * usual) and bits per code, 4 or 8. Without m: one sub-quantiser per 4 dimensions at 4 bits
   * (the default; a first ingest then needs 16 passages) or per 8 at 8 bits (256 passages). With
   * an m of your own, bits defaults to 8.
   */
  pq?: { m?: number; bits?: 4 | 8 };
  nlist?: number;
  /** For a new index: the language of its keyword index's stemmer (default 'english'; see STEMMED_LANGUAGES). */
  language?: string;
  /** Byte budget of the index's GPU list cache (the stored index's default otherwise). */
  cacheBytes?: number;
}

/**
 * How the runtime retrieves and answers: the settings createRag and the engine worker share, as
 * one type (the worker's options extend it). All serializable, so they cross into the worker whole.
 */
export interface RuntimeSettings {
  /** false: the index must exist already (UNKNOWN_INDEX otherwise), e.g. an app that only reads. Default true. */
  create?: boolean;
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
  /**
   * How requests take turns on the generator (it runs one sequence at a time; a workflow generates
   * several times): 'arrival' (default), the oldest waiting request first, and a request that has
   * started generating keeps the generator through its workflow's stages until its answer ends —
   * requests finish in the order they came, while the waiting ones' retrievals run in its decode
   * gaps; 'least-attained', the generator is given back after each generation stage and goes to
   * the waiting request that has held it least (new requests first). Measured in
   * docs/benchmarks.md (bench workflows).
   */
  generatorOrder?: 'arrival' | 'least-attained';
  /**
   * Vector searches of several requests ready together with the same k, nprobe and filter run as
   * one multi-query dispatch, each list read and scanned once for all of them (default true).
   * false: each request's search a session of its own (a multistep's sub-questions still
   * together) — the same results; a baseline for measuring what batching saves.
   */
  batchSearches?: boolean;
  /**
   * HedraRAG's semantic reordering: a workflow's later searches scan first the lists that held its
   * earlier passages (the same passages either way, found in another order of slices). Default
   * false: in bench workflows' searches the rank order held more of the final top-k in its first
   * slice (0.66 against 0.33; docs/benchmarks.md); it pays where a later query ranks the earlier
   * results' lists low.
   */
  semanticReordering?: boolean;
  /**
   * Woven, by arrival: while the generator's holder searches, a waiting request's stage before its answer borrows it,
   * if expected (at the generator's measured speed) to end before the holder's searches usually do; recalled
   * sooner, it stops at its next step and is written again later (the same text). Answers are never lent. Default true.
   */
  lendGenerator?: boolean;
  /**
   * A latency line an earlier `profile()` on this device returned (an app may keep it, e.g. in
   * localStorage): periodic retrieval's `nprobe: 'auto'` and the slice sizes use it from the first
   * answer, with no profiling first — which times searches up to nprobe 64 and so reads that many
   * lists (over the network, for a remote index). It is corrected online as searches run.
   */
  performanceModel?: { intercept: number; slope: number };
  /** A system prompt for every answer (a call's `system` replaces it). */
  system?: string;
  /** How answers sample unless a call says otherwise (fields left out: the generator's defaults; the reference generator's is greedy). */
  sampling?: SamplingOptions;
  /**
   * How searches and answers retrieve unless a call says otherwise: 'hybrid' (default) fuses the
   * BM25 ranking of the chunks' words with the vector ranking, so names, codes and rare terms that
   * embeddings blur are found too; 'vector' and 'lexical' use one side.
   */
  mode?: SearchMode;
  /** How hybrid retrieval fuses the two rankings (default: adaptive weights, set per query by how much the rankings agree). */
  fusion?: FusionOptions;
}

/** createRag's options: where the index lives and the models, with the index's and the runtime's settings. */
export interface RagOptions extends IndexSettings, RuntimeSettings, GpuOrCpuOption {
  store: WeftStore;
  /** Name of the index in the store (created on the first ingest if it does not exist). */
  indexName: string;
  embedder: Embedder;
  /**
   * What writes the answers. Optional: without one (e.g. a browser without WebGPU, where no
   * generator runs) ingest and search work and generate() rejects with a WeftError that says why.
   */
  generator?: Generator;
  /**
   * The GPU the index runs on (share the generator's): a GpuContext, or a GPUDevice, which the
   * runtime wraps in one context for all its indexes and destroys at close() (never the device
   * itself). Without it the index creates its own device, or runs on the CPU where the browser
   * has no WebGPU. `'cpu'`: always on the CPU.
   */
  gpu?: GpuOrCpu;
  /**
   * The text of the last user turn, made of the passages and the user's question. Default
   * (`defaultPromptTemplate`): the numbered passages, an instruction to cite them like [1], then
   * the question.
   */
  promptTemplate?: PromptTemplate;
  /** Reorders the retrieved candidates before the top k go into the prompt (see GenerateOptions.rerank). */
  reranker?: Reranker;
}

// The filter types live with their compiler in the store layer (a stored index honours them in
// its GPU scan); re-exported here under the same public names.
export type { MetadataCondition, MetadataRange, MetadataValue, PassageFilter } from '../stored-index/passage-filter.js';

/** The last user turn's text, built from the passages in the context and the user's question. */
export type PromptTemplate = (passages: readonly Passage[], question: string) => string;

/** A retrieved passage: its citation number, chunk id, scores, document, text and metadata. */
export interface Passage {
  /** Citation number in the prompt, from 1. */
  citation: number;
  id: number;
  /**
   * The score the passage was ranked by: in 'vector' mode the vector search's (squared L2
   * distance, smaller is nearer; inner product or cosine similarity, larger is nearer), in
   * 'lexical' mode its BM25 score, in 'hybrid' mode the fused score, and the reranker's score when
   * the candidates were reranked (those three: larger is better). `scores` has each ranking's.
   */
  score: number;
  /** Each ranking's own score where the passage was in it. */
  scores: PassageScores;
  docId: string;
  text: string;
  metadata: Record<string, unknown>;
}

/** What each ranking gave a passage: the vector search's score, BM25, the fused score, the reranker's. */
export interface PassageScores {
  vector?: number;
  lexical?: number;
  fused?: number;
  rerank?: number;
}

/**
 * Progress of an ingest, per stage: documents read, chunks embedded, k-means iterations (index),
 * records written (persist).
 */
export type IngestProgress =
  | { status: 'read'; done: number; total: number }
  | { status: 'embed'; done: number; total: number }
  | { status: 'index'; done: number; total: number }
  | { status: 'persist'; done: number; total: number };

/** Reranking before the top k are kept. */
export interface RerankOptions {
  /** Passages retrieved and scored by the reranker (default 20, at least k). */
  candidates?: number;
}

/** A conversation: its turns in order, the last one the user's question. */
export interface Conversation {
  messages: readonly ChatMessage[];
}

/** What generate() answers: one question, or the last user turn of a conversation. */
export type GenerateInput = string | Conversation;

/** The follow-up rewrite: the generator turns the question and the recent turns into a standalone search query first. */
export interface RewriteOptions {
  /** Longest rewrite in tokens (it also ends at the first line break). Default 32. */
  maxTokens?: number;
  /** Replaces the instruction the rewrite prompt starts with. */
  instruction?: string;
}

/**
 * Options of Rag.generate: passages, nprobe, answer length, abort, system prompt, sampling, filter,
 * search mode, reranking, rewrite, periodic retrieval, speculation.
 */
export interface GenerateOptions {
  /** Passages in the prompt (default 3). */
  k?: number;
  /** Lists probed by the question's search (default min(nlist, 8)). */
  nprobe?: number;
  /** Longest answer in tokens (default 64). */
  maxTokens?: number;
  /** Aborting ends the answer: during retrieval or prefill it rejects with ABORTED; while decoding, `done` comes with finishReason 'abort'. */
  signal?: AbortSignal;
  /** A system prompt, first in the conversation (replaces the runtime's `system`; joined with a conversation's own leading system message). */
  system?: string;
  /** How this answer samples (fields left out: the runtime's `sampling`, then the generator's defaults). */
  sampling?: SamplingOptions;
  /** Only passages that pass this filter are retrieved (also by periodic retrieval). */
  filter?: PassageFilter;
  /** Vector, lexical (BM25) or hybrid retrieval (default: the runtime's mode, itself 'hybrid' by default); also periodic retrieval's. */
  mode?: SearchMode;
  /**
   * Retrieve `candidates` passages (default 20), score them with the runtime's reranker (a
   * cross-encoder, or a decoder with per-passage KV reuse) in sub-stages like search slices, and
   * put the top k in the prompt. true: the defaults. Needs RagOptions.reranker (INVALID_OPTION
   * otherwise). Speculation waits for the reranked list.
   */
  rerank?: boolean | RerankOptions;
  /**
   * A conversation's search query: the question plus up to `queryTurns` earlier messages, newest
   * first, as many as fit the embedder's maxLength (so truncation drops the oldest). Default 4;
   * 0 searches with the question alone.
   */
  queryTurns?: number;
  /**
   * A conversation's follow-up question is first rewritten by the generator into a standalone
   * query, which is what gets searched; while the rewrite decodes, the lists the plain query
   * (question plus recent turns) probes are prefetched (TeleRAG's lookahead). Default false: the
   * rewrite costs a prefill and up to `maxTokens` decode steps before retrieval, and only an
   * instruction-tuned model rewrites well. A single question (no earlier turns) is never rewritten.
   */
  rewrite?: boolean | RewriteOptions;
  /** Periodic retrieval during the answer (PipeRAG). */
  periodic?: PeriodicOptions;
  /**
   * Woven schedule: start prefill on the partial top-k after `afterSlices` search slices
   * (default 1) while the rest of the search runs (HedraRAG). If the final top-k differs, the
   * prefill is thrown away and redone; the answer is always the final top-k's.
   */
  speculate?: boolean | { afterSlices?: number };
  /**
   * The request's workflow: a built-in's name — 'one-shot' (default: retrieve, answer), 'hyde',
   * 'multistep', 'irg', 'recomp', 'flare', 'periodic' — or a graph of retrieve, generate, split and answer
   * nodes (docs/workflows.md). Its stages are scheduled with every other request's: generation
   * stages take turns on the generator, retrieval stages run as sub-stages in decode gaps. A graph
   * that could not run is refused with INVALID_WORKFLOW before anything runs.
   */
  workflow?: Workflow;
}

/** Options of Rag.search: k, nprobe, filter, search mode, reranking and abort. */
export interface RagSearchOptions {
  /** Passages to return (default 5). */
  k?: number;
  /** Lists probed (default min(nlist, 8)). */
  nprobe?: number;
  filter?: PassageFilter;
  /** Vector, lexical (BM25) or hybrid retrieval (default: the runtime's mode, itself 'hybrid' by default). */
  mode?: SearchMode;
  /** As in GenerateOptions: reorder `candidates` retrieved passages with the runtime's reranker and return the top k. */
  rerank?: boolean | RerankOptions;
  /** Aborting rejects the search with ABORTED. */
  signal?: AbortSignal;
}

/** Options of Rag.ingest: abort and progress. */
export interface IngestOptions {
  /** Aborting rejects with ABORTED; nothing of this call is stored. */
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
}

/** Options of the calls that take nothing but a signal (profile). */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Why an answer ended: the model ended it, maxTokens was reached, or its signal was aborted. */
export type FinishReason = 'stop' | 'length' | 'abort';

/** What a runtime holds. */
export interface RagInfo {
  indexName: string;
  /** Passages in the index (0 before the first ingest). */
  size: number;
  /** The index's lists, dimension and embedding model (undefined before the first ingest). */
  nlist: number | undefined;
  dim: number | undefined;
  modelId: string | undefined;
  /** The generator's model id ('' where it has none, e.g. the reference generator). */
  model: string;
  /**
   * The index's GPU list cache (undefined before the first ingest): its byte budget and use, the
   * lists resident, and since the index was opened, probed lists found cached (hits) or not
   * (misses) and the bytes streamed in for the misses. Hit rate: hits / (hits + misses).
   */
  cache: { budget: number; used: number; resident: number; hits: number; misses: number; streamedBytes: number } | undefined;
  /**
   * Where the index searches: 'gpu' (WebGPU) or 'cpu' (the CPU fallback, same results; its
   * cache holds decoded lists in JS memory). Before the first ingest: where it will.
   */
  backend: Backend;
  /** Whether generate() can answer: false without a generator (no WebGPU), where it rejects and search still works. */
  answers: boolean;
}

/**
 * One window of periodic retrieval: its nprobe, search time, how long decoding waited, whether the
 * context was refreshed.
 */
export interface PeriodicWindow {
  window: number;
  nprobe: number;
  searchMs: number;
  waitedMs: number;
  refreshed: boolean;
}

/** What FLARE did during an answer (`done.flare`): its threshold, the sentences written, the searches and the refreshes they caused. */
export interface FlareReport {
  threshold: number;
  sentences: number;
  retrievals: number;
  refreshes: number;
}

/** What periodic retrieval did during an answer (`done.periodic`): its settings, refreshes and each window. */
export interface PeriodicReport {
  interval: number;
  staleness: 0 | 1;
  pipelined: boolean;
  refreshes: number;
  /** Time spent re-prefilling the context with new passages, ms. */
  refreshMs: number;
  windows: PeriodicWindow[];
}

/**
 * What Rag.generate streams: 'retrieval' (the passages), 'token' (text), 'stage' (live trace stages),
 * 'trace' (every stage) and 'done' (the answer, citations, passages, finish reason, timings).
 */
export type RagEvent =
  /** The passages the answer starts from, and the query that found them (a rewritten or conversational query where there was one). */
  | { type: 'retrieval'; passages: Passage[]; query: string }
  | { type: 'token'; text: string }
  /**
   * A workflow stage before the answer has finished: what a generate node wrote (`text`), a
   * split's items, a retrieve node's queries and passages. The answer's own passages come in
   * 'retrieval'.
   */
  | { type: 'node'; node: string; kind: 'retrieve' | 'generate' | 'split'; text?: string; items?: string[]; queries?: string[]; passages?: Passage[] }
  /**
   * A stage of this answer that has just finished, live, so that a timeline can be drawn as the
   * answer streams. Stages recorded before the first event (embed, prefetch, search slices, a
   * speculative prefill, profile) come right after the 'retrieval' event; from then on each comes
   * at the answer's next yield point, within a decode step of its end (a step's stage while the
   * next step runs on the GPU). Stages of background sub-stages (this question's search slices in
   * another answer's gaps) may come later than ones that ended after them: order them by `at`.
   */
  | { type: 'stage'; stage: TraceStage }
  /** Every stage of the answer (the 'stage' events' stages, 'step' ones included), in the order they ended, before 'done'. */
  | { type: 'trace'; stages: TraceStage[] }
  | {
      type: 'done';
      answer: string;
      citations: number[];
      finishReason: FinishReason;
      /** Every passage that was in the context, by citation number (periodic retrieval adds some). */
      passages: Passage[];
      timings: { totalMs: number; firstTokenMs: number };
      tokens: { prompt: number; generated: number };
      periodic?: PeriodicReport;
      flare?: FlareReport;
    };
