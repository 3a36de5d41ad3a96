// What the two coarse steps that run on the host share (a published file read in place whose
// reader does not hold every centroid: grouped lists, coarse-groups.ts, and coarse codes,
// coarse-codes.ts). Each first picks some lists cheaply, from what opening read; then the
// reader fetches those lists' exact centroids and ranks them here with the coarse key the PQ
// scan adds (pq.ts's coarseKey), so that every backend probes the same lists. Their measures
// (how many groups, how many lists ranked exactly) judge a choice by the neighbours it keeps,
// found here by the scan's own PQ keys in the query's nearest lists.

import type { PqIndexParts } from './pq-calibrate.js';
import { listRows } from './pq-calibrate.js';
import { coarseKey, pqRowKeys, pqTable } from './pq.js';
import { NO_ID } from './types.js';

/**
 * For each query, the first `depth` of its candidate lists ranked by the coarse key (ties to the
 * lower list), row-major. `centroids` must hold the rows of every candidate.
 */
export function rankCandidates(
  candidates: readonly ArrayLike<number>[],
  centroids: Float32Array,
  prepared: Float32Array,
  dim: number,
  metric: 'l2' | 'ip',
  depth: number,
): Uint32Array {
  const out = new Uint32Array(candidates.length * depth);
  candidates.forEach((lists, q) => {
    const scored = Array.from(lists, (l) => ({ l, key: coarseKey(metric, prepared, q, centroids, l, dim) }));
    scored.sort((a, b) => a.key - b.key || a.l - b.l);
    if (scored.length < depth) throw new RangeError(`query ${q} has ${scored.length} candidate lists, fewer than the ${depth} ranked`);
    for (let r = 0; r < depth; r++) out[q * depth + r] = scored[r]!.l;
  });
  return out;
}

/** Every list of query q by the coarse key over all centroids (the flat coarse step), nearest first. */
export function flatRanking(metric: 'l2' | 'ip', prepared: Float32Array, q: number, centroids: Float32Array, dim: number): { l: number; key: number }[] {
  const nlist = centroids.length / dim;
  return Array.from({ length: nlist }, (_, l) => ({ l, key: coarseKey(metric, prepared, q, centroids, l, dim) })).sort((a, b) => a.key - b.key || a.l - b.l);
}

/**
 * The live vectors of the first `scanned` lists of `ranked` (query q's flat ranking), each with
 * its PQ key as the scan computes it and its list's rank, nearest first: a search of nprobe
 * finds its k neighbours among those of rank < nprobe.
 */
export function scannedNeighbours(
  index: Pick<PqIndexParts, 'dim' | 'metric' | 'book' | 'layout' | 'lists'>,
  queries: Float32Array,
  q: number,
  ranked: readonly { l: number; key: number }[],
  scanned: number,
  rowsOf = listRows(index.layout),
): { key: number; rank: number }[] {
  const { dim, metric, book, layout } = index;
  const byList = new Map(index.lists.map((r) => [r.list, r]));
  const table = pqTable(book, queries.subarray(q * dim, (q + 1) * dim));
  const vectors: { key: number; rank: number }[] = [];
  for (let r = 0; r < Math.min(scanned, ranked.length); r++) {
    const rec = byList.get(ranked[r]!.l);
    if (!rec || rec.count === 0) continue;
    const keys = pqRowKeys(book, table, rowsOf(rec), rec.count, layout, ranked[r]!.key, metric);
    for (let s = 0; s < rec.count; s++) if (rec.ids[s] !== NO_ID) vectors.push({ key: keys[s]!, rank: r });
  }
  return vectors.sort((a, b) => a.key - b.key || a.rank - b.rank);
}

/** The nearest lists of a query whose vectors the measures scan (beyond, the neighbours rarely change). */
export const MEASURE_LISTS = 64;
