// An IVF index that lives in a WeftStore (IndexedDB, files, or a published file over HTTP; see
// src/storage) and caches its hot lists on the GPU: the facade that wires the parts of this layer. Each operation runs in turn (one queue per open index), first adopting other
// tabs' commits (coherence.ts), on an explicit snapshot of the index (snapshot.ts); searches
// (stored-search.ts) read lists through the GPU list cache (cache/list-cache.ts); writes
// (writes.ts) are plans that become one commit, refused if another tab committed first and then
// retried on the adopted view; prefetch.ts streams lists ahead of need. This file only owns the
// current snapshot and swaps it: no other part keeps state it reassigns.
// Without WebGPU (or with `gpu: 'cpu'`) the same index runs on the CPU backend: searches go to
// stored-cpu-search.ts and lists are cached decoded in JS memory (cache/cpu-list-cache.ts), with the same
// results; training and list assignment run the k-means kernels' arithmetic on the CPU.
// Over 400 lines: the facade's interface, one doc comment per operation, and the wiring; the
// operations' bodies live in the modules it wires.

import { WeftError, checkAborted } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { backendFrom, type Backend, type GpuOrCpuOption } from '../gpu/option.js';
import { createListCache, type CacheStats, type ListCache } from './cache/list-cache.js';
import type { CachePolicyName } from '../util/cache-policy.js';
import { BLOCK, layoutFor, type Layout } from '../ivf/codec.js';
import { checkPq, checkRerank, defaultPq, indexLayout, pqLayout } from '../ivf/pq.js';
import { decodedBytes } from '../ivf/cpu-search.js';
import { checkNprobe, prepareRows } from '../ivf/probe.js';
import { maxK } from '../ivf/scan.js';
import type { TrainProgress } from '../ivf/train.js';
import { INDEX_STORAGE_TYPES, MAX_K, type IndexPq, type IndexStorage, type Metric, type SearchResult, type SearchSession } from '../ivf/types.js';
import { MAX_DIM, MAX_NLIST, checkK, checkMetric, checkOption, checkPositiveInt, checkVectors } from '../ivf/validate.js';
import { rerankExact, rerankedSession } from './exact-rerank.js';
import { createRerankTuner } from './rerank-tuner.js';
import { trainQuantizers } from './quantizers.js';
import { adoptCommits } from './coherence.js';
import { createAllowLists, type AllowList } from './allow-list.js';
import { compileFilter, type PassageFilter } from './passage-filter.js';
import type { ChunkRecord, CommitChanges, Manifest, WeftStore } from '../storage/contract.js';
import { createQuadScanner } from '../ivf/cpu-simd.js';
import { createCpuListCache } from './cache/cpu-list-cache.js';
import { cpuSearchBatch, openCpuSession, type CpuSearchEnv } from './stored-cpu-search.js';
import { prefetchLists, preloadHottest, type PrefetchEnv, type PrefetchHandle } from './prefetch.js';
import { warmUpKernels } from './warm-up.js';
import { readQuantizers, uploadTrained, type IndexSnapshot } from './snapshot.js';
import {
  lexicalSearch,
  lexicalStats,
  openLexicalSession,
  type LexicalHits,
  type LexicalSearchOptions,
  type LexicalSession,
  type LexicalStats,
} from './lexical-search.js';
import { openStoredSession, searchBatch, type SearchEnv } from './stored-search.js';
import { planSplits, type SplitMode } from './rebalance.js';
import { readsWith } from './bound-reads.js';
import { abortable } from '../util/abortable.js';
import { checkExistingIds, planAdd, planCompact, planDelete, planRebuild, type ChunkInput, type WriteEnv } from './writes.js';

/** `env` with its store's reads carrying `signal` (see bound-reads.ts). */
const withReads = <E extends { store: WeftStore }>(env: E, signal: AbortSignal | undefined): E =>
  signal ? { ...env, store: readsWith(env.store, signal) } : env;

export type { CacheStats, ChunkInput, LexicalHits, LexicalSearchOptions, LexicalSession, LexicalStats, PrefetchHandle };

/**
 * How unbalanced the lists are, as FAISS measures it: nlist · Σ nᵢ² / (Σ nᵢ)², 1 when every
 * list holds the same number of vectors, nlist when one list holds them all.
 */
export function imbalanceFactor(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 1;
  return (counts.length * counts.reduce((a, b) => a + b * b, 0)) / (total * total);
}

