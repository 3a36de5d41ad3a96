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
import { uploadLists, type GpuLists } from './gpu-lists.js';
import { checkPq, encodePq, pqLayout, pqRecord, pqTable, trainPq, type PqBits, type PqCodebook, type PqEncoded } from './pq.js';
import { checkNprobe, kernelMetric, preparedQueryBuffer, prepareRows, submitRanking, uploadCentroids } from './probe.js';
import { referenceKey } from './reference.js';
import { bytesPerRank, maxK, openSession, type ScanTarget } from './scan.js';
import { assignLists, trainIvf } from './train.js';
import { NO_ID, type Metric, type SearchResult } from './types.js';
import { MAX_DIM, MAX_NLIST, checkIds, checkK, checkMetric, checkPositiveInt, checkVectors } from './validate.js';
import { layoutFor } from './codec.js';
import { createRng, sampleIndices } from '../random.js';
import type { TrainCallOptions } from './ivf.js';

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

interface PqList {
  ids: number[];
  codes: Uint8Array[];
  terms: number[];
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
  const rerankDefault = checkRerank(options.rerank ?? 10);
  const niter = checkPositiveInt('niter', options.niter ?? 20, 1000);
  const perCentroid = checkPositiveInt('maxTrainPointsPerCentroid', options.maxTrainPointsPerCentroid ?? 256);
  const seed = options.seed ?? 1;
  const { ctx, owns } = await contextFrom(options.gpu);
  const ksub = 2 ** bits;
  let centroids: Float32Array | undefined;
  let coarse: GpuLists | undefined;
  let book: PqCodebook | undefined;
  let gpuLists: GpuLists | undefined;
  const lists: PqList[] = Array.from({ length: nlist }, () => ({ ids: [], codes: [], terms: [] }));
  // Full vectors as prepared (normalised for cosine), by id, for re-ranking.
  const full = new Map<number, Float32Array>();
  let nextId = 0;
  let destroyed = false;
  let queue: Promise<unknown> = Promise.resolve();

  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(() => {
      if (destroyed) throw new WeftError('DESTROYED', 'This index was destroyed; create a new one.');
      ctx.check();
      return fn();
    });
    queue = run.catch(() => undefined);
    return run;
  };
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
  const probesFor = async (qbuf: GPUBuffer, prepared: Float32Array, nq: number, nprobe: number) => {
    const ranking = submitRanking(ctx, { centroids: coarse!, dim, nlist, metric, queries: qbuf, queryUnits: layout.queryUnits, numQueries: nq, nprobe });
    if (ranking.stride !== 0) return ranking;
    // Every list, past the device's largest k, comes without the coarse distances the PQ key
    // adds: they are computed here from the centroids.
    ctx.destroyBuffer(ranking.buffer);
    const table = new Uint32Array(nq * nlist * 2);
    const key = new Float32Array(1);
    const bitsOf = new Uint32Array(key.buffer);
    for (let q = 0; q < nq; q++) {
      for (let l = 0; l < nlist; l++) {
        key[0] = referenceKey(kernelMetric(metric), prepared, q * dim, centroids!, l * dim, dim);
        table[(q * nlist + l) * 2] = bitsOf[0]!;
        table[(q * nlist + l) * 2 + 1] = l;
      }
    }
    return { buffer: bufferFrom(ctx, 'weft.search.probes', table), stride: nlist };
  };

  /** The scan's `kk` best per query (keys from the codes), query batch by query batch. */
  const scanCodes = async (queries: Float32Array, kk: number, nprobe: number): Promise<SearchResult> => {
    const prepared = prepareRows(metric, queries, dim);
    const nq = prepared.length / dim;
    const t: ScanTarget = { layout, metric, lists: gpuLists! };
    const perQuery = Math.max(
      bytesPerRank(ctx, t, kk, 1),
      bytesPerRank(ctx, { layout: layoutFor(dim, 'f32'), metric, lists: coarse! }, Math.min(nprobe, maxK(ctx)), 1),
    );
    const batch = Math.min(ctx.limits.maxComputeWorkgroupsPerDimension, Math.floor(ctx.maxShardBytes / perQuery));
    if (batch < 1)
      throw new WeftError(
        'DEVICE_LIMIT',
        `A query with ${kk} candidates needs ${perQuery} bytes of intermediate results, above this device's buffer limit. Lower k or rerank.`,
      );
    const ids = new Uint32Array(nq * kk);
    const distances = new Float32Array(nq * kk);
    for (let q0 = 0; q0 < nq; q0 += batch) {
      const qn = Math.min(batch, nq - q0);
      const rows = prepared.subarray(q0 * dim, (q0 + qn) * dim);
      const tables = new Float32Array(qn * m * ksub);
      for (let q = 0; q < qn; q++) tables.set(pqTable(book!, rows.subarray(q * dim, (q + 1) * dim)), q * m * ksub);
      const qbuf = preparedQueryBuffer(ctx, 'weft.search.queries', layoutFor(dim, 'f32'), rows);
      const owned: GPUBuffer[] = [qbuf];
      try {
        const ranking = await probesFor(qbuf, rows, qn, nprobe);
        owned.push(ranking.buffer);
        const tablesBuf = bufferFrom(ctx, 'weft.search.pqTables', tables);
        owned.push(tablesBuf);
        const session = openSession(ctx, {
          target: { ...t, pq: { m, nbits: bits, tables: tablesBuf } },
          queries: qbuf,
          queryUnits: layout.queryUnits,
          numQueries: qn,
          k: kk,
          probes: ranking.buffer,
          probeStride: ranking.stride,
          nprobe,
          owned: owned.splice(0),
        });
        try {
          session.submit();
          const r = await session.read();
          ids.set(r.ids, q0 * kk);
          distances.set(r.distances, q0 * kk);
        } finally {
          session.destroy();
        }
      } finally {
        for (const b of owned) ctx.destroyBuffer(b);
      }
    }
    return { ids, distances, numQueries: nq, k: kk };
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
      return exclusive(async () => {
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
        // The codebook learns from at most maxTrainPointsPerCentroid x 2^bits residuals (FAISS's rule for its sub-quantisers).
        const cap = perCentroid * ksub;
        const n = prepared.length / dim;
        let sample = prepared;
        if (n > cap) {
          sample = new Float32Array(cap * dim);
          sampleIndices(n, cap, createRng(seed ^ 0x2545f491)).forEach((i, j) => sample.set(prepared.subarray(i * dim, (i + 1) * dim), j * dim));
        }
        const labels = await assignLists(ctx, sample, t.centroids, dim, metric);
        centroids = t.centroids;
        const residuals = residualsOf(sample, labels);
        book = await trainPq(ctx, residuals, dim, { m, nbits: bits, niter, seed, signal: opts.signal });
        coarse?.destroy();
        coarse = uploadCentroids(ctx, 'weft.index.centroids', centroids, dim);
      });
    },

    add(vectors, ids) {
      return exclusive(async () => {
        ready();
        const n = checkVectors('vectors', vectors, dim, { metric });
        if (ids === undefined && nextId + n > 0xffffffff) throw new WeftError('INVALID_ID', 'Automatic ids are exhausted; pass ids explicitly.');
        const idArr = ids !== undefined ? checkIds(ids, n, (id) => full.has(id)) : Uint32Array.from({ length: n }, (_, i) => nextId + i);
        const prepared = prepareRows(metric, vectors, dim);
        const labels = await assignLists(ctx, prepared, centroids!, dim, metric);
        const residuals = residualsOf(prepared, labels);
        const members = new Map<number, number[]>();
        labels.forEach((l, i) => {
          const g = members.get(l);
          if (g) g.push(i);
          else members.set(l, [i]);
        });
        const next = lists.map((l) => ({ ids: l.ids.slice(), codes: l.codes.slice(), terms: l.terms.slice() }));
        for (const [l, rows] of members) {
          const r = new Float32Array(rows.length * dim);
          rows.forEach((i, j) => r.set(residuals.subarray(i * dim, (i + 1) * dim), j * dim));
          const enc = encodePq(book!, r, centroids!.subarray(l * dim, (l + 1) * dim), kernelMetric(metric));
          next[l]!.ids.push(...rows.map((i) => idArr[i]!));
          next[l]!.codes.push(enc.codes);
          next[l]!.terms.push(...enc.terms);
        }
        // Upload first: if it fails, nothing has changed.
        const uploaded = uploadLists(ctx, 'weft.index.lists', next.map(recordOf), layout);
        gpuLists?.destroy();
        gpuLists = uploaded;
        lists.splice(0, nlist, ...next);
        idArr.forEach((id, i) => {
          full.set(id, prepared.slice(i * dim, (i + 1) * dim));
          if (id >= nextId) nextId = id + 1;
        });
        return idArr;
      });
    },

    searchCodes(queries, opts = {}) {
      return exclusive(async () => {
        const { k, nprobe } = checkSearch(queries, opts);
        return scanCodes(queries, k, nprobe);
      });
    },

    search(queries, opts = {}) {
      return exclusive(async () => {
        const { k, nprobe, kk } = checkSearch(queries, opts);
        const cands = await scanCodes(queries, kk, nprobe);
        return rescore(prepareRows(metric, queries, dim), cands, k);
      });
    },

    destroy() {
      if (destroyed) return;
      destroyed = true;
      gpuLists?.destroy();
      coarse?.destroy();
      if (owns) ctx.destroy();
    },
  };

  /** A list's record for the scan. */
  function recordOf(l: PqList, list: number) {
    const enc: PqEncoded = { codes: concat(l.codes), terms: Float32Array.from(l.terms) };
    return pqRecord(list, Uint32Array.from(l.ids), enc, layout);
  }

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
        distances[q * k + r] = metric === 'l2' ? s.key : -s.key;
      });
    }
    return { ids, distances, numQueries: nq, k };
  }
  return index;
}

function checkRerank(r: number): number {
  if (!Number.isInteger(r) || r < 1 || r > 1024)
    throw new WeftError('INVALID_OPTION', `rerank must be a whole number from 1 to 1024 (candidates per result); got ${String(r)}.`);
  return r;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
