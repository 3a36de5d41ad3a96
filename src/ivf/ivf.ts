// The GPU vector indexes: an IVF index (k-means coarse quantiser + inverted lists scanned by
// WGSL kernels) and the exact flat index over the same storage, which is the baseline and the
// ground-truth generator. Host memory keeps each list's encoded vectors (the future IndexedDB
// tier writes exactly these records); the GPU holds them sharded under the binding limit.
// Both take an allow bitmap (SearchOptions.allow), uploaded per search for the filtered scan.
// Over 400 lines: the in-memory IVF index and its flat twin share the GPU list sharding and the
// search plumbing kept here.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { contextFrom, type GpuOption } from '../gpu/option.js';
import { bufferFrom } from '../gpu/kernels.js';
import { decodeRows, deinterleave, encodeRows, layoutFor, trainScalarQuantizer, type FlatLayout, type ScalarQuantizer } from './codec.js';
import { uploadLists, type GpuLists } from './gpu-lists.js';
import { appendToRecord, emptyRecord, groupByList } from './list-records.js';
import { checkNprobe, prepareRows, queryBuffer, submitRanking, uploadCentroids, uploadQuantizer } from './probe.js';
import type { ReferenceList } from './reference.js';
import { bytesPerRank, maxK, openSession, type InternalSession, type ScanTarget } from './scan.js';
import { assignLists, trainIvf, type TrainProgress } from './train.js';
import type { ListRecord, Metric, SearchOptions, SearchResult, SearchSession, StorageType } from './types.js';
import { MAX_DIM, MAX_NLIST, checkIds, checkK, checkMetric, checkPositiveInt, checkStorage, checkVectors } from './validate.js';

/** Options common to the in-memory indexes: dimension, metric, storage type and the GPU to run on. */
export interface IndexOptions extends GpuOption {
  dim: number;
  /** Default 'l2'. */
  metric?: Metric;
  /** How vectors are stored on the GPU. Default 'f32'. */
  storage?: StorageType;
}

/** Options of createIvfIndex: IndexOptions plus nlist and the k-means settings. */
export interface IvfIndexOptions extends IndexOptions {
  /** Number of inverted lists (k-means centroids). */
  nlist: number;
  /** k-means seed; training is deterministic for a given seed. Default 1. */
  seed?: number;
  /** k-means iterations. Default 20. */
  niter?: number;
  /** Training uses at most this many points per centroid (FAISS: 256). Default 256. */
  maxTrainPointsPerCentroid?: number;
}

/** Options of a train() call: abort and progress. */
export interface TrainCallOptions {
  /** Stops k-means between iterations (ABORTED); the index stays untrained. */
  signal?: AbortSignal;
  /** Progress after each k-means iteration ({ status: 'train', done, total }). */
  onProgress?: (p: TrainProgress) => void;
}

interface IndexBase {
  readonly dim: number;
  readonly metric: Metric;
  readonly storage: StorageType;
  /** Vectors in the index. */
  readonly size: number;
  readonly trained: boolean;
  /** The context (device) the index runs on. */
  readonly gpu: GpuContext;
  /**
   * Learns what storage needs before `add` (IVF: the centroids; int8: the per-dimension range).
   */
  train(vectors: Float32Array, options?: TrainCallOptions): Promise<void>;
  /** Adds n x dim vectors; ids default to consecutive integers after the largest so far. Returns the ids. */
  add(vectors: Float32Array, ids?: ArrayLike<number>): Promise<Uint32Array>;
  search(queries: Float32Array, options?: SearchOptions): Promise<SearchResult>;
  /** GPU residency of the stored vectors: storage-buffer shards and bytes. */
  stats(): { size: number; shards: number; gpuBytes: number };
  /** The stored vectors, decoded as the GPU scores them (dequantised), per list: for CPU references and export. */
  lists(): ReferenceList[];
  /** Releases the GPU buffers (and the device, when the index created it). */
  destroy(): void;
}