/** A stored index's list cache: its budget, replacement policy and fill, and the GPU (or CPU) it runs on. */
export interface CacheOptions extends GpuOrCpuOption {
  /**
   * GPU bytes for cached lists. Default: twice the index's size when opened (at least 16 MiB), at most 512 MiB and 4 storage bindings.
   * On the CPU backend: bytes of JS memory for decoded lists (float32 rows), default twice the decoded index (at least 16, at most 256 MiB).
   */
  cacheBytes?: number;
  /** Replacement policy (src/util/cache-policy.ts). Default 'frequency': aged counts per byte with admission control. */
  cachePolicy?: CachePolicyName;
  /** Hotness decay per request (TeleRAG halves: 0.5, the default); closer to 1 remembers longer. */
  hotnessDecay?: number;
  /**
   * After each search the coldest lists are evicted until the cache is at most this fraction of
   * its budget (room kept for prefetch). Default 1: prefetch evicts what it needs anyway, and the
   * trim cost hit rate (bench tiers, cache 10% of the index: 0.86 of Belady at 0.9, 0.98 at 1).
   */
  cacheFill?: number;
  /** Preload the hottest lists (by persisted access counts) on open. Default true. */
  preload?: boolean;
  /** add() retrains the index when the lists' imbalance factor exceeds this. Default 8; Infinity never. */
  rebuildImbalance?: number;
  /**
   * Which lists a write splits in its commit (src/stored-index/rebalance.ts). 'auto' (default): lists
   * past twice the size an index of its size aims at, so an index that grows from 10 vectors to
   * millions keeps the shape of one trained at its size (nlist grows); 'oversized': only lists
   * that would not fit one GPU buffer (nlist otherwise stays as trained, e.g. to compare with
   * FAISS at a fixed nlist). No list ever exceeds one buffer either way.
   */
  splitLists?: SplitMode;
  /** Called with each query's probed lists, best first (tracing, cache studies). */
  onProbe?: (lists: number[]) => void;
  /**
   * 'pq' storage: the share of searches whose top k must come out as re-ranking many more
   * candidates would give it, which sets how many a search re-ranks when it does not say
   * (rerank-tuner.ts learns it from the searches). Default 0.99.
   */
  recallTarget?: number;
}

/**
 * Options of createStoredIndex: the store and name, dimension, nlist, metric, storage type, embedding
 * model, keyword language, k-means settings, list splitting, abort and progress, and the cache's.
 */
export interface CreateStoredIndexOptions extends CacheOptions {
  store: WeftStore;
  name: string;
  dim: number;
  nlist: number;
  metric?: Metric;
  /**
   * How list vectors are kept: 'f32' (default), 'f16', 'int8', or 'pq': product-quantised codes
   * (`pq` says their shape) scanned on the GPU, each search's candidates re-ranked with the
   * vectors' full-precision copies (f16, kept with their chunks). About 1/14 of f16's bytes in the
   * list cache at 384 dimensions and m = 48, and re-ranked recall that matches f16's.
   */
  storage?: IndexStorage;
  /**
   * 'pq' storage: sub-quantisers m (must divide dim; dim / m of 4 to 8 is usual) and bits per
   * code, 4 or 8. Without m: defaultPq(dim, bits), one sub-quantiser per 4 dimensions at 4 bits
   * (the default) or per 8 at 8. With an m of your own, bits defaults to 8.
   */
  pq?: { m?: number; bits?: 4 | 8 };
  modelId?: string;
  /** The keyword index's language (its stemmer; src/lexical/analyzer.ts). Default 'english'. */
  language?: string;
  seed?: number;
  niter?: number;
  maxTrainPointsPerCentroid?: number;
  /** Stops training between k-means iterations; nothing is created (ABORTED). */
  signal?: AbortSignal;
  /** Listed by no one until its first commit lands (see WeftStore.createIndex): for a first add that follows at once. */
  pending?: boolean;
  /** k-means iterations done, of niter. */
  onProgress?: (p: TrainProgress) => void;
}

/** Options of openStoredIndex: the store, the index's name and the cache's. */
export interface OpenStoredIndexOptions extends CacheOptions {
  store: WeftStore;
  name: string;
}

/**
 * Options of StoredIndex.search: k, nprobe, how probed lists the cache does not hold are scored
 * (streamed in, or on the CPU), a filter, and abort.
 */
export interface StoredSearchOptions {
  k?: number;
  nprobe?: number;
  missing?: 'stream' | 'cpu';
  /**
   * Only chunks that pass this filter are results: it becomes an allow-list (one bit per vector
   * id) that the GPU scan honours, so the k best matching vectors of the probed lists come back.
   * Each query probes past `nprobe` (in its ranking's order) until its probed lists hold k
   * matching chunks, so k results come back whenever the index has k; with nprobe = nlist they
   * are exactly the k best matching overall.
   */
  filter?: PassageFilter;
  /** Stops the search (ABORTED), its reads over a slow tier included. */
  signal?: AbortSignal;
  /**
   * 'pq' storage: candidates re-scored with their full vectors per result (the scan keeps k x
   * rerank). Default: what the index learnt its searches need for its `recallTarget` (16 at first).
   */
  rerank?: number;
}

