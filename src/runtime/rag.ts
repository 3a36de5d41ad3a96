// The RAG runtime's public object: a named index in IndexedDB, an embedder and a generator.
// ingest() turns documents into chunks, embeddings and IVF lists; search() returns passages;
// generate() streams events (retrieval, tokens, traces, done) for an answer grounded in the
// retrieved passages, with citations. Two schedules run through the same code: 'sequential'
// (embed, search everything, then generate) and 'woven' — retrieval sub-stages in the gaps
// between decode steps (HedraRAG), lookahead prefetch (TeleRAG), speculative prefill on a
// partial top-k (HedraRAG) and periodic retrieval sized by a performance model (PipeRAG).

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import type { Embedder } from '../embed/onnx-embedder.js';
import type { Generator } from '../generate/types.js';
import { NO_ID, type Metric, type StorageType } from '../ivf/types.js';
import { chunkDocument, readDocument, type DocumentInput } from '../ingest/documents.js';
import type { WeftStore } from '../store/idb-store.js';
import { createStoredIndex, openStoredIndex, type StoredIndex } from '../store/stored-index.js';
import { createGapScheduler } from '../schedule/gaps.js';
import { createLatencyLine, type LatencyLine } from '../schedule/perf-model.js';
import type { SearchResult } from '../ivf/types.js';

export interface RagOptions {
  store: WeftStore;
  /** Name of the index in the store (created on the first ingest if it does not exist). */
  index: string;
  /** false: the index must exist already (UNKNOWN_INDEX otherwise), e.g. an app that only reads. Default true. */
  create?: boolean;
  embedder: Embedder;
  generator: Generator;
  gpu?: GpuContext;
  /** For a new index. Defaults: cosine, f16, nlist from the corpus size. */
  metric?: Metric;
  storage?: StorageType;
  nlist?: number;
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
  promptTemplate?: (passages: readonly Passage[], question: string) => string;
}

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

export interface PeriodicReport {
  interval: number; staleness: 0 | 1; pipelined: boolean; refreshes: number;
  /** Time spent re-prefilling the context with new passages, ms. */
  refreshMs: number;
  windows: { window: number; nprobe: number; searchMs: number; waitedMs: number; refreshed: boolean }[];
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
  readonly index: StoredIndex | undefined;
  ingest(documents: readonly (DocumentInput | Blob)[], options?: { signal?: AbortSignal; onProgress?: (p: IngestProgress) => void }): Promise<{ documents: number; chunks: number }>;
  search(query: string, options?: { k?: number; nprobe?: number; filter?: (metadata: Record<string, unknown>, docId: string) => boolean }): Promise<Passage[]>;
  generate(question: string, options?: GenerateOptions): AsyncGenerator<RagEvent>;
  /**
   * Times searches at several nprobe on this device and fits the performance model's
   * latency line (done on first need otherwise); later searches correct it online.
   */
  profile(): Promise<{ intercept: number; slope: number }>;
  close(): Promise<void>;
}

export function defaultPromptTemplate(passages: readonly Passage[], question: string): string {
  const context = passages.map((p) => `[${p.citation}] ${p.text}`).join('\n');
  return `Passages:\n${context}\n\nAnswer the question using the passages above and cite them like [1].\nQuestion: ${question}\nAnswer:`;
}

