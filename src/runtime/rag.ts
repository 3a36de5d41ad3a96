// The RAG runtime's public object: a named index in IndexedDB, an embedder and a generator.
// ingest() turns documents into chunks, embeddings and IVF lists; search() returns passages;
// generate() streams events (retrieval, tokens, traces, done) for an answer to a question or a
// conversation, grounded in the retrieved passages, with citations; chat.completions is the same
// in OpenAI's shape. This file only wires the parts together: retrieval.ts (search as
// sub-stages, the performance model), answer.ts (one answer's steps), conversation.ts and
// rewrite.ts (follow-up questions), periodic.ts (PipeRAG), speculation.ts (HedraRAG),
// answer-context.ts (the context and its citation numbers), option-checks.ts, completions.ts,
// ingest.ts, and the gap scheduler that runs retrieval between decode steps in the 'woven'
// schedule. Without WebGPU the index runs on the CPU backend and there is no generator: ingest
// and search work, generate() says why it cannot.

import { abortable } from '../util/abortable.js';
import { WeftError, checkAborted } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { contextFrom, type Backend, type GpuOrCpu } from '../gpu/option.js';
import type { Generator } from '../generate/types.js';
import { openStoredIndex, type StoredIndex } from '../stored-index/stored-index.js';
import { createGapScheduler } from '../schedule/gaps.js';
import { createSlots } from '../schedule/slots.js';
import { createSerialQueue } from '../util/serial-queue.js';
import { createAnswerer } from './answer.js';
import { defaultPromptTemplate } from './answer-context.js';
import { createChatCompletions } from './completions.js';
import { compileFilter } from './filter.js';
import { checkFusion, checkMode } from './fusion.js';
import { ingestDocuments } from './ingest.js';
import { checkRuntimeOptions, searchNumbers } from './option-checks.js';
import { checkPerformanceModel, createRetrieval, retrievalPlanFor, type RetrievalDefaults } from './retrieval.js';
import type { RagOptions } from './types.js';
import type { LocalRag } from './rag-api.js';

/** The named index if the store has it; UNKNOWN_INDEX if it must exist and does not. */
async function openExisting(options: RagOptions): Promise<StoredIndex | undefined> {
  const { store, indexName: name } = options;
  const exists = (await store.listIndexes()).some((m) => m.name === name);
  if (!exists && options.create === false) {
    throw new WeftError('UNKNOWN_INDEX', `There is no index named '${name}' in this site's storage; ingest documents into it first (create: true).`, {
      details: { name },
    });
  }
  if (!exists) return undefined;
  return openStoredIndex({
    ...(options.gpu ? { gpu: options.gpu } : {}),
    store,
    name,
    ...(options.cacheBytes !== undefined ? { cacheBytes: options.cacheBytes } : {}),
  });
}

/**
 * The context the runtime makes, and owns, for a given GPUDevice: the device is wrapped once, here,
 * so that the index it opens and the one a first ingest creates share one context (its pipelines,
 * its buffer count, its device-loss errors), which close() destroys; the device itself stays the
 * caller's (a context never destroys a device it was given). A context, `'cpu'` or nothing give
 * none: they go to the indexes as they are (nothing: each index creates and owns its device, or
 * falls back to the CPU, as a stored index does).
 */
async function ownedContext(gpu: GpuOrCpu | undefined): Promise<GpuContext | undefined> {
  if (gpu === undefined || gpu === 'cpu') return undefined;
  const { ctx, owns } = await contextFrom(gpu);
  return owns ? ctx : undefined;
}

/** Where a new index would run: the given GPU, the CPU if asked, else whether the browser offers a WebGPU adapter. */
async function plannedBackend(gpu: GpuOrCpu | undefined): Promise<Backend> {
  if (gpu) return gpu === 'cpu' ? 'cpu' : 'gpu';
  const adapter = await (globalThis.navigator as Navigator | undefined)?.gpu?.requestAdapter().catch(() => null);
  return adapter ? 'gpu' : 'cpu';
}