/**
 * An in-memory IVF index on the GPU: train (k-means), add, search (whole or in slices), its centroids
 * and list sizes.
 */
export interface IvfIndex extends IndexBase {
  readonly nlist: number;
  /** Starts a search that can be run in slices of a few lists (see SearchSession). */
  searchSession(queries: Float32Array, options?: SearchOptions): Promise<SearchSession>;
  /** A copy of the centroids (nlist x dim; normalised for cosine). */
  centroids(): Float32Array;
  /** int8 storage: a copy of the per-dimension range (undefined for f32/f16). */
  quantizer(): ScalarQuantizer | undefined;
  /**
   * Adopts centroids (and, for int8, the range) trained earlier, e.g. read back from storage,
   * instead of running k-means. Same preconditions as train().
   */
  setTrained(centroids: Float32Array, quantizer?: ScalarQuantizer): Promise<void>;
  listSizes(): Uint32Array;
}

/** An exact (brute-force) index on the GPU: every vector is scored. The baseline and ground truth of IVF search. */
export type FlatIndex = IndexBase;

/** Everything the IVF and flat indexes share: host lists, GPU upload, query preparation. */
interface Core {
  ctx: GpuContext;
  layout: FlatLayout;
  metric: Metric;
  sq: ScalarQuantizer | undefined;
  sqBuffer: GPUBuffer | undefined;
  /** The lists as records (ids + interleaved codes), the same shape the stored index keeps. */
  host: ListRecord[];
  ids: Set<number>;
  nextId: number;
  size: number;
  gpuLists: SharedLists | undefined;
  destroyed: boolean;
  ownsCtx: boolean;
  /** Serialises public calls so a search never sees a half-applied add. */
  queue: Promise<unknown>;
}

/** Lists on the GPU, reference-counted so an add() can replace them under an open session. */
interface SharedLists {
  lists: GpuLists;
  refs: number;
}

function release(s: SharedLists | undefined) {
  if (s && --s.refs === 0) s.lists.destroy();
}

function checkIndexOptions(opts: IndexOptions): { layout: FlatLayout; metric: Metric } {
  const dim = checkPositiveInt('dim', opts.dim, MAX_DIM);
  return { layout: layoutFor(dim, checkStorage(opts.storage)), metric: checkMetric(opts.metric) };
}

function makeCore(ctx: GpuContext, owns: boolean, checked: { layout: FlatLayout; metric: Metric }, numLists: number): Core {
  return {
    ctx,
    layout: checked.layout,
    metric: checked.metric,
    sq: undefined,
    sqBuffer: undefined,
    host: Array.from({ length: numLists }, (_, l) => emptyRecord(l)),
    ids: new Set(),
    nextId: 0,
    size: 0,
    gpuLists: undefined,
    destroyed: false,
    ownsCtx: owns,
    queue: Promise.resolve(),
  };
}

/** What calls to an index take turns on: its queue, and whether it is gone. */
export type CallQueue = Pick<Core, 'ctx' | 'queue' | 'destroyed'>;

/** Runs `fn` after the index's earlier calls (a search never sees a half-applied add); DESTROYED once destroyed. */
export function exclusive<T>(core: CallQueue, fn: () => Promise<T>): Promise<T> {
  const run = core.queue.then(() => {
    alive(core);
    return fn();
  });
  core.queue = run.catch(() => undefined);
  return run;
}

function alive(core: CallQueue) {
  if (core.destroyed) throw new WeftError('DESTROYED', 'This index was destroyed; create a new one.');
  core.ctx.check();
}

function prepare(core: Core, vectors: Float32Array): Float32Array {
  return prepareRows(core.metric, vectors, core.layout.dim);
}

function setQuantizer(core: Core, sq: ScalarQuantizer) {
  core.ctx.destroyBuffer(core.sqBuffer);
  core.sqBuffer = uploadQuantizer(core.ctx, 'weft.index.sq', sq, core.layout.dimPad);
  core.sq = sq;
}

