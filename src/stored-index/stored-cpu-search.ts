// Searching a stored index on the CPU backend (no WebGPU): the coarse step ranks the centroids,
// the probed lists come from the decoded-list cache (cpu-list-cache.ts) or are read from the
// store and decoded, and each query keeps one running top-k, with the scan kernel's arithmetic
// (src/ivf/cpu-search.ts), so results equal the GPU path's. Filters and sessions work as in
// stored-search.ts: a filtered search probes past nprobe until its probed lists hold k allowed
// vectors, and a session scans a few probe ranks per step. JS on the calling thread for now,
// handing the page a turn every few milliseconds of a long scan (WASM SIMD or workers would go here).

import { scanFirst } from './probe-order.js';
import { WeftError } from '../errors.js';
import { cpuQueries, cpuRank, cpuScan, topKResult, TopK, type DecodedList } from '../ivf/cpu-search.js';
import { hostRank } from './host-rank.js';
import { createYielder } from '../ivf/cpu-yield.js';
import type { QuadScanner } from '../ivf/cpu-simd.js';
import { coarseKey, pqRowKeys, pqTables, type PqCodebook } from '../ivf/pq.js';
import { kernelMetric, prepareRows } from '../ivf/probe.js';
import { MAX_K, NO_ID, type SearchResult, type SearchSession } from '../ivf/types.js';
import type { AllowList } from './allow-list.js';
import type { CpuListCache } from './cache/cpu-list-cache.js';
import type { IndexEnv, IndexSnapshot } from './snapshot.js';
import { widened } from './stored-search.js';

/** What every CPU search uses besides its snapshot. */
export interface CpuSearchEnv extends IndexEnv {
  cache: CpuListCache;
  /** The index's WebAssembly SIMD scanner (createQuadScanner), or undefined: the scalar kernel. */
  scanner: QuadScanner | undefined;
  /** Each query's probed lists, best first (cache policy, access statistics, tracing). */
  onProbed(lists: number[]): void;
}

/** The coarse step: `depth` ranked lists per query, of which the first `nprobe` are probed. */
interface CpuProbing {
  lists: Uint32Array;
  depth: number;
  nprobe: number;
}

/**
 * As stored-search.ts's rank: a filtered search widens nprobe until k allowed vectors are probed.
 * `prepared`: the queries as the search prepares them, `padded` as the CPU scan reads them.
 */
async function rank(
  env: CpuSearchEnv,
  snap: IndexSnapshot,
  prepared: Float32Array,
  padded: Float32Array,
  nq: number,
  nprobe: number,
  k: number,
  allow?: AllowList,
): Promise<CpuProbing> {
  const { nlist } = snap.manifest;
  const probe = Math.min(nprobe, nlist);
  const ranked = async (depth: number) =>
    snap.trained.onHost
      ? hostRank(env, snap.trained, prepared, nq, probe, depth)
      : cpuRank(env.scanner, snap.trained.centroids, padded, env.layout, env.metric, depth);
  let p: CpuProbing;
  if (!allow || nprobe >= nlist) {
    p = { lists: await ranked(nprobe), depth: nprobe, nprobe };
  } else {
    const depth = Math.min(nlist, MAX_K);
    const lists = await ranked(depth);
    const { ranks, enough } = widened(allow, lists, nq, depth, nprobe, Math.min(k, allow.count));
    p = !enough && depth < nlist ? { lists: await ranked(nlist), depth: nlist, nprobe: nlist } : { lists, depth, nprobe: ranks };
  }
  for (let q = 0; q < nq; q++) env.onProbed(Array.from(p.lists.subarray(q * p.depth, q * p.depth + p.nprobe)));
  return p;
}

/** A 'pq' index's search on the CPU: the codebook, the queries' prepared rows and their tables. */
interface CpuPq {
  book: PqCodebook;
  centroids: Float32Array;
  prepared: Float32Array;
  tables: Float32Array;
}

/** The PQ side of a CPU search of `prepared` rows, when the index stores PQ codes. */
function cpuPq(snap: IndexSnapshot, prepared: Float32Array): CpuPq | undefined {
  const book = snap.trained.codebook;
  return book ? { book, centroids: snap.trained.centroids, prepared, tables: pqTables(book, prepared) } : undefined;
}

/** Query q's PQ keys for `list` into its top-k, as the scan kernel's PQ variant scores them (the coarse key as stored-search.ts's probe table has it). */
function pqScanList(env: CpuSearchEnv, pq: CpuPq, top: TopK, list: DecodedList, q: number, allow?: AllowList): void {
  const { dim } = env.layout;
  const { book } = pq;
  const metric = kernelMetric(env.metric);
  const coarse = coarseKey(metric, pq.prepared, q, pq.centroids, list.list, dim);
  const table = pq.tables.subarray(q * book.m * book.ksub, (q + 1) * book.m * book.ksub);
  const keys = pqRowKeys(book, table, list.pqRows!, list.ids.length, env.layout, coarse, metric);
  for (let s = 0; s < list.ids.length; s++) {
    const id = list.ids[s]!;
    if (id === NO_ID || (allow && !allow.has(id))) continue;
    top.offer(keys[s]!, id);
  }
}

