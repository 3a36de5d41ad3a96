// CPU reference search: the ground truth the GPU kernels are tested against. It scores the
// decoded stored vectors exactly as the kernels define it, in float64, and breaks ties on id.

import { NO_ID, type Metric, type SearchResult } from './types.js';

/** One IVF list for the CPU reference search: its ids and their vectors. */
export interface ReferenceList {
  ids: Uint32Array;
  vectors: Float32Array;
}

/** "Smaller is better" key: squared L2, or the negated inner product (cosine on normalised queries). */
export function referenceKey(metric: Metric, q: Float32Array, qOff: number, x: Float32Array, xOff: number, dim: number): number {
  let acc = 0;
  if (metric === 'l2') {
    for (let j = 0; j < dim; j++) {
      const d = q[qOff + j]! - x[xOff + j]!;
      acc += d * d;
    }
    return acc;
  }
  for (let j = 0; j < dim; j++) acc += q[qOff + j]! * x[xOff + j]!;
  return -acc;
}

export function keyToDistance(metric: Metric, key: number): number {
  return metric === 'l2' ? key : -key;
}

/**
 * Exact top-k over the given lists. For 'cosine' the queries must already be normalised (the
 * stored vectors are used as stored: quantised vectors are not renormalised).
 */
export function referenceSearch(lists: ReferenceList[], queries: Float32Array, dim: number, metric: Metric, k: number): SearchResult {
  const nq = queries.length / dim;
  const ids = new Uint32Array(nq * k).fill(NO_ID);
  const distances = new Float32Array(nq * k).fill(metric === 'l2' ? Infinity : -Infinity);
  for (let q = 0; q < nq; q++) {
    const cands: { key: number; id: number }[] = [];
    for (const list of lists) {
      for (let i = 0; i < list.ids.length; i++) {
        cands.push({ key: referenceKey(metric, queries, q * dim, list.vectors, i * dim, dim), id: list.ids[i]! });
      }
    }
    cands.sort((a, b) => a.key - b.key || a.id - b.id);
    for (let r = 0; r < Math.min(k, cands.length); r++) {
      ids[q * k + r] = cands[r]!.id;
      distances[q * k + r] = keyToDistance(metric, cands[r]!.key);
    }
  }
  return { ids, distances, numQueries: nq, k };
}

/** The lists an IVF search probes for each query: the nprobe nearest centroids, best first. */
export function referenceProbes(centroids: Float32Array, queries: Float32Array, dim: number, metric: Metric, nprobe: number): number[][] {
  const nlist = centroids.length / dim;
  const nq = queries.length / dim;
  const out: number[][] = [];
  for (let q = 0; q < nq; q++) {
    const keys: { key: number; c: number }[] = [];
    for (let c = 0; c < nlist; c++) keys.push({ key: referenceKey(metric, queries, q * dim, centroids, c * dim, dim), c });
    keys.sort((a, b) => a.key - b.key || a.c - b.c);
    out.push(keys.slice(0, nprobe).map((e) => e.c));
  }
  return out;
}

/** IVF reference: per query, exact top-k over the lists of its nprobe nearest centroids. */
export function referenceIvfSearch(
  centroids: Float32Array,
  lists: ReferenceList[],
  queries: Float32Array,
  dim: number,
  metric: Metric,
  k: number,
  nprobe: number,
): SearchResult {
  const probes = referenceProbes(centroids, queries, dim, metric, nprobe);
  const nq = queries.length / dim;
  const ids = new Uint32Array(nq * k);
  const distances = new Float32Array(nq * k);
  for (let q = 0; q < nq; q++) {
    const r = referenceSearch(
      probes[q]!.map((c) => lists[c]!),
      queries.subarray(q * dim, (q + 1) * dim),
      dim,
      metric,
      k,
    );
    ids.set(r.ids, q * k);
    distances.set(r.distances, q * k);
  }
  return { ids, distances, numQueries: nq, k };
}

/** recall@k: the fraction of the truth's ids (ignoring empty slots) found in the result's rows. */
export function recallAtK(result: SearchResult, truth: SearchResult): number {
  let hit = 0,
    total = 0;
  for (let q = 0; q < truth.numQueries; q++) {
    const got = new Set<number>();
    for (let r = 0; r < result.k; r++) got.add(result.ids[q * result.k + r]!);
    for (let r = 0; r < truth.k; r++) {
      const id = truth.ids[q * truth.k + r]!;
      if (id === NO_ID) continue;
      total++;
      if (got.has(id)) hit++;
    }
  }
  return total === 0 ? 1 : hit / total;
}
