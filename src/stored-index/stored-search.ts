// Searching a stored index: the coarse step on the GPU (read back, to know which lists to bring
// in), then every probed list scored by the same WGSL kernel wherever it lives — cached, streamed
// into the cache, in a scratch arena for lists the cache cannot hold, or (missing: 'cpu') as the
// few candidates the CPU could not rule out. Results never depend on what happens to be cached.
// Everything a search reads comes in explicitly: the snapshot it started from and the cache.
// A filtered search brings its allow-list (allow-list.ts): every one of those scans honours it,
// and the search probes past nprobe until the probed lists hold k allowed vectors.
// Over 400 lines: the batch search and the sliced session share the ranking, widening and scan
// helpers kept here.

import { WeftError } from '../errors.js';
import { gpuAwait, type GpuContext } from '../gpu/context.js';
import { bufferFrom } from '../gpu/kernels.js';
import type { ListArena } from './cache/arena.js';
import type { ListCache } from './cache/list-cache.js';
import type { GpuLists } from '../ivf/gpu-lists.js';
import { isFlat } from '../ivf/codec.js';
import { pqProbeTable, pqTables } from '../ivf/pq.js';
import { kernelMetric, mergeResults, preparedQueryBuffer, prepareRows, rankLists, type RankInit } from '../ivf/probe.js';
import { referenceProbes } from '../ivf/reference.js';
import { maxK, openSession, type InternalSession, type ScanTarget } from '../ivf/scan.js';
import type { ListRecord, SearchResult, SearchSession } from '../ivf/types.js';
import type { AllowList } from './allow-list.js';
import { scanFirst } from './probe-order.js';
import { cpuCandidates } from './cpu-scoring.js';
import { gpuCoarse, onGpu, type IndexEnv, type IndexSnapshot } from './snapshot.js';
import { hostRank } from './host-rank.js';

/** What every stored search uses besides its snapshot. */
export interface SearchEnv extends IndexEnv {
  ctx: GpuContext;
  cache: ListCache;
  /** Each query's probed lists, best first (cache policy, access statistics, tracing). */
  onProbed(lists: number[]): void;
}

const readBytes = (records: readonly ListRecord[]) => records.reduce((a, r) => a + r.codes.byteLength + r.ids.byteLength, 0);

function target(env: SearchEnv, snap: IndexSnapshot, lists: GpuLists, pq: PqQueries | undefined): ScanTarget {
  const { sq } = onGpu(snap.trained);
  const book = snap.trained.codebook;
  return {
    layout: env.layout,
    metric: env.metric,
    lists,
    ...(sq ? { sq } : {}),
    ...(book && pq ? { pq: { m: book.m, nbits: book.nbits, tables: pq.tables } } : {}),
  };
}

/**
 * What a 'pq' index's scan of these queries needs: their prepared rows (for the coarse keys of
 * the probe tables) and their lookup tables on the GPU (pq.ts).
 */
interface PqQueries {
  prepared: Float32Array;
  tables: GPUBuffer;
}

/** The PQ side of a search of `prepared` rows, when the index stores PQ codes (the caller destroys `tables`). */
function pqQueries(env: SearchEnv, snap: IndexSnapshot, prepared: Float32Array): PqQueries | undefined {
  const book = snap.trained.codebook;
  return book ? { prepared, tables: bufferFrom(env.ctx, `weft.${env.name}.pqTables`, pqTables(book, prepared)) } : undefined;
}

/**
 * The probe table a scan reads for `lists` (`depth` per query): the list ids, and for a 'pq'
 * index each list's coarse key for its query (which the PQ key adds); other storage types read
 * the list id only.
 */
function probeTable(env: SearchEnv, snap: IndexSnapshot, pq: PqQueries | undefined, lists: Uint32Array, nq: number, depth: number, label: string): GPUBuffer {
  if (pq) return bufferFrom(env.ctx, label, pqProbeTable(kernelMetric(env.metric), pq.prepared, snap.trained.centroids, env.layout.dim, lists, nq, depth));
  const table = new Uint32Array(nq * depth * 2);
  for (let i = 0; i < lists.length; i++) table[2 * i + 1] = lists[i]!;
  return bufferFrom(env.ctx, label, table);
}