/** Appends vectors already routed to lists by `labels` (all to list 0 without); swaps in the new GPU lists. */
function appendToLists(core: Core, prepared: Float32Array, ids: Uint32Array, labels: Uint32Array | undefined) {
  const rows = encodeRows(prepared, core.layout, core.sq);
  const next = core.host.slice();
  for (const [l, members] of groupByList(labels ?? new Uint32Array(ids.length))) next[l] = appendToRecord(core.host[l]!, rows, ids, members, core.layout);
  // Upload first: if it fails, nothing below has changed.
  const lists = uploadLists(core.ctx, 'weft.index.lists', next, core.layout);
  release(core.gpuLists);
  core.gpuLists = { lists, refs: 1 };
  core.host = next;
  for (const id of ids) {
    core.ids.add(id);
    if (id >= core.nextId) core.nextId = id + 1;
  }
  core.size += ids.length;
}

/** The ids of `n` vectors being added: `ids` checked (none `taken`), or consecutive from `nextId`. */
export function newIds(n: number, ids: ArrayLike<number> | undefined, taken: (id: number) => boolean, nextId: number): Uint32Array {
  if (ids !== undefined) return checkIds(ids, n, taken);
  if (nextId + n > 0xffffffff) throw new WeftError('INVALID_ID', 'Automatic ids are exhausted; pass ids explicitly.');
  return Uint32Array.from({ length: n }, (_, i) => nextId + i);
}

function checkAddIds(core: Core, n: number, ids: ArrayLike<number> | undefined): Uint32Array {
  return newIds(n, ids, (id) => core.ids.has(id), core.nextId);
}

function decodedLists(core: Core): ReferenceList[] {
  return core.host.map((l) => ({ ids: l.ids.slice(), vectors: decodeRows(deinterleave(l.codes, l.count, core.layout.units), core.layout, core.sq) }));
}

function target(core: Core, lists: GpuLists): ScanTarget {
  return { layout: core.layout, metric: core.metric, lists, ...(core.sqBuffer ? { sq: core.sqBuffer } : {}) };
}

/** Queries per session so that one probe rank's intermediate lists fit a storage binding. */
export function queryBatch(ctx: GpuContext, t: ScanTarget, k: number): number {
  const perQuery = bytesPerRank(ctx, t, k, 1);
  const batch = Math.min(ctx.limits.maxComputeWorkgroupsPerDimension, Math.floor(ctx.maxShardBytes / perQuery));
  if (batch < 1) {
    throw new WeftError(
      'DEVICE_LIMIT',
      `One query with k = ${k} needs ${perQuery} bytes of intermediate results, above this device's ${ctx.maxShardBytes}-byte buffer limit. Lower k or nlist imbalance.`,
    );
  }
  return batch;
}

/** A whole search of `queries` (rows of `dim`), `batch` queries per session that `open` starts. */
export async function searchInBatches(
  dim: number,
  queries: Float32Array,
  k: number,
  batch: number,
  open: (q: Float32Array) => Promise<InternalSession>,
): Promise<SearchResult> {
  const nq = queries.length / dim;
  const ids = new Uint32Array(nq * k);
  const distances = new Float32Array(nq * k);
  for (let q0 = 0; q0 < nq; q0 += batch) {
    const qn = Math.min(batch, nq - q0);
    const session = await open(queries.subarray(q0 * dim, (q0 + qn) * dim));
    try {
      session.submit();
      const r = await session.read();
      ids.set(r.ids, q0 * k);
      distances.set(r.distances, q0 * k);
    } finally {
      session.destroy();
    }
  }
  return { ids, distances, numQueries: nq, k };
}

