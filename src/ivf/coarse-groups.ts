// A two-level coarse quantiser, for indexes read from a static host (issue 24: "a visitor's first
// answer reads a few hundred kilobytes"). A million-passage index has thousands of lists, and
// ranking them needs every centroid: 2048 x 384 as f16 is 1.57 MB to fetch before the first
// answer. Grouped, the lists' centroids are clustered under G super-centroids (k-means on the
// centroids, each list in the group of its nearest super-centroid). A search ranks the G
// super-centroids, takes the first g groups, and ranks only their lists' centroids with the
// ordinary coarse key; so a reader fetches the super-centroids once and then a group's centroids
// when a query first reaches it. That is FAISS's nested coarse quantiser (an IVF index as the
// quantiser of another), here with a fixed order of whole groups so that every reader, local or
// remote, with any groups cached, probes the same lists.
//
// How many groups a search takes is measured where the groups are made, like the re-rank
// figure (pq-calibrate.ts), by what it does to results: for sample queries, how many groups,
// taken in their order, keep a `target` share (99.5%) of the neighbours a search finds with
// every centroid. Requiring the groups to hold the query's nearest lists instead took 11-15
// groups of 32-64 at 1M x 384 and nprobe 16 (0.34-0.41 of every centroid's bytes) where 2-3
// groups kept recall@10 within 0.005 of the flat coarse step (FAISS anchors,
// bench/results/coarse-groups-faiss-minilm-noisy.json and coarse-groups-recall-minilm-noisy.json):
// the lists a query's neighbours lie in are its nearest few, and a group holds most of those.
// `probe[i]` is that for nprobe = 2^i, so a search of nprobe takes probe[ceil(log2 nprobe)]
// groups, or more when it must rank deeper than the lists those groups hold (a filtered search).

import { cpuAssign } from './cpu-kmeans.js';
import { halfRounded } from './codec.js';
import { trainKmeans } from './kmeans.js';
import { listRows, type PqIndexParts } from './pq-calibrate.js';
import { coarseKey } from './pq.js';
import { MEASURE_LISTS, flatRanking, rankCandidates, scannedNeighbours } from './coarse-rank.js';

/** The groups of an index's lists, as a grouped index file states them. */
export interface CoarseGroups {
  /** The groups' super-centroids, `count x dim`, each an f16 value (the file holds them so). */
  supers: Float32Array;
  /** Each list's group. */
  listGroup: Uint32Array;
  /** Groups a search takes: probe[i] for nprobe up to 2^i (the last entry for any larger). */
  probe: number[];
}

/** The number of groups of a grouping (its super-centroids' rows). */
export const groupCount = (g: Pick<CoarseGroups, 'supers'>, dim: number) => g.supers.length / dim;

/** Each group's lists, in increasing order. */
export function groupMembers(listGroup: Uint32Array, count: number): Uint32Array[] {
  const sizes = new Uint32Array(count);
  for (const g of listGroup) sizes[g]!++;
  const out = Array.from(sizes, (n) => new Uint32Array(n));
  sizes.fill(0);
  listGroup.forEach((g, l) => {
    out[g]![sizes[g]!++] = l;
  });
  return out;
}

/**
 * The default number of groups for `nlist` lists: about twice its square root. A reader opens
 * with G super-centroids (G x dim x 2 bytes) and a first query reads about four groups of nlist /
 * G lists (a centroid and five toc entries each: 2 x dim + 120 bytes); at 384 dimensions the sum
 * is least near G = 2.2 sqrt(nlist). At nlist 2048 that is 91 groups: 70 KB to open and about 110
 * KB of groups, against 35 and 216 KB with sqrt(nlist) groups (FAISS's figures in
 * bench/results/coarse-groups-recall-minilm-noisy.json: 2-3 groups keep recall@10 within 0.005
 * whether there are 32, 45, 64 or 128).
 */
export const defaultGroupCount = (nlist: number) => Math.max(1, Math.round(2 * Math.sqrt(nlist)));

/**
 * Clusters the lists' centroids (nlist x dim, as the index ranks them) into `count` groups:
 * their super-centroids (rounded to f16 values) and each list's group, its nearest
 * super-centroid. Deterministic for a seed.
 */
export async function trainGroups(
  centroids: Float32Array,
  dim: number,
  metric: 'l2' | 'ip',
  count: number,
  seed = 0x9e0,
): Promise<Pick<CoarseGroups, 'supers' | 'listGroup'>> {
  const nlist = centroids.length / dim;
  const k = Math.min(count, nlist);
  const trained = await trainKmeans(undefined, centroids, { dim, k, metric, spherical: metric === 'ip', niter: 20, seed });
  const supers = halfRounded(trained);
  const listGroup = await cpuAssign(centroids, supers, dim, metric === 'ip');
  return { supers, listGroup };
}

/** Query q's groups, nearest first (ties to the lower group), by the coarse key. */
export function groupOrder(supers: Float32Array, prepared: Float32Array, q: number, dim: number, metric: 'l2' | 'ip'): Uint32Array {
  const count = supers.length / dim;
  const keys = new Float64Array(count);
  for (let g = 0; g < count; g++) keys[g] = coarseKey(metric, prepared, q, supers, g, dim);
  return Uint32Array.from({ length: count }, (_, g) => g).sort((a, b) => keys[a]! - keys[b]! || a - b);
}

