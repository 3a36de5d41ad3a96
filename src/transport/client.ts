// The RAG runtime as web apps use it: everything heavy (embedder, generator, index, GPU work)
// in the engine worker, and on the main thread a handle with the same interface as createRag's
// runtime (Rag): the same methods and options, so code moves between the two unchanged. A call's
// AbortSignal reaches the worker as abort(call) on the call's number.

import { WeftError, checkAborted } from '../errors.js';
import { engineInternals, startEngineWorker, type EngineHandle, type EngineWorkerOptions } from './engine.js';
import type { LoadProgress } from '../util/progress.js';
import type { RagWorkerOptions } from './engine-api.js';
import { engineKey } from './engine-key.js';
import { createChatCompletions } from '../runtime/completions.js';
import { checkRuntimeOptions } from '../runtime/option-checks.js';

import type { GenerateInput, GenerateOptions, RagEvent } from '../runtime/types.js';
import type { Rag } from '../runtime/rag-api.js';

/** The runtime in the engine worker: a Rag, plus the worker's handle (whose `api.info()` also says who shares the engine). */
export type RagClient = Rag & { readonly engine: EngineHandle };

/** How createRagInWorker starts: the engine to use, its start timeout, model load progress and abort. */
export interface RagWorkerInit extends Omit<EngineWorkerOptions, 'shared'> {
  /**
   * 'shared' (default): one engine for every tab of the app that opens the runtime with the same
   * options — the first tab's call starts it in a SharedWorker and loads the models, the others
   * join it (no second load, one copy in GPU memory), and their requests share its scheduler;
   * it lives while any of those tabs does. 'tab': an engine of this tab's own (a dedicated
   * worker), as before. Where SharedWorker or Web Locks are missing (e.g. Chrome on Android), and
   * with `worker`, every tab has its own.
   */
  engine?: 'shared' | 'tab';
  /** Download and load progress of the embedder and the generator. */
  onProgress?: (p: LoadProgress) => void;
  /** Aborting while the models load stops the worker and rejects with ABORTED. */
  signal?: AbortSignal;
}

/**
 * Starts the engine worker (or joins the app's shared one, see `engine`) and loads the embedder
 * and generator there (downloads reported to `onProgress`). Aborting `signal` while it loads
 * stops the worker, which releases everything loaded so far, and rejects with ABORTED; nothing
 * stored is touched. If the engine goes by itself (its worker crashed, or the tab that hosted
 * the shared engine did), the calls in flight fail with WORKER_FAILED and the next call starts
 * it again, loading the models anew — with model URLs; model bytes passed as ArrayBuffers moved
 * into the first engine, and then the runtime must be created again.
 */