/** The allow bitmap of a search, checked; uploaded by allowBuffer. */
function checkAllow(allow: unknown): Uint32Array | undefined {
  if (allow === undefined) return undefined;
  if (!(allow instanceof Uint32Array))
    throw new WeftError('INVALID_OPTION', 'allow must be a Uint32Array bitmap: bit (id % 32) of word floor(id / 32) set for each id a search may return.');
  return allow;
}

function allowBuffer(ctx: GpuContext, allow: Uint32Array | undefined): GPUBuffer | undefined {
  return allow && bufferFrom(ctx, 'weft.search.allow', allow);
}

function coreStats(core: Core) {
  const l = core.gpuLists?.lists;
  return { size: core.size, shards: l ? l.shards.length : 0, gpuBytes: l ? l.bytes : 0 };
}

function destroyCore(core: Core) {
  if (core.destroyed) return;
  core.destroyed = true;
  release(core.gpuLists);
  core.gpuLists = undefined;
  core.ctx.destroyBuffer(core.sqBuffer);
  if (core.ownsCtx) core.ctx.destroy();
}

/** Opens a session over the core's current lists, holding a reference until it ends. */
function sessionOver(core: Core, init: (t: ScanTarget) => Parameters<typeof openSession>[1]): InternalSession {
  const shared = core.gpuLists!;
  shared.refs++;
  let session: InternalSession;
  try {
    session = openSession(core.ctx, init(target(core, shared.lists)));
  } catch (e) {
    release(shared);
    throw e;
  }
  const destroy = session.destroy.bind(session);
  let released = false;
  session.destroy = () => {
    destroy();
    if (!released) {
      released = true;
      release(shared);
    }
  };
  return session;
}

// ---- IVF -----------------------------------------------------------------------------------

