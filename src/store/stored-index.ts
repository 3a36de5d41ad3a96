// An IVF index that lives in IndexedDB and caches its hot lists on the GPU. The coarse step
// (centroids) is always on the GPU; probed lists that are not cached are read from IndexedDB
// (checksums verified) and streamed into the cache, or, when they cannot be cached, into a
// scratch arena for this search only. Every probed list is scored by the same WGSL kernel, so
// results never depend on what happens to be cached: cold, warm, or a cache smaller than one
// list give the same top-k, bit for bit.

import { WeftError } from '../errors.js';
import { contextFrom, type GpuContext, type GpuOption } from '../gpu/context.js';
import { bufferFrom, readBack } from '../gpu/kernels.js';
import { createListArena, type ListArena } from '../cache/arena.js';
import { createPolicy, type CachePolicy, type CachePolicyName } from '../cache/policy.js';
import {
  appendInterleaved, decodeRows, deinterleave, encodeRows, layoutFor, normalizeRows, padRows, interleave,
  type Layout, type ScalarQuantizer,
} from '../ivf/codec.js';
import { uploadLists, type GpuLists } from '../ivf/gpu-lists.js';
import { createIvfIndex } from '../ivf/ivf.js';
import { assignNearest, uploadPoints } from '../ivf/kmeans.js';
import { maxK, openSession, type InternalSession, type ScanTarget } from '../ivf/scan.js';
import { NO_ID, type Metric, type SearchResult, type StorageType } from '../ivf/types.js';
import { checkIds, checkK, checkVectors } from '../ivf/validate.js';
import type { ChunkRecord, ListRecord, Manifest, WeftStore } from './idb-store.js';

/**
 * How unbalanced the lists are, as FAISS measures it: nlist · Σ nᵢ² / (Σ nᵢ)², 1 when every
 * list holds the same number of vectors, nlist when one list holds them all.
 */
export function imbalanceFactor(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 1;
  return (counts.length * counts.reduce((a, b) => a + b * b, 0)) / (total * total);
}

export interface CacheOptions extends GpuOption {
  /** GPU bytes for cached lists. Default: twice the index's size when opened (at least 16 MiB), at most 512 MiB and 4 storage bindings. */
  cacheBytes?: number;
  /** Replacement policy. Default 'hotness'. */
  cachePolicy?: CachePolicyName;
  /** Hotness decay per request (TeleRAG halves: 0.5, the default); closer to 1 remembers longer. */
  hotnessDecay?: number;
  /** After each search the coldest lists are evicted until the cache is at most this fraction of its budget. Default 0.9. */
  cacheFill?: number;
  /** Preload the hottest lists (by persisted access counts) on open. Default true. */
  preload?: boolean;
  /** add() retrains the index when the lists' imbalance factor exceeds this. Default 8; Infinity never. */
  rebuildImbalance?: number;
  /** Called with each query's probed lists, best first (tracing, cache studies). */
  onProbe?: (lists: number[]) => void;
}

export interface CreateStoredIndexOptions extends CacheOptions {
  store: WeftStore;
  name: string;
  dim: number;
  nlist: number;
  metric?: Metric;
  storage?: StorageType;
  modelId?: string;
  seed?: number;
  niter?: number;
  maxTrainPointsPerCentroid?: number;
}

export interface OpenStoredIndexOptions extends CacheOptions {
  store: WeftStore;
  name: string;
}

export interface SearchOptionsStored { k?: number; nprobe?: number; missing?: 'stream' | 'cpu' }

export interface StoredSearchSession {
  readonly numQueries: number;
  readonly k: number;
  readonly nprobe: number;
  readonly scanned: number;
  readonly done: boolean;
  /** Scans the next `lists` probe ranks of every query (default: all that remain). */
  step(lists?: number): Promise<{ lists: number; streamedBytes: number }>;
  /** The running top-k (the final result once done); releases the session once done. */
  read(): Promise<SearchResult>;
  destroy(): void;
}

export interface ChunkInput { docId: string; text?: string; metadata?: Record<string, unknown> }

export interface CacheStats {
  budget: number; used: number; resident: number;
  hits: number; misses: number; streamedBytes: number; scratchLists: number;
}

export interface PrefetchHandle {
  /** Lists in the order they will be streamed. */
  readonly planned: readonly number[];
  /** Lists that have arrived in the cache so far. */
  readonly arrived: readonly number[];
  readonly done: Promise<{ arrived: number[]; bytes: number; cancelled: boolean }>;
  cancel(): void;
}

export interface StoredIndex {
  readonly name: string;
  readonly dim: number;
  readonly metric: Metric;
  readonly storage: StorageType;
  readonly nlist: number;
  readonly size: number;
  readonly manifest: Manifest;
  readonly gpu: GpuContext;
  /**
   * Adds vectors (and their chunks) in one commit. `replaceDocuments`: every vector of these
   * documents already in the index is deleted in the same commit (re-ingesting a document).
   */
  add(vectors: Float32Array, options?: { ids?: ArrayLike<number>; chunks?: readonly ChunkInput[]; replaceDocuments?: readonly string[]; signal?: AbortSignal }): Promise<Uint32Array>;
  /** Deletes vectors by id: tombstoned at once (never returned again), removed from their list records by compact(). */
  delete(ids: ArrayLike<number>, options?: { signal?: AbortSignal }): Promise<number>;
  deleteDocument(docId: string, options?: { signal?: AbortSignal }): Promise<number>;
  /** Rewrites the lists that hold tombstones without them. */
  compact(options?: { signal?: AbortSignal }): Promise<number>;
  /** The lists' imbalance factor (see imbalanceFactor). */
  imbalance(): number;
  /** Retrains the centroids on the live vectors and redistributes them (one transaction). */
  rebuild(options?: { signal?: AbortSignal; seed?: number }): Promise<void>;
  /**
   * Probed lists not in the cache are either streamed into it first (`missing: 'stream'`, the
   * default) or scored on the CPU while the GPU scans the cached ones (`'cpu'`); either way the
   * result is the one a search with everything cached gives, bit for bit.
   */
  search(queries: Float32Array, options?: SearchOptionsStored): Promise<SearchResult>;
  /**
   * A search cut into slices of a few probe ranks (HedraRAG's cluster-sized sub-stages): each
   * step streams the lists it needs and scans them; read() gives the same result as search().
   */
  searchSession(queries: Float32Array, options?: { k?: number; nprobe?: number }): Promise<StoredSearchSession>;
  /** Streams the lists `query` will probe, best first, into the cache, up to `byteBudget` bytes. */
  prefetch(query: Float32Array, options?: { byteBudget?: number; nprobe?: number }): PrefetchHandle;
  chunks(ids: readonly number[]): Promise<(ChunkRecord | undefined)[]>;
  cacheStats(): CacheStats;
  /** Lists currently cached on the GPU. */
  residentLists(): number[];
  /** Saves access statistics and releases GPU memory (and the device, if the index created it). */
  close(): Promise<void>;
}

