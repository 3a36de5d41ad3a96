// The RAG runtime as web apps use it: everything heavy (embedder, generator, index, GPU work)
// in the engine worker, a small typed handle on the main thread.

import { WeftError } from '../errors.js';
import { startEngineWorker, type EngineHandle } from './engine.js';
import type { LoadProgress } from '../util/progress.js';
import type { DocumentInput } from '../ingest/documents.js';
import type { RagWorkerOptions } from './engine-api.js';
import type { GenerateOptions, IngestProgress, Passage, RagEvent } from './types.js';

export interface RagClient {
  readonly engine: EngineHandle;
  ingest(documents: (DocumentInput | Blob)[], options?: { onProgress?: (p: IngestProgress) => void }): Promise<{ documents: number; chunks: number }>;
  search(query: string, options?: { k?: number; nprobe?: number; filter?: Record<string, unknown> }): Promise<Passage[]>;
  generate(question: string, options?: GenerateOptions): AsyncGenerator<RagEvent>;
  /** Releases everything the runtime created: index, sessions, embedder, generator, the worker. */
  close(): Promise<void>;
}

/**
 * Starts the engine worker and loads the embedder and generator there (downloads reported to
 * `onProgress`). Aborting `signal` while it loads stops the worker, which releases everything
 * loaded so far, and rejects with ABORTED; nothing stored is touched.
 */
export async function createRagInWorker(options: RagWorkerOptions, init: { onProgress?: (p: LoadProgress) => void; signal?: AbortSignal } = {}): Promise<RagClient> {
  const { signal } = init;
  const aborted = () => new WeftError('ABORTED', 'Loading the RAG runtime was aborted.');
  if (signal?.aborted) throw aborted();
  const engine = startEngineWorker();
  let onAbort: (() => void) | undefined;
  try {
    const transfers = [options.embedder.model, 'reference' in options.generator ? options.generator.reference.model : undefined]
      .filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    const opened = engine.api.openRag(engine.transfer(options, transfers), init.onProgress ? engine.callback(init.onProgress) : undefined);
    opened.catch(() => undefined); // when the abort wins, the worker is gone and its answer does not matter
    const abort = new Promise<never>((_, reject) => {
      onAbort = () => reject(aborted());
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    await Promise.race([opened, abort]);
  } catch (e) {
    engine.terminate();
    throw e;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
  return {
    engine,
    ingest: (documents, o = {}) => engine.api.ingest(documents, o.onProgress ? engine.callback(o.onProgress) : undefined),
    search: (query, o) => engine.api.search(query, o),
    async *generate(question, o = {}) {
      const { signal, ...rest } = o;
      const id = await engine.api.startGenerate(question, rest);
      const onAbort = () => { void engine.api.abortGenerate(id); };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for (let e = await engine.api.nextEvent(id); e !== undefined; e = await engine.api.nextEvent(id)) yield e;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    async close() {
      try { await engine.api.unload(); } finally { engine.terminate(); }
    },
  };
}