/** A scan of `lists` for the queries in `qbuf`, `probeStride` probe entries per query; `allow`: a filtered scan. */
function listScan(
  env: SearchEnv,
  snap: IndexSnapshot,
  lists: GpuLists,
  s: {
    qbuf: GPUBuffer;
    nq: number;
    k: number;
    probes: GPUBuffer;
    probeStride: number;
    nprobe: number;
    owned?: GPUBuffer[];
    allow?: GPUBuffer | undefined;
    pq?: PqQueries | undefined;
  },
): InternalSession {
  return openSession(env.ctx, {
    target: target(env, snap, lists, s.pq),
    queries: s.qbuf,
    queryUnits: env.layout.queryUnits,
    numQueries: s.nq,
    k: s.k,
    probes: s.probes,
    probeStride: s.probeStride,
    nprobe: s.nprobe,
    owned: s.owned ?? [],
    ...(s.allow ? { allow: s.allow } : {}),
  });
}

/** A filtered search's allow-list on the GPU (DEVICE_LIMIT when its bitmap exceeds a storage binding). */
function allowBuffer(env: SearchEnv, allow: AllowList | undefined): GPUBuffer | undefined {
  if (!allow) return undefined;
  const limit = env.ctx.limits.maxStorageBufferBindingSize;
  if (allow.bits.byteLength > limit) {
    throw new WeftError(
      'DEVICE_LIMIT',
      `A filtered search of index '${env.name}' keeps ids up to ${allow.bits.length * 32 - 1}, whose allow bitmap (${allow.bits.byteLength} bytes) exceeds this device's ${limit}-byte storage binding. Add vectors without explicit ids (they are numbered from 0) or filter more narrowly.`,
      { details: { bytes: allow.bits.byteLength, limit } },
    );
  }
  return bufferFrom(env.ctx, `weft.${env.name}.allow`, allow.bits);
}

/** The coarse step read back, and how far each query probes. */
interface Probing {
  /** (key bits, list) per query and rank on the GPU; `stride` entries per query (0: one row shared by all). */
  buffer: GPUBuffer;
  stride: number;
  /** `depth` ranked lists per query, best first. */
  lists: Uint32Array;
  depth: number;
  /** Ranks every query scans (at most depth). */
  nprobe: number;
}

/**
 * How many ranks a filtered search probes: at least `nprobe`, and further down each query's
 * ranking until its probed lists hold `want` allowed vectors; the largest over the queries.
 * `enough`: every query found them within the `depth` ranked lists.
 */
export function widened(allow: AllowList, lists: Uint32Array, nq: number, depth: number, nprobe: number, want: number): { ranks: number; enough: boolean } {
  let ranks = nprobe,
    enough = true;
  for (let q = 0; q < nq; q++) {
    let held = 0,
      r = 0;
    for (; r < depth && (r < nprobe || held < want); r++) held += allow.perList[lists[q * depth + r]!]!;
    ranks = Math.max(ranks, r);
    if (held < want) enough = false;
  }
  return { ranks, enough };
}

/**
 * The coarse step, read back; every query's probed lists go to onProbed. With an allow-list and
 * nprobe < nlist, each query probes beyond nprobe (in rank order) until its probed lists hold k
 * allowed vectors, so that k results come back whenever the index has k that pass the filter.
 */
