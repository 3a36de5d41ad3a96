// Retrieval for the RAG runtime: query checks, embedding, and the search cut into sub-stages
// (open a session, then cluster-sized slices) that a scheduler can run in decode gaps
// (HedraRAG), with the lookahead prefetch of the probed lists (TeleRAG) and the partial top-k
// handed out for speculation. It also owns the performance model (PipeRAG's latency-vs-nprobe
// line and the cost of embedding a query) that sizes slices and periodic searches.

import { WeftError, checkAborted } from '../errors.js';
import type { Embedder } from '../embed/onnx-embedder.js';
import { NO_ID, type SearchResult } from '../ivf/types.js';
import type { StoredIndex } from '../store/stored-index.js';
import type { GapScheduler } from '../schedule/gaps.js';
import { createLatencyLine, type LatencyLine } from '../schedule/perf-model.js';
import type { PassagePredicate } from './filter.js';
import type { Trace } from './trace.js';
import type { Passage } from './types.js';

/** How a GPU sub-stage gets its turn: in decode gaps (a gap scheduler's run) or at once. */
export type Runner = <T>(work: () => Promise<T>) => Promise<T>;
export const direct: Runner = (work) => work();

/** Refuses an embedder whose vectors do not have the index's dimension. */
export function checkDimension(index: StoredIndex | undefined, indexName: string, dim: number): void {
  if (index && dim !== index.dim) {
    throw new WeftError('DIMENSION_MISMATCH', `The embedder gives ${dim}-dimensional vectors but index '${indexName}' holds ${index.dim}-dimensional ones. Use the embedder the index was built with (${index.manifest.modelId || 'recorded in its manifest'}).`, { details: { embedder: dim, index: index.dim } });
  }
}

export interface RetrieveOptions {
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
  /** Only passages it keeps: the index's scan honours it, so k come back wherever the index has k. */
  filter?: PassagePredicate;
  /** Aborting rejects with ABORTED between sub-stages. */
  signal?: AbortSignal;
}

/** The lookahead of a query embedded ahead of its search: its lists are being prefetched. */
export interface Lookahead {
  /** Settles when the prefetched lists have arrived (never rejects). */
  arrived: Promise<void>;
}

export interface Retrieval {
  /** The index to search for `query`: INVALID_INPUT for an empty query, EMPTY_INDEX for an empty index. */
  indexFor(query: string): StoredIndex;
  /** One unsliced search: embed, search, passages (a filter is applied inside the index's search). */
  search(query: string, k: number, nprobe: number | undefined, filter?: PassagePredicate, signal?: AbortSignal): Promise<Passage[]>;
  /** The search as sub-stages, each run by `o.run`; `busyMs` is their time. */
  retrieve(query: string, o: RetrieveOptions): Promise<{ passages: Passage[]; busyMs: number }>;
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
}

/** The passages of a search's result row, best first (a filter was applied by the index's search). */
async function passagesOf(index: StoredIndex, r: SearchResult, k: number): Promise<Passage[]> {
  const ids = Array.from(r.ids).filter((id) => id !== NO_ID);
  const chunks = await index.chunks(ids);
  const out: Passage[] = [];
  ids.forEach((id, i) => {
    const ch = chunks[i];
    if (!ch || out.length >= k) return;
    const metadata = ch.metadata ?? {};
    out.push({ citation: out.length + 1, id, score: r.distances[i]!, scores: { vector: r.distances[i]! }, docId: ch.docId, text: ch.text, metadata });
  });
  return out;
}

export function createRetrieval(o: RetrievalOptions): Retrieval {
  const { indexName, embedder, gaps, maxSlowdown } = o;
  const line = createLatencyLine();
  let profiled = false;
  let embedMs = 0;

  const indexFor = (query: string): StoredIndex => {
    if (typeof query !== 'string' || query.trim() === '') throw new WeftError('INVALID_INPUT', 'The question is empty; ask something.');
    const index = o.index();
    if (!index || index.size === 0) throw new WeftError('EMPTY_INDEX', `Index '${indexName}' holds no passages yet; ingest() documents first.`);
    return index;
  };

  /** Embeds one query, checked against the index, and keeps the embedding cost up to date. */
  const embed = async (index: StoredIndex, query: string): Promise<Float32Array> => {
    const e0 = performance.now();
    const q = await embedder.embed([query]);
    const ms = performance.now() - e0;
    embedMs = embedMs === 0 ? ms : 0.8 * embedMs + 0.2 * ms;
    checkDimension(index, indexName, q.length);
    return q;
  };

  return {
    indexFor,
    get line() { return line; },
    get profiled() { return profiled; },
    get embedMs() { return embedMs; },
    queryFits: (text) => embedder.countTokens(text) <= embedder.maxLength,

    async search(query, k, nprobe, filter, signal) {
      const index = indexFor(query);
      checkAborted(signal, 'The search');
      const q = await embedder.embed([query]);
      checkDimension(index, indexName, q.length);
      checkAborted(signal, 'The search');
      const r = await index.search(q, { k: Math.min(index.size, k), nprobe: nprobe ?? Math.min(index.nlist, 8), ...(filter ? { filter: filter.filter } : {}) });
      return passagesOf(index, r, k);
    },

    async lookahead(query, o) {
      const index = indexFor(query);
      const e0 = performance.now();
      const q = await o.run(() => embed(index, query));
      o.trace.add('embed', e0);
      const p0 = performance.now();
      const arrived = index.prefetch(q, { nprobe: o.nprobe }).done
        .then((p) => { o.trace.add('prefetch', p0, { clusters: p.arrived.length, bytes: p.bytes }); }, () => undefined);
      return { arrived };
    },

    async retrieve(query, r) {
      const index = indexFor(query);
      checkAborted(r.signal, 'The answer');
      const { trace } = r;
      const window = r.window ? { window: r.window } : {};
      let busy = 0;
      const timed: Runner = (work) => r.run(async () => { const s = performance.now(); try { return await work(); } finally { busy += performance.now() - s; } });
      const e0 = performance.now();
      const q = await r.run(() => embed(index, query));
      trace.add('embed', e0, window);
      let arrived: Promise<unknown> = Promise.resolve();
      if (r.prefetch) {
        const p0 = performance.now();
        arrived = index.prefetch(q, { nprobe: r.nprobe }).done
          .then((p) => { trace.add('prefetch', p0, { clusters: p.arrived.length, bytes: p.bytes }); }, () => undefined);
      }
      const session = await timed(() => index.searchSession(q, { k: Math.min(index.size, r.k), nprobe: r.nprobe, ...(r.filter ? { filter: r.filter.filter } : {}) }));
      // Reading the lists is I/O, not GPU work: it happens outside the gaps (while the answer in
      // progress decodes), so that a slice in a gap finds its lists cached and only scans.
      await arrived;
      try {
        let slices = 0;
        while (!session.done) {
          if (r.cancelled?.()) return { passages: [], busyMs: busy };
          checkAborted(r.signal, 'The answer');
          const s0 = performance.now();
          const step = await timed(() => session.step(r.listsPerSlice));
          trace.add('search', s0, { clusters: step.lists, bytes: step.streamedBytes, nprobe: r.nprobe, ...window });
          if (++slices === r.afterSlices && !session.done && r.onPartial) await r.onPartial(await passagesOf(index, await session.read(), r.k));
        }
        return { passages: await passagesOf(index, await session.read(), r.k), busyMs: busy };
      } finally {
        session.destroy();
      }
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
      for (let rep = 0; rep < 2; rep++) { // the first round compiles kernels and warms the cache
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
}
