// IVF search on the CPU, for browsers without WebGPU: the coarse step (every centroid scored
// and ranked), the probed lists scanned and one running top-k per query, with the scan kernel's
// float32 arithmetic (cpu-kernel.ts) and its order, (key, id) ascending. The GPU keeps the same
// exact top-k through its threshold filter and merge passes, so the two agree bit for bit where
// the arithmetic does. Keys come from WebAssembly SIMD (cpu-simd.ts) where the browser has it,
// else from the scalar kernel: the same bits either way.

import { deinterleave, isFlat, layoutFor, padRows, type Layout, type ScalarQuantizer } from './codec.js';
import { kernelKey, kernelRows } from './cpu-kernel.js';
import { toQuads, type QuadScanner } from './cpu-simd.js';
import { kernelMetric } from './probe.js';
import { NO_ID, type ListRecord, type Metric, type SearchResult } from './types.js';

/** One list as the CPU scans it: its ids (NO_ID: tombstone) and its vectors as quads (cpu-simd.ts) of layout.dimPad floats. */
export interface DecodedList {
  readonly list: number;
  readonly ids: Uint32Array;
  readonly quads: Float32Array;
  /** 'pq' storage: the row-major rows (term, codes) that pq.ts's pqRowKeys scores; `quads` is then empty. */
  readonly pqRows?: Uint32Array;
}

/** A list record decoded for the CPU scan (the values the GPU kernel would score; 'pq': its rows de-interleaved). */
export function decodeList(record: ListRecord, layout: Layout, sq: ScalarQuantizer | undefined): DecodedList {
  const ids = record.ids.subarray(0, record.count);
  if (!isFlat(layout)) return { list: record.list, ids, quads: new Float32Array(0), pqRows: deinterleave(record.codes, record.count, layout.units) };
  const rows = kernelRows(deinterleave(record.codes, record.count, layout.units), record.count, layout, sq);
  return { list: record.list, ids, quads: toQuads(rows, record.count, layout.dimPad) };
}

/** Bytes a decoded list of `count` vectors holds. */
export function decodedBytes(count: number, layout: Layout): number {
  if (!isFlat(layout)) return count * (layout.bytesPerVector + 4);
  return Math.ceil(count / 4) * 4 * layout.dimPad * 4 + count * 4;
}

/**
 * The keys of `count` vectors held as `quads` (`len` floats each) against q[qOff, qOff + len),
 * one per vector: with the SIMD scanner (its quads already loaded) or the scalar kernel.
 */
export function quadKeys(
  scanner: QuadScanner | undefined,
  ip: boolean,
  q: Float32Array,
  qOff: number,
  quads: Float32Array,
  count: number,
  len: number,
): ArrayLike<number> {
  if (scanner) return scanner.keys(ip, q, qOff);
  const keys = new Float64Array(count);
  for (let i = 0; i < count; i++) keys[i] = kernelKey(ip, q, qOff, quads, (i >> 2) * len * 4 + (i & 3), len, 4);
  return keys;
}

/** The best k (key, id) pairs offered so far, ascending; ties break on the smaller id, as on the GPU. */
export class TopK {
  readonly keys: Float64Array;
  readonly ids: Uint32Array;
  size = 0;
  constructor(readonly k: number) {
    this.keys = new Float64Array(k);
    this.ids = new Uint32Array(k).fill(NO_ID);
  }

  /** Whether (key, id) would enter. */
  admits(key: number, id: number): boolean {
    if (this.size < this.k) return true;
    const lk = this.keys[this.k - 1]!;
    return key < lk || (key === lk && id < this.ids[this.k - 1]!);
  }

  offer(key: number, id: number): void {
    if (!this.admits(key, id)) return;
    let i = Math.min(this.size, this.k - 1);
    while (i > 0) {
      const pk = this.keys[i - 1]!;
      if (pk < key || (pk === key && this.ids[i - 1]! < id)) break;
      this.keys[i] = pk;
      this.ids[i] = this.ids[i - 1]!;
      i--;
    }
    this.keys[i] = key;
    this.ids[i] = id;
    if (this.size < this.k) this.size++;
  }
}

/** Queries as the CPU scan reads them: prepared (normalised for cosine), zero-padded to dimPad. */
export function cpuQueries(prepared: Float32Array, layout: Layout): Float32Array {
  return padRows(prepared, layout.dim, layout.dimPad);
}

/**
 * The coarse step: each query's `depth` best lists, best first (key, then list number), as the
 * scan kernel ranks the centroids (one f32 list, padded to whole vec4s). `queries` as cpuQueries
 * made them for `layout`.
 */
export function cpuRank(
  scanner: QuadScanner | undefined,
  centroids: Float32Array,
  queries: Float32Array,
  layout: Layout,
  metric: Metric,
  depth: number,
): Uint32Array {
  const { dim, dimPad } = layout;
  const coarsePad = layoutFor(dim, 'f32').dimPad;
  const nlist = centroids.length / dim;
  const c = toQuads(padRows(centroids, dim, coarsePad), nlist, coarsePad);
  scanner?.load(c, coarsePad);
  const nq = queries.length / dimPad;
  const ip = kernelMetric(metric) === 'ip';
  const out = new Uint32Array(nq * depth);
  const order = new Uint32Array(nlist);
  for (let q = 0; q < nq; q++) {
    const keys = quadKeys(scanner, ip, queries, q * dimPad, c, nlist, coarsePad);
    for (let l = 0; l < nlist; l++) order[l] = l;
    order.sort((a, b) => keys[a]! - keys[b]! || a - b);
    out.set(order.subarray(0, depth), q * depth);
  }
  return out;
}

/**
 * Scans `list` for query `q` into `top` (with `scanner`, the list's quads must be loaded in it);
 * `allow`: only ids it keeps are candidates (a filtered search).
 */
export function cpuScan(
  scanner: QuadScanner | undefined,
  top: TopK,
  list: DecodedList,
  queries: Float32Array,
  q: number,
  layout: Layout,
  metric: Metric,
  allow?: { has(id: number): boolean },
): void {
  const { dimPad } = layout;
  const { ids, quads } = list;
  const keys = quadKeys(scanner, kernelMetric(metric) === 'ip', queries, q * dimPad, quads, ids.length, dimPad);
  for (let s = 0; s < ids.length; s++) {
    const id = ids[s]!;
    if (id === NO_ID || (allow && !allow.has(id))) continue;
    top.offer(keys[s]!, id);
  }
}

/** Per-query top-k lists as a SearchResult (distances as the GPU reports them). */
export function topKResult(tops: readonly TopK[], metric: Metric, k: number): SearchResult {
  const nq = tops.length;
  const ids = new Uint32Array(nq * k).fill(NO_ID);
  const distances = new Float32Array(nq * k).fill(metric === 'l2' ? Infinity : -Infinity);
  tops.forEach((t, q) => {
    for (let r = 0; r < t.size; r++) {
      ids[q * k + r] = t.ids[r]!;
      distances[q * k + r] = metric === 'l2' ? t.keys[r]! : -t.keys[r]!;
    }
  });
  return { ids, distances, numQueries: nq, k };
}
