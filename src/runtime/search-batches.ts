// Multi-query dispatch (TeleRAG's batching of queries whose clusters overlap, HedraRAG's
// cross-request stage fusion): the vector searches that are ready together — several requests'
// retrievals waiting for the same decode gap, a multistep's sub-questions — with the same k,
// nprobe and filter run as one search session of several queries. Each slice then reads and
// uploads every list once for all the queries that probe it and scans them in one dispatch; each
// query still probes its own lists and keeps its own top-k, so every caller gets exactly the
// rows a search of its own would give.
//
// A batch takes queries until its first sub-stage (opening the session: the coarse ranking) gets
// its turn — in a decode gap while an answer decodes, else after the current task, once its
// first member's lists are read — and takes in only the members whose lists are read by then
// (the others go on to the next batch: nobody waits for another's reads). It is run by its
// oldest member's runner, so it has that member's priority in the gaps, and only runners of one
// lane share a batch (runner.ts). A member that aborts leaves the batch (the others go on); when
// every member has left, the batch stops.

import { WeftError } from '../errors.js';
import type { SearchResult, SliceReport } from '../ivf/types.js';
import type { StoredIndex } from '../stored-index/stored-index.js';
import type { PassageFilter } from '../stored-index/passage-filter.js';
import { laneOf, type Runner } from './runner.js';

export interface BatchSearchOptions {
  k: number;
  nprobe: number;
  /** The filter and its canonical key (only searches with equal keys share a batch). */
  filter?: { filter: PassageFilter; key: string };
  /** Runs a sub-stage (in the gaps, with the caller's priority); only callers whose runners share a lane (runner.ts) share a batch. */
  run: Runner;
  /** Probe ranks per slice for one query (a batch takes its members' smallest, shared out among its queries). */
  listsPerSlice: number;
  signal?: AbortSignal;
  /** Asked between slices: true leaves the batch (the search is no longer wanted). */
  cancelled?: () => boolean;
  /** Told of each slice the batch ran while this caller was in it: when it began, what it did, and the queries it scanned for. */
  onSlice?: (start: number, step: SliceReport, queries: number) => void;
  /**
   * Settles when the caller's lists have been read ahead (its prefetch; never rejects): a batch
   * takes in only members whose lists are read, so that its slices find their lists cached.
   */
  ready?: Promise<unknown>;
  /** Lists its queries scan first among those they probe (semantic reordering; the result is the same). */
  scanFirst?: readonly number[];
  /** After this many slices, the caller's partial rows go to onPartial (speculation). */
  afterSlices?: number;
  onPartial?: (partial: SearchResult) => Promise<void>;
}

export interface SearchBatches {
  /**
   * This caller's rows (one per query in `queries`) of a search it shares with the other queries
   * ready now; undefined when it was cancelled.
   */
  search(index: StoredIndex, queries: Float32Array, o: BatchSearchOptions): Promise<SearchResult | undefined>;
  /** Batches run, and the queries they held (for tests and benchmarks). */
  readonly stats: { batches: number; queries: number };
}

interface Member {
  queries: Float32Array;
  o: BatchSearchOptions;
  /** Its lists have been read ahead (o.ready settled). */
  ready: boolean;
  /** Its first row in the batch's session. */
  row: number;
  /** The batch it is in (the next one, when it was still reading as its batch closed). */
  batch: Batch;
  left: boolean;
  resolve(r: SearchResult | undefined): void;
  reject(e: unknown): void;
}

interface Batch {
  index: StoredIndex;
  key: string;
  members: Member[];
  /** Aborted when every member has left: the session stops. */
  stop: AbortController;
  /** The open batches of its index and lane, which it leaves when it closes. */
  open: Map<string, Batch>;
}

/** Rows `from`..`from + n` of a result. */
function rowsOf(r: SearchResult, from: number, n: number): SearchResult {
  return { ids: r.ids.slice(from * r.k, (from + n) * r.k), distances: r.distances.slice(from * r.k, (from + n) * r.k), numQueries: n, k: r.k };
}

/** The next turn of the event loop: queries that become ready in this one join the batch. */
const nextTurn = () => new Promise<void>((r) => setTimeout(r, 0));

