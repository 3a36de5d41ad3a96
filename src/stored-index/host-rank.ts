// The coarse step of an index whose reader does not hold every centroid (a published file read in
// place with its lists grouped under super-centroids, layout 5, src/ivf/coarse-groups.ts, or with
// coarse codes, layout 6, src/ivf/coarse-codes.ts). It runs on the host for every backend: a
// query picks candidate lists from what opening read (the groups it takes, or the first lists by
// code), the centroids of those not read yet are read from the store (a group's section, or the
// lists' places) and kept in the trained state's centroids, and the candidates are ranked with
// the coarse key the PQ scan adds (coarse-rank.ts), so the GPU search, its sessions, the CPU
// backend and prefetch all probe the same lists. A remote visitor's first answer so reads the
// centroids it needs, not every one. The ranking itself is small: a few hundred lists' codes
// scored by table lookups, then a few tens of centroids.

import { groupsTaken, rankTaken } from '../ivf/coarse-groups.js';
import { codesTaken } from '../ivf/coarse-codes.js';
import { rankCandidates } from '../ivf/coarse-rank.js';
import { kernelMetric } from '../ivf/probe.js';
import type { IndexEnv, TrainedState } from './snapshot.js';

/**
 * `depth` ranked lists per query (row-major) of an index whose coarse step runs on the host, for
 * queries as the search prepares them (normalised for cosine), best first: the lists of the
 * groups each query takes for `nprobe` (more groups when they hold fewer than `depth` lists), or
 * the lists it ranks exactly by the coarse codes' measured width. Reads the centroids not read yet.
 */
export async function hostRank(env: IndexEnv, trained: TrainedState, prepared: Float32Array, nq: number, nprobe: number, depth: number): Promise<Uint32Array> {
  const { dim } = env.layout;
  const metric = kernelMetric(env.metric);
  const { centroids } = trained;
  const host = trained.onHost!;
  if (host.kind === 'codes') {
    const taken = codesTaken(host.codes, prepared, nq, metric, nprobe, depth);
    // A place holds one list's centroid.
    await readUnread(
      host.loaded,
      taken,
      (need) => env.store.readPlaces!(env.name, need),
      (l, row) => centroids.set(row, l * dim),
    );
    return rankCandidates(taken, centroids, prepared, dim, metric, depth);
  }
  const { groups, members } = host;
  const taken = groupsTaken(groups, members, prepared, nq, dim, metric, nprobe, depth);
  // A group's rows are its lists' centroids, in its members' order.
  await readUnread(
    host.loaded,
    taken,
    (need) => env.store.readGroupCentroids!(env.name, need),
    (g, rows) => members[g]!.forEach((l, j) => centroids.set(rows.subarray(j * dim, (j + 1) * dim), l * dim)),
  );
  return rankTaken(taken, members, centroids, prepared, dim, metric, depth);
}

/**
 * Reads what the queries `taken` (groups or lists) need and `loaded` does not mark yet, puts each
 * one's rows into the trained state's centroids (`put`) and marks it.
 */
async function readUnread(
  loaded: Uint8Array,
  taken: readonly Uint32Array[],
  read: (need: number[]) => Promise<Float32Array[]>,
  put: (key: number, rows: Float32Array) => void,
): Promise<void> {
  const need = [...new Set(taken.flatMap((t) => [...t]))].filter((key) => !loaded[key]);
  if (need.length === 0) return;
  const rows = await read(need);
  need.forEach((key, i) => {
    put(key, rows[i]!);
    loaded[key] = 1;
  });
}
