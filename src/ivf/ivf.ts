// The GPU vector indexes: an IVF index (k-means coarse quantiser + inverted lists scanned by
// WGSL kernels) and the exact flat index over the same storage, which is the baseline and the
// ground-truth generator. Host memory keeps each list's encoded vectors (the future IndexedDB
// tier writes exactly these records); the GPU holds them sharded under the binding limit.

import { WeftError } from '../errors.js';
import { contextFrom, type GpuContext, type GpuOption } from '../gpu/context.js';
import { bufferFrom } from '../gpu/kernels.js';
import { createRng, sampleIndices } from '../random.js';
import {
  decodeRows, encodeRows, layoutFor, normalizeRows, padRows, trainScalarQuantizer,
  type Layout, type ScalarQuantizer,
} from './codec.js';
import { uploadLists, type GpuLists, type HostList } from './gpu-lists.js';
import { assignNearest, trainKmeans, uploadPoints } from './kmeans.js';
import type { ReferenceList } from './reference.js';
import { bytesPerRank, maxK, openSession, type InternalSession, type ScanTarget } from './scan.js';
import type { Metric, SearchOptions, SearchResult, SearchSession, StorageType } from './types.js';
import { checkIds, checkK, checkMetric, checkPositiveInt, checkStorage, checkVectors } from './validate.js';

export interface IndexOptions extends GpuOption {
  dim: number;
  /** Default 'l2'. */
  metric?: Metric;
  /** How vectors are stored on the GPU. Default 'f32'. */
  storage?: StorageType;
}

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
  train(vectors: Float32Array): Promise<void>;
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

export type FlatIndex = IndexBase;