/** Creates an empty IVF index of `nlist` lists on the GPU; train() it (at least nlist vectors) before add(). */
export async function createIvfIndex(options: IvfIndexOptions): Promise<IvfIndex> {
  const nlist = checkPositiveInt('nlist', options.nlist, MAX_NLIST);
  const niter = checkPositiveInt('niter', options.niter ?? 20, 1000);
  const perCentroid = checkPositiveInt('maxTrainPointsPerCentroid', options.maxTrainPointsPerCentroid ?? 256);
  const seed = options.seed ?? 1;
  const checked = checkIndexOptions(options); // before creating a device we would have to release
  const { ctx, owns } = await contextFrom(options.gpu);
  const core = makeCore(ctx, owns, checked, nlist);
  const { dim } = core.layout;
  let centroids: Float32Array | undefined;
  let coarse: GpuLists | undefined;

  const adopt = (c: Float32Array, sq: ScalarQuantizer | undefined) => {
    const coarseLists = uploadCentroids(ctx, 'weft.index.centroids', c, dim);
    coarse?.destroy();
    coarse = coarseLists;
    centroids = c;
    if (sq) setQuantizer(core, sq);
    if (!core.gpuLists) core.gpuLists = { lists: uploadLists(ctx, 'weft.index.lists', core.host, core.layout), refs: 1 };
  };

  const checkReady = () => {
    if (!centroids)
      throw new WeftError('NOT_TRAINED', 'The index is not trained yet. Call train(vectors) with representative vectors (at least nlist of them) first.');
  };

  const checkSearch = (queries: Float32Array, opts: SearchOptions) => {
    checkReady();
    if (core.size === 0) throw new WeftError('EMPTY_INDEX', 'The index holds no vectors yet; add() some before searching.');
    checkVectors('queries', queries, dim);
    return { k: checkK(opts.k, core.size, maxK(ctx)), nprobe: checkNprobe(ctx, opts.nprobe, nlist), allow: checkAllow(opts.allow) };
  };

  const openIvfSession = async (queries: Float32Array, k: number, nprobe: number, allowBits?: Uint32Array): Promise<InternalSession> => {
    const qbuf = queryBuffer(ctx, 'weft.search.queries', core.layout, core.metric, queries);
    const nq = queries.length / dim;
    let ranking: ReturnType<typeof submitRanking>;
    let allow: GPUBuffer | undefined;
    try {
      // The list scan queues behind the ranking: no round trip in between.
      ranking = submitRanking(ctx, {
        centroids: coarse!,
        dim,
        nlist,
        metric: core.metric,
        queries: qbuf,
        queryUnits: core.layout.queryUnits,
        numQueries: nq,
        nprobe,
      });
      allow = allowBuffer(ctx, allowBits);
    } catch (e) {
      ctx.destroyBuffer(qbuf);
      if (ranking!) ctx.destroyBuffer(ranking.buffer);
      throw e;
    }
    return sessionOver(core, (t) => ({
      target: t,
      queries: qbuf,
      queryUnits: core.layout.queryUnits,
      numQueries: nq,
      k,
      probes: ranking.buffer,
      probeStride: ranking.stride,
      nprobe,
      owned: [qbuf, ranking.buffer, ...(allow ? [allow] : [])],
      ...(allow ? { allow } : {}),
    }));
  };

  const index: IvfIndex = {
    dim,
    nlist,
    metric: core.metric,
    storage: core.layout.storage,
    gpu: ctx,
    get size() {
      return core.size;
    },
    get trained() {
      return centroids !== undefined;
    },

    train(vectors, opts = {}) {
      return exclusive(core, async () => {
        checkVectors('training vectors', vectors, dim, { metric: core.metric, storage: core.layout.storage });
        if (core.size > 0)
          throw new WeftError('ALREADY_TRAINED', 'The index already holds vectors; retraining would invalidate their lists. Create a new index to retrain.');
        const t = await trainIvf(ctx, prepare(core, vectors), {
          nlist,
          metric: core.metric,
          layout: core.layout,
          seed,
          niter,
          maxTrainPointsPerCentroid: perCentroid,
          signal: opts.signal,
          onProgress: opts.onProgress,
        });
        adopt(t.centroids, t.quantizer);
      });
    },

    setTrained(c, sq) {
      return exclusive(core, async () => {
        if (core.size > 0) throw new WeftError('ALREADY_TRAINED', 'The index already holds vectors; create a new index to change its centroids.');
        if (!(c instanceof Float32Array) || c.length !== nlist * dim) {
          throw new WeftError('DIMENSION_MISMATCH', `centroids must be a Float32Array of nlist x dim = ${nlist} x ${dim} values; got ${c?.length}.`);
        }
        checkVectors('centroids', c, dim, { metric: core.metric });
        if (core.layout.storage === 'int8') {
          if (!sq || sq.vmin.length !== core.layout.dimPad || sq.scale.length !== core.layout.dimPad) {
            throw new WeftError('INVALID_OPTION', `int8 storage needs the quantizer range (vmin and scale of ${core.layout.dimPad} values each).`);
          }
        }
        adopt(core.metric === 'cosine' ? prepareRows('cosine', c, dim) : c.slice(), sq && { vmin: sq.vmin.slice(), scale: sq.scale.slice() });
      });
    },

    add(vectors, ids) {
      return exclusive(core, async () => {
        checkReady();
        const n = checkVectors('vectors', vectors, dim, { metric: core.metric, storage: core.layout.storage });
        const idArr = checkAddIds(core, n, ids);
        const prepared = prepare(core, vectors);
        const labels = await assignLists(ctx, prepared, centroids!, dim, core.metric);
        appendToLists(core, prepared, idArr, labels);
        return idArr;
      });
    },

    search(queries, opts = {}) {
      return exclusive(core, async () => {
        const { k, nprobe, allow } = checkSearch(queries, opts);
        const batch = Math.min(
          queryBatch(core.ctx, target(core, core.gpuLists!.lists), k),
          queryBatch(core.ctx, { layout: layoutFor(dim, 'f32'), metric: core.metric, lists: coarse! }, Math.min(nprobe, maxK(ctx))),
        );
        return searchInBatches(core.layout.dim, queries, k, batch, (q) => openIvfSession(q, k, nprobe, allow));
      });
    },

    searchSession(queries, opts = {}) {
      return exclusive(core, async () => {
        const { k, nprobe, allow } = checkSearch(queries, opts);
        return openIvfSession(queries, k, nprobe, allow);
      });
    },

    centroids() {
      checkReady();
      return centroids!.slice();
    },
    quantizer() {
      return core.sq && { vmin: core.sq.vmin.slice(), scale: core.sq.scale.slice() };
    },
    listSizes() {
      return Uint32Array.from(core.host, (l) => l.count);
    },
    lists() {
      return decodedLists(core);
    },
    stats() {
      return coreStats(core);
    },
    destroy() {
      if (core.destroyed) return;
      coarse?.destroy();
      coarse = undefined;
      destroyCore(core);
    },
  };
  return index;
}

