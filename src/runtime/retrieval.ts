// Retrieval for the RAG runtime: query checks, embedding, and the search cut into sub-stages
// (open a session, then cluster-sized slices) that a scheduler can run in decode gaps
// (HedraRAG), with the lookahead prefetch of the probed lists (TeleRAG) and the partial top-k
// handed out for speculation. A question is searched by its words (BM25 over the chunks, a few
// query terms per sub-stage), by its embedding, or both fused (hybrid, fusion.ts); the
// candidates may then be reranked (reranking.ts), a few per sub-stage. Several queries (a
// multistep's sub-questions) are embedded in one call, and vector searches ready together run as
// one multi-query dispatch (search-batches.ts). It also owns the performance model (PipeRAG's
// latency-vs-nprobe line and the cost of embedding a query) that sizes slices and periodic searches.
// Over 400 lines: one retrieval stage for the three modes, one query or several, and the
// performance model that sizes its slices.

import { WeftError, checkAborted } from '../errors.js';
import type { Embedder } from '../embed/types.js';
import { NO_ID, type SearchResult } from '../ivf/types.js';
import type { StoredIndex } from '../stored-index/stored-index.js';
import type { GapScheduler } from '../schedule/gaps.js';
import { createLatencyLine, type LatencyLine } from '../schedule/perf-model.js';
import type { PassagePredicate } from './filter.js';
import { fuse, type FusionOptions, type Fused, type SearchMode } from './fusion.js';
import { checkMode } from './fusion.js';
import { rerankCandidates, rerankPassages, type Reranker } from './reranking.js';
import { createTrace, type Trace } from './trace.js';
import { direct, inLane, laneOf, type Runner } from './runner.js';
import { createSearchBatches } from './search-batches.js';
import type { Passage, RerankOptions } from './types.js';

/**
 * Candidates each side of a hybrid search ranks before fusion, at least: fusing deeper lists than
 * k lets a passage that both sides rank fairly high beat one that only one side ranks first, and
 * gives min-max normalisation a floor well below the top (with 20, adaptive fusion fell 0.008
 * below BM25 on the Debian FAQ with a real encoder; from 50 on it stayed above both: the depth
 * sweep in docs/benchmarks.md). It also holds the AGREEMENT_DEPTH passages agreement compares.
 */
const HYBRID_DEPTH = 50;
/** The most candidates any side ranks (within every device's top-k limit). */
const MAX_CANDIDATES = 256;
/** Query terms scored per lexical sub-stage. */
const TERMS_PER_SLICE = 4;

/** Refuses an embedder whose vectors do not have the index's dimension. */
export function checkDimension(index: StoredIndex | undefined, indexName: string, dim: number): void {
  if (index && dim !== index.dim) {
    throw new WeftError(
      'DIMENSION_MISMATCH',
      `The embedder gives ${dim}-dimensional vectors but index '${indexName}' holds ${index.dim}-dimensional ones. Use the embedder the index was built with (${index.manifest.modelId || 'recorded in its manifest'}).`,
      { details: { embedder: dim, index: index.dim } },
    );
  }
}

/** How the candidates are found and ordered: the search mode, the fusion, and the reranking. */
export interface RetrievalPlan {
  mode: SearchMode;
  fusion?: FusionOptions;
  /** Rerank this many candidates with the reranker, then keep k. */
  rerank?: { reranker: Reranker; candidates: number };
}

/** The runtime's mode, fusion and reranker, which a call's ranking starts from. */
export interface RetrievalDefaults {
  mode: SearchMode;
  fusion: FusionOptions | undefined;
  reranker: Reranker | undefined;
}

/** A call's ranking: its mode (or the runtime's), the runtime's fusion, reranking if it asks (INVALID_OPTION as rerankCandidates says). */
export function retrievalPlanFor(
  call: { mode?: SearchMode | undefined; rerank?: boolean | RerankOptions | undefined },
  defaults: RetrievalDefaults,
  k: number,
): RetrievalPlan {
  const candidates = rerankCandidates(call.rerank, defaults.reranker, k);
  return {
    mode: checkMode(call.mode, defaults.mode),
    ...(defaults.fusion ? { fusion: defaults.fusion } : {}),
    ...(candidates !== undefined ? { rerank: { reranker: defaults.reranker!, candidates } } : {}),
  };
}