/** What a write that may split lists takes: a signal, and its progress. */
export interface WriteCall {
  signal?: AbortSignal;
  /**
   * 'split': k-means iterations of a round of list splits (rebalance.ts) done, of its total;
   * 'save': records of the commit written, of its total (chunks, lists, term buckets).
   */
  onProgress?: (p: WriteProgress) => void;
}

export type WriteProgress = { status: 'split' | 'save'; done: number; total: number };

/** A search session's options: k, nprobe, filter, abort, and the lists each query scans first. */
export interface SearchSessionOptions {
  k?: number;
  nprobe?: number;
  filter?: PassageFilter;
  signal?: AbortSignal;
  /**
   * Per query row: lists to scan first among those it probes (semantic reordering, e.g. the lists
   * that held a request's earlier results); the rest follow in rank order. The result is the same;
   * only the order of the slices changes.
   */
  scanFirst?: readonly (readonly number[] | undefined)[];
  /** 'pq' storage: as StoredSearchOptions.rerank. */
  rerank?: number;
}

/**
 * An IVF index that lives in a WeftStore and is searched through a list cache on the GPU (or the CPU):
 * add, delete, search, keyword search, filters, prefetch, compact, rebuild, close.
 */
export interface StoredIndex {
  readonly name: string;
  readonly dim: number;
  readonly metric: Metric;
  readonly storage: IndexStorage;
  readonly nlist: number;
  readonly size: number;
  readonly manifest: Manifest;
  /** The GPU context searches run on; undefined on the CPU backend. */
  readonly gpu: GpuContext | undefined;
  /**
   * Where searches and writes compute: 'gpu', or 'cpu' when the index was opened with
   * `gpu: 'cpu'` or without a `gpu` where the browser has no WebGPU or no adapter. Results are the same.
   */
  readonly backend: Backend;
  /**
   * Adds vectors (and their chunks) in one commit. `replaceDocuments`: every vector of these
   * documents already in the index is deleted in the same commit (re-ingesting a document).
   */
  add(
    vectors: Float32Array,
    options?: { ids?: ArrayLike<number>; chunks?: readonly ChunkInput[]; replaceDocuments?: readonly string[] } & WriteCall,
  ): Promise<Uint32Array>;
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
   * Splits the lists that outgrew the index (see rebalance.ts) in one commit; add() does this
   * itself, so only an index written by an older Weft needs it. Resolves with the lists it added.
   */
  rebalance(options?: WriteCall): Promise<number>;
  /**
   * Probed lists not in the cache are either streamed into it first (`missing: 'stream'`, the
   * default) or scored on the CPU while the GPU scans the cached ones (`'cpu'`); either way the
   * result is the one a search with everything cached gives, bit for bit. On the CPU backend every
   * list is scored on the CPU and `missing` changes nothing; the results are the GPU path's.
   */
  search(queries: Float32Array, options?: StoredSearchOptions): Promise<SearchResult>;
  /**
   * A search cut into slices of a few probe ranks (HedraRAG's cluster-sized sub-stages): each
   * step streams the lists it needs and scans them; read() gives the same result as search().
   * With a filter the session's `nprobe` is the number of ranks it probes, widened as search() widens.
   */
  searchSession(queries: Float32Array, options?: SearchSessionOptions): Promise<SearchSession>;
  /**
   * The live chunks `filter` keeps (undefined for no filter, or one without conditions), as of
   * the index's current generation: e.g. to filter results found by other means.
   */
  allowList(filter: PassageFilter | undefined): Promise<{ has(id: number): boolean; count: number } | undefined>;
  /** Streams the lists `query` will probe, best first, into the cache, up to `byteBudget` bytes. */
  prefetch(query: Float32Array, options?: { byteBudget?: number; nprobe?: number; signal?: AbortSignal }): PrefetchHandle;
  chunks(ids: readonly number[], options?: { signal?: AbortSignal }): Promise<(ChunkRecord | undefined)[]>;
  /** Chunks likely to be read soon: a store over a slow tier starts fetching them (see WeftStore.warmChunks). */
  warmChunks(ids: readonly number[]): void;
  /**
   * Keyword (BM25) search over the chunks' texts: the k best chunks holding the query's terms,
   * best first (ties by smaller id), only those `allow` accepts. Runs in turn with the other
   * operations, on the postings committed with the chunks.
   */
  lexicalSearch(query: string, options: LexicalSearchOptions): Promise<LexicalHits>;
  /**
   * lexicalSearch cut into steps of a few query terms each (each step runs in turn with the other
   * operations), for a scheduler to weave between decode steps; read() once done equals it.
   */
  lexicalSession(query: string, options: LexicalSearchOptions): Promise<LexicalSession>;
  /** The keyword index's language and totals. */
  lexicalStats(): Promise<LexicalStats>;
  cacheStats(): CacheStats;
  /** Lists currently cached on the GPU (on the CPU backend: decoded in JS memory). */
  residentLists(): number[];
  /** Saves access statistics and releases GPU memory (and the device, if the index created it). */
  close(): Promise<void>;
}

