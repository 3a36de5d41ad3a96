// Coarse codes: the coarse step of an index read from a static host in place, without fetching
// every centroid (issue 24: "a visitor's first answer reads a few hundred kilobytes"). Every
// list's centroid is kept as a 4-bit PQ code of its own (a codebook trained on the centroids, a
// sub-quantiser per 4 dimensions): 48 bytes a list at 384 dimensions, 98 KB at nlist 2048, all
// read when the index opens. A query ranks every list by its code (one table of 16 x m inner
// products, then m lookups a list), takes the first `width` of them, and ranks those by their
// exact centroids (coarse-rank.ts), which the reader fetches with their places (layout 6,
// index-file.ts). Every reader ranks by the same codes in the same order, so all probe the same
// lists, and the exact step makes the lists probed, and the coarse term the scan adds, exact.
//
// How many lists are ranked exactly is measured where the codes are made, by what it does to
// results, as the groups of layout 5 are (coarse-groups.ts): for sample queries, the fewest lists
// taken by code that hold a `target` share (99.5%) of the neighbours a search finds with every
// centroid, and never fewer than twice nprobe: FAISS's anchor at 1M x 384, nlist 2048, nprobe 8
// (bench/anchors/coarse_codes_faiss.py, bench/results/coarse-codes-faiss-minilm-*.json) lost
// 0.003 of recall@10 ranking by the codes alone and 0.001 re-ranking twice nprobe exactly, on
// both the near-tie set and the covariance-shaped one. Against grouped lists on the shaped set
// (11-13 groups for a loss of 0.01: 338-658 KB) a first answer's coarse step reads the codes at
// open and 16 places of 888 bytes.

import { WeftError } from '../errors.js';
import { MEASURE_LISTS, flatRanking, scannedNeighbours } from './coarse-rank.js';
import type { PqIndexParts } from './pq-calibrate.js';
import { listRows } from './pq-calibrate.js';
import { defaultPq, encodePq, pqCodeBytes, pqTable, trainPq, type PqCodebook } from './pq.js';

/** An index's lists' centroids as codes, and how many lists a search ranks exactly. */
export interface CoarseCodes {
  /** The codebook of the codes: 4 bits, m = dim / 4 (or the largest divisor of dim below), f16 values. */
  book: PqCodebook;
  /** Each list's code, pqCodeBytes(m, 4) bytes a list, packed as pq.ts packs 4-bit codes. */
  codes: Uint8Array;
  /** Lists ranked exactly for a search of nprobe = 2^i (the last entry for any larger), each at least min(nlist, 2 x 2^i). */
  exact: number[];
}

/** The fewest lists coarse codes can be made for: a 4-bit codebook has 16 sub-centroids a sub-space. */
export const CODED_FROM = 16;

/** The number of lists of coarse codes. */
export const codedLists = (c: Pick<CoarseCodes, 'book' | 'codes'>) => c.codes.length / pqCodeBytes(c.book.m, 4);

/**
 * The codes of `centroids` (nlist x dim, as the index ranks them): a 4-bit codebook trained on
 * them on the CPU (a few thousand rows), and each centroid's code. Deterministic for a seed.
 * INVALID_OPTION below CODED_FROM lists.
 */
export async function trainCoarseCodes(centroids: Float32Array, dim: number, seed = 0xc0de): Promise<Pick<CoarseCodes, 'book' | 'codes'>> {
  const nlist = centroids.length / dim;
  if (nlist < CODED_FROM)
    throw new WeftError(
      'INVALID_OPTION',
      `Coarse codes need an index of at least ${CODED_FROM} lists; this one has ${nlist}. Publish it without them (layout 4).`,
    );
  const { m } = defaultPq(dim, 4);
  const book = await trainPq(undefined, centroids, dim, { m, nbits: 4, seed, niter: 20 });
  return { book, codes: encodePq(book, centroids, new Float32Array(dim), 'l2').codes };
}

/**
 * Query q's key of every list by its code (smaller is nearer): for l2 the squared distance to the
 * decoded centroid less ||q||^2, for ip the negated inner product. One table of 16 x m inner
 * products, then m lookups a list (two codes a byte, unpacked here: this runs for every list).
 */