export interface RetrieveOptions extends RetrievalPlan {
  k: number;
  nprobe: number;
  trace: Trace;
  run: Runner;
  /** Start the lookahead prefetch of the probed lists (TeleRAG). */
  prefetch: boolean;
  /** Probe ranks per search slice. */
  listsPerSlice: number;
  /** After this many slices, hand the partial top-k to onPartial (speculation). */
  afterSlices?: number;
  onPartial?: (partial: Passage[]) => Promise<void>;
  /** Periodic retrieval: the window whose text is the query (recorded in the trace). */
  window?: number;
  /** Asked between slices: true stops the search (the answer it was for has ended). */
  cancelled?: () => boolean;
  /** Only passages it keeps: the index's scans honour it, so k come back wherever the index has k. */
  filter?: PassagePredicate;
  /** Aborting rejects with ABORTED between sub-stages. */
  signal?: AbortSignal;
  /** Lists to scan first among those probed (semantic reordering: where the request's earlier results were). */
  scanFirst?: readonly number[];
}

/** The lookahead of a query embedded ahead of its search: its lists are being prefetched. */
export interface Lookahead {
  /** Settles when the prefetched lists have arrived (never rejects). */
  arrived: Promise<void>;
}

/** A search run at once (no gaps): its ranking, nprobe, filter and signal. */
export type DirectSearchOptions = RetrievalPlan & { nprobe?: number; filter?: PassagePredicate; signal?: AbortSignal };

export interface Retrieval {
  /** The index to search for `query`: INVALID_INPUT for an empty query, EMPTY_INDEX for an empty index. */
  indexFor(query: string): StoredIndex;
  /** One search with every sub-stage run at once: passages, best first. */
  search(query: string, k: number, o: DirectSearchOptions): Promise<Passage[]>;
  /** Several queries searched at once, as retrieveAll does: each query's passages, in order. */
  searchAll(queries: readonly string[], k: number, o: DirectSearchOptions): Promise<Passage[][]>;
  /** The search as sub-stages, each run by `o.run`; `busyMs` is their time. */
  retrieve(query: string, o: RetrieveOptions): Promise<{ passages: Passage[]; busyMs: number }>;
  /**
   * Several queries searched together (a multistep's sub-questions): embedded in one call, their
   * vector searches one multi-query dispatch; each query's passages, in order. `onPartial` is not
   * called for more than one query.
   */
  retrieveAll(queries: readonly string[], o: RetrieveOptions): Promise<{ passages: Passage[][]; busyMs: number; lists: number[] }>;
  /**
   * TeleRAG's lookahead: embeds `query` (a sub-stage run by `run`) and starts streaming the lists
   * it would probe into the GPU cache, without searching; the trace gets 'embed' and 'prefetch'.
   */
  lookahead(query: string, o: { nprobe: number; trace: Trace; run: Runner }): Promise<Lookahead>;
  /** Probe ranks per slice so that one slice fits one gap's budget (at least one). */
  sliceLists(nprobe: number): number;
  /** Times searches at several nprobe and fits the latency line (call it through the runtime's serial queue). */
  profile(signal?: AbortSignal): Promise<LatencyLine>;
  readonly line: LatencyLine;
  /** Whether profile() has run. */
  readonly profiled: boolean;
  /** Running average of the time to embed one query, ms. */
  readonly embedMs: number;
  /** Whether `text` fits the embedder's input length untruncated. */
  queryFits(text: string): boolean;
}

export interface RetrievalOptions {
  indexName: string;
  embedder: Embedder;
  /** The runtime's index as it is now (it appears on the first ingest and goes on close). */
  index: () => StoredIndex | undefined;
  /** The runtime's gap scheduler and budget, which slices are sized for. */
  gaps: GapScheduler;
  maxSlowdown: number;
  /** A line from an earlier profile() on this device: the model starts from it (no profiling needed). */
  performanceModel?: { intercept: number; slope: number } | undefined;
  /** false: every search is a session of its own (RuntimeSettings.batchSearches). Default true. */
  batchSearches?: boolean;
}

/** Refuses a performanceModel that is not a line profile() could have returned (INVALID_OPTION). */
export function checkPerformanceModel(seed: unknown): asserts seed is { intercept: number; slope: number } {
  const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  const line = seed as { intercept?: unknown; slope?: unknown } | null;
  if (line === null || typeof line !== 'object' || !ok(line.intercept) || !ok(line.slope)) {
    throw new WeftError('INVALID_OPTION', 'performanceModel must be { intercept, slope } as profile() returned them: finite numbers of milliseconds ≥ 0.');
  }
}

/** One side's ranking as it came from the index: ids best first, with that side's scores. */
interface Side {
  ids: number[];
  scores: number[];
}

