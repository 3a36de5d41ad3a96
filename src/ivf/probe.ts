// The IVF probing step both index kinds share: query preparation (cosine normalises), the
// nprobe check, the centroids and the int8 range on the GPU, the coarse ranking (the same scan kernel over the
// centroids as one f32 list, k = nprobe) and the merge of partial top-k lists scored by the
// same kernel. The in-memory index queues the ranking straight into its list scan; the stored
// index also reads the ranking back, to know which lists to bring in from IndexedDB.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { bufferFrom, readBack } from '../gpu/kernels.js';
import { encodeRows, layoutFor, normalizeRows, packRows, padRows, type Layout, type ScalarQuantizer } from './codec.js';
import { uploadLists, type GpuLists } from './gpu-lists.js';
import { maxK, openSession } from './scan.js';
import { MAX_K, NO_ID, type Metric, type SearchResult } from './types.js';

/** The kernels' metric: cosine runs the inner-product kernels on normalised vectors. */
export function kernelMetric(metric: Metric): 'l2' | 'ip' {
  return metric === 'l2' ? 'l2' : 'ip';
}

/** Rows as the kernels compare them: L2-normalised for cosine, as given otherwise. */
export function prepareRows(metric: Metric, rows: Float32Array, dim: number): Float32Array {
  return metric === 'cosine' ? normalizeRows(rows, dim) : rows;
}

/** Queries on the GPU, prepared and padded to the storage layout's query row. */
export function queryBuffer(ctx: GpuContext, label: string, layout: Layout, metric: Metric, queries: Float32Array): GPUBuffer {
  return preparedQueryBuffer(ctx, label, layout, prepareRows(metric, queries, layout.dim));
}

/** queryBuffer for rows already prepared (prepareRows). */
export function preparedQueryBuffer(ctx: GpuContext, label: string, layout: Layout, prepared: Float32Array): GPUBuffer {
  return bufferFrom(ctx, label, padRows(prepared, layout.dim, layout.dimPad));
}

/**
 * nprobe: 1..min(nlist, largest k of the device), or exactly nlist (every list, no ranking needed). Default min(nlist, 8).
 * Without a context (the CPU backend) the largest k is MAX_K.
 */
export function checkNprobe(ctx: GpuContext | undefined, nprobe: number | undefined, nlist: number): number {
  const np = nprobe ?? Math.min(nlist, 8);
  const limit = Math.min(nlist, ctx ? maxK(ctx) : MAX_K);
  if (!Number.isInteger(np) || np < 1 || np > nlist || (np > limit && np !== nlist)) {
    throw new WeftError(
      'NPROBE_OUT_OF_RANGE',
      `nprobe must be an integer from 1 to ${limit}${limit < nlist ? ` or exactly nlist (${nlist})` : ''}; got ${String(nprobe)}.`,
      { details: { nprobe, nlist } },
    );
  }
  return np;
}

/** The centroids as one f32 list (ids = list numbers) that the scan kernel ranks. */
export function uploadCentroids(ctx: GpuContext, label: string, centroids: Float32Array, dim: number): GpuLists {
  const f32 = layoutFor(dim, 'f32');
  const nlist = centroids.length / dim;
  const record = {
    list: 0,
    count: nlist,
    ids: Uint32Array.from({ length: nlist }, (_, i) => i),
    codes: packRows(encodeRows(centroids, f32), nlist, f32.units),
  };
  return uploadLists(ctx, label, [record], f32);
}

/** The int8 range as the scan kernel reads it: vmin, then scale, dimPad values each. */
export function uploadQuantizer(ctx: GpuContext, label: string, sq: ScalarQuantizer, dimPad: number): GPUBuffer {
  const data = new Float32Array(dimPad * 2);
  data.set(sq.vmin.subarray(0, dimPad), 0);
  data.set(sq.scale.subarray(0, dimPad), dimPad);
  return bufferFrom(ctx, label, data);
}

export interface ProbeRanking {
  /** (key bits, list) per query and rank, best first; `stride` entries per query (0: one row shared by all). */
  buffer: GPUBuffer;
  stride: number;
}

export interface RankInit {
  centroids: GpuLists;
  dim: number;
  nlist: number;
  metric: Metric;
  /** Queries as queryBuffer() made them. */
  queries: GPUBuffer;
  queryUnits: number;
  numQueries: number;
  nprobe: number;
}

/**
 * Queues the coarse step: the nprobe best lists of each query. Nothing is awaited, so the list
 * scan submitted next runs behind it without a round trip. With nprobe = nlist above the
 * device's largest k, every list is probed in list order (the result does not depend on it).
 */
export function submitRanking(ctx: GpuContext, r: RankInit): ProbeRanking {
  if (r.nprobe === r.nlist && r.nlist > maxK(ctx)) {
    const all = new Uint32Array(r.nlist * 2);
    for (let c = 0; c < r.nlist; c++) all[2 * c + 1] = c;
    return { buffer: bufferFrom(ctx, 'weft.search.probes', all), stride: 0 };
  }
  const shared = bufferFrom(ctx, 'weft.search.coarseProbe', new Uint32Array(2));
  const session = openSession(ctx, {
    target: { layout: layoutFor(r.dim, 'f32'), metric: r.metric, lists: r.centroids },
    queries: r.queries,
    queryUnits: r.queryUnits,
    numQueries: r.numQueries,
    k: r.nprobe,
    probes: shared,
    probeStride: 0,
    nprobe: 1,
    owned: [shared],
  });
  session.submit();
  return { buffer: session.takeResult(), stride: r.nprobe };
}

/** The coarse step with its result read back: `lists` holds nprobe lists per query, best first. */
export async function rankLists(ctx: GpuContext, r: RankInit): Promise<ProbeRanking & { lists: Uint32Array }> {
  const ranking = submitRanking(ctx, r);
  const lists = new Uint32Array(r.numQueries * r.nprobe);
  try {
    if (ranking.stride === 0) {
      for (let q = 0; q < r.numQueries; q++) for (let c = 0; c < r.nprobe; c++) lists[q * r.nprobe + c] = c;
    } else {
      const raw = new Uint32Array(await readBack(ctx, ranking.buffer, r.numQueries * r.nprobe * 8));
      for (let i = 0; i < lists.length; i++) lists[i] = raw[2 * i + 1]!;
    }
  } catch (e) {
    ctx.destroyBuffer(ranking.buffer);
    throw e;
  }
  return { ...ranking, lists };
}

/** Merges per-query top-k lists scored by the same kernel: the order is (key, id), as on the GPU. */
export function mergeResults(parts: readonly SearchResult[], metric: Metric, k: number): SearchResult {
  if (parts.length === 1) return parts[0]!;
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
    cands.slice(0, k).forEach((c, i) => {
      ids[q * k + i] = c.id;
      distances[q * k + i] = c.d;
    });
  }
  return { ids, distances, numQueries: nq, k };
}