function codeKeys(c: Pick<CoarseCodes, 'book' | 'codes'>, prepared: Float32Array, q: number, metric: 'l2' | 'ip'): Float64Array {
  const { book, codes } = c;
  const { dim, m, ksub, dsub, centroids } = book;
  const table = pqTable(book, prepared.subarray(q * dim, (q + 1) * dim));
  // l2: each entry's -2 <q_j, C_j[k]> + ||C_j[k]||^2, so that a list's key is m lookups.
  const entry = new Float64Array(m * ksub);
  for (let e = 0; e < m * ksub; e++) {
    let norm = 0;
    if (metric === 'l2') for (let t = 0; t < dsub; t++) norm += centroids[e * dsub + t]! ** 2;
    entry[e] = metric === 'l2' ? norm - 2 * table[e]! : -table[e]!;
  }
  const bytes = pqCodeBytes(m, 4);
  const nlist = codedLists(c);
  const keys = new Float64Array(nlist);
  for (let l = 0; l < nlist; l++) {
    let key = 0;
    for (let j = 0, at = l * bytes; j < m; j += 2, at++) {
      const byte = codes[at]!;
      key += entry[j * ksub + (byte & 15)]!;
      if (j + 1 < m) key += entry[(j + 1) * ksub + (byte >> 4)]!;
    }
    keys[l] = key;
  }
  return keys;
}

/** `lists` (default: every list) by their `keys`, nearest first, ties to the lower list. */
const byKey = (keys: Float64Array, lists: ArrayLike<number> = Uint32Array.from(keys, (_, l) => l)) =>
  Uint32Array.from(lists).sort((a, b) => keys[a]! - keys[b]! || a - b);

/** Query q's lists by their codes (codeKeys), nearest first, ties to the lower list. */
export function codeOrder(c: Pick<CoarseCodes, 'book' | 'codes'>, prepared: Float32Array, q: number, metric: 'l2' | 'ip'): Uint32Array {
  return byKey(codeKeys(c, prepared, q, metric));
}

/** The first `count` lists of codeOrder, without sorting the rest (a native sort of the keys finds the count-th). */
function firstByCode(c: Pick<CoarseCodes, 'book' | 'codes'>, prepared: Float32Array, q: number, metric: 'l2' | 'ip', count: number): Uint32Array {
  const keys = codeKeys(c, prepared, q, metric);
  if (count >= keys.length) return byKey(keys);
  const bound = keys.slice().sort()[count - 1]!;
  const below: number[] = [];
  const at: number[] = [];
  keys.forEach((k, l) => {
    if (k < bound) below.push(l);
    else if (k === bound) at.push(l);
  });
  // Ties at the bound go to the lower lists, as in codeOrder.
  return byKey(keys, [...below, ...at.slice(0, count - below.length)]);
}

/**
 * Lists a search ranks exactly to probe `depth` of them at `nprobe` (depth >= nprobe: a filtered
 * search ranks up to 1024 deep, to probe the first nprobe lists that hold allowed vectors):
 * depth and the measured figure's margin for nprobe (its lists beyond 2^i), at most nlist. The
 * margin is added, not scaled: scaled, a filtered search at 1M would read every place (1.8 MB)
 * where a grouped file's read half its groups.
 */
export function exactWidth(c: Pick<CoarseCodes, 'exact'>, nlist: number, nprobe: number, depth: number): number {
  const i = Math.min(c.exact.length - 1, Math.max(0, Math.ceil(Math.log2(Math.max(1, nprobe)))));
  const base = Math.min(nlist, 2 ** i);
  const figure = c.exact[i] ?? nlist;
  return Math.min(nlist, Math.max(depth, depth + figure - base));
}

/** For each query, the lists it ranks exactly (exactWidth of them by code order). */
export function codesTaken(c: CoarseCodes, prepared: Float32Array, nq: number, metric: 'l2' | 'ip', nprobe: number, depth: number): Uint32Array[] {
  const width = exactWidth(c, codedLists(c), nprobe, depth);
  return Array.from({ length: nq }, (_, q) => firstByCode(c, prepared, q, metric, width));
}

/**
 * The lists a search must rank exactly, per nprobe = 2^i up to nlist, for it to keep a `target`
 * share of the neighbours it finds with every centroid: for each of `queries` (prepared rows),
 * the k nearest vectors by the scan's PQ keys in its nprobe nearest lists (coarse-rank.ts); a
 * neighbour is kept with w lists ranked exactly when its list is among the first w by code
 * (it is then among the nprobe nearest of them, being so among all). Each figure is at least
 * min(nlist, 2 x nprobe) and never below the one before.
 */
