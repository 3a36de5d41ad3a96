// The runtime's interface: what createRag returns on the main thread and createRagInWorker in
// the engine worker, in one place (its option and event types are in types.ts; the OpenAI-shaped
// chat completions in completions.ts).

import type { DocumentInput } from '../ingest/documents.js';
import type { StoredIndex } from '../stored-index/stored-index.js';
import type { ChatCompletions } from './completions.js';
import type { CallOptions, GenerateInput, GenerateOptions, IngestOptions, Passage, RagEvent, RagInfo, RagSearchOptions } from './types.js';

/**
 * The RAG runtime, the same on the main thread (createRag) and in the engine worker
 * (createRagInWorker): the same methods with the same options, so code moves between them
 * unchanged. Every long call takes a `signal`.
 */
export interface Rag {
  ingest(documents: readonly (DocumentInput | Blob)[], options?: IngestOptions): Promise<{ documents: number; chunks: number }>;
  search(query: string, options?: RagSearchOptions): Promise<Passage[]>;
  /** Streams an answer to a question, or to the last user turn of a conversation, grounded in retrieved passages. */
  generate(input: GenerateInput, options?: GenerateOptions): AsyncGenerator<RagEvent>;
  /** The same answers in OpenAI's chat-completions shape (as WebLLM's engine.chat.completions). */
  readonly chat: { readonly completions: ChatCompletions };
  /**
   * Times searches at several nprobe on this device and fits the performance model's
   * latency line (done on first need otherwise); later searches correct it online.
   */
  profile(options?: CallOptions): Promise<{ intercept: number; slope: number }>;
  info(): Promise<RagInfo>;
  /** Waits for ingests and searches under way, then releases the index (the worker's runtime also releases its models and the worker). */
  close(): Promise<void>;
}

/** The main thread's runtime: a Rag with direct access to its stored index. */
export interface LocalRag extends Rag {
  /** The stored index (undefined until the first ingest creates it, and after close). */
  readonly index: StoredIndex | undefined;
}