const ACCESS_SAVE_EVERY = 64;

/** Trains on `training` (k-means on the GPU), creates the index in the store, and opens it. */
export async function createStoredIndex(training: Float32Array, options: CreateStoredIndexOptions): Promise<StoredIndex> {
  const { ctx, owns } = await contextFrom(options.gpu);
  try {
    const trainer = await createIvfIndex({ gpu: ctx,
      dim: options.dim, nlist: options.nlist, metric: options.metric ?? 'l2', storage: options.storage ?? 'f32',
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.niter !== undefined ? { niter: options.niter } : {}),
      ...(options.maxTrainPointsPerCentroid !== undefined ? { maxTrainPointsPerCentroid: options.maxTrainPointsPerCentroid } : {}),
    });
    try {
      await trainer.train(training);
      const sq = trainer.quantizer();
      await options.store.createIndex({
        name: options.name, dim: trainer.dim, metric: trainer.metric, storage: trainer.storage, nlist: trainer.nlist,
        centroids: trainer.centroids(), ...(options.modelId ? { modelId: options.modelId } : {}),
        ...(sq ? { vmin: sq.vmin, scale: sq.scale } : {}),
      });
    } finally {
      trainer.destroy();
    }
    return await openWith(ctx, owns, options);
  } catch (e) {
    if (owns) ctx.destroy();
    throw e;
  }
}

export async function openStoredIndex(options: OpenStoredIndexOptions): Promise<StoredIndex> {
  const { ctx, owns } = await contextFrom(options.gpu);
  try {
    return await openWith(ctx, owns, options);
  } catch (e) {
    if (owns) ctx.destroy();
    throw e;
  }
}

