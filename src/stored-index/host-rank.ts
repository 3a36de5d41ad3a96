// The coarse step of an index whose lists are grouped under super-centroids (a published file of
// layout 5 read in place; src/ivf/coarse-groups.ts). It runs on the host for every backend: a
// query ranks the super-centroids, takes its groups, and ranks their lists' centroids with the
// coarse key the PQ scan adds (pq.ts's coarseKey), so the GPU search, its sessions, the CPU
// backend and prefetch all probe the same lists. A group's centroids are read from the store the
// first time a query takes it (one range with the group's lists' places) and kept in the trained
// state's centroids; a remote visitor's first answer so reads the groups it needs, not every
// centroid. The ranking itself is small: a few groups of about sqrt(nlist) / 2 lists each.

import { groupsTaken, rankTaken } from '../ivf/coarse-groups.js';
import { kernelMetric } from '../ivf/probe.js';
import type { IndexEnv, TrainedState } from './snapshot.js';

/**
 * `depth` ranked lists per query (row-major) of a grouped index, for queries as the search
 * prepares them (normalised for cosine): the lists of the groups each query takes for `nprobe`
 * (more groups when they hold fewer than `depth` lists), best first. Reads the groups not read yet.
 */
export async function groupedRank(
  env: IndexEnv,
  trained: TrainedState,
  prepared: Float32Array,
  nq: number,
  nprobe: number,
  depth: number,
): Promise<Uint32Array> {
  const { groups, members } = trained.grouped!;
  const { dim } = env.layout;
  const metric = kernelMetric(env.metric);
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
  const { members, loaded } = trained.grouped!;
  const need = [...new Set(groups)].filter((g) => !loaded[g]);
  if (need.length === 0) return;
  const { dim } = env.layout;
  const rows = await env.store.readGroupCentroids!(env.name, need);
  need.forEach((g, i) => {
    members[g]!.forEach((l, j) => trained.centroids.set(rows[i]!.subarray(j * dim, (j + 1) * dim), l * dim));
    loaded[g] = 1;
  });
}