const noSide: Side = { ids: [], scores: [] };

/** The candidates in the order of the mode: one side's ranking as it is, or both fused. */
function ranked(
  mode: SearchMode,
  vector: Side,
  lexical: Side,
  vectorBetter: 'higher' | 'lower',
  depth: number,
  fusion: FusionOptions | undefined,
  passages: number,
): Fused[] {
  if (mode === 'vector') return vector.ids.slice(0, depth).map((id, i) => ({ id, score: vector.scores[i]!, vector: vector.scores[i]! }));
  if (mode === 'lexical') return lexical.ids.slice(0, depth).map((id, i) => ({ id, score: lexical.scores[i]!, lexical: lexical.scores[i]! }));
  return fuse({ ...vector, better: vectorBetter }, { ...lexical, better: 'higher' }, depth, fusion, passages);
}

/**
 * The passages of ranked candidates, in order, numbered from 1 (chunks gone since are skipped);
 * `lists` gets the list each one's vector is in.
 */
async function passagesOf(
  index: StoredIndex,
  mode: SearchMode,
  candidates: readonly Fused[],
  signal: AbortSignal | undefined,
  lists?: Map<number, number>,
): Promise<Passage[]> {
  const chunks = await index.chunks(
    candidates.map((c) => c.id),
    { ...(signal ? { signal } : {}) },
  );
  const out: Passage[] = [];
  candidates.forEach((c, i) => {
    const ch = chunks[i];
    if (!ch) return;
    lists?.set(c.id, ch.list);
    const scores = {
      ...(c.vector !== undefined ? { vector: c.vector } : {}),
      ...(c.lexical !== undefined ? { lexical: c.lexical } : {}),
      ...(mode === 'hybrid' ? { fused: c.score } : {}),
    };
    out.push({ citation: out.length + 1, id: c.id, score: c.score, scores, docId: ch.docId, text: ch.text, metadata: ch.metadata ?? {} });
  });
  return out;
}

/** Row `row` of a vector search result as a side (empty slots dropped). */
function vectorSide(r: { ids: Uint32Array; distances: Float32Array; k: number }, row = 0): Side {
  const side: Side = { ids: [], scores: [] };
  for (let i = row * r.k; i < (row + 1) * r.k; i++) {
    if (r.ids[i] === NO_ID) continue;
    side.ids.push(r.ids[i]!);
    side.scores.push(r.distances[i]!);
  }
  return side;
}

/**
 * Starts streaming the lists `q` probes into the GPU cache (TeleRAG's lookahead); settles when
 * they have arrived, never rejects. The 'prefetch' stage is recorded for the node it started in
 * (it may end after that node has).
 */
function prefetched(index: StoredIndex, q: Float32Array, nprobe: number, trace: Trace, signal: AbortSignal | undefined): Promise<void> {
  const p0 = performance.now();
  const node = trace.node;
  return index.prefetch(q, { nprobe, ...(signal ? { signal } : {}) }).done.then(
    (p) => {
      trace.add('prefetch', p0, { clusters: p.arrived.length, bytes: p.bytes, ...(node !== undefined ? { node } : {}) });
    },
    () => undefined,
  );
}

