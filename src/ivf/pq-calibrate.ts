// How many candidates per result a 'pq' index's searches need, measured where it is published
// (issue 24: "a visitor's first answer reads a few hundred kilobytes"). A reader that starts
// without a figure re-ranks 16 per result until it has learnt its own (stored-index's
// rerank-tuner.ts), and each candidate is a full vector row fetched from the host: 768 bytes at
// 384 dimensions. So exportIndex measures the figure on the index itself and writes it in the
// file's manifest (`rerank`), and a reader starts from it.
//
// The measurement is the search's own, on the CPU, on queries made from the index's vectors, in
// three kinds, since a visitor's question is not one of the passages and often lies off them:
// a vector itself (left out of what it may find); the midpoint of a vector and another of its
// list (as a question two passages answer); and a vector moved in a random direction by its
// distance to its nearest neighbour in its list (as far off the data as passages are from each
// other). For each, the vectors of the lists its nprobe nearest centroids own are ranked by the
// scan's PQ keys (pqRowKeys, the kernel's float32 order) and by the exact key of the full
// vectors. The query needs R per result when the last of the exact top k sits at position p of
// the code ranking, R = ceil((p + 1) / k), which is what the tuner learns from. The measured
// figure is the `target` quantile of the needs, as the tuner's.
//
// The published figure is twice that quantile. The publisher cannot see its visitors' questions,
// and they need more than these queries do: on the published-file test's index the quantile
// (6-7 per result) served 37-44 of 48 slightly moved vectors as re-ranking 64 per result does,
// where 16 served all 48. Twice the figure costs little where PQ is for: at 1M x 384 and nprobe
// 16 a query reads 7,800 vectors' codes (530 KB) and each candidate per result adds 7.7 KB of
// rows. The tuner then learns the visitors' own figure from their searches.

import { deinterleave } from './codec.js';
import type { Layout } from './codec.js';
import { coarseKey, pqRowKeys, pqTables, type PqCodebook } from './pq.js';
import { referenceKey } from './reference.js';
import { NO_ID, type ListRecord } from './types.js';
import { createRng, type Rng } from '../random.js';

/** The fewest and most candidates per result a chosen figure takes. */
export const RERANK_RANGE = { min: 2, max: 128 } as const;

/** The `target` quantile of per-query needs, within RERANK_RANGE (the rerank tuner's choice and the published figure). */
export function needQuantile(needs: readonly number[], target: number): number {
  const sorted = needs.slice().sort((a, b) => a - b);
  const q = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(target * sorted.length) - 1))] ?? RERANK_RANGE.max;
  return Math.min(RERANK_RANGE.max, Math.max(RERANK_RANGE.min, q));
}

/** A 'pq' index as measureRerank reads it: its quantisers, lists and each chunk's full vector. */
export interface PqIndexParts {
  metric: 'l2' | 'ip';
  dim: number;
  nlist: number;
  centroids: Float32Array;
  book: PqCodebook;
  layout: Layout<'pq'>;
  lists: readonly ListRecord[];
  /** A chunk's full vector as stored (normalised for cosine). */
  vectorOf(id: number): Float32Array | undefined;
  /** A query as the search prepares it (normalised for cosine). */
  prepare(query: Float32Array): Float32Array;
}

/** What measureRerank measures with: the search's k and nprobe, the share of queries served, how many queries. */
export interface RerankMeasure {
  k: number;
  nprobe: number;
  target: number;
  queries: number;
}

/**
 * Candidates per result to publish for searches of k at nprobe: twice what a `target` share of
 * them need (see the header), measured on up to `queries` queries made from the index's vectors,
 * spread evenly over its ids.
 */
