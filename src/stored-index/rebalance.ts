// Keeping a stored index answerable as it grows: lists that outgrow their bound (sizing.ts: twice
// the list size an index of its size aims at, or what one GPU buffer holds) are split in the same
// commit as the write that made them grow. This is SPFresh's LIRE (SOSP '23) for IVF, with one
// change that measured better: the lists over the bound are re-clustered together with their
// nearest lists (k-means on the region's vectors; the region keeps its list ids and gains new
// lists), since a new topic arriving at the border of several lists would otherwise be cut along
// the old borders (test/stored-index/growth.browser.test.ts: recall 0.93 against 0.97 from scratch with
// per-list splits, within 0.01 this way). Then LIRE's reassignment: the vectors of the lists
// nearest the new centroids move if one of those is now nearer. Only the region and its
// neighbourhood are read and rewritten, so a split costs a few lists, not the index. When the
// lists over the bound hold half the index (it doubled, or a 186k-passage file met a 10-passage
// index), the region is the whole index: the fallback full re-clustering, needed once per
// doubling, so its cost stays a bounded share of adding the vectors. Vectors k-means cannot
// separate (duplicates) are cut by position into lists with the same centroid, so no list is ever
// over the bound whatever the data.
// A plan: nothing here writes; the caller commits it with the write (one transaction).

import { WeftError } from '../errors.js';
import { appendToRecord, emptyRecord, groupByList, liveRows, pickRows } from '../ivf/list-records.js';
import { kernelMetric, prepareRows } from '../ivf/probe.js';
import { SPLIT_FACTOR, maxListSize, nlistFor, splitBound, targetListSize } from '../ivf/sizing.js';
import { assignLists, trainIvf } from '../ivf/train.js';
import { NO_ID, type ListRecord } from '../ivf/types.js';
import { MAX_NLIST } from '../ivf/validate.js';
import type { CentroidData, ChunkRecord } from '../storage/records.js';
import { rowCodec } from './quantizers.js';
import type { IndexEnv, IndexSnapshot } from './snapshot.js';

/** Lists near each list over the bound that are re-clustered with it, and near each new centroid whose vectors may move to it. */
const NEIGHBOURS = 8;
/** Rounds of splitting the parts of a split that are still over the bound; the first REGION_ROUNDS with their neighbourhood. */
const ROUNDS = 6;
const REGION_ROUNDS = 2;
/**
 * A split list becomes parts of about this many times the target size: lists then range from
 * about 1x (just split) to 2x (SPLIT_FACTOR, about to split) the target, 1.5x on average.
 */
const PART_FACTOR = 1.5;
/** k-means iterations of a split (as many as training from scratch: the region's lists must be as good). */
const SPLIT_NITER = 20;

/** Which lists a write splits (see SplitInput.mode). */
export type SplitMode = 'auto' | 'oversized';

export interface SplitInput {
  /** Lists this commit already rewrites (an add's lists, with its new vectors), by list. */
  pending: ReadonlyMap<number, ListRecord>;
  /** Chunks this commit puts: a new vector that moves is put with its new list. */
  putChunks: readonly ChunkRecord[];
  /** Live vectors once the commit lands (what the bound is relative to). */
  count: number;
  /**
   * 'auto': lists past twice the size an index of `count` vectors aims at are split (the index
   * keeps the shape of one trained at its size); 'oversized': only lists that would not fit one
   * GPU buffer (nlist stays as trained otherwise).
   */
  mode: SplitMode;
  signal?: AbortSignal | undefined;
  /** k-means iterations of the round's re-clustering done, of its total. */
  onProgress?: ((p: { status: 'split'; done: number; total: number }) => void) | undefined;
}

export interface SplitPlan {
  /** The new centroid table (nlist grew); the int8 range is the stored one. */
  centroids: CentroidData;
  /** The final records of every list this commit rewrites (the pending ones included). */
  lists: ListRecord[];
  /** The chunks put, with their lists after the split. */
  putChunks: ChunkRecord[];
  /** Stored chunks whose vector moved. */
  moveChunks: { id: number; list: number }[];
  /** Tombstones dropped from the rewritten lists (they are rebuilt from their live vectors). */
  tombstonesDropped: number;
}