/** Why a runtime without a generator cannot answer. */
function noGeneratorError(backend: Backend): WeftError {
  return backend === 'cpu'
    ? new WeftError(
        'WEBGPU_UNAVAILABLE',
        'Answers need WebGPU, which this browser does not offer (or has no adapter for): ingest and search work on the CPU, but generating an answer does not. Use a browser with WebGPU (Chrome/Edge 113+) to answer questions.',
      )
    : new WeftError(
        'INVALID_OPTION',
        'This runtime was created without a generator: ingest and search work, but answers need one. Pass `generator` to createRag.',
      );
}

/** Stands in for a missing generator: generate() checks first, so none of these is reached; any use throws why. */
function missingGenerator(error: WeftError): Generator {
  const fail = (): never => {
    throw error;
  };
  return {
    contextLength: 0,
    position: 0,
    prefill: async () => fail(),
    step: async () => fail(),
    interrupt: async () => undefined,
    reset: () => undefined,
    countTokens: fail,
    formatChat: fail,
    setSampling: () => undefined,
    timings: () => ({ prefillTokensPerSecond: 0, decodeMsMedian: 0, decodeMsP99: 0, steps: 0 }),
    destroy: () => undefined,
  };
}

/** The generator's model id where it has one ('' for the reference generator). */
const modelOf = (generator: Generator): string => {
  const id = (generator as { modelId?: unknown }).modelId;
  return typeof id === 'string' ? id : '';
};

/**
 * Opens the RAG runtime on this thread over a named index in a store (created on the first ingest),
 * with an embedder and, to answer, a generator: ingest, search, generate, chat.completions, profile,
 * info, close. Without WebGPU the index runs on the CPU and generate() says why it cannot answer.
 */