/** Groups a search of `nprobe` takes by the measured figure, at least one and at most all. */
export function groupsFor(g: Pick<CoarseGroups, 'probe'>, nprobe: number, count: number): number {
  const i = Math.min(g.probe.length - 1, Math.max(0, Math.ceil(Math.log2(Math.max(1, nprobe)))));
  return Math.min(count, Math.max(1, g.probe[i] ?? count));
}

/**
 * The groups each query takes, in its order: at least `groupsFor(nprobe)`, and more until they
 * hold `depth` lists (or every group is taken).
 */
export function groupsTaken(
  groups: CoarseGroups,
  members: readonly Uint32Array[],
  prepared: Float32Array,
  nq: number,
  dim: number,
  metric: 'l2' | 'ip',
  nprobe: number,
  depth: number,
): Uint32Array[] {
  const count = members.length;
  const least = groupsFor(groups, nprobe, count);
  const out: Uint32Array[] = [];
  for (let q = 0; q < nq; q++) {
    const order = groupOrder(groups.supers, prepared, q, dim, metric);
    let taken = 0,
      held = 0;
    while (taken < count && (taken < least || held < depth)) held += members[order[taken++]!]!.length;
    out.push(order.subarray(0, taken));
  }
  return out;
}

/**
 * The coarse step of a grouped index: for each query, the lists of the groups it takes ranked by
 * the coarse key (ties to the lower list), the first `depth` of them (`depth` per query, row-major).
 * `centroids` must hold the rows of every list of those groups.
 */
export function rankTaken(
  taken: readonly Uint32Array[],
  members: readonly Uint32Array[],
  centroids: Float32Array,
  prepared: Float32Array,
  dim: number,
  metric: 'l2' | 'ip',
  depth: number,
): Uint32Array {
  return rankCandidates(
    taken.map((groups) => [...groups].flatMap((g) => [...members[g]!])),
    centroids,
    prepared,
    dim,
    metric,
    depth,
  );
}

/**
 * The groups a search must take, per nprobe = 2^i up to nlist, for the search to keep a `target`
 * share of the neighbours it finds with every centroid: for each of `queries` (prepared rows)
 * and each nprobe, the `k` nearest vectors by the scan's PQ keys (pqRowKeys) in its nprobe
 * nearest lists (at most MEASURE_LISTS); with g groups taken, the search probes the first nprobe
 * of its lists that lie in those groups, and keeps the neighbours whose lists are among them.
 * probe[i] is the fewest groups that keep `target` of the neighbours on average, and `margin`
 * more. Non-decreasing in i.
 */
export function measureGroupProbe(
  groups: Pick<CoarseGroups, 'supers' | 'listGroup'>,
  index: Pick<PqIndexParts, 'centroids' | 'dim' | 'metric' | 'book' | 'layout' | 'lists'>,
  queries: Float32Array,
  target = 0.995,
  k = 10,
  margin = 0,
): number[] {
  const { centroids, dim, metric } = index;
  const nlist = centroids.length / dim;
  const nq = queries.length / dim;
  const count = groupCount(groups, dim);
  const steps = Math.ceil(Math.log2(Math.max(1, nlist))) + 1;
  const rowsOf = listRows(index.layout);
  // kept[i][g - 1]: the share of each query's neighbours at nprobe 2^i that g groups keep, summed over the queries.
  const kept = Array.from({ length: steps }, () => new Float64Array(count));
  const scanned = Math.min(nlist, MEASURE_LISTS);
  const groupSizes = groupMembers(groups.listGroup, count).map((m) => m.length);
  for (let q = 0; q < nq; q++) {
    const order = groupOrder(groups.supers, queries, q, dim, metric);
    const position = new Uint32Array(count);
    order.forEach((g, p) => {
      position[g] = p;
    });
    const ranked = flatRanking(metric, queries, q, centroids, dim);
    // Each flat rank's group position, and the PQ keys of the vectors of the first `scanned` lists.
    const rankGroup = Uint32Array.from(ranked, (x) => position[groups.listGroup[x.l]!]!);
    const vectors = scannedNeighbours(index, queries, q, ranked, scanned, rowsOf);
    // The lists the first g groups hold (a search whose groups hold fewer than nprobe takes more).
    const sizes = new Uint32Array(count + 1);
    order.forEach((g, p) => {
      sizes[p + 1] = sizes[p]! + groupSizes[g]!;
    });
    for (let i = 0; i < steps; i++) {
      const nprobe = Math.min(nlist, 2 ** i);
      const near = vectors.filter((v) => v.rank < nprobe).slice(0, k);
      const last = Math.max(0, ...near.map((v) => v.rank));
      for (let g = 1; g <= count; g++) {
        let held = near.length;
        if (sizes[g]! >= nprobe) {
          // With g groups the search probes the first nprobe of its ranks whose list is in them.
          const probed = new Uint8Array(last + 1);
          for (let r = 0, n = 0; r <= last && n < nprobe; r++) {
            if (rankGroup[r]! < g) {
              probed[r] = 1;
              n++;
            }
          }
          held = near.reduce((a, v) => a + probed[v.rank]!, 0);
        }
        kept[i]![g - 1]! += near.length === 0 ? 1 : held / near.length;
      }
    }
  }
  const probe: number[] = [];
  for (const shares of kept) {
    let g = 1;
    while (g < count && shares[g - 1]! < target * nq - 1e-9) g++;
    probe.push(Math.max(Math.min(count, g + margin), probe.at(-1) ?? 1));
  }
  return probe;
}
