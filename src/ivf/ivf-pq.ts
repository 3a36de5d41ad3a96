// An in-memory IVF index with product-quantised lists and exact re-ranking (issue 24; FAISS
// IndexIVFPQ plus a refine step): the coarse step and the list scan run on the GPU as for every
// storage type (the scan kernel's PQ variant, with one table per query made here on the CPU), the
// scan keeps `rerank` x k candidates per query, and those are re-scored with their full vectors
// (kept on the host as float32, as given) to give the top k. `searchCodes` returns the scan's own
// top k, before re-ranking, for measuring what the codes alone find. Whole searches only: sliced
// sessions over PQ lists come with the stored index.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { contextFrom, type GpuOption } from '../gpu/option.js';
import { bufferFrom } from '../gpu/kernels.js';
import { layoutFor } from './codec.js';
import { uploadLists, type GpuLists } from './gpu-lists.js';
import { exclusive, newIds, queryBatch, searchInBatches, type CallQueue, type TrainCallOptions } from './ivf.js';
import { groupByList } from './list-records.js';
import { checkPq, checkRerank, encodePq, pqLayout, pqProbeTable, pqRecord, pqTables, trainCodebook, type PqBits, type PqCodebook } from './pq.js';
import { checkNprobe, kernelMetric, preparedQueryBuffer, prepareRows, submitRanking, uploadCentroids } from './probe.js';
import { keyToDistance, referenceKey } from './reference.js';
import { maxK, openSession, type InternalSession } from './scan.js';
import { assignLists, trainIvf } from './train.js';
import { NO_ID, type ListRecord, type Metric, type SearchResult } from './types.js';
import { MAX_DIM, MAX_NLIST, checkK, checkMetric, checkPositiveInt, checkVectors } from './validate.js';

/** Options of createIvfPqIndex. */
export interface IvfPqIndexOptions extends GpuOption {
  dim: number;
  nlist: number;
  /** Default 'l2'. */
  metric?: Metric;
  /** Sub-quantisers: must divide dim (dim / m dimensions each; 4-8 is usual). */
  m: number;
  /** Bits per code, 8 (default) or 4. */
  bits?: PqBits;
  /** Candidates re-scored per result (k x rerank kept by the scan). Default 10; 1 re-scores only the scan's own top k. */
  rerank?: number;
  /** k-means seed (coarse and sub-space). Default 1. */
  seed?: number;
  /** k-means iterations. Default 20. */
  niter?: number;
  /** Training uses at most this many points per centroid (FAISS: 256). Default 256. */
  maxTrainPointsPerCentroid?: number;
}

/** Options of an IVF-PQ search: k, nprobe, and the candidates re-scored per result. */
export interface IvfPqSearchOptions {
  k?: number;
  nprobe?: number;
  /** Overrides the index's rerank for this search. */
  rerank?: number;
}

/** An in-memory IVF-PQ index on the GPU: train (coarse and sub-space k-means), add, search with exact re-ranking. */
export interface IvfPqIndex {
  readonly dim: number;
  readonly nlist: number;
  readonly metric: Metric;
  readonly m: number;
  readonly bits: PqBits;
  readonly size: number;
  readonly trained: boolean;
  readonly gpu: GpuContext;
  /** Bytes per vector on the GPU (its term, its codes, its id). */
  readonly bytesPerVector: number;
  /** Learns the centroids, then the codebook on the training vectors' residuals (at least max(nlist, 2^bits) vectors). */
  train(vectors: Float32Array, options?: TrainCallOptions): Promise<void>;
  add(vectors: Float32Array, ids?: ArrayLike<number>): Promise<Uint32Array>;
  /** The top k after re-ranking the scan's candidates with the full vectors. */
  search(queries: Float32Array, options?: IvfPqSearchOptions): Promise<SearchResult>;
  /** The scan's top k from the codes alone (no re-ranking): what the codes find. */
  searchCodes(queries: Float32Array, options?: IvfPqSearchOptions): Promise<SearchResult>;
  destroy(): void;
}

/** One list's vectors as encoded: ids, codes (codeBytes each) and terms, in list order. */
interface PqList {
  ids: Uint32Array;
  codes: Uint8Array;
  terms: Float32Array;
}