export async function createRag(options: RagOptions): Promise<Rag> {
  const { store, embedder, generator } = options;
  const name = options.index;
  let index: StoredIndex | undefined;
  const exists = (await store.listIndexes()).some((m) => m.name === name);
  if (!exists && options.create === false) {
    throw new WeftError('UNKNOWN_INDEX', `There is no index named '${name}' in this site's storage; ingest documents into it first (create: true).`, { details: { name } });
  }
  if (exists) {
    index = await openStoredIndex({ ...(options.gpu ? { gpu: options.gpu } : {}), store, name, ...(options.cacheBytes ? { cacheBytes: options.cacheBytes } : {}) });
  }
  const template = options.promptTemplate ?? defaultPromptTemplate;
  let busy: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => { const r = busy.then(fn); busy = r.catch(() => undefined); return r; };
  /**
   * `n` slots taken in arrival order; the release a taker gets is safe to call more than once.
   * The generator holds one context (one slot): answers are decoded one request at a time while
   * the next request's retrieval proceeds; `lookahead` slots bound how many waiting questions
   * retrieve ahead; the sequential schedule takes one request at a time.
   */
  const slots = (n: number) => {
    let free = n;
    const queue: (() => void)[] = [];
    return {
      idle: () => free === n,
      async acquire(): Promise<() => void> {
        if (free > 0 && queue.length === 0) free--; else await new Promise<void>((r) => queue.push(r));
        let left = false;
        return () => { if (left) return; left = true; const next = queue.shift(); if (next) next(); else free++; };
      },
    };
  };
  const generatorLock = slots(1);
  const lookahead = slots(Math.max(1, options.lookahead ?? 2));
  const requestLock = slots(1);

  const checkDim = (dim: number) => {
    if (index && dim !== index.dim) {
      throw new WeftError('DIMENSION_MISMATCH', `The embedder gives ${dim}-dimensional vectors but index '${name}' holds ${index.dim}-dimensional ones. Use the embedder the index was built with (${index.manifest.modelId || 'recorded in its manifest'}).`, { details: { embedder: dim, index: index.dim } });
    }
  };

  const maxSlowdown = options.maxSlowdown ?? 0.1;
  const gaps = createGapScheduler({ maxSlowdown });
  const woven = (options.schedule ?? 'woven') === 'woven';

  const checkQuery = (query: string) => {
    if (typeof query !== 'string' || query.trim() === '') throw new WeftError('INVALID_INPUT', 'The question is empty; ask something.');
    if (!index || index.size === 0) throw new WeftError('EMPTY_INDEX', `Index '${name}' holds no passages yet; ingest() documents first.`);
    return index;
  };

  const passagesOf = async (idx: StoredIndex, r: SearchResult, k: number, filter?: (m: Record<string, unknown>, docId: string) => boolean): Promise<Passage[]> => {
    const ids = Array.from(r.ids).filter((id) => id !== NO_ID);
    const chunks = await idx.chunks(ids);
    const out: Passage[] = [];
    ids.forEach((id, i) => {
      const ch = chunks[i];
      if (!ch || out.length >= k) return;
      const metadata = ch.metadata ?? {};
      if (filter && !filter(metadata, ch.docId)) return;
      out.push({ citation: out.length + 1, id, score: r.distances[i]!, docId: ch.docId, text: ch.text, metadata });
    });
    return out;
  };

  const search = async (query: string, k: number, nprobe: number | undefined, filter?: (m: Record<string, unknown>, docId: string) => boolean): Promise<Passage[]> => {
    const idx = checkQuery(query);
    const q = await embedder.embed([query]);
    checkDim(q.length);
    // With a filter, fetch more candidates so that k survive it.
    const want = Math.min(idx.size, filter ? k * 4 : k);
    const r = await idx.search(q, { k: want, nprobe: nprobe ?? Math.min(idx.nlist, 8) });
    return passagesOf(idx, r, k, filter);
  };

  /** Fits passages into the generator's context, leaving room for the question and the answer. */
  const fit = (passages: readonly Passage[], question: string, maxTokens: number): Passage[] => {
    const room = generator.contextLength - maxTokens - generator.countTokens(template([], question)) - 4;
    const fitted: Passage[] = [];
    let used = 0;
    for (const p of passages) {
      const cost = generator.countTokens(`[${p.citation}] ${p.text}\n`);
      if (used + cost <= room) { fitted.push(p); used += cost; continue; }
      const keep = Math.max(0, Math.floor(p.text.length * (room - used) / cost) - 8);
      if (keep > 20) { fitted.push({ ...p, text: p.text.slice(0, keep) }); used = room; }
      break;
    }
    return fitted;
  };

  // The performance model: search latency against nprobe on this device (PipeRAG), and the
  // running cost of embedding one query.
  const line = createLatencyLine();
  let profiled = false;
  let embedMs = 0;
  const noteEmbed = (ms: number) => { embedMs = embedMs === 0 ? ms : 0.8 * embedMs + 0.2 * ms; };
  const profile = async (): Promise<LatencyLine> => {
    const idx = checkQuery('profile');
    const e0 = performance.now();
    const q = await embedder.embed(['How does the search scale with the lists it probes?']);
    noteEmbed(performance.now() - e0);
    checkDim(q.length);
    const probes = [1, 2, 4, 8, 16, 32, 64].filter((p) => p <= idx.nlist);
    for (let rep = 0; rep < 2; rep++) { // the first round compiles kernels and warms the cache
      for (const nprobe of probes) {
        const t = performance.now();
        const session = await idx.searchSession(q, { k: Math.min(idx.size, 4), nprobe });
        await session.step();
        await session.read();
        if (rep === 1) line.observe(nprobe, performance.now() - t);
      }
    }
    profiled = true;
    return line;
  };

  type Runner = <T>(work: () => Promise<T>) => Promise<T>;
  const direct: Runner = (work) => work();
  interface RetrieveOptions {
    k: number; nprobe: number; t0: number; stages: TraceStage[];
    /** How each GPU sub-stage gets its turn: in decode gaps (gaps.run) or at once. */
    run: Runner;
    /** Start the lookahead prefetch of the probed lists (TeleRAG). */
    prefetch: boolean;
    /** Probe ranks per search slice. */
    listsPerSlice: number;
    /** After this many slices, hand the partial top-k to onPartial (speculation). */
    afterSlices?: number;
    onPartial?: (partial: Passage[]) => Promise<void>;
    window?: number;
    /** Set by the caller to stop between slices (the answer ended). */
    cancelled?: () => boolean;
  }
  /** Retrieval as sub-stages: embed, open the session, then cluster-sized slices; `busyMs` is their time. */
  const retrieve = async (query: string, o: RetrieveOptions): Promise<{ passages: Passage[]; busyMs: number }> => {
    const idx = checkQuery(query);
    const { t0, stages } = o;
    let busy = 0;
    const timed: Runner = (work) => o.run(async () => { const s = performance.now(); try { return await work(); } finally { busy += performance.now() - s; } });
    let s0 = performance.now();
    const q = await o.run(async () => { const e = performance.now(); const v = await embedder.embed([query]); noteEmbed(performance.now() - e); return v; });
    checkDim(q.length);
    stages.push({ kind: 'embed', start: s0 - t0, end: performance.now() - t0, ...(o.window ? { window: o.window } : {}) });
    let arrived: Promise<unknown> = Promise.resolve();
    if (o.prefetch) {
      const p0 = performance.now();
      const prefetch = idx.prefetch(q, { nprobe: o.nprobe });
      arrived = prefetch.done.then((r) => { stages.push({ kind: 'prefetch', start: p0 - t0, end: performance.now() - t0, clusters: r.arrived.length, bytes: r.bytes }); }, () => undefined);
    }
    const session = await timed(() => idx.searchSession(q, { k: Math.min(idx.size, o.k), nprobe: o.nprobe }));
    // Reading the lists is I/O, not GPU work: it happens outside the gaps (while the answer in
    // progress decodes), so that a slice in a gap finds its lists cached and only scans.
    await arrived;
    try {
      let slices = 0;
      while (!session.done) {
        if (o.cancelled?.()) return { passages: [], busyMs: busy };
        s0 = performance.now();
        const r = await timed(() => session.step(o.listsPerSlice));
        stages.push({ kind: 'search', start: s0 - t0, end: performance.now() - t0, clusters: r.lists, bytes: r.streamedBytes, nprobe: o.nprobe, ...(o.window ? { window: o.window } : {}) });
        if (++slices === o.afterSlices && !session.done && o.onPartial) await o.onPartial(await passagesOf(idx, await session.read(), o.k));
      }
      return { passages: await passagesOf(idx, await session.read(), o.k), busyMs: busy };
    } finally {
      session.destroy();
    }
  };

  /** Probe ranks per slice so that one slice fits one gap's budget (at least one). */
  const sliceLists = (nprobe: number) => {
    if (line.samples === 0 || line.slope <= 0 || gaps.stepMs === 0) return 1;
    return Math.max(1, Math.min(nprobe, Math.floor((maxSlowdown * gaps.stepMs) / line.slope)));
  };

  let arrivals = 0;

  async function* answer(question: string, opts: GenerateOptions): AsyncGenerator<RagEvent> {
    const t0 = performance.now();
    const stages: TraceStage[] = [];
    // Gaps serve the oldest question's sub-stages first.
    const arrival = arrivals++;
    const oldestFirst: Runner = (work) => gaps.run(work, arrival);
    const k = opts.k ?? 3;
    const maxTokens = opts.maxTokens ?? 64;
    const per = opts.periodic;
    if (per !== undefined && (!Number.isInteger(per.interval) || per.interval < 1)) {
      throw new WeftError('INVALID_OPTION', `periodic.interval must be a whole number of tokens ≥ 1; got ${String(per.interval)}.`);
    }
    const speculateAfter = woven && opts.speculate ? (typeof opts.speculate === 'object' ? opts.speculate.afterSlices ?? 1 : 1) : 0;
    const idx0 = checkQuery(question);
    const nprobe = opts.nprobe ?? Math.min(idx0.nlist, 8);
    if (per && (per.nprobe ?? 'auto') === 'auto' && !profiled) {
      const s0 = performance.now();
      await serial(profile);
      stages.push({ kind: 'profile', start: s0 - t0, end: performance.now() - t0 });
    }
    let release: (() => void) | undefined;
    let speculative: { prompt: string; prefill: Promise<void> } | undefined;
    let decoding = false;
    let pending: Promise<{ passages: Passage[]; busyMs: number; nprobe: number; window: number }> | undefined;
    let finished = false;
    let leaveLookahead = () => {};
    // This answer's periodic searches have a budget of their own (PeriodicOptions.maxSlowdown).
    const own = createGapScheduler({ maxSlowdown: per?.maxSlowdown ?? maxSlowdown });
    own.decoding(true);
    /**
     * Ends this answer's decoding (idempotent): the gaps stop waiting for it, and the queued
     * sub-stages of its periodic search run, see `finished` and stop.
     */
    const stopDecoding = async () => {
      finished = true;
      if (decoding) { gaps.decoding(false); decoding = false; }
      own.decoding(false);
      if (pending) await pending.catch(() => undefined);
    };
    try {
      // Speculation (HedraRAG): after the first slices, prefill on the partial top-k while the
      // remaining slices run; the answer is always decoded from the final top-k's prompt.
      const onPartial = async (partial: Passage[]) => {
        if (!generatorLock.idle()) return; // another answer holds the generator: nothing to overlap with
        release = await generatorLock.acquire();
        leaveLookahead();
        const prompt = template(fit(partial, question, maxTokens), question);
        generator.reset();
        const s0 = performance.now();
        const prefill = generator.prefill(prompt, opts.signal ? { signal: opts.signal } : {})
          .then(() => { stages.push({ kind: 'speculate', start: s0 - t0, end: performance.now() - t0 }); });
        prefill.catch(() => undefined);
        speculative = { prompt, prefill };
      };
      if (woven) leaveLookahead = await lookahead.acquire();
      const passages = woven
        ? (await retrieve(question, {
          k, nprobe, t0, stages, run: oldestFirst, prefetch: true, listsPerSlice: sliceLists(nprobe),
          ...(speculateAfter ? { afterSlices: speculateAfter, onPartial } : {}),
        })).passages
        : await serial(async () => {
          const s0 = performance.now();
          const p = await search(question, k, nprobe);
          stages.push({ kind: 'search', start: s0 - t0, end: performance.now() - t0, nprobe });
          return p;
        });
      yield { type: 'retrieval', passages };
      let fitted = fit(passages, question, maxTokens);
      const prompt = template(fitted, question);
      release ??= await generatorLock.acquire();
      leaveLookahead(); // the next waiting question may retrieve now
      let reuse = false;
      if (speculative) {
        const ok = await speculative.prefill.then(() => true, (e: unknown) => {
          if (e instanceof WeftError && e.code === 'ABORTED') throw e;
          return false;
        });
        reuse = ok && speculative.prompt === prompt;
        if (!reuse) stages.push({ kind: 'restart', start: performance.now() - t0, end: performance.now() - t0 });
      }
      if (!reuse) {
        generator.reset();
        const p0 = performance.now();
        await generator.prefill(prompt, opts.signal ? { signal: opts.signal } : {});
        stages.push({ kind: 'prefill', start: p0 - t0, end: performance.now() - t0 });
      }
      const promptTokens = generator.position || generator.countTokens(prompt);
      if (woven) { gaps.decoding(true); decoding = true; }

      // Citation numbers stay fixed for the whole answer: a passage that a periodic retrieval
      // brings in later gets the next free number.
      const citationOf = new Map(fitted.map((p) => [p.id, p.citation]));
      const used = new Map(fitted.map((p) => [p.id, p]));
      const renumber = (ps: Passage[]) => ps.map((p) => {
        let c = citationOf.get(p.id);
        if (c === undefined) { c = citationOf.size + 1; citationOf.set(p.id, c); }
        return { ...p, citation: c };
      });
      const staleness = per?.staleness ?? (woven ? 1 : 0);
      const pipelined = woven && staleness === 1 && per?.pipeline !== false;
      let staleQuery: { query: string; window: number } | undefined;
      const perK = per?.k ?? k;
      const periodicNprobe = () => {
        if (typeof per?.nprobe === 'number') return Math.max(1, Math.min(idx0.nlist, per.nprobe));
        const max = Math.min(idx0.nlist, per?.maxNprobe ?? idx0.nlist);
        // The window's share of decode time that search may take, less the fixed costs (PipeRAG's budget).
        const stepMs = gaps.stepMs || generator.timings().decodeMsMedian;
        const budget = (per?.maxSlowdown ?? maxSlowdown) * per!.interval * stepMs - embedMs;
        return line.nprobeFor(budget, 1, max);
      };
      let answer = '';
      const pieces: string[] = [];
      let generated = 0;
      let firstTokenMs = 0;
      let refreshes = 0;
      let refreshMs = 0;
      const windows: { window: number; nprobe: number; searchMs: number; waitedMs: number; refreshed: boolean }[] = [];
      const refresh = async (found: Passage[]): Promise<boolean> => {
        const next = fit(renumber(found), question, maxTokens);
        if (next.length === 0 || next.map((p) => p.id).join() === fitted.map((p) => p.id).join()) return false;
        const text = template(next, question) + answer;
        if (generator.countTokens(text) + (maxTokens - generated) + 1 > generator.contextLength) return false;
        const r0 = performance.now();
        generator.reset();
        await generator.prefill(text, opts.signal ? { signal: opts.signal } : {});
        stages.push({ kind: 'refresh', start: r0 - t0, end: performance.now() - t0 });
        refreshMs += performance.now() - r0;
        fitted = next;
        for (const p of next) used.set(p.id, p);
        refreshes++;
        return true;
      };
      const periodicSearch = (query: string, window: number, run: Runner) => {
        const np = periodicNprobe();
        return retrieve(query, { k: perK, nprobe: np, t0, stages, run, prefetch: run !== direct, listsPerSlice: sliceLists(np), window, cancelled: () => finished })
          .then((r) => { line.observe(np, r.busyMs); return { ...r, nprobe: np, window }; });
      };
      let d0 = performance.now();
      while (generated < maxTokens) {
        if (opts.signal?.aborted) { await generator.interrupt(); break; }
        const st = performance.now();
        const t = await generator.step();
        const stepMs = performance.now() - st;
        if (t.done) break;
        if (generated === 0) { firstTokenMs = performance.now() - t0; d0 = st; }
        generated++;
        answer += t.piece;
        pieces.push(t.piece);
        yield { type: 'token', text: t.piece };
        if (per && generated % per.interval === 0 && generated < maxTokens) {
          // PipeRAG: the query is the text of the window just decoded.
          const query = pieces.slice(-per.interval).join('').trim() || question;
          const window = generated / per.interval;
          // Staleness 0 searches this window now; otherwise the previous window's query is
          // searched for this boundary: pipelined, that search ran in this window's gaps and must
          // be over now, else it runs now.
          const w0 = performance.now();
          let r: Awaited<NonNullable<typeof pending>> | undefined;
          if (staleness === 0) r = await periodicSearch(query, window, direct);
          else if (pending) { await own.drain(pending); r = await pending; pending = undefined; }
          else if (staleQuery) r = await periodicSearch(staleQuery.query, staleQuery.window, direct);
          if (r) windows.push({ window: r.window, nprobe: r.nprobe, searchMs: r.busyMs, waitedMs: performance.now() - w0, refreshed: await refresh(r.passages) });
          staleQuery = undefined;
          // A result that would land after the last token is not worth searching for.
          if (staleness === 1 && generated + per.interval < maxTokens) {
            if (pipelined) {
              pending = periodicSearch(query, window, own.run);
              pending.catch(() => undefined);
            } else {
              staleQuery = { query, window };
            }
          }
        }
        if (woven) await gaps.gap(stepMs); // other requests' sub-stages, within budget
        if (pipelined) await own.gap(stepMs); // this answer's own periodic search, within its budget
      }
      await stopDecoding();
      stages.push({ kind: 'decode', start: d0 - t0, end: performance.now() - t0 });
      yield { type: 'trace', stages };
      const cited = [...new Set(Array.from(answer.matchAll(/\[(\d+)\]/g), (m) => Number(m[1])))];
      const all = [...used.values()].sort((a, b) => a.citation - b.citation);
      yield {
        type: 'done', answer, citations: cited.filter((c) => all.some((p) => p.citation === c)), passages: all,
        timings: { totalMs: performance.now() - t0, firstTokenMs },
        tokens: { prompt: promptTokens, generated },
        ...(per ? { periodic: { interval: per.interval, staleness, pipelined, refreshes, refreshMs, windows } } : {}),
      };
    } finally {
      await stopDecoding();
      if (speculative) await speculative.prefill.catch(() => undefined);
      leaveLookahead();
      release?.(); // also when the caller stops iterating early
    }
  }

  const rag: Rag = {
    get index() { return index; },

    ingest(documents, opts = {}) {
      return serial(async () => {
        if (!Array.isArray(documents) || documents.length === 0) throw new WeftError('INVALID_INPUT', 'ingest() needs a non-empty array of documents.');
        const total = documents.length;
        const docs: DocumentInput[] = [];
        for (let i = 0; i < total; i++) {
          docs.push(await readDocument(documents[i]!, i));
          opts.onProgress?.({ status: 'read', done: i + 1, total });
        }
        const countTokens = (t: string) => embedder.tokenize(t).length;
        const chunks = docs.flatMap((d) => chunkDocument(d, { countTokens, maxTokens: embedder.maxLength }));
        if (chunks.length === 0) throw new WeftError('INVALID_INPUT', 'The documents hold no text to index.');
        const texts = chunks.map((c) => c.text);
        const parts: Float32Array[] = [];
        for (let i = 0; i < texts.length; i += 32) {
          if (opts.signal?.aborted) throw new WeftError('ABORTED', 'Ingest was aborted before anything was stored.');
          parts.push(await embedder.embed(texts.slice(i, i + 32)));
          opts.onProgress?.({ status: 'embed', done: Math.min(texts.length, i + 32), total: texts.length });
        }
        const dim = embedder.dim;
        checkDim(dim);
        const vectors = new Float32Array(texts.length * dim);
        let at = 0;
        for (const p of parts) { vectors.set(p, at); at += p.length; }
        if (!index) {
          const nlist = options.nlist ?? Math.max(1, Math.min(Math.floor(chunks.length / 4), 2 ** Math.round(Math.log2(Math.sqrt(chunks.length) * 2))));
          opts.onProgress?.({ status: 'index', done: 0, total: 1 });
          index = await createStoredIndex(vectors, { ...(options.gpu ? { gpu: options.gpu } : {}),
            store, name, dim, nlist, metric: options.metric ?? 'cosine', storage: options.storage ?? 'f16', modelId: embedder.modelId,
            ...(options.cacheBytes ? { cacheBytes: options.cacheBytes } : {}),
          });
          opts.onProgress?.({ status: 'index', done: 1, total: 1 });
        }
        // Re-ingesting a document replaces its chunks: the new ones are committed first and the
        // old ones deleted after, so an abort in between never leaves a document without chunks.
        const old: number[] = [];
        for (const d of docs) old.push(...await store.chunkIdsOfDocument(name, d.id));
        opts.onProgress?.({ status: 'persist', done: 0, total: chunks.length });
        await index.add(vectors, {
          chunks: chunks.map((c) => ({ docId: c.docId, text: c.text, metadata: { ...c.metadata, headings: c.headings, chunk: c.index } })),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        if (old.length) await index.delete(old);
        opts.onProgress?.({ status: 'persist', done: chunks.length, total: chunks.length });
        return { documents: docs.length, chunks: chunks.length };
      });
    },

    search(query, opts = {}) {
      return serial(() => search(query, opts.k ?? 5, opts.nprobe, opts.filter));
    },

    async *generate(question, opts = {}) {
      // The sequential baseline handles one request at a time, retrieval and answer together.
      const releaseRequest = woven ? () => undefined : await requestLock.acquire();
      try {
        yield* answer(question, opts);
      } finally {
        releaseRequest();
      }
    },

    async profile() {
      await serial(profile);
      return { intercept: line.intercept, slope: line.slope };
    },

    async close() {
      await busy;
      await index?.close();
      index = undefined;
    },
  };
  return rag;
}