/**
 * Splits every list that is over the bound once the pending records land; undefined when none is.
 * `seed` makes the splits deterministic.
 */
export async function planSplits(env: IndexEnv, snap: IndexSnapshot, input: SplitInput, seed = 1): Promise<SplitPlan | undefined> {
  const { layout, metric, ctx, store, name } = env;
  const { dim } = layout;
  const { quantizer, codebook } = snap.trained;
  // 'pq' rows depend on their list's centroid: the vectors of rewritten lists are re-encoded from
  // their chunks' full-precision copies (this commit's new chunks are not stored yet).
  const codec = rowCodec(env, snap.trained);
  const vectorsOf = async (rows: Uint32Array, ids: Uint32Array) => prepareRows(metric, await codec.vectors(rows, ids, input.putChunks), dim);
  const stored = snap.manifest.nlist;
  const hard = maxListSize(ctx, layout);
  const bound = input.mode === 'auto' ? splitBound(input.count, ctx, layout) : hard;
  const target = Math.max(1, Math.ceil(input.mode === 'auto' ? targetListSize(input.count) : hard / SPLIT_FACTOR));
  const records = new Map(input.pending);
  /** Lists whose records this plan rewrites. */
  const changed = new Set(input.pending.keys());
  const slots = (l: number) => records.get(l)?.count ?? snap.manifest.listCounts[l] ?? 0;
  let over = Array.from({ length: stored }, (_, l) => l).filter((l) => slots(l) > bound);
  if (over.length === 0) return undefined;
  let nlist = stored;
  let centroids = snap.trained.centroids.slice();
  const moved = new Map<number, number>();
  let tombstonesDropped = 0;
  const readMissing = async (lists: Iterable<number>) => {
    const missing = [...new Set(lists)].filter((l) => !records.has(l) && l < stored).sort((a, b) => a - b);
    if (missing.length) for (const r of await store.readLists(name, missing)) records.set(r.list, r);
  };
  /** Appends `count` lists (their centroids set by the caller); the first one's number. */
  const addLists = (count: number) => {
    if (nlist + count > MAX_NLIST) {
      throw new WeftError(
        'DEVICE_LIMIT',
        `Index '${name}' would need more than ${MAX_NLIST} lists to keep every list within one GPU buffer. Split the collection into several indexes.`,
        { details: { name } },
      );
    }
    const grown = new Float32Array((nlist + count) * dim);
    grown.set(centroids);
    centroids = grown;
    nlist += count;
    return nlist - count;
  };
  /**
   * The live vectors of `lists`, in order, with the list each came from; `rewrite`: these lists
   * are rebuilt from them, so their tombstones are dropped.
   */
  const gather = (lists: readonly number[], rewrite: boolean) => {
    const recs = lists.map((l) => records.get(l) ?? emptyRecord(l)); // a list this plan added that nothing went to yet
    const live = liveRows(recs, layout);
    const from = new Uint32Array(live.ids.length);
    let at = 0;
    for (const r of recs) {
      let n = 0;
      for (let s = 0; s < r.count; s++) if (r.ids[s] !== NO_ID) n++;
      from.fill(r.list, at, at + n);
      at += n;
      if (rewrite) tombstonesDropped += r.count - n;
    }
    return { ...live, from };
  };
  /**
   * Rewrites the lists of `labels` (indices into rows/ids): `fresh` ones from their members alone,
   * others by appending. `prepared`: the vectors of those rows ('pq' re-encodes them for their lists).
   */
  const place = async (
    labels: ArrayLike<number>,
    encoded: Uint32Array,
    ids: Uint32Array,
    from: ArrayLike<number>,
    fresh: Set<number>,
    prepared: () => Promise<Float32Array>,
  ) => {
    const rows = await codec.moved(encoded, prepared, labels, centroids);
    const groups = groupByList(labels);
    for (const [l, members] of groups) {
      const base = fresh.has(l) || !records.has(l) ? emptyRecord(l) : records.get(l)!;
      records.set(l, appendToRecord(base, rows, ids, members, layout));
      changed.add(l);
    }
    for (const l of fresh)
      if (!groups.has(l)) {
        records.set(l, emptyRecord(l));
        changed.add(l);
      }
    for (let i = 0; i < labels.length; i++) if (labels[i] !== from[i]) moved.set(ids[i]!, labels[i]!);
    return groups;
  };

  /**
   * LIRE's second half: the vectors of the lists nearest the region's new centroids (and of the
   * lists this commit added to) that are now nearer one of those move there. Their nearest was
   * their own list before, and only the region's centroids changed, so nothing else can attract
   * them. Only lists that lose a vector are rewritten. The lists that received vectors.
   */
  const reassignAround = async (moved: readonly number[], region: ReadonlySet<number>): Promise<number[]> => {
    const outer = new Set<number>();
    for (const l of moved) for (const n of nearestLists(centroids, nlist, dim, l, NEIGHBOURS, kernelMetric(metric))) if (!region.has(n)) outer.add(n);
    for (const l of input.pending.keys()) if (!region.has(l)) outer.add(l);
    await readMissing(outer);
    const g = gather(
      [...outer].filter((l) => records.has(l)).sort((a, b) => a - b),
      false,
    );
    if (g.ids.length === 0) return [];
    const vectors = await vectorsOf(g.rows, g.ids);
    const labels = await assignLists(ctx, vectors, centroids, dim, metric);
    const losing = new Set<number>();
    labels.forEach((l, i) => {
      if (l !== g.from[i]) losing.add(g.from[i]!);
    });
    if (losing.size === 0) return [];
    // The lists that lose a vector are rebuilt from all of theirs (those that stay, then the movers' new homes).
    const sub = Array.from(g.from.keys()).filter((i) => losing.has(g.from[i]!));
    const liveIn = groupByList(sub.map((i) => g.from[i]!));
    for (const l of losing) tombstonesDropped += records.get(l)!.count - liveIn.get(l)!.length;
    const placed = await place(
      sub.map((i) => labels[i]!),
      pickRows(g.rows, sub, layout.words),
      Uint32Array.from(sub, (i) => g.ids[i]!),
      sub.map((i) => g.from[i]!),
      losing,
      async () => pickVectors(vectors, sub, dim),
    );
    return [...placed.keys()];
  };

  for (let round = 0; round < ROUNDS && over.length > 0; round++) {
    if (input.signal?.aborted) throw aborted(name);
    const overSet = new Set(over);
    const hood = new Set(over);
    // Lists over the bound that hold half the index (it at least doubled, or most of what it
    // holds went to a few lists): the region is the whole index, a full re-clustering. That
    // takes the index doubling again, so its cost stays a bounded share of adding the vectors.
    // Otherwise the first rounds re-cluster each list with its neighbours; later ones (parts
    // k-means left too big, rare) only the lists still over the bound.
    const overMass = over.reduce((a, l) => a + slots(l), 0);
    if (input.mode === 'auto' && round === 0 && 2 * overMass >= input.count) for (let l = 0; l < nlist; l++) hood.add(l);
    for (const l of round < REGION_ROUNDS && hood.size < nlist ? over : []) {
      const near = nearestLists(centroids, nlist, dim, l, NEIGHBOURS + over.length, kernelMetric(metric)).filter((n) => !overSet.has(n));
      for (const n of near.slice(0, NEIGHBOURS)) hood.add(n);
    }
    await readMissing(hood);
    const region = [...hood].sort((a, b) => a - b);
    const gathered = gather(region, true);
    // New centroids for the whole neighbourhood: k-means on its vectors together, so lists that
    // overflowed side by side (a new topic arriving at the border of several) are re-clustered as
    // one region rather than each cut along the old borders; one more list per list over the bound at least.
    const prepared = await vectorsOf(gathered.rows, gathered.ids);
    const total = prepared.length / dim;
    const wanted = hood.size === nlist ? nlistFor(input.count) : Math.round(total / (PART_FACTOR * target));
    const k = Math.min(total, Math.max(hood.size + over.length, wanted));
    if (k <= hood.size) break; // nothing left to split (tombstones only)
    const t = await trainIvf(ctx, prepared, {
      nlist: k,
      metric,
      layout,
      seed: (seed + round * 0x9e3779b1) >>> 0,
      niter: SPLIT_NITER,
      maxTrainPointsPerCentroid: 256,
      signal: input.signal,
      onProgress: (p) => input.onProgress?.({ status: 'split', done: p.done, total: p.total }),
    });
    const targets = region.slice();
    const first = addLists(k - targets.length);
    for (let i = first; i < nlist; i++) targets.push(i);
    targets.forEach((l, i) => centroids.set(t.centroids.subarray(i * dim, (i + 1) * dim), l * dim));
    // Every gathered vector to its nearest centroid (LIRE's reassignment).
    const labels = await assignLists(ctx, prepared, centroids, dim, metric);
    await readMissing(labels);
    const groups = await place(labels, gathered.rows, gathered.ids, gathered.from, new Set(targets), async () => prepared);
    const reached = hood.size < nlist ? await reassignAround(targets, hood) : [];
    over = [...new Set([...groups.keys(), ...reached])].filter((l) => slots(l) > bound).sort((a, b) => a - b);
  }

  // Whatever k-means could not separate (identical vectors) is cut by position: the pieces share
  // the centroid, so a search probes them side by side and finds what one list would have held.
  for (const l of [...records.keys()].filter((x) => slots(x) > bound).sort((a, b) => a - b)) {
    const g = gather([l], true);
    const pieces = Math.ceil(g.ids.length / bound);
    const first = addLists(pieces - 1);
    for (let p = 1; p < pieces; p++) centroids.copyWithin((first + p - 1) * dim, l * dim, (l + 1) * dim);
    const labels = Array.from(g.ids, (_, i) => (i < bound ? l : first + Math.floor(i / bound) - 1));
    await place(labels, g.rows, g.ids, g.from, new Set([l]), () => vectorsOf(g.rows, g.ids));
  }

  const putIds = new Set(input.putChunks.map((c) => c.id));
  return {
    centroids: {
      centroids,
      ...(quantizer ? { vmin: quantizer.vmin, scale: quantizer.scale } : {}),
      ...(codebook ? { codebook: codebook.centroids } : {}),
    },
    lists: [...changed].sort((a, b) => a - b).map((l) => records.get(l)!),
    putChunks: input.putChunks.map((c) => (moved.has(c.id) ? { ...c, list: moved.get(c.id)! } : c)),
    moveChunks: [...moved]
      .filter(([id]) => !putIds.has(id))
      .map(([id, list]) => ({ id, list }))
      .sort((a, b) => a.id - b.id),
    tombstonesDropped,
  };
}

/** Rows `picks` of `vectors` (dim each), one after another. */
function pickVectors(vectors: Float32Array, picks: readonly number[], dim: number): Float32Array {
  const out = new Float32Array(picks.length * dim);
  picks.forEach((i, j) => out.set(vectors.subarray(i * dim, (i + 1) * dim), j * dim));
  return out;
}

function aborted(name: string): WeftError {
  return new WeftError('ABORTED', `Adding to index '${name}' was aborted; nothing was changed.`);
}

/** The `count` lists whose centroids are nearest centroid `l`'s (by the kernel's metric), nearest first. */
function nearestLists(centroids: Float32Array, nlist: number, dim: number, l: number, count: number, metric: 'l2' | 'ip'): number[] {
  const c = centroids.subarray(l * dim, (l + 1) * dim);
  const scored: [number, number][] = [];
  for (let j = 0; j < nlist; j++) {
    if (j === l) continue;
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const x = centroids[j * dim + d]!;
      s += metric === 'l2' ? (x - c[d]!) * (x - c[d]!) : -x * c[d]!;
    }
    scored.push([s, j]);
  }
  return scored
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .slice(0, count)
    .map(([, j]) => j);
}