/** Everything the IVF and flat indexes share: host lists, GPU upload, query preparation. */
interface Core {
  ctx: GpuContext;
  layout: Layout;
  metric: Metric;
  sq: ScalarQuantizer | undefined;
  sqBuffer: GPUBuffer | undefined;
  host: HostList[];
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
interface SharedLists { lists: GpuLists; refs: number }

function release(ctx: GpuContext, s: SharedLists | undefined) {
  if (s && --s.refs === 0) s.lists.destroy();
}

function checkIndexOptions(opts: IndexOptions): { layout: Layout; metric: Metric } {
  const dim = checkPositiveInt('dim', opts.dim, 65536);
  return { layout: layoutFor(dim, checkStorage(opts.storage)), metric: checkMetric(opts.metric) };
}

function makeCore(ctx: GpuContext, owns: boolean, checked: { layout: Layout; metric: Metric }, numLists: number): Core {
  return {
    ctx, layout: checked.layout, metric: checked.metric, sq: undefined, sqBuffer: undefined,
    host: Array.from({ length: numLists }, () => ({ ids: new Uint32Array(0), codes: new Uint32Array(0) })),
    ids: new Set(), nextId: 0, size: 0, gpuLists: undefined, destroyed: false, ownsCtx: owns, queue: Promise.resolve(),
  };
}

function exclusive<T>(core: Core, fn: () => Promise<T>): Promise<T> {
  const run = core.queue.then(() => { alive(core); return fn(); });
  core.queue = run.catch(() => undefined);
  return run;
}

function alive(core: Core) {
  if (core.destroyed) throw new WeftError('DESTROYED', 'This index was destroyed; create a new one.');
  core.ctx.check();
}

function prepare(core: Core, vectors: Float32Array): Float32Array {
  return core.metric === 'cosine' ? normalizeRows(vectors, core.layout.dim) : vectors;
}

function setQuantizer(core: Core, sq: ScalarQuantizer) {
  const data = new Float32Array(core.layout.dimPad * 2);
  data.set(sq.vmin, 0);
  data.set(sq.scale, core.layout.dimPad);
  core.ctx.destroyBuffer(core.sqBuffer);
  core.sqBuffer = bufferFrom(core.ctx, 'weft.index.sq', data);
  core.sq = sq;
}

/** Validates and appends vectors already routed to lists by `labels`; swaps in the new GPU lists. */
function appendToLists(core: Core, prepared: Float32Array, ids: Uint32Array, labels: Uint32Array | undefined) {
  const { layout } = core;
  const codes = encodeRows(prepared, layout, core.sq);
  const n = ids.length;
  const counts = new Uint32Array(core.host.length);
  for (let i = 0; i < n; i++) counts[labels ? labels[i]! : 0]!++;
  const next: HostList[] = core.host.map((l, c) => {
    if (counts[c] === 0) return l;
    const len = l.ids.length;
    const nl = { ids: new Uint32Array(len + counts[c]!), codes: new Uint32Array((len + counts[c]!) * layout.words) };
    nl.ids.set(l.ids);
    nl.codes.set(l.codes);
    return nl;
  });
  const fill = core.host.map((l) => l.ids.length);
  for (let i = 0; i < n; i++) {
    const c = labels ? labels[i]! : 0;
    const at = fill[c]!++;
    next[c]!.ids[at] = ids[i]!;
    next[c]!.codes.set(codes.subarray(i * layout.words, (i + 1) * layout.words), at * layout.words);
  }
  // Upload first: if it fails, nothing below has changed.
  const lists = uploadLists(core.ctx, 'weft.index.lists', next, layout);
  release(core.ctx, core.gpuLists);
  core.gpuLists = { lists, refs: 1 };
  core.host = next;
  for (const id of ids) {
    core.ids.add(id);
    if (id >= core.nextId) core.nextId = id + 1;
  }
  core.size += n;
}

function checkAddIds(core: Core, n: number, ids: ArrayLike<number> | undefined): Uint32Array {
  if (ids !== undefined) return checkIds(ids, n, (id) => core.ids.has(id));
  if (core.nextId + n > 0xffffffff) throw new WeftError('INVALID_ID', 'Automatic ids are exhausted; pass ids explicitly.');
  return Uint32Array.from({ length: n }, (_, i) => core.nextId + i);
}

function decodedLists(core: Core): ReferenceList[] {
  return core.host.map((l) => ({ ids: l.ids.slice(), vectors: decodeRows(l.codes, core.layout, core.sq) }));
}

function queryBuffer(core: Core, queries: Float32Array): GPUBuffer {
  return bufferFrom(core.ctx, 'weft.search.queries', padRows(prepare(core, queries), core.layout.dim, core.layout.dimPad));
}

function target(core: Core, lists: GpuLists): ScanTarget {
  return { layout: core.layout, metric: core.metric, lists, ...(core.sqBuffer ? { sq: core.sqBuffer } : {}) };
}

/** Queries per session so that one probe rank's intermediate lists fit a storage binding. */
function queryBatch(core: Core, t: ScanTarget, k: number): number {
  const perQuery = bytesPerRank(core.ctx, t, k, 1);
  const batch = Math.min(core.ctx.limits.maxComputeWorkgroupsPerDimension, Math.floor(core.ctx.maxShardBytes / perQuery));
  if (batch < 1) {
    throw new WeftError('DEVICE_LIMIT', `One query with k = ${k} needs ${perQuery} bytes of intermediate results, above this device's ${core.ctx.maxShardBytes}-byte buffer limit. Lower k or nlist imbalance.`);
  }
  return batch;
}

async function searchInBatches(core: Core, queries: Float32Array, k: number, batch: number,
  open: (q: Float32Array) => Promise<InternalSession>): Promise<SearchResult> {
  const dim = core.layout.dim;
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

function coreStats(core: Core) {
  const l = core.gpuLists?.lists;
  return { size: core.size, shards: l ? l.shards.length : 0, gpuBytes: l ? l.bytes : 0 };
}

function destroyCore(core: Core) {
  if (core.destroyed) return;
  core.destroyed = true;
  release(core.ctx, core.gpuLists);
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
    release(core.ctx, shared);
    throw e;
  }
  const destroy = session.destroy.bind(session);
  let released = false;
  session.destroy = () => { destroy(); if (!released) { released = true; release(core.ctx, shared); } };
  return session;
}

// ---- IVF -----------------------------------------------------------------------------------

export async function createIvfIndex(options: IvfIndexOptions): Promise<IvfIndex> {
  const nlist = checkPositiveInt('nlist', options.nlist, 65535);
  const niter = checkPositiveInt('niter', options.niter ?? 20, 1000);
  const perCentroid = checkPositiveInt('maxTrainPointsPerCentroid', options.maxTrainPointsPerCentroid ?? 256);
  const seed = options.seed ?? 1;
  const checked = checkIndexOptions(options); // before creating a device we would have to release
  const { ctx, owns } = await contextFrom(options.gpu);
  const core = makeCore(ctx, owns, checked, nlist);
  const { dim } = core.layout;
  const kernelMetric = core.metric === 'l2' ? 'l2' : 'ip';
  let centroids: Float32Array | undefined;
  let coarse: GpuLists | undefined;

  const adopt = (c: Float32Array, sq: ScalarQuantizer | undefined) => {
    const f32 = layoutFor(dim, 'f32');
    const coarseLists = uploadLists(ctx, 'weft.index.centroids', [{ ids: Uint32Array.from({ length: nlist }, (_, i) => i), codes: encodeRows(c, f32) }], f32);
    coarse?.destroy();
    coarse = coarseLists;
    centroids = c;
    if (sq) setQuantizer(core, sq);
    if (!core.gpuLists) core.gpuLists = { lists: uploadLists(ctx, 'weft.index.lists', core.host, core.layout), refs: 1 };
  };

  const checkReady = () => {
    if (!centroids) throw new WeftError('NOT_TRAINED', 'The index is not trained yet. Call train(vectors) with representative vectors (at least nlist of them) first.');
  };

  const checkSearch = (queries: Float32Array, opts: SearchOptions) => {
    checkReady();
    if (core.size === 0) throw new WeftError('EMPTY_INDEX', 'The index holds no vectors yet; add() some before searching.');
    checkVectors('queries', queries, dim);
    const k = checkK(opts.k, core.size, maxK(ctx));
    const np = opts.nprobe ?? Math.min(nlist, 8);
    const limit = Math.min(nlist, maxK(ctx));
    if (!Number.isInteger(np) || np < 1 || np > nlist || (np > limit && np !== nlist)) {
      throw new WeftError('NPROBE_OUT_OF_RANGE',
        `nprobe must be an integer from 1 to ${limit}${limit < nlist ? ` or exactly nlist (${nlist})` : ''}; got ${String(opts.nprobe)}.`,
        { details: { nprobe: opts.nprobe, nlist } });
    }
    return { k, nprobe: np };
  };

  const openIvfSession = async (queries: Float32Array, k: number, nprobe: number): Promise<InternalSession> => {
    const qbuf = queryBuffer(core, queries);
    const nq = queries.length / dim;
    let probes: GPUBuffer;
    let stride: number;
    try {
      if (nprobe === nlist && nlist > maxK(ctx)) {
        // Every list is probed: no ranking needed (the result does not depend on probe order).
        const all = new Uint32Array(nlist * 2);
        for (let c = 0; c < nlist; c++) all[2 * c + 1] = c;
        probes = bufferFrom(ctx, 'weft.search.probes', all);
        stride = 0;
      } else {
        const shared = bufferFrom(ctx, 'weft.search.coarseProbe', new Uint32Array(2));
        const coarseSession = openSession(ctx, {
          target: { layout: layoutFor(dim, 'f32'), metric: core.metric, lists: coarse! },
          queries: qbuf, queryUnits: core.layout.queryUnits, numQueries: nq, k: nprobe, probes: shared, probeStride: 0, nprobe: 1, owned: [shared],
        });
        coarseSession.submit(); // the main scan queues behind it: no round trip in between
        probes = coarseSession.takeResult();
        stride = nprobe;
      }
    } catch (e) {
      ctx.destroyBuffer(qbuf);
      throw e;
    }
    return sessionOver(core, (t) => ({ target: t, queries: qbuf, queryUnits: core.layout.queryUnits, numQueries: nq, k, probes, probeStride: stride, nprobe, owned: [qbuf, probes] }));
  };

  const index: IvfIndex = {
    dim, nlist, metric: core.metric, storage: core.layout.storage, gpu: ctx,
    get size() { return core.size; },
    get trained() { return centroids !== undefined; },

    train(vectors) {
      return exclusive(core, async () => {
        const n = checkVectors('training vectors', vectors, dim, { metric: core.metric, storage: core.layout.storage });
        if (core.size > 0) throw new WeftError('ALREADY_TRAINED', 'The index already holds vectors; retraining would invalidate their lists. Create a new index to retrain.');
        if (n < nlist) {
          throw new WeftError('TOO_FEW_TRAINING_VECTORS', `Training needs at least nlist = ${nlist} vectors; got ${n}. Pass more vectors or lower nlist (about √n is a good start).`, { details: { n, nlist } });
        }
        const max = nlist * perCentroid;
        let sample = prepare(core, vectors);
        if (n > max) {
          const pick = sampleIndices(n, max, createRng(seed ^ 0x5bd1e995));
          const s = new Float32Array(max * dim);
          for (let i = 0; i < max; i++) s.set(sample.subarray(pick[i]! * dim, (pick[i]! + 1) * dim), i * dim);
          sample = s;
        }
        const c = await trainKmeans(ctx, sample, { dim, k: nlist, metric: kernelMetric, spherical: core.metric === 'cosine', niter, seed });
        adopt(c, core.layout.storage === 'int8' ? trainScalarQuantizer(sample, dim, core.layout.dimPad) : undefined);
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
        adopt(core.metric === 'cosine' ? normalizeRows(c, dim) : c.slice(), sq && { vmin: sq.vmin.slice(), scale: sq.scale.slice() });
      });
    },

    add(vectors, ids) {
      return exclusive(core, async () => {
        checkReady();
        const n = checkVectors('vectors', vectors, dim, { metric: core.metric, storage: core.layout.storage });
        const idArr = checkAddIds(core, n, ids);
        const prepared = prepare(core, vectors);
        const points = uploadPoints(ctx, 'weft.add.points', prepared, dim);
        let labels: Uint32Array;
        try {
          labels = await assignNearest(ctx, points, centroids!, dim, kernelMetric);
        } finally {
          points.destroy();
        }
        appendToLists(core, prepared, idArr, labels);
        return idArr;
      });
    },

    search(queries, opts = {}) {
      return exclusive(core, async () => {
        const { k, nprobe } = checkSearch(queries, opts);
        const batch = Math.min(queryBatch(core, target(core, core.gpuLists!.lists), k),
          queryBatch(core, { layout: layoutFor(dim, 'f32'), metric: core.metric, lists: coarse! }, Math.min(nprobe, maxK(ctx))));
        return searchInBatches(core, queries, k, batch, (q) => openIvfSession(q, k, nprobe));
      });
    },

    searchSession(queries, opts = {}) {
      return exclusive(core, async () => {
        const { k, nprobe } = checkSearch(queries, opts);
        return openIvfSession(queries, k, nprobe);
      });
    },

    centroids() { checkReady(); return centroids!.slice(); },
    quantizer() { return core.sq && { vmin: core.sq.vmin.slice(), scale: core.sq.scale.slice() }; },
    listSizes() { return Uint32Array.from(core.host, (l) => l.ids.length); },
    lists() { return decodedLists(core); },
    stats() { return coreStats(core); },
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
    dim, metric: core.metric, storage: core.layout.storage, gpu: ctx,
    get size() { return core.size; },
    get trained() { return trained; },
    train(vectors) {
      return exclusive(core, async () => {
        checkVectors('training vectors', vectors, dim, { metric: core.metric, storage: core.layout.storage });
        if (core.size > 0 && needsTraining) throw new WeftError('ALREADY_TRAINED', 'The index already holds int8 vectors encoded with the current range; create a new index to retrain.');
        if (needsTraining) setQuantizer(core, trainScalarQuantizer(prepare(core, vectors), dim, core.layout.dimPad));
        trained = true;
      });
    },
    add(vectors, ids) {
      return exclusive(core, async () => {
        if (!trained) throw new WeftError('NOT_TRAINED', "int8 storage needs the per-dimension range first: call train(vectors) with representative vectors.");
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
        const batch = queryBatch(core, target(core, core.gpuLists!.lists), k);
        return searchInBatches(core, queries, k, batch, async (q) => {
          const qbuf = queryBuffer(core, q);
          const probe = bufferFrom(ctx, 'weft.search.flatProbe', new Uint32Array(2));
          return sessionOver(core, (t) => ({ target: t, queries: qbuf, queryUnits: core.layout.queryUnits, numQueries: q.length / dim, k, probes: probe, probeStride: 0, nprobe: 1, owned: [qbuf, probe] }));
        });
      });
    },
    lists() { return decodedLists(core); },
    stats() { return coreStats(core); },
    destroy() { destroyCore(core); },
  };
  return flat;
}