export async function createRag(options: RagOptions): Promise<LocalRag> {
  const { store, embedder, indexName } = options;
  checkRuntimeOptions(options);
  if (options.performanceModel !== undefined) checkPerformanceModel(options.performanceModel);
  const defaults: RetrievalDefaults = { mode: checkMode(options.mode, 'hybrid'), fusion: options.fusion, reranker: options.reranker };
  if (options.fusion) checkFusion(options.fusion);
  // The options every index of the runtime is opened or created with: createRag's own, with a
  // given GPUDevice replaced by the one context wrapping it.
  const owned = await ownedContext(options.gpu);
  const indexOptions: RagOptions = owned ? { ...options, gpu: owned } : options;
  let index: StoredIndex | undefined;
  let planned: Backend;
  try {
    index = await openExisting(indexOptions);
    planned = index?.backend ?? (await plannedBackend(indexOptions.gpu));
  } catch (e) {
    owned?.destroy();
    throw e;
  }
  const unanswerable = options.generator ? undefined : noGeneratorError(planned);
  const generator = options.generator ?? missingGenerator(unanswerable!);
  // Ingest, search and profiling take turns; answers interleave with them through the gaps.
  const serial = createSerialQueue();
  const maxSlowdown = options.maxSlowdown ?? 0.1;
  // WebLLM decodes on a device of its own (it cannot share one): then the gaps wait for the
  // index's device to be idle before handing back, so background GPU work never runs under the
  // next decode step (see GapSchedulerOptions.settle).
  const settle = async () => {
    const device = index?.gpu?.device;
    if (device && generator.gpuDevice !== device) await device.queue.onSubmittedWorkDone();
  };
  const gaps = createGapScheduler({ maxSlowdown, settle });
  const woven = (options.schedule ?? 'woven') === 'woven';
  const retrieval = createRetrieval({
    indexName,
    embedder,
    index: () => index,
    gaps,
    maxSlowdown,
    performanceModel: options.performanceModel,
    batchSearches: options.batchSearches ?? true,
  });
  const profile = (signal?: AbortSignal) => serial.run(() => retrieval.profile(signal));
  const answer = createAnswerer({
    generator,
    template: options.promptTemplate ?? defaultPromptTemplate,
    retrieval,
    serial,
    profile,
    gaps,
    settle,
    woven,
    maxSlowdown,
    lookahead: options.lookahead ?? 2,
    generatorOrder: options.generatorOrder ?? 'arrival',
    semanticReordering: options.semanticReordering ?? false,
    lendGenerator: options.lendGenerator ?? true,
    system: options.system,
    sampling: options.sampling ?? {},
    ...defaults,
  });
  // The sequential baseline handles one request at a time, retrieval and answer together.
  const requests = createSlots(1);

  // close() stops the searches and answers in flight (one waiting on a stalled host included), so
  // that it never waits on them; ingests are let finish (nothing half-written).
  const closing = new AbortController();
  const untilClosed = (signal: AbortSignal | undefined) => (signal ? AbortSignal.any([signal, closing.signal]) : closing.signal);

  /**
   * An index that another tab (or another engine on this database) created after this runtime
   * opened: adopted by the next search or answer. It runs in turn with ingests (serial), the only
   * other thing that sets `index`, so never beside the one this runtime's own first ingest creates.
   */
  const adoptCreated = async () => {
    if (index || closing.signal.aborted) return;
    index = await openExisting({ ...indexOptions, create: true });
  };

  async function* generate(...[input, opts = {}]: Parameters<LocalRag['generate']>) {
    if (unanswerable) throw unanswerable;
    if (!index) await serial.run(adoptCreated);
    const release = woven ? () => undefined : await requests.acquire();
    try {
      yield* answer(input, { ...opts, signal: untilClosed(opts.signal) });
    } finally {
      release();
    }
  }

  return {
    get index() {
      return index;
    },

    async ingest(documents, opts = {}) {
      checkAborted(opts.signal, 'Ingest');
      return serial.run(() =>
        ingestDocuments(
          {
            store,
            indexName,
            embedder,
            index,
            onCreated: (created) => {
              index = created;
            },
            // What a new index is made with: the options themselves (IndexSettings and gpu, a device wrapped once).
            create: indexOptions,
          },
          documents,
          opts,
        ),
      );
    },

    async search(query, opts = {}) {
      const filter = compileFilter(opts.filter);
      checkAborted(opts.signal, 'The search');
      const { k, nprobe } = searchNumbers(opts);
      const ranking = retrievalPlanFor(opts, defaults, k);
      // Waiting behind another call ends too when the signal aborts.
      const signal = untilClosed(opts.signal);
      return abortable(
        serial.run(async () => {
          await adoptCreated();
          return retrieval.search(query, k, {
            ...ranking,
            ...(nprobe !== undefined ? { nprobe } : {}),
            ...(filter ? { filter } : {}),
            signal,
          });
        }),
        signal,
        'The search',
      );
    },

    generate,

    chat: { completions: createChatCompletions(generate, async () => modelOf(generator)) },

    async profile(opts = {}) {
      checkAborted(opts.signal, 'Profiling');
      const line = await profile(opts.signal);
      return { intercept: line.intercept, slope: line.slope };
    },

    async info() {
      const c = index?.cacheStats();
      const cache = c && { budget: c.budget, used: c.used, resident: c.resident, hits: c.hits, misses: c.misses, streamedBytes: c.streamedBytes };
      return {
        indexName,
        size: index?.size ?? 0,
        nlist: index?.nlist,
        dim: index?.dim,
        modelId: index?.manifest.modelId,
        model: modelOf(generator),
        cache,
        backend: index?.backend ?? planned,
        answers: !unanswerable,
      };
    },

    async close() {
      closing.abort();
      await serial.settled();
      await index?.close();
      index = undefined;
      owned?.destroy();
    },
  };
}
