// Okapi BM25 as Lucene computes it (BM25Similarity, k1 = 1.2, b = 0.75 by default):
//   idf(t)      = ln(1 + (N - n + 0.5) / (n + 0.5))      N chunks with terms, n of them holding t
//   score(t, d) = qtf · idf(t) · tf / (tf + k1 · (1 - b + b · |d| / avgdl))
// summed over the query's distinct terms (qtf: how often the query repeats a term, as Lucene's
// boolean query of repeated clauses sums them). Lengths are exact (Lucene rounds them to a byte).
// Written here rather than taken from a search library because it must run on postings read
// from storage a few buckets at a time (src/storage reads them, a sliced search scores between
// decode steps): the libraries score only their own in-memory indexes. The scores accumulate in
// float64 in a fixed term order, so the same index and query always give the same ranking.

import { WeftError } from '../errors.js';
import type { TermPostings } from './postings.js';

export interface Bm25Params {
  k1: number;
  b: number;
}
export const BM25_DEFAULTS: Bm25Params = { k1: 1.2, b: 0.75 };

/** The collection statistics BM25 needs. */
export interface CollectionStats {
  /** Chunks with at least one term. */
  chunks: number;
  /** Their terms, in all. */
  tokens: number;
}

export function idf(chunks: number, n: number): number {
  return Math.log(1 + (chunks - n + 0.5) / (n + 0.5));
}

/** A query as BM25 uses it: distinct terms (first-occurrence order) and how often each occurs. */
export function queryTerms(terms: readonly string[]): Map<string, number> {
  const q = new Map<string, number>();
  for (const t of terms) q.set(t, (q.get(t) ?? 0) + 1);
  return q;
}

/**
 * Per-chunk score sums of one search. Ids below `bound` (all of them when it is the index's
 * nextId) are summed in a dense array, so a term held by most of a 100k-chunk index costs a
 * pass over its postings, not a hash table's worth of allocation; larger explicit ids go to a map.
 */
export class Scores {
  private readonly dense: Float64Array;
  private readonly touched: number[] = [];
  private readonly sparse = new Map<number, number>();
  constructor(bound: number) {
    this.dense = new Float64Array(Math.max(0, Math.min(bound, 1 << 22)));
  }
  add(id: number, s: number): void {
    if (id < this.dense.length) {
      if (this.dense[id] === 0) this.touched.push(id);
      this.dense[id] = this.dense[id]! + s;
    } else {
      this.sparse.set(id, (this.sparse.get(id) ?? 0) + s);
    }
  }
  forEach(fn: (id: number, score: number) => void): void {
    for (const id of this.touched) fn(id, this.dense[id]!);
    for (const [id, s] of this.sparse) fn(id, s);
  }
}

/** Adds one query term's contribution to every chunk in its postings. */
export function accumulate(scores: Scores, p: TermPostings, qtf: number, stats: CollectionStats, params: Bm25Params = BM25_DEFAULTS): void {
  if (p.ids.length === 0 || stats.chunks === 0) return;
  const w = qtf * idf(stats.chunks, p.ids.length);
  const avgdl = stats.tokens / stats.chunks;
  const { k1, b } = params;
  for (let i = 0; i < p.ids.length; i++) {
    const tf = p.tfs[i]!;
    const s = (w * tf) / (tf + k1 * (1 - b + (b * p.lens[i]!) / avgdl));
    scores.add(p.ids[i]!, s);
  }
}

/** A keyword search's result: chunk ids, best first, and their BM25 scores. */
export interface LexicalHits {
  ids: Uint32Array;
  scores: Float32Array;
}

/** x ranks below y: lower score, or the same score and a larger id. */
const below = (xs: number, xi: number, ys: number, yi: number) => xs < ys || (xs === ys && xi > yi);

/**
 * The best `k` scored chunks that `allow` accepts: highest score first, ties by smaller id. A
 * min-heap of the best k so far: O(n log k) over the n chunks with a score.
 */
export function topK(scores: Scores, k: number, allow?: (id: number) => boolean): LexicalHits {
  const hs: number[] = [],
    hi: number[] = [];
  const swap = (a: number, b: number) => {
    [hs[a], hs[b]] = [hs[b]!, hs[a]!];
    [hi[a], hi[b]] = [hi[b]!, hi[a]!];
  };
  const down = (at: number) => {
    for (;;) {
      const l = 2 * at + 1,
        r = l + 1;
      let m = at;
      if (l < hs.length && below(hs[l]!, hi[l]!, hs[m]!, hi[m]!)) m = l;
      if (r < hs.length && below(hs[r]!, hi[r]!, hs[m]!, hi[m]!)) m = r;
      if (m === at) return;
      swap(at, m);
      at = m;
    }
  };
  scores.forEach((id, s) => {
    if (hs.length === k && !below(hs[0]!, hi[0]!, s, id)) return;
    if (allow && !allow(id)) return;
    if (hs.length < k) {
      hs.push(s);
      hi.push(id);
      for (let at = hs.length - 1; at > 0; ) {
        const p = (at - 1) >> 1;
        if (!below(hs[at]!, hi[at]!, hs[p]!, hi[p]!)) break;
        swap(at, p);
        at = p;
      }
    } else {
      hs[0] = s;
      hi[0] = id;
      down(0);
    }
  });
  const order = hs.map((_, i) => i).sort((x, y) => hs[y]! - hs[x]! || hi[x]! - hi[y]!);
  return { ids: Uint32Array.from(order, (i) => hi[i]!), scores: Float32Array.from(order, (i) => hs[i]!) };
}

export function checkLexicalK(k: unknown): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 1_000_000) {
    throw new WeftError('K_OUT_OF_RANGE', `k must be an integer in [1, 1000000]; got ${String(k)}.`);
  }
  return k;
}