export async function createRagInWorker(options: RagWorkerOptions, init: RagWorkerInit = {}): Promise<RagClient> {
  const { signal, onProgress, engine: kind = 'shared', ...workerOptions } = init;
  checkRuntimeOptions(options); // before a worker starts or a model downloads
  if (kind !== 'shared' && kind !== 'tab') throw new WeftError('INVALID_OPTION', `engine must be 'shared' or 'tab', not ${JSON.stringify(kind)}.`);
  const aborted = () => new WeftError('ABORTED', 'Loading the RAG runtime was aborted.');
  if (signal?.aborted) throw aborted();
  // Tabs that open the runtime with the same options meet in the SharedWorker named after them.
  const sharing = kind === 'shared' && !workerOptions.worker && typeof SharedWorker === 'function' && Boolean(navigator.locks);
  // The key is hashed once, here, and handed to the engine with the options (model bytes can be
  // large). An engine of this tab's own has no one to share with: a key of its own spares the
  // hash; an app's own worker (which the app may hand to several runtimes) hashes in the engine.
  const key = sharing ? await engineKey(options) : workerOptions.worker ? undefined : `tab:${crypto.randomUUID()}`;
  const shared = sharing ? `weft-engine:${key}` : undefined;
  if (signal?.aborted) throw aborted();
  const modelBytes = [options.embedder.model, 'reference' in options.generator ? options.generator.reference.model : undefined].filter(
    (b): b is ArrayBuffer => b instanceof ArrayBuffer,
  );
  /** Starts the engine (or joins the app's) and opens the runtime in it; the first time with the caller's signal and progress. */
  const connect = async (first: boolean): Promise<EngineHandle> => {
    if (!first && modelBytes.some((b) => b.byteLength === 0)) {
      throw new WeftError(
        'WORKER_FAILED',
        'The engine worker stopped, and this runtime was opened with model bytes that moved into it: create the runtime again (with model URLs it restarts by itself).',
      );
    }
    const engine = startEngineWorker({ ...workerOptions, ...(shared ? { shared } : {}) });
    let onAbort: (() => void) | undefined;
    try {
      // The model bytes move into the worker (not copied) the first time.
      const opened = engine.api.openRag(
        first ? engine.transfer(options, modelBytes) : options,
        first && onProgress ? engine.callback(onProgress) : undefined,
        key,
      );
      opened.catch(() => undefined); // when the abort wins, the worker is gone and its answer does not matter
      const abort = new Promise<never>((_, reject) => {
        onAbort = () => reject(aborted());
        if (first) signal?.addEventListener('abort', onAbort, { once: true });
      });
      await Promise.race([opened, abort]);
      return engine;
    } catch (e) {
      engine.terminate();
      throw e;
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  };
  let engine = await connect(true);
  // An engine that went by itself (its worker crashed; a shared engine's tab that hosted it
  // crashed) is started again by the next call: the calls in flight failed with WORKER_FAILED,
  // the next ones run on the new engine, which loads the models again (from the browser's cache)
  // or joins the one another tab has started meanwhile.
  let restarting: Promise<EngineHandle> | undefined;
  let closed = false;
  /** The engine to call: the running one at once (so a call's abort listener goes on before any await), or the restarted one. */
  const live = (): EngineHandle | Promise<EngineHandle> => {
    // An app's own worker cannot be started again by Weft: its calls keep failing with WORKER_FAILED.
    if (closed || !engine.lost || workerOptions.worker) return engine;
    restarting ??= connect(false).then(
      (e) => {
        engine = e;
        restarting = undefined;
        return e;
      },
      (e: unknown) => {
        restarting = undefined;
        throw e;
      },
    );
    return restarting;
  };

  let calls = 0;
  /** Runs `run` as a numbered call on the live engine, whose signal, when it fires, aborts the call in the worker. */
  const numbered = async <T>(signal: AbortSignal | undefined, what: string, run: (e: EngineHandle, call: number) => Promise<T>): Promise<T> => {
    checkAborted(signal, what);
    const running = live();
    let e = running instanceof Promise ? undefined : running;
    const call = ++calls;
    const onAbort = () => {
      if (e) void e.api.abort(call);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      e ??= await running;
      checkAborted(signal, what); // aborted while the engine restarted
      return await run(e, call);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  };

  async function* generate(input: GenerateInput, o: GenerateOptions = {}): AsyncGenerator<RagEvent> {
    const { signal, ...rest } = o;
    const e = await live();
    const call = ++calls;
    const onAbort = () => {
      void e.api.abort(call);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let over = false;
    try {
      await e.api.startGenerate(input, rest, call);
      if (signal?.aborted) onAbort(); // aborted before the worker knew the call
      for (let ev = await e.api.nextEvent(call); ev !== undefined; ev = await e.api.nextEvent(call)) yield ev;
      over = true;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // The caller stopped reading (or an event failed): the worker's answer must not keep the generator.
      if (!over) await e.api.endGenerate(call).catch(() => undefined);
    }
  }

  const info = async () => (await live()).api.info();
  return {
    /** The engine's handle: after a restart, the new engine's. */
    get engine() {
      return engine;
    },
    // Files and Blobs go to the worker as they are (structured clone shares their bytes): it reads
    // and parses every type itself (HTML without DOMParser, PDF with pdf.js in the worker).
    ingest: (documents, o = {}) =>
      numbered(o.signal, 'Ingest', (e, call) => e.api.ingest([...documents], o.onProgress ? e.callback(o.onProgress) : undefined, call)),
    search: (query, o = {}) => {
      const { signal, ...rest } = o;
      return numbered(signal, 'The search', (e, call) => e.api.search(query, rest, call));
    },
    generate,
    chat: { completions: createChatCompletions(generate, async () => (await info()).model) },
    profile: (o = {}) => numbered(o.signal, 'Profiling', (e, call) => e.api.profile(call)),
    info,
    async close() {
      closed = true;
      await restarting?.catch(() => undefined);
      try {
        await engineInternals(engine).unload();
      } finally {
        engine.terminate();
      }
    },
  };
}