/** The decoded lists among `wanted`: cached ones, the rest read from the store (and cached where they fit). */
async function load(env: CpuSearchEnv, wanted: ReadonlySet<number>): Promise<{ lists: Map<number, DecodedList>; streamedBytes: number }> {
  const lists = new Map<number, DecodedList>();
  const missing: number[] = [];
  for (const l of [...wanted].sort((a, b) => a - b)) {
    const d = env.cache.get(l);
    if (d) lists.set(l, d);
    else missing.push(l);
  }
  let streamedBytes = 0;
  if (missing.length > 0) {
    const records = await env.store.readLists(env.name, missing);
    env.cache.noteStreamed(records);
    for (const r of records) {
      streamedBytes += r.codes.byteLength + r.ids.byteLength;
      lists.set(r.list, env.cache.take(r, wanted));
    }
  }
  return { lists, streamedBytes };
}

/**
 * Probe ranks [r0, r1) of every query scanned into its running top-k, list by list (each list's
 * vectors loaded into the scanner once for all the queries that probe it: a top-k does not
 * depend on the order its candidates come in).
 */
async function scanRanks(
  env: CpuSearchEnv,
  p: CpuProbing,
  queries: Float32Array,
  tops: TopK[],
  r0: number,
  r1: number,
  allow: AllowList | undefined,
  pq: CpuPq | undefined,
): Promise<number> {
  const probers = new Map<number, number[]>();
  for (let q = 0; q < tops.length; q++) {
    for (let r = r0; r < r1; r++) {
      const l = p.lists[q * p.depth + r]!;
      let qs = probers.get(l);
      if (!qs) {
        qs = [];
        probers.set(l, qs);
      }
      qs.push(q);
    }
  }
  const { lists, streamedBytes } = await load(env, new Set(probers.keys()));
  const pause = createYielder();
  for (const [l, qs] of probers) {
    const list = lists.get(l)!;
    if (list.ids.length === 0) continue;
    if (pq) {
      for (const q of qs) pqScanList(env, pq, tops[q]!, list, q, allow);
    } else {
      env.scanner?.load(list.quads, env.layout.dimPad);
      for (const q of qs) cpuScan(env.scanner, tops[q]!, list, queries, q, env.layout, env.metric, allow);
    }
    const wait = pause();
    if (wait) await wait;
  }
  return streamedBytes;
}

/** A batch of queries searched at once, as searchBatch on the GPU. */
export async function cpuSearchBatch(
  env: CpuSearchEnv,
  snap: IndexSnapshot,
  queries: Float32Array,
  k: number,
  nprobe: number,
  allow?: AllowList,
): Promise<SearchResult> {
  const nq = queries.length / env.layout.dim;
  const prepared = prepareRows(env.metric, queries, env.layout.dim);
  const padded = cpuQueries(prepared, env.layout);
  const p = await rank(env, snap, prepared, padded, nq, nprobe, k, allow);
  const tops = Array.from({ length: nq }, () => new TopK(k));
  try {
    await scanRanks(env, p, padded, tops, 0, p.nprobe, allow, cpuPq(snap, prepared));
  } finally {
    env.cache.trim();
  }
  return topKResult(tops, env.metric, k);
}

/** A search in slices of a few probe ranks, as openStoredSession on the GPU (CONFLICT if the index changes in between); `first`: see scanFirst. */
export async function openCpuSession(
  env: CpuSearchEnv,
  snap: IndexSnapshot,
  queries: Float32Array,
  k: number,
  probe: number,
  exclusive: <T>(fn: (current: IndexSnapshot) => Promise<T>) => Promise<T>,
  allow?: AllowList,
  first: readonly (ReadonlySet<number> | undefined)[] = [],
): Promise<SearchSession> {
  const nq = queries.length / env.layout.dim;
  const prepared = prepareRows(env.metric, queries, env.layout.dim);
  const padded = cpuQueries(prepared, env.layout);
  const pq = cpuPq(snap, prepared);
  const p = await rank(env, snap, prepared, padded, nq, probe, k, allow);
  scanFirst(p.lists, nq, p.depth, p.nprobe, first);
  const { nprobe } = p;
  const tops = Array.from({ length: nq }, () => new TopK(k));
  let scanned = 0;
  let released = false;
  const finished = () => new WeftError('SEARCH_FINISHED', 'This search session was already read and released.');

  const session: SearchSession = {
    numQueries: nq,
    k,
    nprobe,
    get scanned() {
      return scanned;
    },
    get done() {
      return scanned >= nprobe;
    },
    step(count) {
      return exclusive(async (current) => {
        if (released) throw finished();
        if (current.manifest.generation !== snap.manifest.generation) {
          throw new WeftError('CONFLICT', `Index '${env.name}' changed during the search; start it again.`);
        }
        if (scanned >= nprobe) throw new WeftError('SEARCH_FINISHED', `All ${nprobe} probed lists were already scanned; call read().`);
        const want = count ?? nprobe - scanned;
        if (!Number.isInteger(want) || want < 1) throw new WeftError('INVALID_OPTION', `step() takes a positive whole number of lists; got ${String(count)}.`);
        const r0 = scanned,
          r1 = Math.min(nprobe, scanned + want);
        try {
          const streamedBytes = await scanRanks(env, p, padded, tops, r0, r1, allow, pq);
          scanned = r1;
          return { lists: (r1 - r0) * nq, streamedBytes };
        } finally {
          env.cache.trim();
        }
      });
    },
    async read() {
      if (released) throw finished();
      const result = topKResult(tops, env.metric, k);
      if (scanned >= nprobe) session.destroy();
      return result;
    },
    destroy() {
      released = true;
    },
  };
  return session;
}