const ACCESS_SAVE_EVERY = 64;
/** Attempts of a write that keeps losing races with other tabs' commits. */
const WRITE_ATTEMPTS = 4;

/** Trains on `training` (k-means on the GPU, or the CPU backend), creates the index in the store, and opens it. */
export async function createStoredIndex(training: Float32Array, options: CreateStoredIndexOptions): Promise<StoredIndex> {
  const dim = checkPositiveInt('dim', options.dim, MAX_DIM);
  const nlist = checkPositiveInt('nlist', options.nlist, MAX_NLIST);
  const metric = checkMetric(options.metric);
  const storage = checkOption('storage', options.storage, INDEX_STORAGE_TYPES, 'f32');
  const pq = pqOption(dim, storage, options.pq);
  const layout = pq ? pqLayout(dim, pq.m, pq.bits) : layoutFor(dim, storage as Exclude<IndexStorage, 'pq'>);
  const niter = checkPositiveInt('niter', options.niter ?? 20, 1000);
  const perCentroid = checkPositiveInt('maxTrainPointsPerCentroid', options.maxTrainPointsPerCentroid ?? 256);
  const { ctx, owns } = await backendFrom(options.gpu);
  try {
    checkVectors('training vectors', training, dim, { metric, storage: layout.storage });
    const t = await trainQuantizers(ctx, prepareRows(metric, training, dim), {
      nlist,
      metric,
      layout,
      pq,
      seed: options.seed ?? 1,
      niter,
      maxTrainPointsPerCentroid: perCentroid,
      signal: options.signal,
      onProgress: options.onProgress,
    });
    if (options.signal?.aborted) throw new WeftError('ABORTED', `Creating index '${options.name}' was aborted; nothing was created.`);
    await options.store.createIndex({
      name: options.name,
      dim,
      metric,
      storage: layout.storage,
      ...(pq ? { pq } : {}),
      nlist,
      ...t,
      ...(options.modelId ? { modelId: options.modelId } : {}),
      ...(options.pending ? { pending: true } : {}),
      ...(options.language !== undefined ? { language: options.language } : {}),
    });
    return await openWith(ctx, owns, options);
  } catch (e) {
    if (owns) ctx?.destroy();
    throw e;
  }
}

/** The `pq` option of a 'pq' index, checked (INVALID_OPTION): undefined for the other storage types, which take none. */
function pqOption(dim: number, storage: IndexStorage, pq: CreateStoredIndexOptions['pq']): IndexPq | undefined {
  if (storage !== 'pq') {
    if (pq !== undefined)
      throw new WeftError('INVALID_OPTION', `pq sets the codes of storage 'pq'; this index stores ${storage}. Drop pq or use storage 'pq'.`);
    return undefined;
  }
  if (pq?.m === undefined) {
    if (pq?.bits !== undefined) checkPq(dim, 1, pq.bits);
    return defaultPq(dim, pq?.bits);
  }
  const bits = pq.bits ?? 8;
  checkPq(dim, pq.m, bits);
  return { m: pq.m, bits };
}

/**
 * Opens an index from a store: its centroids go to the GPU (or the CPU backend) and its hottest lists
 * are preloaded into the cache.
 */
export async function openStoredIndex(options: OpenStoredIndexOptions): Promise<StoredIndex> {
  const { ctx, owns } = await backendFrom(options.gpu);
  try {
    return await openWith(ctx, owns, options);
  } catch (e) {
    if (owns) ctx?.destroy();
    throw e;
  }
}

/** The list cache's size: the most it takes (`want`) and what it takes at first (`start`). */
function cacheBudget(ctx: GpuContext | undefined, manifest: Manifest, layout: Layout, cacheBytes: number | undefined): { want: number; start: number } {
  // Default: room for twice the index as it is now (at least 16 MiB), within 512 MiB and four
  // storage bindings; on the CPU, twice the decoded index within 256 MiB.
  const blockBytes = BLOCK * (layout.bytesPerVector + 4);
  const indexBytes = manifest.listCounts.reduce((a, n) => a + (ctx ? Math.ceil(n / BLOCK) * blockBytes : decodedBytes(n, layout)), 0);
  const cap = ctx ? Math.min(512 * 2 ** 20, 4 * ctx.maxShardBytes) : 256 * 2 ** 20;
  const want = cacheBytes ?? Math.min(cap, Math.max(16 * 2 ** 20, 2 * indexBytes));
  if (!(want > 0)) throw new WeftError('INVALID_OPTION', 'cacheBytes must be a positive number of bytes.');
  // On the GPU the default starts within what the device's memory budget leaves (the generator's
  // share first), less a tenth for the search's working buffers, and grows when memory is freed.
  const memory = ctx?.memory();
  const left = memory ? 0.9 * (memory.budget - memory.used) : Number.POSITIVE_INFINITY;
  return { want, start: cacheBytes ?? Math.min(want, Math.max(blockBytes, left)) };
}