// ---- Flat ----------------------------------------------------------------------------------

/** Exact search over every stored vector, with the same storage and kernels as the IVF index. */
export async function createFlatIndex(options: IndexOptions): Promise<FlatIndex> {
  const checked = checkIndexOptions(options);
  const { ctx, owns } = await contextFrom(options.gpu);
  const core = makeCore(ctx, owns, checked, 1);
  const { dim } = core.layout;
  const needsTraining = core.layout.storage === 'int8';
  let trained = !needsTraining;

  const flat: FlatIndex = {
    dim,
    metric: core.metric,
    storage: core.layout.storage,
    gpu: ctx,
    get size() {
      return core.size;
    },
    get trained() {
      return trained;
    },
    train(vectors) {
      return exclusive(core, async () => {
        checkVectors('training vectors', vectors, dim, { metric: core.metric, storage: core.layout.storage });
        if (core.size > 0 && needsTraining)
          throw new WeftError('ALREADY_TRAINED', 'The index already holds int8 vectors encoded with the current range; create a new index to retrain.');
        if (needsTraining) setQuantizer(core, trainScalarQuantizer(prepare(core, vectors), dim, core.layout.dimPad));
        trained = true;
      });
    },
    add(vectors, ids) {
      return exclusive(core, async () => {
        if (!trained) throw new WeftError('NOT_TRAINED', 'int8 storage needs the per-dimension range first: call train(vectors) with representative vectors.');
        const n = checkVectors('vectors', vectors, dim, { metric: core.metric, storage: core.layout.storage });
        const idArr = checkAddIds(core, n, ids);
        appendToLists(core, prepare(core, vectors), idArr, undefined);
        return idArr;
      });
    },
    search(queries, opts = {}) {
      return exclusive(core, async () => {
        if (core.size === 0) throw new WeftError('EMPTY_INDEX', 'The index holds no vectors yet; add() some before searching.');
        checkVectors('queries', queries, dim);
        const k = checkK(opts.k, core.size, maxK(ctx));
        const allowBits = checkAllow(opts.allow);
        const batch = queryBatch(core.ctx, target(core, core.gpuLists!.lists), k);
        return searchInBatches(core.layout.dim, queries, k, batch, async (q) => {
          const qbuf = queryBuffer(ctx, 'weft.search.queries', core.layout, core.metric, q);
          const probe = bufferFrom(ctx, 'weft.search.flatProbe', new Uint32Array(2));
          const allow = allowBuffer(ctx, allowBits);
          const owned = [qbuf, probe, ...(allow ? [allow] : [])];
          return sessionOver(core, (t) => ({
            target: t,
            queries: qbuf,
            queryUnits: core.layout.queryUnits,
            numQueries: q.length / dim,
            k,
            probes: probe,
            probeStride: 0,
            nprobe: 1,
            owned,
            ...(allow ? { allow } : {}),
          }));
        });
      });
    },
    lists() {
      return decodedLists(core);
    },
    stats() {
      return coreStats(core);
    },
    destroy() {
      destroyCore(core);
    },
  };
  return flat;
}