export function measureExactWidth(
  codes: Pick<CoarseCodes, 'book' | 'codes'>,
  index: Pick<PqIndexParts, 'centroids' | 'dim' | 'metric' | 'book' | 'layout' | 'lists'>,
  queries: Float32Array,
  target = 0.995,
  k = 10,
): number[] {
  const { centroids, dim, metric } = index;
  const nlist = centroids.length / dim;
  const nq = queries.length / dim;
  const steps = Math.ceil(Math.log2(Math.max(1, nlist))) + 1;
  const rowsOf = listRows(index.layout);
  // kept[i][w - 1]: the share of each query's neighbours at nprobe 2^i whose list is w-th by code, summed over the queries.
  const kept = Array.from({ length: steps }, () => new Float64Array(nlist));
  for (let q = 0; q < nq; q++) {
    const position = new Uint32Array(nlist);
    codeOrder(codes, queries, q, metric).forEach((l, p) => {
      position[l] = p;
    });
    const ranked = flatRanking(metric, queries, q, centroids, dim);
    const vectors = scannedNeighbours(index, queries, q, ranked, Math.min(nlist, MEASURE_LISTS), rowsOf);
    for (let i = 0; i < steps; i++) {
      const nprobe = Math.min(nlist, 2 ** i);
      const near = vectors.filter((v) => v.rank < nprobe).slice(0, k);
      if (near.length === 0) kept[i]![0]! += 1;
      for (const v of near) kept[i]![position[ranked[v.rank]!.l]!]! += 1 / near.length;
    }
  }
  const exact: number[] = [];
  for (let i = 0; i < steps; i++) {
    let w = 0,
      sum = 0;
    while (w < nlist && sum < target * nq - 1e-9) sum += kept[i]![w++]!;
    exact.push(Math.max(Math.min(nlist, Math.max(w, 2 * 2 ** i)), exact.at(-1) ?? 1));
  }
  return exact;
}

/**
 * An order of the lists in which lists with near centroids are near each other (row -> list), for
 * the places table of layout 6: a query's places are then a few runs of adjacent rows, fetched
 * as a few ranges rather than one request a list (a browser sends six at a time to a host over
 * HTTP/1.1). Recursive halving at the median of each part's principal direction (power
 * iteration from its member farthest from the mean), as a k-d tree orders its leaves.
 * Deterministic: ties go to the lower list.
 */
export function placeOrder(centroids: Float32Array, dim: number): Uint32Array {
  const nlist = centroids.length / dim;
  const order = Uint32Array.from({ length: nlist }, (_, l) => l);
  const mean = new Float64Array(dim);
  const v = new Float64Array(dim);
  const next = new Float64Array(dim);
  const split = (lo: number, hi: number) => {
    const n = hi - lo;
    if (n <= 2) {
      order.subarray(lo, hi).sort();
      return;
    }
    mean.fill(0);
    for (let i = lo; i < hi; i++) for (let t = 0; t < dim; t++) mean[t]! += centroids[order[i]! * dim + t]! / n;
    const centred = (l: number, t: number) => centroids[l * dim + t]! - mean[t]!;
    let far = order[lo]!,
      farthest = -1;
    for (let i = lo; i < hi; i++) {
      let d = 0;
      for (let t = 0; t < dim; t++) d += centred(order[i]!, t) ** 2;
      if (d > farthest || (d === farthest && order[i]! < far)) [far, farthest] = [order[i]!, d];
    }
    for (let t = 0; t < dim; t++) v[t] = centred(far, t);
    for (let it = 0; it < 8; it++) {
      next.fill(0);
      for (let i = lo; i < hi; i++) {
        let dot = 0;
        for (let t = 0; t < dim; t++) dot += centred(order[i]!, t) * v[t]!;
        for (let t = 0; t < dim; t++) next[t]! += dot * centred(order[i]!, t);
      }
      const norm = Math.hypot(...next) || 1;
      for (let t = 0; t < dim; t++) v[t] = next[t]! / norm;
    }
    const key = new Map<number, number>();
    for (let i = lo; i < hi; i++) {
      let dot = 0;
      for (let t = 0; t < dim; t++) dot += centred(order[i]!, t) * v[t]!;
      key.set(order[i]!, dot);
    }
    order.subarray(lo, hi).sort((a, b) => key.get(a)! - key.get(b)! || a - b);
    const mid = lo + (n >> 1);
    split(lo, mid);
    split(mid, hi);
  };
  split(0, nlist);
  return order;
}