/** Creates an empty IVF-PQ index; train() it before add(). */
export async function createIvfPqIndex(options: IvfPqIndexOptions): Promise<IvfPqIndex> {
  const dim = checkPositiveInt('dim', options.dim, MAX_DIM);
  const nlist = checkPositiveInt('nlist', options.nlist, MAX_NLIST);
  const metric = checkMetric(options.metric);
  const bits = options.bits ?? 8;
  const m = options.m;
  checkPq(dim, m, bits); // before a device is made
  const layout = pqLayout(dim, m, bits);
  const rerankDefault = checkRerank(options.rerank);
  const niter = checkPositiveInt('niter', options.niter ?? 20, 1000);
  const perCentroid = checkPositiveInt('maxTrainPointsPerCentroid', options.maxTrainPointsPerCentroid ?? 256);
  const seed = options.seed ?? 1;
  const { ctx, owns } = await contextFrom(options.gpu);
  let centroids: Float32Array | undefined;
  let coarse: GpuLists | undefined;
  let book: PqCodebook | undefined;
  let gpuLists: GpuLists | undefined;
  const lists: PqList[] = Array.from({ length: nlist }, () => ({ ids: new Uint32Array(0), codes: new Uint8Array(0), terms: new Float32Array(0) }));
  // Each list's record for the scan (rebuilt only for the lists an add changes).
  let records: ListRecord[] = lists.map((l, list) => pqRecord(list, l.ids, l, layout));
  // Full vectors as prepared (normalised for cosine), by id, for re-ranking.
  const full = new Map<number, Float32Array>();
  let nextId = 0;
  const calls: CallQueue = { ctx, queue: Promise.resolve(), destroyed: false };

  const ready = () => {
    if (!centroids || !book)
      throw new WeftError('NOT_TRAINED', 'The index is not trained yet. Call train(vectors) with representative vectors (at least nlist of them) first.');
  };
  const residualsOf = (prepared: Float32Array, labels: Uint32Array) => {
    const r = new Float32Array(prepared.length);
    for (let i = 0; i < labels.length; i++) for (let t = 0; t < dim; t++) r[i * dim + t] = prepared[i * dim + t]! - centroids![labels[i]! * dim + t]!;
    return r;
  };

  /** The probes of `nq` queries, as the scan reads them: (coarse key bits, list), best first. */
  const probesFor = (qbuf: GPUBuffer, prepared: Float32Array, nq: number, nprobe: number) => {
    const ranking = submitRanking(ctx, { centroids: coarse!, dim, nlist, metric, queries: qbuf, queryUnits: layout.queryUnits, numQueries: nq, nprobe });
    if (ranking.stride !== 0) return ranking;
    // Every list, past the device's largest k, comes without the coarse distances the PQ key
    // adds: they are computed here from the centroids.
    ctx.destroyBuffer(ranking.buffer);
    const every = new Uint32Array(nq * nlist).map((_, i) => i % nlist);
    const table = pqProbeTable(kernelMetric(metric), prepared, centroids!, dim, every, nq, nlist);
    return { buffer: bufferFrom(ctx, 'weft.search.probes', table), stride: nlist };
  };

  /** One session scanning `rows` (prepared queries) for their `kk` best by the codes; it owns its buffers. */
  const openPqSession = (rows: Float32Array, kk: number, nprobe: number): InternalSession => {
    const qn = rows.length / dim;
    const tables = pqTables(book!, rows);
    const owned: GPUBuffer[] = [preparedQueryBuffer(ctx, 'weft.search.queries', layoutFor(dim, 'f32'), rows)];
    try {
      const ranking = probesFor(owned[0]!, rows, qn, nprobe);
      owned.push(ranking.buffer);
      owned.push(bufferFrom(ctx, 'weft.search.pqTables', tables));
      return openSession(ctx, {
        target: { layout, metric, lists: gpuLists!, pq: { m, nbits: bits, tables: owned[2]! } },
        queries: owned[0]!,
        queryUnits: layout.queryUnits,
        numQueries: qn,
        k: kk,
        probes: ranking.buffer,
        probeStride: ranking.stride,
        nprobe,
        owned,
      });
    } catch (e) {
      for (const b of owned) ctx.destroyBuffer(b);
      throw e;
    }
  };

  /** The scan's `kk` best per query of `prepared` (keys from the codes), query batch by query batch. */
  const scanCodes = (prepared: Float32Array, kk: number, nprobe: number): Promise<SearchResult> => {
    const batch = Math.min(
      queryBatch(ctx, { layout, metric, lists: gpuLists! }, kk),
      queryBatch(ctx, { layout: layoutFor(dim, 'f32'), metric, lists: coarse! }, Math.min(nprobe, maxK(ctx))),
    );
    return searchInBatches(dim, prepared, kk, batch, async (rows) => openPqSession(rows, kk, nprobe));
  };

  const checkSearch = (queries: Float32Array, o: IvfPqSearchOptions) => {
    ready();
    if (full.size === 0) throw new WeftError('EMPTY_INDEX', 'The index holds no vectors yet; add() some before searching.');
    checkVectors('queries', queries, dim);
    const k = checkK(o.k, full.size, maxK(ctx));
    const rerank = checkRerank(o.rerank ?? rerankDefault);
    return { k, nprobe: checkNprobe(ctx, o.nprobe, nlist), kk: Math.min(maxK(ctx), full.size, k * rerank) };
  };

  const index: IvfPqIndex = {
    dim,
    nlist,
    metric,
    m,
    bits,
    gpu: ctx,
    bytesPerVector: layout.bytesPerVector + 4,
    get size() {
      return full.size;
    },
    get trained() {
      return book !== undefined;
    },

    train(vectors, opts = {}) {
      return exclusive(calls, async () => {
        checkVectors('training vectors', vectors, dim, { metric });
        if (full.size > 0) throw new WeftError('ALREADY_TRAINED', 'The index already holds vectors; create a new index to retrain.');
        const prepared = prepareRows(metric, vectors, dim);
        const t = await trainIvf(ctx, prepared, {
          nlist,
          metric,
          layout: layoutFor(dim, 'f32'),
          seed,
          niter,
          maxTrainPointsPerCentroid: perCentroid,
          signal: opts.signal,
          onProgress: opts.onProgress,
        });
        centroids = t.centroids;
        book = await trainCodebook(ctx, prepared, centroids, dim, metric, {
          m,
          nbits: bits,
          niter,
          seed,
          signal: opts.signal,
          maxTrainPointsPerCentroid: perCentroid,
        });
        coarse?.destroy();
        coarse = uploadCentroids(ctx, 'weft.index.centroids', centroids, dim);
      });
    },

    add(vectors, ids) {
      return exclusive(calls, async () => {
        ready();
        const n = checkVectors('vectors', vectors, dim, { metric });
        const idArr = newIds(n, ids, (id) => full.has(id), nextId);
        const prepared = prepareRows(metric, vectors, dim);
        const labels = await assignLists(ctx, prepared, centroids!, dim, metric);
        const residuals = residualsOf(prepared, labels);
        const next = lists.slice();
        const nextRecords = records.slice();
        for (const [l, rows] of groupByList(labels)) {
          const r = new Float32Array(rows.length * dim);
          rows.forEach((i, j) => r.set(residuals.subarray(i * dim, (i + 1) * dim), j * dim));
          const enc = encodePq(book!, r, centroids!.subarray(l * dim, (l + 1) * dim), kernelMetric(metric));
          const old = lists[l]!;
          next[l] = {
            ids: concat(
              old.ids,
              Uint32Array.from(rows, (i) => idArr[i]!),
            ),
            codes: concat(old.codes, enc.codes),
            terms: concat(old.terms, enc.terms),
          };
          nextRecords[l] = pqRecord(l, next[l]!.ids, next[l]!, layout);
        }
        // Upload first: if it fails, nothing has changed.
        const uploaded = uploadLists(ctx, 'weft.index.lists', nextRecords, layout);
        gpuLists?.destroy();
        gpuLists = uploaded;
        lists.splice(0, nlist, ...next);
        records = nextRecords;
        idArr.forEach((id, i) => {
          full.set(id, prepared.slice(i * dim, (i + 1) * dim));
          if (id >= nextId) nextId = id + 1;
        });
        return idArr;
      });
    },

    searchCodes(queries, opts = {}) {
      return exclusive(calls, async () => {
        const { k, nprobe } = checkSearch(queries, opts);
        return scanCodes(prepareRows(metric, queries, dim), k, nprobe);
      });
    },

    search(queries, opts = {}) {
      return exclusive(calls, async () => {
        const { k, nprobe, kk } = checkSearch(queries, opts);
        const prepared = prepareRows(metric, queries, dim);
        return rescore(prepared, await scanCodes(prepared, kk, nprobe), k);
      });
    },

    destroy() {
      if (calls.destroyed) return;
      calls.destroyed = true;
      gpuLists?.destroy();
      coarse?.destroy();
      if (owns) ctx.destroy();
    },
  };

  /** Each query's candidates re-scored with their full vectors: the top k by (exact key, id). */
  function rescore(prepared: Float32Array, cands: SearchResult, k: number): SearchResult {
    const nq = cands.numQueries;
    const ids = new Uint32Array(nq * k).fill(NO_ID);
    const distances = new Float32Array(nq * k).fill(metric === 'l2' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY);
    for (let q = 0; q < nq; q++) {
      const scored: { id: number; key: number }[] = [];
      for (let r = 0; r < cands.k; r++) {
        const id = cands.ids[q * cands.k + r]!;
        if (id === NO_ID) continue;
        scored.push({ id, key: referenceKey(kernelMetric(metric), prepared, q * dim, full.get(id)!, 0, dim) });
      }
      scored.sort((a, b) => a.key - b.key || a.id - b.id);
      scored.slice(0, k).forEach((s, r) => {
        ids[q * k + r] = s.id;
        distances[q * k + r] = keyToDistance(metric, s.key);
      });
    }
    return { ids, distances, numQueries: nq, k };
  }
  return index;
}

/** `a` then `b` in one new array. */
function concat<T extends Uint8Array | Uint32Array | Float32Array>(a: T, b: T): T {
  const out = new (a.constructor as new (n: number) => T)(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