async function rank(
  env: SearchEnv,
  snap: IndexSnapshot,
  qbuf: GPUBuffer,
  nq: number,
  nprobe: number,
  k: number,
  allow: AllowList | undefined,
  pq: PqQueries | undefined,
): Promise<Probing> {
  const nlist = snap.manifest.nlist;
  if (snap.trained.onHost) {
    const probing = await hostProbing(env, snap, pq!, nq, Math.min(nprobe, nlist), k, allow);
    for (let q = 0; q < nq; q++) env.onProbed(Array.from(probing.lists.subarray(q * probing.depth, q * probing.depth + probing.nprobe)));
    return probing;
  }
  const init: RankInit = {
    centroids: gpuCoarse(snap.trained),
    dim: env.layout.dim,
    nlist,
    metric: env.metric,
    queries: qbuf,
    queryUnits: env.layout.queryUnits,
    numQueries: nq,
    nprobe,
  };
  let probing: Probing;
  if (!allow || nprobe >= nlist) {
    const r = await rankLists(env.ctx, init);
    probing = { buffer: r.buffer, stride: r.stride, lists: r.lists, depth: nprobe, nprobe };
  } else {
    // Rank as deep as one ranking goes (every list, or the device's largest k of them).
    const want = Math.min(k, allow.count);
    const depth = Math.min(nlist, maxK(env.ctx));
    const r = await rankLists(env.ctx, { ...init, nprobe: depth });
    const { ranks, enough } = widened(allow, r.lists, nq, depth, nprobe, want);
    if (!enough && depth < nlist) {
      // Even the deepest ranking does not hold them: probe every list.
      env.ctx.destroyBuffer(r.buffer);
      const all = await rankLists(env.ctx, { ...init, nprobe: nlist });
      probing = { buffer: all.buffer, stride: all.stride, lists: all.lists, depth: nlist, nprobe: nlist };
    } else {
      probing = { buffer: r.buffer, stride: r.stride, lists: r.lists, depth, nprobe: ranks };
    }
  }
  if (pq) {
    // The GPU's ranking carries its own coarse keys (or none, when every list is probed): a PQ
    // scan reads the host's, the same whatever path ranked the lists.
    env.ctx.destroyBuffer(probing.buffer);
    probing = { ...probing, buffer: probeTable(env, snap, pq, probing.lists, nq, probing.depth, 'weft.search.pqProbes'), stride: probing.depth };
  }
  for (let q = 0; q < nq; q++) env.onProbed(Array.from(probing.lists.subarray(q * probing.depth, q * probing.depth + probing.nprobe)));
  return probing;
}

/**
 * rank's coarse step where it runs on the host (grouped lists or coarse codes, host-rank.ts), widened for
 * a filter as rank's: as deep as one GPU ranking goes, or every list when that holds too few.
 */
async function hostProbing(
  env: SearchEnv,
  snap: IndexSnapshot,
  pq: PqQueries,
  nq: number,
  nprobe: number,
  k: number,
  allow: AllowList | undefined,
): Promise<Probing> {
  const nlist = snap.manifest.nlist;
  const ranked = async (depth: number, probe: number): Promise<Probing> => {
    const lists = await hostRank(env, snap.trained, pq.prepared, nq, nprobe, depth);
    return { buffer: probeTable(env, snap, pq, lists, nq, depth, 'weft.search.pqProbes'), stride: depth, lists, depth, nprobe: probe };
  };
  if (!allow || nprobe >= nlist) return ranked(nprobe, nprobe);
  const want = Math.min(k, allow.count);
  const depth = Math.min(nlist, maxK(env.ctx));
  const lists = await hostRank(env, snap.trained, pq.prepared, nq, nprobe, depth);
  const { ranks, enough } = widened(allow, lists, nq, depth, nprobe, want);
  if (!enough && depth < nlist) return ranked(nlist, nlist);
  return { buffer: probeTable(env, snap, pq, lists, nq, depth, 'weft.search.pqProbes'), stride: depth, lists, depth, nprobe: ranks };
}

/** The lists the queries probe: the first `nprobe` ranks of each. */
function probedLists(p: Probing, nq: number): Set<number> {
  const out = new Set<number>();
  for (let q = 0; q < nq; q++) for (let r = 0; r < p.nprobe; r++) out.add(p.lists[q * p.depth + r]!);
  return out;
}

/**
 * The lists a CPU ranking says these queries will probe that are not cached, read from
 * IndexedDB at once: the read then overlaps the GPU's ranking. The GPU's ranking decides; a
 * wrong guess only costs a second read.
 */