export function createRetrieval(o: RetrievalOptions): Retrieval {
  const { indexName, embedder, gaps, maxSlowdown } = o;
  const line = createLatencyLine();
  let profiled = false;
  const seed = o.performanceModel;
  if (seed !== undefined) {
    // checked by createRag before anything opened
    // Two points on the line fit it exactly; later searches correct it as profiled ones would.
    line.observe(1, seed.intercept + seed.slope);
    line.observe(64, seed.intercept + 64 * seed.slope);
    profiled = true;
  }
  let embedMs = 0;
  const batches = createSearchBatches({ batch: o.batchSearches ?? true });

  const indexFor = (query: string): StoredIndex => {
    if (typeof query !== 'string' || query.trim() === '') throw new WeftError('INVALID_INPUT', 'The question is empty; ask something.');
    const index = o.index();
    if (!index || index.size === 0) throw new WeftError('EMPTY_INDEX', `Index '${indexName}' holds no passages yet; ingest() documents first.`);
    return index;
  };

  /** Embeds queries in one call, checked against the index, and keeps the cost of embedding one query up to date. */
  const embed = async (index: StoredIndex, ...queries: string[]): Promise<Float32Array> => {
    const e0 = performance.now();
    const q = await embedder.embed(queries);
    const ms = (performance.now() - e0) / queries.length;
    embedMs = embedMs === 0 ? ms : 0.8 * embedMs + 0.2 * ms;
    checkDimension(index, indexName, q.length / queries.length);
    return q;
  };

  const api: Retrieval = {
    indexFor,
    get line() {
      return line;
    },
    get profiled() {
      return profiled;
    },
    get embedMs() {
      return embedMs;
    },
    queryFits: (text) => embedder.countTokens(text) <= embedder.maxLength,

    async search(query, k, o) {
      return (await api.searchAll([query], k, o))[0]!;
    },

    async searchAll(queries, k, o) {
      const nprobe = o.nprobe ?? Math.min(indexFor(queries[0]!).nlist, 8);
      const r = await api.retrieveAll(queries, { ...o, k, nprobe, trace: createTrace(), run: direct, prefetch: false, listsPerSlice: nprobe });
      return r.passages;
    },

    async lookahead(query, o) {
      const index = indexFor(query);
      // A lookahead may end after the node it started in (a generation feeding a search): its
      // stages are recorded for that node.
      const node = o.trace.node;
      const at = node !== undefined ? { node } : {};
      const e0 = performance.now();
      const q = await o.run(() => embed(index, query));
      o.trace.add('embed', e0, at);
      return { arrived: prefetched(index, q, o.nprobe, o.trace, undefined) };
    },

    async retrieve(query, r) {
      const { passages, busyMs } = await api.retrieveAll([query], r);
      return { passages: passages[0]!, busyMs };
    },

    async retrieveAll(queries, r) {
      const index = indexFor(queries[0]!);
      for (const q of queries) indexFor(q);
      checkAborted(r.signal, 'The answer');
      const { trace, mode } = r;
      const n = queries.length;
      const window = r.window ? { window: r.window } : {};
      let busy = 0;
      const timed: Runner = inLane(laneOf(r.run), (work) =>
        r.run(async () => {
          const s = performance.now();
          try {
            return await work();
          } finally {
            busy += performance.now() - s;
          }
        }),
      );
      // Each side ranks the passages wanted, or more where fusion or a reranker picks among them.
      const wanted = r.rerank ? Math.max(r.k, r.rerank.candidates) : r.k;
      const depth = Math.min(index.size, Math.max(wanted, mode === 'hybrid' ? Math.min(MAX_CANDIDATES, Math.max(2 * r.k, HYBRID_DEPTH)) : wanted));
      const vectorBetter = index.metric === 'l2' ? 'lower' : 'higher';
      const none = () => ({ passages: queries.map(() => []), busyMs: busy, lists: [] });
      // The list each passage found is in (semantic reordering of the request's later searches).
      const listOf = new Map<number, number>();

      // The questions are embedded (in one call) and their lists start streaming in first
      // (TeleRAG's lookahead: from IndexedDB or over the network, the slowest tiers), so that
      // those reads overlap the keyword search's rather than waiting for it.
      const start =
        mode === 'lexical'
          ? undefined
          : (async () => {
              const e0 = performance.now();
              const q = await r.run(() => embed(index, ...queries));
              trace.add('embed', e0, window);
              let arrived: Promise<unknown> = Promise.resolve();
              if (r.prefetch) {
                const dim = q.length / n;
                arrived = Promise.all(queries.map((_, i) => prefetched(index, q.subarray(i * dim, (i + 1) * dim), r.nprobe, trace, r.signal)));
              }
              return { q, arrived };
            })();
      start?.catch(() => undefined); // awaited below; a failure surfaces there

      // The vector side: one multi-query dispatch with the other searches ready now
      // (search-batches.ts); a slice scans its ranks for every query of the batch, so it takes
      // fewer ranks per query. Reading the lists is I/O, not GPU work: it happens outside the gaps
      // (while the answer in progress decodes), so that a slice in a gap finds its lists cached
      // and only scans — the prefetch first (the batch waits for its members' before slicing),
      // then before each slice whatever it still lacks (prepare). A speculating search hands out
      // partial results fused with the keyword side, so it starts once that is done; any other
      // joins its batch as soon as it is embedded, while the keyword search runs.
      const searchVector = async (lexical0: () => Side): Promise<SearchResult | undefined> => {
        const { q, arrived } = await start!;
        return batches.search(index, q, {
          ready: arrived,
          ...(r.scanFirst?.length ? { scanFirst: r.scanFirst } : {}),
          k: depth,
          nprobe: r.nprobe,
          ...(r.filter ? { filter: { filter: r.filter.filter, key: r.filter.key } } : {}),
          run: timed,
          listsPerSlice: r.listsPerSlice,
          ...(r.signal ? { signal: r.signal } : {}),
          ...(r.cancelled ? { cancelled: r.cancelled } : {}),
          onSlice: (s0, step, batch) =>
            trace.add('search', s0, { clusters: step.lists, bytes: step.streamedBytes, nprobe: r.nprobe, ...(batch > 1 ? { batch } : {}), ...window }),
          ...(n === 1 && r.afterSlices !== undefined && r.onPartial
            ? {
                afterSlices: r.afterSlices,
                onPartial: async (partial: SearchResult) =>
                  r.onPartial!(await passagesOf(index, mode, ranked(mode, vectorSide(partial), lexical0(), vectorBetter, r.k, r.fusion, index.size), r.signal)),
              }
            : {}),
        });
      };
      const speculating = n === 1 && r.onPartial !== undefined;
      const early = start && !speculating ? searchVector(() => noSide) : undefined;
      early?.catch(() => undefined); // awaited below; a failure surfaces there

      // Words (a few query terms per sub-stage): hybrid speculation fuses with them. The
      // keyword search reads IndexedDB and adds up postings on the CPU: it needs no GPU, so its
      // sub-stages do not take the decode gaps (where they would hold up the next step for the
      // length of a read) but run beside decoding, overlapping the steps' GPU time; each is a
      // few query terms, so none holds the thread for long.
      const lexical: Side[] = queries.map(() => noSide);
      if (mode !== 'vector') {
        const allow = r.filter && !r.filter.all ? await index.allowList(r.filter.filter) : undefined;
        for (let i = 0; i < n; i++) {
          const session = await index.lexicalSession(queries[i]!, {
            k: depth,
            ...(allow ? { allow: (id: number) => allow.has(id) } : {}),
            ...(r.signal ? { signal: r.signal } : {}),
          });
          while (!session.done) {
            if (r.cancelled?.()) return none();
            checkAborted(r.signal, 'The answer');
            const s0 = performance.now();
            await session.step(TERMS_PER_SLICE);
            trace.add('lexical', s0, window);
          }
          const hits = session.read();
          lexical[i] = { ids: Array.from(hits.ids), scores: Array.from(hits.scores) };
          // The best keyword hits are likely among the passages: over the network their texts start
          // arriving while the vector side still searches.
          if (start) index.warmChunks(lexical[i]!.ids.slice(0, wanted));
        }
      }

      let vector: SearchResult | undefined;
      if (start) {
        vector = await (early ?? searchVector(() => lexical[0]!));
        if (!vector) return none();
      }

      const out: Passage[][] = [];
      for (let i = 0; i < n; i++) {
        const side = vector ? vectorSide(vector, i) : noSide;
        const candidates = await passagesOf(index, mode, ranked(mode, side, lexical[i]!, vectorBetter, wanted, r.fusion, index.size), r.signal, listOf);
        if (!r.rerank) {
          out.push(candidates.slice(0, r.k));
          continue;
        }
        out.push(
          await rerankPassages(r.rerank.reranker, queries[i]!, candidates, r.k, {
            run: timed,
            trace,
            ...(r.signal ? { signal: r.signal } : {}),
            ...window,
          }),
        );
      }
      const lists = [...new Set(out.flat().flatMap((p) => (listOf.has(p.id) ? [listOf.get(p.id)!] : [])))];
      return { passages: out, busyMs: busy, lists };
    },

    sliceLists(nprobe) {
      if (line.samples === 0 || line.slope <= 0 || gaps.stepMs === 0) return 1;
      return Math.max(1, Math.min(nprobe, Math.floor((maxSlowdown * gaps.stepMs) / line.slope)));
    },

    async profile(signal) {
      const index = indexFor('profile');
      checkAborted(signal, 'Profiling');
      const q = await embed(index, 'How does the search scale with the lists it probes?');
      const probes = [1, 2, 4, 8, 16, 32, 64].filter((p) => p <= index.nlist);
      for (let rep = 0; rep < 2; rep++) {
        // the first round compiles kernels and warms the cache
        for (const nprobe of probes) {
          checkAborted(signal, 'Profiling');
          const t = performance.now();
          const session = await index.searchSession(q, { k: Math.min(index.size, 4), nprobe });
          await session.step();
          await session.read();
          if (rep === 1) line.observe(nprobe, performance.now() - t);
        }
      }
      profiled = true;
      return line;
    },
  };
  return api;
}
