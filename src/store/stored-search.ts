// Searching a stored index: the coarse step on the GPU (read back, to know which lists to bring
// in), then every probed list scored by the same WGSL kernel wherever it lives — cached, streamed
// into the cache, in a scratch arena for lists the cache cannot hold, or (missing: 'cpu') as the
// few candidates the CPU could not rule out. Results never depend on what happens to be cached.
// Everything a search reads comes in explicitly: the snapshot it started from and the cache.

import { WeftError } from '../errors.js';
import { gpuAwait } from '../gpu/context.js';
import { bufferFrom } from '../gpu/kernels.js';
import type { ListArena } from '../cache/arena.js';
import type { ListCache } from '../cache/list-cache.js';
import type { GpuLists } from '../ivf/gpu-lists.js';
import { mergeResults, preparedQueryBuffer, prepareRows, queryBuffer, rankLists, type RankInit } from '../ivf/probe.js';
import { referenceProbes } from '../ivf/reference.js';
import { openSession, type InternalSession, type ScanTarget } from '../ivf/scan.js';
import type { ListRecord, SearchResult, SearchSession } from '../ivf/types.js';
import { cpuCandidates } from './cpu-scoring.js';
import type { IndexEnv, IndexSnapshot } from './snapshot.js';

/** What every stored search uses besides its snapshot. */
export interface SearchEnv extends IndexEnv {
  cache: ListCache;
  /** Each query's probed lists, best first (cache policy, access statistics, tracing). */
  onProbed(lists: number[]): void;
}

const readBytes = (records: readonly ListRecord[]) => records.reduce((a, r) => a + r.codes.byteLength + r.ids.byteLength, 0);

function target(env: SearchEnv, snap: IndexSnapshot, lists: GpuLists): ScanTarget {
  return { layout: env.layout, metric: env.metric, lists, ...(snap.trained.sq ? { sq: snap.trained.sq } : {}) };
}

/** A scan of `lists` for the queries in `qbuf`, `probeStride` probe entries per query. */
function listScan(env: SearchEnv, snap: IndexSnapshot, lists: GpuLists, s: { qbuf: GPUBuffer; nq: number; k: number; probes: GPUBuffer; probeStride: number; nprobe: number; owned?: GPUBuffer[] }): InternalSession {
  return openSession(env.ctx, {
    target: target(env, snap, lists), queries: s.qbuf, queryUnits: env.layout.queryUnits, numQueries: s.nq, k: s.k,
    probes: s.probes, probeStride: s.probeStride, nprobe: s.nprobe, owned: s.owned ?? [],
  });
}

/** The coarse step, read back; every query's probed lists go to onProbed. */
async function rank(env: SearchEnv, snap: IndexSnapshot, qbuf: GPUBuffer, nq: number, nprobe: number) {
  const init: RankInit = {
    centroids: snap.trained.coarse, dim: env.layout.dim, nlist: snap.manifest.nlist, metric: env.metric,
    queries: qbuf, queryUnits: env.layout.queryUnits, numQueries: nq, nprobe,
  };
  const ranking = await rankLists(env.ctx, init);
  for (let q = 0; q < nq; q++) env.onProbed(Array.from(ranking.lists.subarray(q * nprobe, (q + 1) * nprobe)));
  return ranking;
}

/**
 * The lists a CPU ranking says these queries will probe that are not cached, read from
 * IndexedDB at once: the read then overlaps the GPU's ranking. The GPU's ranking decides; a
 * wrong guess only costs a second read.
 */
function guessMissing(env: SearchEnv, snap: IndexSnapshot, prepared: Float32Array, nq: number, nprobe: number): Promise<ListRecord[] | undefined> | undefined {
  const { dim } = env.layout;
  if (nq * snap.manifest.nlist * dim > 2e7) return undefined; // large batches: not worth the CPU time
  const guess = new Set<number>();
  for (const lists of referenceProbes(snap.trained.centroids, prepared, dim, env.metric, nprobe)) {
    for (const l of lists) if (!env.cache.has(l)) guess.add(l);
  }
  if (guess.size === 0) return undefined;
  return env.store.readLists(env.name, [...guess].sort((a, b) => a - b)).catch(() => undefined);
}

/** Records of `missing`: those the guess already read, the rest read now. */
async function readWithGuess(env: SearchEnv, missing: number[], early: Promise<ListRecord[] | undefined> | undefined): Promise<ListRecord[]> {
  const got = new Map<number, ListRecord>();
  for (const r of (await early) ?? []) got.set(r.list, r);
  const rest = missing.filter((l) => !got.has(l));
  if (rest.length > 0) for (const r of await env.store.readLists(env.name, rest)) got.set(r.list, r);
  return missing.map((l) => got.get(l)!);
}