function guessMissing(env: SearchEnv, snap: IndexSnapshot, prepared: Float32Array, nq: number, nprobe: number): Promise<ListRecord[] | undefined> | undefined {
  const { dim } = env.layout;
  // Large batches: not worth the CPU time. A coarse step on the host (host-rank.ts): the ranking is there already.
  if (nq * snap.manifest.nlist * dim > 2e7 || snap.trained.onHost) return undefined;
  const guess = new Set<number>();
  for (const lists of referenceProbes(snap.trained.centroids, prepared, dim, env.metric, nprobe)) {
    for (const l of lists) if (!env.cache.has(l)) guess.add(l);
  }
  if (guess.size === 0) return undefined;
  return env.store
    .readLists(
      env.name,
      [...guess].sort((a, b) => a - b),
    )
    .catch(() => undefined);
}

/** Records of `missing`: those the guess already read, the rest read now. */
async function readWithGuess(env: SearchEnv, missing: number[], early: Promise<ListRecord[] | undefined> | undefined): Promise<ListRecord[]> {
  const got = new Map<number, ListRecord>();
  for (const r of (await early) ?? []) got.set(r.list, r);
  const rest = missing.filter((l) => !got.has(l));
  if (rest.length > 0) for (const r of await env.store.readLists(env.name, rest)) got.set(r.list, r);
  return missing.map((l) => got.get(l)!);
}

/**
 * One batch of queries (at most one dispatch's worth), searched in one go. With `allow` (a
 * filtered search) only allowed vectors are results, and each query probes past nprobe until its
 * probed lists hold k of them (see rank).
 */
export async function searchBatch(
  env: SearchEnv,
  snap: IndexSnapshot,
  queries: Float32Array,
  k: number,
  nprobe: number,
  mode: 'stream' | 'cpu',
  allow?: AllowList,
): Promise<SearchResult> {
  const { ctx, cache } = env;
  const nq = queries.length / env.layout.dim;
  const prepared = prepareRows(env.metric, queries, env.layout.dim);
  const qbuf = preparedQueryBuffer(ctx, 'weft.search.queries', env.layout, prepared);
  let probes: GPUBuffer | undefined;
  let allowBuf: GPUBuffer | undefined;
  let pq: PqQueries | undefined;
  const lease = cache.lease();
  const arenas: ListArena[] = [];
  const scans: InternalSession[] = [];
  try {
    allowBuf = allowBuffer(env, allow);
    pq = pqQueries(env, snap, prepared);
    const ranked = rank(env, snap, qbuf, nq, nprobe, k, allow, pq);
    const early = guessMissing(env, snap, prepared, nq, nprobe);
    const ranking = await ranked;
    probes = ranking.buffer;
    const wanted = probedLists(ranking, nq);
    const missing = lease.pinCached(wanted);
    const scan = (lists: GpuLists, p = { probes: ranking.buffer, probeStride: ranking.stride, nprobe: ranking.nprobe }, owned?: GPUBuffer[]) => {
      const s = listScan(env, snap, lists, { qbuf, nq, k, ...p, ...(owned ? { owned } : {}), allow: allowBuf, pq });
      scans.push(s);
      s.submit();
    };
    const { layout } = env;
    // 'pq' lists are always streamed: their candidates' codes would have to be re-encoded for a scratch list.
    if (missing.length > 0 && mode === 'cpu' && isFlat(layout)) {
      scan(cache.lists); // the GPU starts on the cached lists; the CPU scores the missing ones meanwhile
      const records = await readWithGuess(env, missing, early);
      cache.noteStreamed(records);
      const cpu = cpuCandidates(ctx, `weft.${env.name}.cpuCandidates`, {
        layout,
        metric: env.metric,
        quantizer: snap.trained.quantizer,
        records,
        probeLists: ranking.lists,
        probeStride: ranking.depth,
        queries: prepared,
        numQueries: nq,
        nprobe: ranking.nprobe,
        k,
        ...(allow ? { allow } : {}),
      });
      arenas.push(cpu.scratch);
      scan(cpu.scratch, { probes: cpu.probes, probeStride: 1, nprobe: 1 }, [cpu.probes]);
      for (const r of records) cache.insert(r, wanted); // cached for later searches, not holding this one up
    } else {
      let leftovers: ListRecord[] = [];
      if (missing.length > 0) {
        const records = await readWithGuess(env, missing, early);
        cache.noteStreamed(records);
        leftovers = lease.admit(records, wanted);
      }
      scan(cache.lists);
      if (leftovers.length > 0) {
        arenas.push(cache.scratch(`weft.${env.name}.scratch`, leftovers));
        scan(arenas[0]!);
      }
    }
    const results: SearchResult[] = [];
    for (const s of scans) results.push(await s.read());
    return mergeResults(results, env.metric, k);
  } finally {
    for (const s of scans) s.destroy();
    lease.release();
    for (const a of arenas) a.destroy();
    ctx.destroyBuffer(qbuf);
    ctx.destroyBuffer(probes);
    ctx.destroyBuffer(allowBuf);
    ctx.destroyBuffer(pq?.tables);
  }
}

