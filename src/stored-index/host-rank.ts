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
  const host = trained.onHost!;
  if (host.kind === 'codes') {
    const taken = codesTaken(host.codes, prepared, nq, metric, nprobe, depth);
    await readPlaces(env, trained, [...new Set(taken.flatMap((t) => [...t]))]);
    return rankCandidates(taken, trained.centroids, prepared, dim, metric, depth);
  }
  const { groups, members } = host;
  const taken = groupsTaken(groups, members, prepared, nq, dim, metric, nprobe, depth);
  await readGroups(
    env,
    trained,
    taken.flatMap((t) => [...t]),
  );
  return rankTaken(taken, members, trained.centroids, prepared, dim, metric, depth);
}

/** Reads the centroids of the groups not read yet into the trained state. */
async function readGroups(env: IndexEnv, trained: TrainedState, groups: readonly number[]): Promise<void> {
  const host = trained.onHost!;
  if (host.kind !== 'groups') return;
  const need = [...new Set(groups)].filter((g) => !host.loaded[g]);
  if (need.length === 0) return;
  const { dim } = env.layout;
  const rows = await env.store.readGroupCentroids!(env.name, need);
  need.forEach((g, i) => {
    host.members[g]!.forEach((l, j) => trained.centroids.set(rows[i]!.subarray(j * dim, (j + 1) * dim), l * dim));
    host.loaded[g] = 1;
  });
}

/** Reads the centroids of the lists whose places are not read yet into the trained state. */
async function readPlaces(env: IndexEnv, trained: TrainedState, lists: readonly number[]): Promise<void> {
  const host = trained.onHost!;
  const need = lists.filter((l) => !host.loaded[l]);
  if (need.length === 0) return;
  const { dim } = env.layout;
  const rows = await env.store.readPlaces!(env.name, need);
  need.forEach((l, i) => {
    trained.centroids.set(rows[i]!, l * dim);
    host.loaded[l] = 1;
  });
}