/** One batch of queries (at most one dispatch's worth), searched in one go. */
export async function searchBatch(env: SearchEnv, snap: IndexSnapshot, queries: Float32Array, k: number, nprobe: number, mode: 'stream' | 'cpu'): Promise<SearchResult> {
  const { ctx, cache } = env;
  const nq = queries.length / env.layout.dim;
  const prepared = prepareRows(env.metric, queries, env.layout.dim);
  const qbuf = preparedQueryBuffer(ctx, 'weft.search.queries', env.layout, prepared);
  let probes: GPUBuffer | undefined;
  const lease = cache.lease();
  const arenas: ListArena[] = [];
  const scans: InternalSession[] = [];
  try {
    const ranked = rank(env, snap, qbuf, nq, nprobe);
    const early = guessMissing(env, snap, prepared, nq, nprobe);
    const ranking = await ranked;
    probes = ranking.buffer;
    const wanted = new Set(ranking.lists);
    const missing = lease.pinCached(wanted);
    const scan = (lists: GpuLists, p = { probes: ranking.buffer, probeStride: ranking.stride, nprobe }, owned?: GPUBuffer[]) => {
      const s = listScan(env, snap, lists, { qbuf, nq, k, ...p, ...(owned ? { owned } : {}) });
      scans.push(s);
      s.submit();
    };
    if (missing.length > 0 && mode === 'cpu') {
      scan(cache.lists); // the GPU starts on the cached lists; the CPU scores the missing ones meanwhile
      const records = await readWithGuess(env, missing, early);
      cache.noteStreamed(records);
      const cpu = cpuCandidates(ctx, `weft.${env.name}.cpuCandidates`, {
        layout: env.layout, metric: env.metric, quantizer: snap.trained.quantizer,
        records, probeLists: ranking.lists, queries: prepared, numQueries: nq, nprobe, k,
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
  }
}

/**
 * A search cut into slices of a few probe ranks (HedraRAG's cluster-sized sub-stages): each
 * step brings in the lists it needs (cache, or a scratch arena for this slice) and scans them.
 * `exclusive` runs a step as the index's next operation; a commit since the session opened
 * ends it with CONFLICT.
 */
export async function openStoredSession(env: SearchEnv, snap: IndexSnapshot, queries: Float32Array, k: number, nprobe: number,
  exclusive: <T>(fn: (current: IndexSnapshot) => Promise<T>) => Promise<T>): Promise<SearchSession> {
  const { ctx, cache } = env;
  const nq = queries.length / env.layout.dim;
  const trained = snap.trained.retain();
  const qbuf = queryBuffer(ctx, 'weft.session.queries', env.layout, env.metric, queries);
  let ranking: Awaited<ReturnType<typeof rank>>;
  let main: InternalSession;
  try {
    ranking = await rank(env, snap, qbuf, nq, nprobe);
    // Lists enter the cache between steps: size the scan for the largest list there is, not for
    // what happens to be cached when the session opens.
    const largest = Math.max(1, ...snap.manifest.listCounts);
    const cacheView: GpuLists = Object.create(cache.lists, { maxSegment: { value: largest } });
    main = listScan(env, snap, cacheView, { qbuf, nq, k, probes: ranking.buffer, probeStride: ranking.stride, nprobe });
  } catch (e) {
    ctx.destroyBuffer(qbuf);
    if (ranking!) ctx.destroyBuffer(ranking.buffer);
    trained.release();
    throw e;
  }
  const partials: SearchResult[] = [];
  let released = false;

  const slice = async (r0: number, r1: number) => {
    const wanted = new Set<number>();
    for (let q = 0; q < nq; q++) for (let r = r0; r < r1; r++) wanted.add(ranking.lists[q * nprobe + r]!);
    const lease = cache.lease();
    let scratch: ListArena | undefined;
    try {
      const missing = lease.pinCached(wanted);
      const records = missing.length ? await env.store.readLists(env.name, missing) : [];
      cache.noteStreamed(records);
      const leftovers = lease.admit(records, wanted);
      main.submit(r1 - r0);
      if (leftovers.length) {
        // Lists the cache cannot hold are scanned from a scratch arena for this slice only, with
        // only this slice's ranks (an earlier slice may have scanned the same list for another
        // query's earlier rank).
        scratch = cache.scratch(`weft.${env.name}.scratch`, leftovers);
        const width = r1 - r0;
        const table = new Uint32Array(nq * width * 2);
        for (let q = 0; q < nq; q++) for (let r = 0; r < width; r++) table[(q * width + r) * 2 + 1] = ranking.lists[q * nprobe + r0 + r]!;
        const sliceProbes = bufferFrom(ctx, 'weft.session.sliceProbes', table);
        const part = listScan(env, snap, scratch, { qbuf, nq, k, probes: sliceProbes, probeStride: width, nprobe: width, owned: [sliceProbes] });
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
    numQueries: nq, k, nprobe,
    get scanned() { return main.scanned; },
    get done() { return main.done; },
    step(count) {
      return exclusive(async (current) => {
        if (released) throw new WeftError('SEARCH_FINISHED', 'This search session was already read and released.');
        if (current.manifest.generation !== snap.manifest.generation) {
          throw new WeftError('CONFLICT', `Index '${env.name}' changed during the search; start it again.`);
        }
        if (main.done) throw new WeftError('SEARCH_FINISHED', `All ${nprobe} probed lists were already scanned; call read().`);
        const want = count ?? nprobe - main.scanned;
        if (!Number.isInteger(want) || want < 1) throw new WeftError('INVALID_OPTION', `step() takes a positive whole number of lists; got ${String(count)}.`);
        return slice(main.scanned, Math.min(nprobe, main.scanned + want));
      });
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
      trained.release();
    },
  };
  return session;
}