/** `batch: false`: every caller's search a session of its own (the baseline batching is measured against). */
export function createSearchBatches(o: { batch?: boolean } = {}): SearchBatches {
  const batching = o.batch ?? true;
  // By index and lane (weakly: a closed index or a finished runtime's scheduler is not held here).
  const open = new WeakMap<StoredIndex, WeakMap<object, Map<string, Batch>>>();
  const stats = { batches: 0, queries: 0 };

  /** Adds a member to the open batch of its index, lane and settings, or to a new one it starts. */
  const enqueue = (m: Member, index: StoredIndex, byKey: Map<string, Batch>, key: string) => {
    let b = batching ? byKey.get(key) : undefined;
    if (!b) {
      b = { index, key, members: [], stop: new AbortController(), open: byKey };
      if (batching) byKey.set(key, b);
      void run(b);
    }
    m.batch = b;
    b.members.push(m);
  };

  const run = async (b: Batch) => {
    await nextTurn();
    const live = () => b.members.filter((m) => !m.left);
    const lead = () => live()[0];
    const first = lead();
    if (!first) return;
    // Its first member's lists come in first (I/O, outside the gaps).
    await first.o.ready;
    // The batch closes when its first sub-stage gets its turn: whoever is in by then with its lists
    // read is in it; a member still reading goes on to the next batch, so nobody waits for
    // another's reads.
    let session: Awaited<ReturnType<StoredIndex['searchSession']>> | undefined;
    try {
      session = await first.o.run(async () => {
        if (b.open.get(b.key) === b) b.open.delete(b.key);
        const members = live().filter((m) => m === first || m.ready);
        for (const m of live()) if (!members.includes(m)) enqueue(m, b.index, b.open, b.key);
        if (members.length === 0) return undefined;
        const dim = b.index.dim;
        const rows = new Float32Array(members.reduce((a, m) => a + m.queries.length, 0));
        let at = 0;
        for (const m of members) {
          m.row = at / dim;
          rows.set(m.queries, at);
          at += m.queries.length;
        }
        b.members = members;
        stats.batches++;
        stats.queries += at / dim;
        const { k, nprobe, filter } = first.o;
        const scanFirst = members.flatMap((m) => Array.from({ length: m.queries.length / dim }, () => m.o.scanFirst));
        return b.index.searchSession(rows, {
          k,
          nprobe,
          ...(filter ? { filter: filter.filter } : {}),
          ...(scanFirst.some(Boolean) ? { scanFirst } : {}),
          signal: b.stop.signal,
        });
      });
      if (!session) return;
      let slices = 0;
      while (!session.done) {
        for (const m of live()) if (m.o.cancelled?.()) m.resolve(undefined);
        const leader = lead();
        if (!leader) return;
        // A slice scans its ranks for every query: as many lists as one query's slice would, at most.
        const width = Math.max(1, Math.floor(Math.min(...live().map((m) => m.o.listsPerSlice)) / session.numQueries));
        // Reading the lists is I/O: outside the gaps, so that a slice in a gap only scans.
        await session.prepare?.(width);
        const s0 = performance.now();
        const s = session;
        const step = await (lead() ?? leader).o.run(() => s.step(width));
        slices++;
        for (const m of live()) m.o.onSlice?.(s0, step, session.numQueries);
        const partial = live().filter((m) => m.o.onPartial && m.o.afterSlices === slices);
        if (partial.length > 0 && !session.done) {
          const r = await session.read();
          await Promise.all(partial.map((m) => m.o.onPartial!(rowsOf(r, m.row, m.queries.length / b.index.dim))));
        }
      }
      const result = await session.read();
      for (const m of live()) m.resolve(rowsOf(result, m.row, m.queries.length / b.index.dim));
    } catch (e) {
      for (const m of live()) m.reject(e);
    } finally {
      session?.destroy();
      if (b.open.get(b.key) === b) b.open.delete(b.key);
      for (const m of b.members) m.resolve(undefined); // settled already, or left with the batch stopped
    }
  };

  return {
    stats,
    search(index, queries, o) {
      if (o.signal?.aborted) return Promise.reject(new WeftError('ABORTED', 'The answer was aborted.'));
      const key = `${o.k}|${o.nprobe}|${o.filter?.key ?? ''}`;
      let byLane = open.get(index);
      if (!byLane) open.set(index, (byLane = new WeakMap()));
      const lane = laneOf(o.run);
      let byKey = byLane.get(lane);
      if (!byKey) byLane.set(lane, (byKey = new Map()));
      return new Promise<SearchResult | undefined>((resolve, reject) => {
        // Settling leaves the batch (once); when the last member has left, the session stops.
        const settle = (f: () => void) => {
          if (m.left) return;
          m.left = true;
          o.signal?.removeEventListener('abort', onAbort);
          f();
          if (m.batch.members.every((x) => x.left)) m.batch.stop.abort();
        };
        const m: Member = {
          queries,
          o,
          ready: !o.ready,
          row: 0,
          left: false,
          batch: undefined as unknown as Batch,
          resolve: (r) => settle(() => resolve(r)),
          reject: (e) => settle(() => reject(e)),
        };
        o.ready?.then(() => {
          m.ready = true;
        });
        // An abort leaves the batch at once; the others' search goes on without this caller.
        const onAbort = () => m.reject(new WeftError('ABORTED', 'The answer was aborted.'));
        o.signal?.addEventListener('abort', onAbort, { once: true });
        enqueue(m, index, byKey, key);
      });
    },
  };
}