async function openWith(ctx: GpuContext | undefined, owns: boolean, options: OpenStoredIndexOptions): Promise<StoredIndex> {
  const { name } = options;
  // close() stops the reads in flight (over a slow tier: a stalled host) before it waits for the
  // operations they belong to, so closing never hangs.
  const closing = new AbortController();
  const store = readsWith(options.store, closing.signal);
  const cacheFill = options.cacheFill ?? 1;
  if (!(cacheFill > 0 && cacheFill <= 1)) throw new WeftError('INVALID_OPTION', 'cacheFill must be in (0, 1].');
  const hotnessDecay = options.hotnessDecay ?? 0.5;
  if (!(hotnessDecay > 0 && hotnessDecay < 1)) throw new WeftError('INVALID_OPTION', 'hotnessDecay must be in (0, 1).');
  const rebuildAbove = options.rebuildImbalance ?? 8;
  const splitMode = options.splitLists ?? 'auto';
  if (splitMode !== 'auto' && splitMode !== 'oversized')
    throw new WeftError('INVALID_OPTION', `Unknown splitLists '${String(splitMode)}'. Valid values: auto, oversized.`);
  const manifest0 = await store.manifest(name);
  const { dim, metric } = manifest0;
  const layout = indexLayout(manifest0);
  const { pq } = manifest0;
  // The centroids and the access counts in one round trip's time (after the manifest: reading it migrates an older format).
  const [quantizers, storedAccess] = await Promise.all([readQuantizers(store, name, manifest0), store.readAccessCounts(name)]);
  let snap: IndexSnapshot = {
    manifest: manifest0,
    trained: uploadTrained(ctx, `weft.${name}`, quantizers.data, manifest0.centroidsChecksum, layout, pq, quantizers.host),
  };
  // After the centroids: the cache takes what the device's memory budget leaves.
  const size = cacheBudget(ctx, manifest0, layout, options.cacheBytes);
  const policy = options.cachePolicy ?? 'frequency';
  // The GPU list cache, or on the CPU backend the decoded-list cache: both keep the lists the policy picks.
  let gpuCache: ListCache | undefined;
  const cpuCache = ctx
    ? undefined
    : createCpuListCache({ layout, budgetBytes: size.want, policy, hotnessDecay, fill: cacheFill, quantizer: () => snap.trained.quantizer });
  try {
    if (ctx)
      gpuCache = createListCache(ctx, `weft.${name}.cache`, {
        layout,
        nlist: manifest0.nlist,
        budgetBytes: size.want,
        startBytes: size.start,
        policy,
        hotnessDecay,
        fill: cacheFill,
      });
  } catch (e) {
    snap.trained.release();
    throw e;
  }
  const cache: PrefetchEnv['cache'] & Pick<ListCache, 'replace' | 'invalidate' | 'clear' | 'ensureLists' | 'stats' | 'resident' | 'destroy'> = (gpuCache ??
    cpuCache)!;
  // Access counts per list; they grow with the index's lists (a split adds some).
  let access = new Float64Array(manifest0.nlist);
  access.set(storedAccess.subarray(0, manifest0.nlist));
  let requests = 0;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  /** Settles once no operation is queued or running: none was added in the turn after the last one ended. */
  const idle = async () => {
    for (let q = queue; ; q = queue) {
      await q;
      await new Promise((r) => setTimeout(r, 0));
      if (q === queue) return;
    }
  };

  const onProbed = (lists: number[]) => {
    cache.touch(lists);
    options.onProbe?.(lists);
    for (const l of lists) access[l]!++;
  };
  const largestK = ctx ? maxK(ctx) : MAX_K;
  const recallTarget = options.recallTarget ?? 0.99;
  if (!(recallTarget > 0 && recallTarget <= 1)) throw new WeftError('INVALID_OPTION', `recallTarget must be in (0, 1]; got ${String(options.recallTarget)}.`);
  const tuner = pq ? createRerankTuner(recallTarget, snap.manifest.rerank) : undefined;
  const searchEnv: SearchEnv | undefined = ctx && gpuCache ? { ctx, store, name, layout, metric, pq, cache: gpuCache, onProbed } : undefined;
  /** The candidates a search of k keeps when it re-ranks `perResult` per result ('pq'), within the device's largest k and the index. */
  const kept = (count: number, k: number, perResult: number) => (pq ? Math.max(k, Math.min(largestK, count, k * perResult)) : k);
  // Searches before those pipelines are ready run on the CPU (warm-up.ts); they are compiled for
  // the default k of 10, and a 'pq' index's re-rank figure now (its file's, or the tuner's start).
  const firstK = kept(snap.manifest.count, 10, tuner?.state.candidates ?? 1);
  const warm = searchEnv
    ? warmUpKernels({
        ...searchEnv,
        idle,
        quantizer: () => snap.trained.quantizer,
        firstK,
        filterDepth: Math.min(snap.manifest.nlist, maxK(searchEnv.ctx)),
        gpuCoarse: !snap.trained.onHost,
      })
    : undefined;
  const cpuEnv: CpuSearchEnv | undefined = cpuCache
    ? { ctx: undefined, store, name, layout, metric, pq, cache: cpuCache, scanner: createQuadScanner(), onProbed }
    : undefined;
  const prefetchEnv: PrefetchEnv = { ctx, store, name, layout, metric, pq, cache, ...(warm ? { warm } : {}) };
  const writeEnv: WriteEnv = { ctx, store, name, layout, metric, pq };
  /**
   * How many candidates a search of k keeps: k, or for 'pq' k x rerank (the search's, else the
   * tuner's; within the device's largest k and the index), re-ranked to k with their full vectors.
   */
  const candidatesFor = (s: IndexSnapshot, k: number, rerank: number | undefined) =>
    pq ? kept(s.manifest.count, k, rerank === undefined ? tuner!.next() : checkRerank(rerank)) : k;
  /** Re-ranks a 'pq' search's candidates (kk per query) to k; searches the tuner chose for teach it. */
  const reranked = (prepared: Float32Array, found: SearchResult, k: number, chosen: boolean, signal: AbortSignal | undefined) =>
    rerankExact(writeEnv, prepared, found, k, signal, chosen ? (needs) => tuner!.observe(needs, Math.floor(found.k / k)) : undefined);
  const allowLists = createAllowLists(
    () => store.readCatalog(name),
    () => snap.manifest.nlist,
  );
  /** The allow-list of a filtered search on `s` (undefined: no filter, or one that keeps everything). */
  const allowFor = async (s: IndexSnapshot, filter: PassageFilter | undefined): Promise<AllowList | undefined> => {
    const compiled = compileFilter(filter);
    return compiled && !compiled.all ? allowLists.get(compiled, s.manifest.generation) : undefined;
  };

  const adopt = (next: IndexSnapshot, retrained: boolean) => {
    if (next.trained !== snap.trained) snap.trained.release();
    if (retrained) access.fill(0);
    const nlist = next.manifest.nlist;
    if (nlist > access.length) {
      const grown = new Float64Array(nlist);
      grown.set(access);
      access = grown;
    }
    cache.ensureLists(nlist);
    snap = next;
  };

  /** Runs `fn` after every operation queued before it, on the snapshot current then (other tabs' commits adopted). */
  const exclusive = <T>(fn: (current: IndexSnapshot) => Promise<T>): Promise<T> => {
    const run = queue.then(async () => {
      if (closed) throw new WeftError('DESTROYED', `Index '${name}' was closed; open it again.`);
      ctx?.check();
      const r = await adoptCommits({ ...writeEnv, cache }, snap);
      adopt(r.snapshot, r.retrained);
      return fn(snap);
    });
    queue = run.catch(() => undefined);
    return run;
  };

  /** Commits a write planned on `from`; the cache keeps up with the lists it rewrote. */
  const commit = async (from: IndexSnapshot, changes: CommitChanges, signal?: AbortSignal, onProgress?: WriteCall['onProgress']) => {
    const manifest = await store.commit(
      name,
      from.manifest.generation,
      changes,
      signal,
      onProgress ? (done, total) => onProgress({ status: 'save', done, total }) : undefined,
    );
    // A split committed new centroids: searches from now on rank with them (the int8 range is the same).
    const trained = changes.centroids ? uploadTrained(ctx, `weft.${name}`, changes.centroids, manifest.centroidsChecksum, layout, pq) : from.trained;
    cache.replace(changes.lists ?? []); // only resident lists are replaced: the new ones are not (adopt makes room for them)
    allowLists.committed(from.manifest.generation, manifest.generation, changes);
    adopt({ manifest, trained }, false);
  };

  /** A write that lost the race with another tab's commit is planned again on the adopted view. */
  const write = <T>(plan: (current: IndexSnapshot) => Promise<T>): Promise<T> =>
    exclusive(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await plan(snap);
        } catch (e) {
          if (!(e instanceof WeftError && e.code === 'CONFLICT') || attempt >= WRITE_ATTEMPTS) throw e;
          const r = await adoptCommits({ ...writeEnv, cache }, snap);
          adopt(r.snapshot, r.retrained);
        }
      }
    });

  const rebuildNow = async (signal: AbortSignal | undefined, seed: number): Promise<void> => {
    const planned = await planRebuild(writeEnv, seed);
    if (!planned) return;
    if (signal?.aborted) throw new WeftError('ABORTED', `Rebuilding index '${name}' was aborted; nothing was changed.`);
    const manifest = await store.writeWholeIndex(planned.whole, { replace: true, expectGeneration: planned.generation });
    const trained = uploadTrained(ctx, `weft.${name}`, planned.whole.centroids, manifest.centroidsChecksum, layout, pq);
    cache.clear(); // every cached list is stale now
    adopt({ manifest, trained }, true);
  };

  /** `changes` planned on `from`, with the lists they make outgrow the index split in the same commit. */
  const withSplits = async (from: IndexSnapshot, changes: CommitChanges, call: WriteCall): Promise<CommitChanges> => {
    const pending = new Map((changes.lists ?? []).map((r) => [r.list, r]));
    const count = from.manifest.count + (changes.countDelta ?? 0);
    const plan = await planSplits(writeEnv, from, {
      pending,
      putChunks: changes.putChunks ?? [],
      count,
      mode: splitMode,
      signal: call.signal,
      onProgress: call.onProgress,
    });
    if (!plan) return changes;
    return {
      ...changes,
      lists: plan.lists,
      putChunks: plan.putChunks,
      moveChunks: plan.moveChunks,
      centroids: plan.centroids,
      tombstoneDelta: (changes.tombstoneDelta ?? 0) - plan.tombstonesDropped,
    };
  };

  const empty = (s: IndexSnapshot) => {
    if (s.manifest.count === 0) throw new WeftError('EMPTY_INDEX', `Index '${name}' holds no vectors yet; add() some before searching.`);
  };

  if (options.preload ?? true) {
    try {
      await preloadHottest(prefetchEnv, snap.manifest, access, { generation: () => snap.manifest.generation, closed: () => closed, idle }).first;
    } catch (e) {
      cache.destroy();
      snap.trained.release();
      throw e;
    }
  }

  const index: StoredIndex = {
    name,
    dim,
    metric,
    storage: layout.storage,
    gpu: ctx,
    backend: ctx ? 'gpu' : 'cpu',
    get nlist() {
      return snap.manifest.nlist;
    },
    get size() {
      return snap.manifest.count;
    },
    get manifest() {
      return snap.manifest;
    },

    async add(vectors, opts = {}) {
      const ids = await write(async (from) => {
        const planned = await planAdd(writeEnv, from, vectors, opts);
        await commit(from, await withSplits(from, planned.changes, opts), opts.signal, opts.onProgress);
        return planned.ids;
      });
      // The vectors have landed: whatever happens to the rebuild, this add resolves.
      if (imbalanceFactor(snap.manifest.listCounts) > rebuildAbove) {
        await write(() => rebuildNow(opts.signal, 1)).catch(() => undefined);
      }
      return ids;
    },

    async delete(idsIn, opts = {}) {
      const ids = checkExistingIds(idsIn);
      return write(async (from) => {
        if (ids.length === 0) return 0;
        const planned = await planDelete(writeEnv, ids);
        await commit(from, planned.changes, opts.signal);
        return planned.removed;
      });
    },

    async deleteDocument(docId, opts = {}) {
      if (typeof docId !== 'string') throw new WeftError('INVALID_INPUT', `deleteDocument takes a document id string; got ${typeof docId}.`);
      return write(async (from) => {
        const planned = await planDelete(writeEnv, await store.chunkIdsOfDocument(name, docId));
        if (planned.removed === 0 && !planned.changes.deleteChunks?.length) return 0;
        await commit(from, planned.changes, opts.signal);
        return planned.removed;
      });
    },

    compact(opts = {}) {
      return write(async (from) => {
        if (from.manifest.tombstones === 0) return 0;
        const planned = await planCompact(writeEnv, from);
        await commit(from, planned.changes, opts.signal);
        return planned.removed;
      });
    },

    imbalance() {
      return imbalanceFactor(snap.manifest.listCounts);
    },

    rebalance(opts = {}) {
      return write(async (from) => {
        const changes = await withSplits(from, {}, opts);
        if (!changes.centroids) return 0;
        await commit(from, changes, opts.signal, opts.onProgress);
        return changes.centroids.centroids.length / dim - from.manifest.nlist;
      });
    },

    rebuild(opts = {}) {
      return write(() => rebuildNow(opts.signal, opts.seed ?? 1));
    },

    search(queries, opts = {}) {
      const { signal } = opts;
      return abortable(
        exclusive(async (s) => {
          checkAborted(signal, 'The search');
          empty(s);
          const nq = checkVectors('queries', queries, dim);
          const k = checkK(opts.k, s.manifest.count, largestK);
          const kk = candidatesFor(s, k, opts.rerank);
          const nprobe = checkNprobe(ctx, opts.nprobe, s.manifest.nlist);
          if (opts.missing !== undefined && opts.missing !== 'stream' && opts.missing !== 'cpu') {
            throw new WeftError('INVALID_OPTION', `Unknown missing '${String(opts.missing)}'. Valid values: stream, cpu.`);
          }
          const allow = await allowFor(s, opts.filter);
          // Until the first search's pipelines are compiled, a small search runs on the CPU (warm-up.ts).
          const cpu = (await warm?.cpuFor(nq, nprobe, s.manifest)) ?? cpuEnv;
          const batch = Math.min(nq, ctx?.limits.maxComputeWorkgroupsPerDimension ?? 1024, 1024);
          const ids = new Uint32Array(nq * k),
            distances = new Float32Array(nq * k);
          try {
            for (let q0 = 0; q0 < nq; q0 += batch) {
              const qn = Math.min(batch, nq - q0);
              const part = queries.subarray(q0 * dim, (q0 + qn) * dim);
              // On the CPU backend every list is scored on the CPU: `missing` changes nothing.
              const found = cpu
                ? await cpuSearchBatch(withReads(cpu, signal), s, part, kk, nprobe, allow)
                : await searchBatch(withReads(searchEnv!, signal), s, part, kk, nprobe, opts.missing ?? 'stream', allow);
              const r = pq ? await reranked(prepareRows(metric, part, dim), found, k, opts.rerank === undefined, signal) : found;
              ids.set(r.ids, q0 * k);
              distances.set(r.distances, q0 * k);
            }
          } finally {
            if (++requests % ACCESS_SAVE_EVERY === 0) void saveAccess();
          }
          return { ids, distances, numQueries: nq, k };
        }),
        signal,
        'The search',
      );
    },

    searchSession(queries, opts = {}) {
      const { signal } = opts;
      return abortable(
        exclusive(async (s) => {
          checkAborted(signal, 'The search');
          empty(s);
          const nq = checkVectors('queries', queries, dim);
          if (nq > 1024) throw new WeftError('INVALID_OPTION', 'A search session takes at most 1024 queries; split the batch.');
          const k = checkK(opts.k, s.manifest.count, largestK);
          const kk = candidatesFor(s, k, opts.rerank);
          const nprobe = checkNprobe(ctx, opts.nprobe, s.manifest.nlist);
          const allow = await allowFor(s, opts.filter);
          const first = (opts.scanFirst ?? []).map((lists) => (lists ? new Set(lists) : undefined));
          const session = searchEnv
            ? await openStoredSession(withReads(searchEnv, signal), s, queries, kk, nprobe, exclusive, allow, first)
            : await openCpuSession(withReads(cpuEnv!, signal), s, queries, kk, nprobe, exclusive, allow, first);
          if (!pq) return session;
          const prepared = prepareRows(metric, queries, dim);
          return rerankedSession(session, k, (found) => reranked(prepared, found, k, opts.rerank === undefined && session.done, signal));
        }),
        signal,
        'The search',
      );
    },

    allowList(filter) {
      return exclusive((s) => allowFor(s, filter));
    },

    prefetch(query, opts = {}) {
      const check = () => {
        checkVectors('query', query, dim);
        if (query.length !== dim) throw new WeftError('DIMENSION_MISMATCH', `prefetch takes one query of ${dim} values.`);
        const nlist = snap.manifest.nlist;
        return checkNprobe(ctx, opts.nprobe ?? Math.min(nlist, largestK), nlist);
      };
      return prefetchLists(prefetchEnv, query, {
        check,
        byteBudget: opts.byteBudget ?? cache.budget * cacheFill,
        exclusive,
        signal: opts.signal,
        generation: () => snap.manifest.generation,
        closed: () => closed,
      });
    },

    warmChunks(ids) {
      if (ids.length > 0) void store.warmChunks?.(name, ids);
    },

    async chunks(ids, opts = {}) {
      return store.readChunks(name, checkExistingIds(ids), { signal: opts.signal });
    },

    // A keyword search takes its place in the index's queue for the manifest it starts from and
    // for its scoring; its reads (a bucket may come from IndexedDB or the network) run beside
    // the queue (see openLexicalSession).
    async lexicalSearch(query, opts) {
      return lexicalSearch(readsWith(store, opts?.signal), name, await exclusive(async (s) => s.manifest), query, opts);
    },

    async lexicalSession(query, opts) {
      return openLexicalSession(readsWith(store, opts?.signal), name, await exclusive(async (s) => s.manifest), query, opts, (fn) => exclusive(() => fn()));
    },

    lexicalStats() {
      return exclusive((s) => lexicalStats(s.manifest));
    },

    cacheStats() {
      return cache.stats();
    },
    residentLists() {
      return cache.resident();
    },

    async close() {
      if (closed) return;
      closing.abort();
      await queue;
      closed = true;
      await saveAccess();
      cache.destroy();
      snap.trained.release();
      if (owns) ctx?.destroy();
    },
  };

  async function saveAccess() {
    try {
      await store.writeAccessCounts(name, access);
    } catch {
      /* statistics are best effort */
    }
  }

  return index;
}