async function openWith(ctx: GpuContext, owns: boolean, options: OpenStoredIndexOptions): Promise<StoredIndex> {
  const { store, name } = options;
  let manifest = await store.manifest(name);
  let c = await store.readCentroids(name);
  const { dim, nlist, metric } = manifest;
  const layout: Layout = layoutFor(dim, manifest.storage);
  const f32 = layoutFor(dim, 'f32');
  let sq: ScalarQuantizer | undefined = c.vmin && c.scale ? { vmin: c.vmin, scale: c.scale } : undefined;
  const kernelMetric = metric === 'l2' ? 'l2' : 'ip';
  const cacheFill = options.cacheFill ?? 0.9;
  if (!(cacheFill > 0 && cacheFill <= 1)) throw new WeftError('INVALID_OPTION', 'cacheFill must be in (0, 1].');
  // Default budget: room for twice the index as it is now (at least 16 MiB), within
  // 512 MiB and four storage bindings.
  const indexBytes = manifest.listCounts.reduce((a, n) => a + Math.ceil(n / 32) * 32 * (layout.bytesPerVector + 4), 0);
  const budget = options.cacheBytes ?? Math.min(512 * 2 ** 20, 4 * ctx.maxShardBytes, Math.max(16 * 2 ** 20, 2 * indexBytes));
  if (!(budget > 0)) throw new WeftError('INVALID_OPTION', 'cacheBytes must be a positive number of bytes.');

  const uploadCoarse = (centroids: Float32Array): GpuLists =>
    uploadLists(ctx, `weft.${name}.centroids`, [{ ids: Uint32Array.from({ length: nlist }, (_, i) => i), codes: encodeRows(centroids, f32) }], f32);
  const uploadSq = (q: ScalarQuantizer | undefined) => (q ? bufferFrom(ctx, `weft.${name}.sq`, new Float32Array([...q.vmin, ...q.scale])) : undefined);
  let coarse: GpuLists = uploadCoarse(c.centroids);
  let sqBuffer = uploadSq(sq);
  const arena: ListArena = createListArena(ctx, `weft.${name}.cache`, { layout, nlist, budgetBytes: budget });
  const hotnessDecay = options.hotnessDecay ?? 0.5;
  if (!(hotnessDecay > 0 && hotnessDecay < 1)) throw new WeftError('INVALID_OPTION', 'hotnessDecay must be in (0, 1).');
  let policy: CachePolicy = createPolicy(options.cachePolicy ?? 'hotness', hotnessDecay);
  const rebuildAbove = options.rebuildImbalance ?? 8;
  const access = new Float64Array(nlist);
  access.set((await store.readAccessCounts(name)).subarray(0, nlist));
  const stats = { hits: 0, misses: 0, streamedBytes: 0, scratchLists: 0 };
  let requests = 0;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  /**
   * Another tab may have committed since we last looked: adopt its manifest and drop cached
   * lists whose records changed, so this tab never serves (or overwrites) stale lists.
   */
  const refresh = async () => {
    const m = await store.manifest(name);
    if (m.generation === manifest.generation) return;
    for (const l of arena.resident()) {
      if (m.checksums[l] !== manifest.checksums[l] && !arena.isPinned(l)) { arena.evict(l); policy.forget(l); }
    }
    manifest = m;
  };

  /** Writes retry (after adopting the other tab's commit) when another tab committed first. */
  const retrying = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof WeftError && e.code === 'CONFLICT') || attempt >= 4) throw e;
        await refresh();
      }
    }
  };

  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(async () => {
      if (closed) throw new WeftError('DESTROYED', `Index '${name}' was closed; open it again.`);
      ctx.check();
      await refresh();
      return fn();
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const target = (lists: GpuLists): ScanTarget => ({ layout, metric, lists, ...(sqBuffer ? { sq: sqBuffer } : {}) });
  const prepare = (v: Float32Array) => (metric === 'cosine' ? normalizeRows(v, dim) : v);

  /** Makes room for `bytes` by evicting the coldest unpinned lists not in `keep`. */
  const makeRoom = (count: number, keep: ReadonlySet<number>, record: ListRecord): boolean => {
    if (!arena.fitsAtAll(count)) return false;
    while (!arena.tryInsert(record)) {
      const victim = policy.victims(arena.resident(), keep).find((l) => !arena.isPinned(l));
      if (victim === undefined) return false;
      arena.evict(victim);
      policy.forget(victim);
    }
    policy.admit(record.list);
    return true;
  };

  const trim = () => {
    while (arena.used > cacheFill * arena.budget) {
      const victim = policy.victims(arena.resident(), new Set()).find((l) => !arena.isPinned(l));
      if (victim === undefined) break;
      arena.evict(victim);
      policy.forget(victim);
    }
  };

  /** A scan of `lists` for queries in `qbuf`, `probeStride` probe entries per query. */
  const listSession = (lists: GpuLists, qbuf: GPUBuffer, nq: number, k: number, probes: GPUBuffer, probeStride: number, nprobe: number, owned: GPUBuffer[] = []) =>
    openSession(ctx, { target: target(lists), queries: qbuf, queryUnits: layout.queryUnits, numQueries: nq, k, probes, probeStride, nprobe, owned });

  /** Pins the cached lists among `lists` (a hit each) and returns the missing ones (a miss each), sorted. */
  const pinCached = (lists: Iterable<number>, pinned: Set<number>): number[] => {
    const missing: number[] = [];
    for (const l of lists) {
      if (arena.has(l)) { stats.hits++; arena.pin([l]); pinned.add(l); } else { stats.misses++; missing.push(l); }
    }
    return missing.sort((a, b) => a - b);
  };

  /** Puts streamed records into the cache, pinned, where they fit; returns the ones that do not. */
  const admitPinned = (records: ListRecord[], keep: ReadonlySet<number>, pinned: Set<number>): ListRecord[] => {
    const left: ListRecord[] = [];
    for (const r of records) {
      stats.streamedBytes += r.codes.byteLength + r.ids.byteLength;
      if (makeRoom(r.count, keep, r)) { arena.pin([r.list]); pinned.add(r.list); } else left.push(r);
    }
    return left;
  };

  /** A scratch arena for one search, holding lists the cache cannot. */
  const scratchArena = (records: ListRecord[]): ListArena => {
    stats.scratchLists += records.length;
    const bytes = records.reduce((a, r) => a + arena.bytesFor(r.count), 0);
    const scratch = createListArena(ctx, `weft.${name}.scratch`, { layout, nlist, budgetBytes: bytes + arena.bytesFor(32) * 2 });
    for (const r of records) {
      if (!scratch.tryInsert(r)) {
        scratch.destroy();
        throw new WeftError('DEVICE_LIMIT', `List ${r.list} (${r.count} vectors) does not fit one storage buffer on this device.`);
      }
    }
    return scratch;
  };

  const replaceCached = (records: ListRecord[]) => {
    for (const r of records) {
      if (!arena.has(r.list) || arena.isPinned(r.list)) continue;
      arena.evict(r.list);
      if (!arena.tryInsert(r)) policy.forget(r.list);
    }
  };

  /** Coarse step on the GPU: the nprobe best lists of each query, best first (GPU buffer and CPU copy). */
  const rank = async (qbuf: GPUBuffer, nq: number, nprobe: number): Promise<{ buffer: GPUBuffer; lists: Uint32Array }> => {
    const shared = bufferFrom(ctx, 'weft.search.coarseProbe', new Uint32Array(2));
    const s = openSession(ctx, {
      target: { layout: f32, metric, lists: coarse }, queries: qbuf, queryUnits: layout.queryUnits,
      numQueries: nq, k: nprobe, probes: shared, probeStride: 0, nprobe: 1, owned: [shared],
    });
    s.submit();
    const buffer = s.takeResult();
    const raw = new Uint32Array(await readBack(ctx, buffer, nq * nprobe * 8));
    const lists = new Uint32Array(nq * nprobe);
    for (let i = 0; i < lists.length; i++) lists[i] = raw[2 * i + 1]!;
    return { buffer, lists };
  };

  const checkNprobe = (nprobe: number | undefined) => {
    const np = nprobe ?? Math.min(nlist, 8);
    const limit = Math.min(nlist, maxK(ctx));
    if (!Number.isInteger(np) || np < 1 || np > limit) {
      throw new WeftError('NPROBE_OUT_OF_RANGE', `nprobe must be an integer from 1 to ${limit}; got ${String(nprobe)}.`, { details: { nprobe, nlist } });
    }
    return np;
  };

  const saveAccess = async () => {
    try { await store.writeAccessCounts(name, access); } catch { /* statistics are best effort */ }
  };

  // Preload the hottest lists that fit (the ones this index used most before it was closed).
  if (options.preload ?? true) {
    const order = Array.from({ length: nlist }, (_, i) => i).filter((l) => access[l]! > 0 && manifest.listCounts[l]! > 0)
      .sort((a, b) => access[b]! - access[a]! || a - b);
    const pick: number[] = [];
    let bytes = 0;
    for (const l of order) {
      const b = arena.bytesFor(manifest.listCounts[l]!);
      if (bytes + b > cacheFill * arena.budget) continue;
      pick.push(l);
      bytes += b;
    }
    for (const l of pick) {
      try {
        const [rec] = await store.readLists(name, [l]);
        if (rec && arena.tryInsert(rec)) { policy.admit(l); policy.touch([l]); }
      } catch (e) {
        if (!(e instanceof WeftError && e.code === 'CORRUPT_RECORD')) throw e; // a damaged list is reported when a search needs it
      }
    }
  }

  /**
   * CPU side of a search: scores every vector of the missing lists in float64 and keeps, per
   * query, each vector whose score could still place it in the top k once the GPU scores it in
   * float32 (its exact score within a rounding bound of the k-th best upper bound). Those few
   * candidates go to a scratch arena, one pseudo-list per query, for the GPU kernel to score:
   * so the final ranking uses the kernel's own scores, as if the lists had been cached.
   */
  const cpuCandidates = (records: ListRecord[], probeLists: Uint32Array, q: Float32Array, nq: number, nprobe: number, k: number) => {
    const decoded = new Map<number, { rec: ListRecord; rows: Uint32Array; vectors: Float32Array }>();
    for (const rec of records) {
      const rows = deinterleave(rec.codes, rec.count, layout.units);
      decoded.set(rec.list, { rec, rows, vectors: decodeRows(rows, layout, sq) });
    }
    const eps = 8 * (layout.dimPad + 8) * 2 ** -24;
    const perQuery: { ids: number[]; rows: Uint32Array[] }[] = [];
    for (let qi = 0; qi < nq; qi++) {
      const cands: { lo: number; hi: number; id: number; row: Uint32Array }[] = [];
      for (let r = 0; r < nprobe; r++) {
        const d = decoded.get(probeLists[qi * nprobe + r]!);
        if (!d) continue;
        for (let slot = 0; slot < d.rec.count; slot++) {
          const id = d.rec.ids[slot]!;
          if (id === NO_ID) continue;
          let key = 0, mag = 0;
          for (let j = 0; j < dim; j++) {
            const a = q[qi * dim + j]!, b = d.vectors[slot * dim + j]!;
            if (metric === 'l2') key += (a - b) * (a - b); else key -= a * b;
            mag += Math.abs(a * b) + a * a + b * b;
          }
          const bound = eps * mag + 1e-30;
          cands.push({ lo: key - bound, hi: key + bound, id, row: d.rows.subarray(slot * layout.words, (slot + 1) * layout.words) });
        }
      }
      let limit = Infinity;
      if (cands.length > k) limit = cands.map((c) => c.hi).sort((a, b) => a - b)[k - 1]!;
      const keep = cands.filter((c) => c.lo <= limit);
      perQuery.push({ ids: keep.map((c) => c.id), rows: keep.map((c) => c.row) });
    }
    const total = perQuery.reduce((a, p) => a + Math.max(1, Math.ceil(p.ids.length / 32)), 0);
    const scratch = createListArena(ctx, `weft.${name}.cpuCandidates`, { layout, nlist: nq, budgetBytes: (total + 1) * arena.bytesFor(32) });
    perQuery.forEach((p, qi) => {
      const rows = new Uint32Array(p.ids.length * layout.words);
      p.rows.forEach((row, j) => rows.set(row, j * layout.words));
      const codes = new Uint32Array(Math.ceil(p.ids.length / 32) * 32 * layout.words);
      interleave(rows, p.ids.length, layout.units, codes, 0);
      scratch.tryInsert({ list: qi, count: p.ids.length, ids: Uint32Array.from(p.ids), codes });
    });
    const probeBuf = new Uint32Array(nq * 2);
    for (let qi = 0; qi < nq; qi++) probeBuf[2 * qi + 1] = qi;
    return { scratch, probes: bufferFrom(ctx, 'weft.search.cpuProbes', probeBuf) };
  };

  /** The lists a CPU ranking says these queries will probe that are not cached, read from IndexedDB now. */
  const guessMissing = (q: Float32Array, nq: number, nprobe: number): { lists: Set<number>; records: Promise<ListRecord[] | undefined> } | undefined => {
    if (nq * nlist * dim > 2e7) return undefined; // large batches: not worth the CPU time
    const guess = new Set<number>();
    const keys = new Float64Array(nlist);
    const order = Array.from({ length: nlist }, (_, i) => i);
    for (let qi = 0; qi < nq; qi++) {
      for (let l = 0; l < nlist; l++) {
        let acc = 0;
        for (let j = 0; j < dim; j++) {
          const a = q[qi * dim + j]!, b = c.centroids[l * dim + j]!;
          acc += metric === 'l2' ? (a - b) * (a - b) : -a * b;
        }
        keys[l] = acc;
      }
      order.sort((a, b) => keys[a]! - keys[b]! || a - b);
      for (let r = 0; r < nprobe; r++) if (!arena.has(order[r]!)) guess.add(order[r]!);
    }
    if (guess.size === 0) return undefined;
    const records = store.readLists(name, [...guess].sort((a, b) => a - b)).catch(() => undefined);
    return { lists: guess, records };
  };

  /** Records of `missing`: those the guess already read, the rest read now. */
  const readWithGuess = async (missing: number[], early: ReturnType<typeof guessMissing>): Promise<ListRecord[]> => {
    const got = new Map<number, ListRecord>();
    for (const r of (await early?.records) ?? []) got.set(r.list, r);
    const rest = missing.filter((l) => !got.has(l));
    if (rest.length > 0) for (const r of await store.readLists(name, rest)) got.set(r.list, r);
    return missing.map((l) => got.get(l)!);
  };

  const openStoredSession = async (queries: Float32Array, nq: number, k: number, nprobe: number): Promise<StoredSearchSession> => {
    const generation = manifest.generation;
    const qbuf = bufferFrom(ctx, 'weft.session.queries', padRows(prepare(queries), dim, layout.dimPad));
    let probes: { buffer: GPUBuffer; lists: Uint32Array };
    try {
      probes = await rank(qbuf, nq, nprobe);
    } catch (e) {
      ctx.destroyBuffer(qbuf);
      throw e;
    }
    for (let q = 0; q < nq; q++) {
      const mine = Array.from(probes.lists.subarray(q * nprobe, (q + 1) * nprobe));
      policy.touch(mine);
      options.onProbe?.(mine);
      for (const l of mine) access[l]!++;
    }
    // Lists enter the cache between steps: size the scan for the largest list there is, not
    // for what happens to be cached when the session opens.
    const largest = Math.max(1, ...manifest.listCounts);
    const cacheView: GpuLists = Object.create(arena, { maxSegment: { value: largest } });
    const main = listSession(cacheView, qbuf, nq, k, probes.buffer, nprobe, nprobe);
    const partials: SearchResult[] = [];
    let closed = false;
    const session: StoredSearchSession = {
      numQueries: nq, k, nprobe,
      get scanned() { return main.scanned; },
      get done() { return main.done; },
      step(count) {
        return exclusive(async () => {
          if (closed) throw new WeftError('SEARCH_FINISHED', 'This search session was already read and released.');
          if (manifest.generation !== generation) throw new WeftError('CONFLICT', `Index '${name}' changed during the search; start it again.`);
          const r0 = main.scanned;
          const r1 = Math.min(nprobe, r0 + (count ?? nprobe - r0));
          const wanted = new Set<number>();
          for (let q = 0; q < nq; q++) for (let r = r0; r < r1; r++) wanted.add(probes.lists[q * nprobe + r]!);
          const pinned = new Set<number>();
          let streamed = 0;
          let scratch: ListArena | undefined;
          try {
            const missing = pinCached(wanted, pinned);
            const records = missing.length ? await store.readLists(name, missing) : [];
            streamed = records.reduce((a, r) => a + r.codes.byteLength + r.ids.byteLength, 0);
            const leftovers = admitPinned(records, wanted, pinned);
            main.submit(r1 - r0);
            if (leftovers.length) {
              // Lists the cache cannot hold are scanned from a scratch arena for this slice only.
              scratch = scratchArena(leftovers);
              // Only this slice's ranks: an earlier slice may have scanned the same list for another query's earlier rank.
              const width = r1 - r0;
              const sliceProbes = new Uint32Array(nq * width * 2);
              for (let q = 0; q < nq; q++) for (let r = 0; r < width; r++) sliceProbes[(q * width + r) * 2 + 1] = probes.lists[q * nprobe + r0 + r]!;
              const probeBuf = bufferFrom(ctx, 'weft.session.sliceProbes', sliceProbes);
              const part = listSession(scratch, qbuf, nq, k, probeBuf, width, width, [probeBuf]);
              part.submit(width);
              partials.push(await part.read());
              part.destroy();
            } else {
              await ctx.device.queue.onSubmittedWorkDone();
            }
          } finally {
            arena.unpin(pinned);
            scratch?.destroy();
            trim();
          }
          return { lists: wanted.size, streamedBytes: streamed };
        });
      },
      async read() {
        const r = await main.read();
        const result = partials.length ? mergeResults([r, ...partials], metric, k) : r;
        if (main.done) session.destroy();
        return result;
      },
      destroy() {
        if (closed) return;
        closed = true;
        main.destroy();
        ctx.destroyBuffer(qbuf);
        ctx.destroyBuffer(probes.buffer);
      },
    };
    return session;
  };

  const searchBatch = async (queries: Float32Array, k: number, nprobe: number, mode: 'stream' | 'cpu'): Promise<SearchResult> => {
    const nq = queries.length / dim;
    const qbuf = bufferFrom(ctx, 'weft.search.queries', padRows(prepare(queries), dim, layout.dimPad));
    let probes: { buffer: GPUBuffer; lists: Uint32Array } | undefined;
    const pinned = new Set<number>();
    let scratch: ListArena | undefined;
    const sessions: InternalSession[] = [];
    try {
      const ranked = rank(qbuf, nq, nprobe);
      // While the GPU ranks, guess the same ranking on the CPU (cheap for a few queries) and
      // start reading the lists it names that are not cached: the IndexedDB read then overlaps
      // the GPU round trip. The GPU's ranking decides; a wrong guess only costs a second read.
      const early = guessMissing(prepare(queries), nq, nprobe);
      probes = await ranked;
      const wanted = new Set<number>();
      for (let q = 0; q < nq; q++) {
        const mine = Array.from(probes.lists.subarray(q * nprobe, (q + 1) * nprobe));
        policy.touch(mine);
        options.onProbe?.(mine);
        for (const l of mine) { wanted.add(l); access[l]!++; }
      }
      const missing = pinCached(wanted, pinned);
      let cpuPart: { scratch: ListArena; probes: GPUBuffer } | undefined;
      if (missing.length > 0 && mode === 'cpu') {
        // The GPU starts on the cached lists now; the CPU scores the missing ones meanwhile.
        const s = listSession(arena, qbuf, nq, k, probes.buffer, nprobe, nprobe);
        sessions.push(s);
        s.submit();
        const records = await readWithGuess(missing, early);
        stats.streamedBytes += records.reduce((a, r) => a + r.codes.byteLength + r.ids.byteLength, 0);
        cpuPart = cpuCandidates(records, probes.lists, prepare(queries), nq, nprobe, k);
        scratch = cpuPart.scratch;
        sessions.push(listSession(cpuPart.scratch, qbuf, nq, k, cpuPart.probes, 1, 1, [cpuPart.probes]));
        sessions.at(-1)!.submit();
        // Cache the lists for later searches without holding this one up.
        for (const r of records) makeRoom(r.count, wanted, r);
      } else {
        const leftovers = missing.length > 0 ? admitPinned(await readWithGuess(missing, early), wanted, pinned) : [];
        if (leftovers.length > 0) scratch = scratchArena(leftovers);
        for (const lists of scratch ? [arena, scratch] : [arena]) {
          const s = listSession(lists, qbuf, nq, k, probes.buffer, nprobe, nprobe);
          sessions.push(s);
          s.submit();
        }
      }
      const results = [];
      for (const s of sessions) results.push(await s.read());
      return results.length === 1 ? results[0]! : mergeResults(results, metric, k);
    } finally {
      for (const s of sessions) s.destroy();
      arena.unpin(pinned);
      scratch?.destroy();
      ctx.destroyBuffer(qbuf);
      ctx.destroyBuffer(probes?.buffer);
      trim();
      if (++requests % ACCESS_SAVE_EVERY === 0) void saveAccess();
    }
  };

  const index: StoredIndex = {
    name, dim, metric, storage: manifest.storage, nlist, gpu: ctx,
    get size() { return manifest.count; },
    get manifest() { return manifest; },

    add(vectors, opts = {}) {
      return exclusive(() => retrying(async () => {
        const n = checkVectors('vectors', vectors, dim, { metric, storage: manifest.storage });
        if (opts.chunks && opts.chunks.length !== n) throw new WeftError('INVALID_OPTION', `Got ${opts.chunks.length} chunks for ${n} vectors; pass one per vector.`);
        let ids: Uint32Array;
        if (opts.ids) {
          ids = checkIds(opts.ids, n, () => false);
          const existing = await store.readChunks(name, Array.from(ids));
          const dup = existing.findIndex((r) => r !== undefined);
          if (dup >= 0) throw new WeftError('DUPLICATE_ID', `Id ${ids[dup]} is already in index '${name}'. Delete it first or use another id.`, { details: { id: ids[dup] } });
        } else {
          ids = Uint32Array.from({ length: n }, (_, i) => manifest.nextId + i);
        }
        const prepared = prepare(vectors);
        const points = uploadPoints(ctx, 'weft.add.points', prepared, dim);
        let labels: Uint32Array;
        try {
          labels = await assignNearest(ctx, points, c.centroids, dim, kernelMetric);
        } finally {
          points.destroy();
        }
        const rows = encodeRows(prepared, layout, sq);
        const byList = new Map<number, number[]>();
        for (let i = 0; i < n; i++) {
          const l = labels[i]!;
          let a = byList.get(l);
          if (!a) { a = []; byList.set(l, a); }
          a.push(i);
        }
        // Vectors of replaced documents are tombstoned in the same records (one commit).
        const replaced: number[] = [];
        for (const doc of opts.replaceDocuments ?? []) replaced.push(...await store.chunkIdsOfDocument(name, doc));
        const replacedChunks = await store.readChunks(name, replaced);
        const gone = new Set(replaced);
        for (const ch of replacedChunks) if (ch && !byList.has(ch.list)) byList.set(ch.list, []);
        const touched = [...byList.keys()].sort((a, b) => a - b);
        let removed = 0;
        const old = (await store.readLists(name, touched)).map((r) => {
          if (gone.size === 0) return r;
          const nextIds = r.ids.slice();
          for (let slot = 0; slot < r.count; slot++) if (gone.has(nextIds[slot]!)) { nextIds[slot] = NO_ID; removed++; }
          return { ...r, ids: nextIds };
        });
        const records: ListRecord[] = old.map((r) => {
          const members = byList.get(r.list)!;
          const m = members.length;
          const newRows = new Uint32Array(m * layout.words);
          const newIds = new Uint32Array(r.count + m);
          newIds.set(r.ids);
          members.forEach((i, j) => { newRows.set(rows.subarray(i * layout.words, (i + 1) * layout.words), j * layout.words); newIds[r.count + j] = ids[i]!; });
          return { list: r.list, count: r.count + m, ids: newIds, codes: appendInterleaved(r.codes, r.count, newRows, m, layout.units) };
        });
        const putChunks: ChunkRecord[] = Array.from(ids, (id, i) => {
          const ch = opts.chunks?.[i];
          return { id, list: labels[i]!, docId: ch?.docId ?? '', text: ch?.text ?? '', ...(ch?.metadata ? { metadata: ch.metadata } : {}) };
        });
        let maxId = manifest.nextId;
        for (const id of ids) if (id + 1 > maxId) maxId = id + 1;
        manifest = await store.commit(name, manifest.generation, {
          lists: records, putChunks, deleteChunks: replaced, countDelta: n - removed, tombstoneDelta: removed, nextId: maxId,
        }, opts.signal);
        replaceCached(records);
        if (imbalanceFactor(manifest.listCounts) > rebuildAbove) await rebuildNow(opts.signal);
        return ids;
      }));
    },

    delete(idsIn, opts = {}) {
      return exclusive(() => retrying(() => removeIds(Array.from(idsIn), opts.signal)));
    },

    deleteDocument(docId, opts = {}) {
      return exclusive(() => retrying(async () => removeIds(await store.chunkIdsOfDocument(name, docId), opts.signal)));
    },

    compact(opts = {}) {
      return exclusive(() => retrying(async () => {
        if (manifest.tombstones === 0) return 0;
        const all = Array.from({ length: nlist }, (_, i) => i).filter((l) => manifest.listCounts[l]! > 0);
        const records = await store.readLists(name, all);
        const changed: ListRecord[] = [];
        let removed = 0;
        for (const r of records) {
          const keepRows: number[] = [];
          r.ids.forEach((id, slot) => { if (id !== NO_ID) keepRows.push(slot); });
          if (keepRows.length === r.count) continue;
          const rows = deinterleave(r.codes, r.count, layout.units);
          const kept = new Uint32Array(keepRows.length * layout.words);
          keepRows.forEach((slot, j) => kept.set(rows.subarray(slot * layout.words, (slot + 1) * layout.words), j * layout.words));
          const codes = new Uint32Array(Math.ceil(keepRows.length / 32) * 32 * layout.words);
          interleave(kept, keepRows.length, layout.units, codes, 0);
          changed.push({ list: r.list, count: keepRows.length, ids: Uint32Array.from(keepRows, (slot) => r.ids[slot]!), codes });
          removed += r.count - keepRows.length;
        }
        manifest = await store.commit(name, manifest.generation, { lists: changed, tombstoneDelta: -removed }, opts.signal);
        replaceCached(changed);
        return removed;
      }));
    },

    search(queries, opts = {}) {
      return exclusive(async () => {
        if (manifest.count === 0) throw new WeftError('EMPTY_INDEX', `Index '${name}' holds no vectors yet; add() some before searching.`);
        const nq = checkVectors('queries', queries, dim);
        const k = checkK(opts.k, manifest.count, maxK(ctx));
        const nprobe = checkNprobe(opts.nprobe);
        if (opts.missing !== undefined && opts.missing !== 'stream' && opts.missing !== 'cpu') {
          throw new WeftError('INVALID_OPTION', `Unknown missing '${String(opts.missing)}'. Valid values: stream, cpu.`);
        }
        const batch = Math.min(nq, ctx.limits.maxComputeWorkgroupsPerDimension, 1024);
        const ids = new Uint32Array(nq * k), distances = new Float32Array(nq * k);
        for (let q0 = 0; q0 < nq; q0 += batch) {
          const qn = Math.min(batch, nq - q0);
          const r = await searchBatch(queries.subarray(q0 * dim, (q0 + qn) * dim), k, nprobe, opts.missing ?? 'stream');
          ids.set(r.ids, q0 * k);
          distances.set(r.distances, q0 * k);
        }
        return { ids, distances, numQueries: nq, k };
      });
    },

    searchSession(queries, opts = {}) {
      return exclusive(async () => {
        if (manifest.count === 0) throw new WeftError('EMPTY_INDEX', `Index '${name}' holds no vectors yet; add() some before searching.`);
        const nq = checkVectors('queries', queries, dim);
        if (nq > 1024) throw new WeftError('INVALID_OPTION', 'A search session takes at most 1024 queries; split the batch.');
        const k = checkK(opts.k, manifest.count, maxK(ctx));
        const nprobe = checkNprobe(opts.nprobe);
        return openStoredSession(queries, nq, k, nprobe);
      });
    },

    prefetch(query, opts = {}) {
      const planned: number[] = [];
      const arrived: number[] = [];
      let cancelled = false;
      const done = (async () => {
        checkVectors('query', query, dim);
        if (query.length !== dim) throw new WeftError('DIMENSION_MISMATCH', `prefetch takes one query of ${dim} values.`);
        const nprobe = checkNprobe(opts.nprobe ?? Math.min(nlist, maxK(ctx)));
        const byteBudget = opts.byteBudget ?? arena.budget * cacheFill;
        // Ranking goes through the queue (it must not race a rebuild swapping the centroids);
        // the streaming below runs beside whatever comes next.
        const { order, generation } = await exclusive(async () => {
          const qbuf = bufferFrom(ctx, 'weft.prefetch.query', padRows(prepare(query), dim, layout.dimPad));
          try {
            const r = await rank(qbuf, 1, nprobe);
            ctx.destroyBuffer(r.buffer);
            return { order: r.lists, generation: manifest.generation };
          } finally {
            ctx.destroyBuffer(qbuf);
          }
        });
        let bytes = 0;
        for (const l of order) {
          if (arena.has(l) || manifest.listCounts[l] === 0) continue;
          const b = arena.bytesFor(manifest.listCounts[l]!);
          if (bytes + b > byteBudget) break;
          planned.push(l);
          bytes += b;
        }
        // Issue every read now, a few lists per transaction: IndexedDB serves them in order while
        // the earlier ones are being uploaded.
        const groups: number[][] = [];
        for (let i = 0, g = 1; i < planned.length; i += g, g = Math.min(g * 2, 16)) groups.push(planned.slice(i, i + g));
        const reads = groups.map((g) => store.readLists(name, g));
        reads.forEach((p) => p.catch(() => undefined));
        const keep = new Set(planned);
        let got = 0;
        for (const p of reads) {
          for (const rec of await p) {
            if (cancelled || closed) break;
            if (manifest.generation !== generation) { cancelled = true; break; } // the index changed under us
            if (arena.has(rec.list)) continue;
            if (makeRoom(rec.count, keep, rec)) { arrived.push(rec.list); got += arena.bytesFor(rec.count); stats.streamedBytes += rec.codes.byteLength + rec.ids.byteLength; }
          }
          if (cancelled || closed) break;
        }
        return { arrived: arrived.slice(), bytes: got, cancelled };
      })();
      return { planned, arrived, done, cancel() { cancelled = true; } };
    },

    imbalance() { return imbalanceFactor(manifest.listCounts); },

    rebuild(opts = {}) {
      return exclusive(() => rebuildNow(opts.signal, opts.seed));
    },

    chunks(ids) { return store.readChunks(name, ids); },

    cacheStats() {
      return { budget: arena.budget, used: arena.used, resident: arena.resident().length, ...stats };
    },
    residentLists() { return arena.resident(); },

    async close() {
      if (closed) return;
      await queue;
      closed = true;
      await saveAccess();
      arena.destroy();
      coarse.destroy();
      ctx.destroyBuffer(sqBuffer);
      if (owns) ctx.destroy();
    },
  };

  async function rebuildNow(signal?: AbortSignal, seed = 1): Promise<void> {
    const whole = await store.readWholeIndex(name);
    const live: Float32Array[] = [];
    const liveIds: number[] = [];
    for (const r of whole.lists) {
      const vectors = decodeRows(deinterleave(r.codes, r.count, layout.units), layout, sq);
      r.ids.forEach((id, slot) => { if (id !== NO_ID) { liveIds.push(id); live.push(vectors.subarray(slot * dim, (slot + 1) * dim)); } });
    }
    if (liveIds.length < nlist) return; // too few vectors to retrain; keep the lists as they are
    const vectors = new Float32Array(liveIds.length * dim);
    live.forEach((v, i) => vectors.set(v, i * dim));
    const trainer = await createIvfIndex({ gpu: ctx, dim, nlist, metric, storage: manifest.storage, seed });
    let centroids: Float32Array, quantizer: ScalarQuantizer | undefined;
    try {
      await trainer.train(vectors);
      centroids = trainer.centroids();
      quantizer = trainer.quantizer();
    } finally {
      trainer.destroy();
    }
    const points = uploadPoints(ctx, 'weft.rebuild.points', prepare(vectors), dim);
    let labels: Uint32Array;
    try {
      labels = await assignNearest(ctx, points, centroids, dim, kernelMetric);
    } finally {
      points.destroy();
    }
    const rows = encodeRows(prepare(vectors), layout, quantizer);
    const members: number[][] = Array.from({ length: nlist }, () => []);
    labels.forEach((l, i) => members[l]!.push(i));
    const lists: ListRecord[] = members.map((m, l) => {
      const r = new Uint32Array(m.length * layout.words);
      m.forEach((i, j) => r.set(rows.subarray(i * layout.words, (i + 1) * layout.words), j * layout.words));
      const codes = new Uint32Array(Math.ceil(m.length / 32) * 32 * layout.words);
      interleave(r, m.length, layout.units, codes, 0);
      return { list: l, count: m.length, ids: Uint32Array.from(m, (i) => liveIds[i]!), codes };
    });
    const listOf = new Map<number, number>();
    liveIds.forEach((id, i) => listOf.set(id, labels[i]!));
    const chunks = whole.chunks.filter((ch) => listOf.has(ch.id)).map((ch) => ({ ...ch, list: listOf.get(ch.id)! }));
    if (signal?.aborted) throw new WeftError('ABORTED', `Rebuilding index '${name}' was aborted; nothing was changed.`);
    const current = await store.manifest(name);
    if (current.generation !== whole.manifest.generation) {
      throw new WeftError('CONFLICT', `Index '${name}' changed while it was being rebuilt (another tab wrote to it). Try again.`);
    }
    manifest = await store.writeWholeIndex({
      manifest: { ...whole.manifest, count: liveIds.length, tombstones: 0 },
      centroids: { centroids, ...(quantizer ? { vmin: quantizer.vmin, scale: quantizer.scale } : {}) },
      lists, chunks,
    }, { replace: true });
    // Swap the GPU state over to the new centroids; every cached list is stale now.
    c = { centroids, ...(quantizer ? { vmin: quantizer.vmin, scale: quantizer.scale } : {}) };
    sq = quantizer;
    coarse.destroy();
    coarse = uploadCoarse(centroids);
    ctx.destroyBuffer(sqBuffer);
    sqBuffer = uploadSq(sq);
    for (const l of arena.resident()) if (!arena.isPinned(l)) arena.evict(l);
    policy = createPolicy(policy.name, hotnessDecay);
    access.fill(0);
  }

  async function removeIds(ids: number[], signal?: AbortSignal): Promise<number> {
    if (ids.length === 0) return 0;
    const chunks = await store.readChunks(name, ids);
    const byList = new Map<number, Set<number>>();
    chunks.forEach((ch, i) => {
      if (!ch) return;
      let s = byList.get(ch.list);
      if (!s) { s = new Set(); byList.set(ch.list, s); }
      s.add(ids[i]!);
    });
    const lists = [...byList.keys()].sort((a, b) => a - b);
    const records = await store.readLists(name, lists);
    let removed = 0;
    const changed = records.map((r) => {
      const gone = byList.get(r.list)!;
      const nextIds = r.ids.slice();
      for (let s = 0; s < r.count; s++) if (gone.has(nextIds[s]!)) { nextIds[s] = NO_ID; removed++; }
      return { ...r, ids: nextIds };
    });
    const deleted = chunks.flatMap((ch) => (ch ? [ch.id] : []));
    manifest = await store.commit(name, manifest.generation, { lists: changed, deleteChunks: deleted, countDelta: -removed, tombstoneDelta: removed }, signal);
    replaceCached(changed);
    return removed;
  }

  return index;
}

/** Merges per-query top-k lists scored by the same kernel: the order is (key, id), as on the GPU. */
function mergeResults(parts: SearchResult[], metric: Metric, k: number): SearchResult {
  const nq = parts[0]!.numQueries;
  const ids = new Uint32Array(nq * k).fill(NO_ID);
  const distances = new Float32Array(nq * k).fill(metric === 'l2' ? Infinity : -Infinity);
  const key = (d: number) => (metric === 'l2' ? d : -d);
  for (let q = 0; q < nq; q++) {
    const cands: { key: number; id: number; d: number }[] = [];
    for (const p of parts) {
      for (let r = 0; r < k; r++) {
        const id = p.ids[q * k + r]!;
        if (id !== NO_ID) cands.push({ key: key(p.distances[q * k + r]!), id, d: p.distances[q * k + r]! });
      }
    }
    cands.sort((a, b) => a.key - b.key || a.id - b.id);
    cands.slice(0, k).forEach((c, r) => { ids[q * k + r] = c.id; distances[q * k + r] = c.d; });
  }
  return { ids, distances, numQueries: nq, k };
}