/**
 * The ranking with each query's lists in `first` scanned first (probe-order.ts): the probe table
 * the scan reads is written anew (one row per query) when anything moved.
 */
function reordered(
  env: SearchEnv,
  snap: IndexSnapshot,
  pq: PqQueries | undefined,
  ranking: Probing,
  nq: number,
  first: readonly (ReadonlySet<number> | undefined)[],
): Probing {
  if (!first.some((f) => f && f.size > 0)) return ranking;
  const lists = ranking.lists.slice();
  if (!scanFirst(lists, nq, ranking.depth, ranking.nprobe, first)) return ranking;
  const buffer = probeTable(env, snap, pq, lists, nq, ranking.depth, 'weft.session.reorderedProbes');
  env.ctx.destroyBuffer(ranking.buffer);
  return { ...ranking, lists, buffer, stride: ranking.depth };
}

/**
 * A search cut into slices of a few probe ranks (HedraRAG's cluster-sized sub-stages): each
 * step brings in the lists it needs (cache, or a scratch arena for this slice) and scans them.
 * `exclusive` runs a step as the index's next operation; a commit since the session opened
 * ends it with CONFLICT.
 */
export async function openStoredSession(
  env: SearchEnv,
  snap: IndexSnapshot,
  queries: Float32Array,
  k: number,
  probe: number,
  exclusive: <T>(fn: (current: IndexSnapshot) => Promise<T>) => Promise<T>,
  allow?: AllowList,
  first: readonly (ReadonlySet<number> | undefined)[] = [],
): Promise<SearchSession> {
  const { ctx, cache } = env;
  const nq = queries.length / env.layout.dim;
  const trained = snap.trained.retain();
  const prepared = prepareRows(env.metric, queries, env.layout.dim);
  const qbuf = preparedQueryBuffer(ctx, 'weft.session.queries', env.layout, prepared);
  let ranking: Probing;
  let main: InternalSession;
  let allowBuf: GPUBuffer | undefined;
  let pq: PqQueries | undefined;
  try {
    allowBuf = allowBuffer(env, allow);
    pq = pqQueries(env, snap, prepared);
    ranking = await rank(env, snap, qbuf, nq, probe, k, allow, pq);
    ranking = reordered(env, snap, pq, ranking, nq, first);
    // Lists enter the cache between steps: size the scan for the largest list there is, not for
    // what happens to be cached when the session opens.
    const largest = Math.max(1, ...snap.manifest.listCounts);
    const cacheView: GpuLists = Object.create(cache.lists, { maxSegment: { value: largest } });
    main = listScan(env, snap, cacheView, { qbuf, nq, k, probes: ranking.buffer, probeStride: ranking.stride, nprobe: ranking.nprobe, allow: allowBuf, pq });
  } catch (e) {
    ctx.destroyBuffer(qbuf);
    ctx.destroyBuffer(allowBuf);
    ctx.destroyBuffer(pq?.tables);
    if (ranking!) ctx.destroyBuffer(ranking.buffer);
    trained.release();
    throw e;
  }
  // A filtered session may probe past the nprobe asked for (see rank): this is how far it goes.
  const { nprobe, depth } = ranking;
  const partials: SearchResult[] = [];
  let released = false;
  // Records read ahead by prepare() for the next step, until it takes them.
  const staged = new Map<number, ListRecord>();
  const listsOf = (r0: number, r1: number) => {
    const wanted = new Set<number>();
    for (let q = 0; q < nq; q++) for (let r = r0; r < r1; r++) wanted.add(ranking.lists[q * depth + r]!);
    return wanted;
  };
  const span = (count: number | undefined) => {
    const want = count ?? nprobe - main.scanned;
    if (!Number.isInteger(want) || want < 1) throw new WeftError('INVALID_OPTION', `step() takes a positive whole number of lists; got ${String(count)}.`);
    return Math.min(nprobe, main.scanned + want);
  };

  const slice = async (r0: number, r1: number) => {
    const wanted = listsOf(r0, r1);
    const lease = cache.lease();
    let scratch: ListArena | undefined;
    try {
      const missing = lease.pinCached(wanted);
      const unread = missing.filter((l) => !staged.has(l));
      const read = unread.length ? await env.store.readLists(env.name, unread) : [];
      const records = [...missing.filter((l) => staged.has(l)).map((l) => staged.get(l)!), ...read];
      staged.clear();
      cache.noteStreamed(records);
      const leftovers = lease.admit(records, wanted);
      main.submit(r1 - r0);
      if (leftovers.length) {
        // Lists the cache cannot hold are scanned from a scratch arena for this slice only, with
        // only this slice's ranks (an earlier slice may have scanned the same list for another
        // query's earlier rank).
        scratch = cache.scratch(`weft.${env.name}.scratch`, leftovers);
        const width = r1 - r0;
        const lists = new Uint32Array(nq * width);
        for (let q = 0; q < nq; q++) for (let r = 0; r < width; r++) lists[q * width + r] = ranking.lists[q * depth + r0 + r]!;
        const sliceProbes = probeTable(env, snap, pq, lists, nq, width, 'weft.session.sliceProbes');
        const part = listScan(env, snap, scratch, {
          qbuf,
          nq,
          k,
          probes: sliceProbes,
          probeStride: width,
          nprobe: width,
          owned: [sliceProbes],
          allow: allowBuf,
          pq,
        });
        part.submit(width);
        partials.push(await part.read());
        part.destroy();
      } else {
        await gpuAwait(ctx, ctx.device.queue.onSubmittedWorkDone(), 'Searching');
      }
      return { lists: (r1 - r0) * nq, streamedBytes: readBytes(records) };
    } finally {
      lease.release();
      scratch?.destroy();
    }
  };

  const session: SearchSession = {
    numQueries: nq,
    k,
    nprobe,
    get scanned() {
      return main.scanned;
    },
    get done() {
      return main.done;
    },
    step(count) {
      return exclusive(async (current) => {
        if (released) throw new WeftError('SEARCH_FINISHED', 'This search session was already read and released.');
        if (current.manifest.generation !== snap.manifest.generation) {
          throw new WeftError('CONFLICT', `Index '${env.name}' changed during the search; start it again.`);
        }
        if (main.done) throw new WeftError('SEARCH_FINISHED', `All ${nprobe} probed lists were already scanned; call read().`);
        return slice(main.scanned, span(count));
      });
    },
    async prepare(count) {
      if (released || main.done) return;
      const need = [...listsOf(main.scanned, span(count))].filter((l) => !cache.has(l) && !staged.has(l));
      if (need.length === 0) return;
      for (const r of await env.store.readLists(env.name, need)) staged.set(r.list, r);
    },
    async read() {
      const r = await main.read();
      const result = mergeResults([r, ...partials], env.metric, k);
      if (main.done) session.destroy();
      return result;
    },
    destroy() {
      if (released) return;
      released = true;
      main.destroy();
      ctx.destroyBuffer(qbuf);
      ctx.destroyBuffer(ranking.buffer);
      ctx.destroyBuffer(allowBuf);
      ctx.destroyBuffer(pq?.tables);
      trained.release();
    },
  };
  return session;
}