export function measureRerank(index: PqIndexParts, o: RerankMeasure): number {
  const { dim, metric, layout, book, centroids } = index;
  const live = index.lists.reduce((n, r) => n + r.ids.subarray(0, r.count).filter((id) => id !== NO_ID).length, 0);
  if (live <= o.k) return RERANK_RANGE.min;
  const byList = new Map(index.lists.map((r) => [r.list, r]));
  const rowsOf = listRows(layout);
  const nprobe = Math.min(o.nprobe, index.nlist);
  const needs: number[] = [];
  for (const { query, excluded } of sampleQueries(index, o.queries)) {
    const probed = Array.from({ length: index.nlist }, (_, l) => ({ l, key: coarseKey(metric, query, 0, centroids, l, dim) }))
      .sort((a, b) => a.key - b.key || a.l - b.l)
      .slice(0, nprobe);
    const table = pqTables(book, query);
    const scored: { id: number; code: number; exact: number }[] = [];
    for (const { l, key } of probed) {
      const rec = byList.get(l);
      if (!rec || rec.count === 0) continue;
      const keys = pqRowKeys(book, table, rowsOf(rec), rec.count, layout, key, metric);
      for (let s = 0; s < rec.count; s++) {
        const id = rec.ids[s]!;
        const full = id === NO_ID || id === excluded ? undefined : index.vectorOf(id);
        if (full) scored.push({ id, code: keys[s]!, exact: Math.fround(referenceKey(metric, query, 0, full, 0, dim)) });
      }
    }
    if (scored.length <= o.k) continue;
    scored.sort((a, b) => a.code - b.code || a.id - b.id);
    const position = new Map(scored.map((s, p) => [s.id, p]));
    const exact = scored.slice().sort((a, b) => a.exact - b.exact || a.id - b.id);
    const last = Math.max(...exact.slice(0, o.k).map((s) => position.get(s.id)!));
    needs.push(Math.ceil((last + 1) / o.k));
  }
  return needs.length === 0 ? RERANK_RANGE.min : Math.min(RERANK_RANGE.max, 2 * needQuantile(needs, o.target));
}

/** A list's PQ rows one vector after another (the scan's blocks undone, pqRowKeys's input), each list's made once. */
export function listRows(layout: Layout<'pq'>): (rec: ListRecord) => Uint32Array {
  const rows = new Map<number, Uint32Array>();
  return (rec) => {
    let r = rows.get(rec.list);
    if (!r) rows.set(rec.list, (r = deinterleave(rec.codes, rec.count, layout.units)));
    return r;
  };
}

/**
 * Up to `count` queries made from the index's vectors, spread evenly over its ids, in the three
 * kinds of the header (in turn); `excluded` is the id a query that is a vector itself may not find (-1: none).
 */
export function sampleQueries(index: PqIndexParts, count: number): { query: Float32Array; excluded: number }[] {
  const members: { id: number; list: number; slot: number }[] = [];
  for (const rec of index.lists) for (let s = 0; s < rec.count; s++) if (rec.ids[s] !== NO_ID) members.push({ id: rec.ids[s]!, list: rec.list, slot: s });
  members.sort((a, b) => a.id - b.id);
  const byList = new Map(index.lists.map((r) => [r.list, r]));
  const rng = createRng(0x5eed);
  const n = Math.min(count, members.length);
  const out: { query: Float32Array; excluded: number }[] = [];
  for (let i = 0; i < n; i++) {
    const self = members[Math.floor((i * members.length) / n)]!;
    const own = index.vectorOf(self.id);
    if (!own) continue;
    const query = sampleQuery(index, i % 3, own, self, byList.get(self.list)!, rng);
    out.push({ query, excluded: query === own ? self.id : -1 });
  }
  return out;
}

/** Sample query of kind `kind` made from vector `own` of list `rec` (see the header): 0 itself, 1 a midpoint, 2 moved off the data. */
function sampleQuery(index: PqIndexParts, kind: number, own: Float32Array, self: { id: number; slot: number }, rec: ListRecord, rng: Rng): Float32Array {
  const { dim } = index;
  const others = Array.from(rec.ids.subarray(0, rec.count)).filter((id) => id !== NO_ID && id !== self.id);
  if (kind === 0 || others.length === 0) return own;
  if (kind === 1) {
    const other = index.vectorOf(others[(self.slot * 7919) % others.length]!);
    return other ? index.prepare(own.map((x, t) => 0.5 * (x + other[t]!))) : own;
  }
  let nearest = Number.POSITIVE_INFINITY;
  for (const id of others) {
    const v = index.vectorOf(id);
    if (v) nearest = Math.min(nearest, referenceKey('l2', own, 0, v, 0, dim));
  }
  const u = Float32Array.from({ length: dim }, () => rng.normal());
  const scale = Math.sqrt(nearest) / Math.hypot(...u);
  return Number.isFinite(scale) ? index.prepare(own.map((x, t) => x + scale * u[t]!)) : own;
}
