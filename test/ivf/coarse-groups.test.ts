// The two-level coarse quantiser (src/ivf/coarse-groups.ts), on the CPU, on fresh gaussian
// mixtures: taking every group ranks exactly as the flat coarse step; the measured figure takes
// enough groups that they hold nearly all of held-out queries' nprobe nearest lists; a deeper
// ranking takes more groups; and the figure never decreases with nprobe.

import { describe, expect, it } from 'vitest';
import { groupMembers, groupsFor, groupsTaken, measureGroupProbe, rankTaken, trainGroups, type CoarseGroups } from '../../src/ivf/coarse-groups.js';
import { allHalf } from '../../src/ivf/codec.js';
import { trainKmeans } from '../../src/ivf/kmeans.js';
import { referenceProbes } from '../../src/ivf/reference.js';
import { gaussianMixture } from '../../src/random.js';

const dim = 24,
  nlist = 256;

async function fixture(seed: number, metric: 'l2' | 'ip') {
  const normal = (x: Float32Array) => {
    for (let i = 0; i < x.length; i += dim) {
      const r = Math.hypot(...x.subarray(i, i + dim));
      for (let j = 0; j < dim; j++) x[i + j]! /= r;
    }
    return x;
  };
  const data = gaussianMixture(12_000, dim, { centers: 64, spread: 0.4, seed });
  const queries = gaussianMixture(600, dim, { centers: 64, spread: 0.5, seed });
  if (metric === 'ip') {
    normal(data);
    normal(queries);
  }
  const centroids = await trainKmeans(undefined, data, { dim, k: nlist, metric, spherical: metric === 'ip', niter: 6, seed });
  const made = await trainGroups(centroids, dim, metric, 16, seed);
  return { centroids, made, queries };
}

describe('coarse groups', () => {
  for (const metric of ['l2', 'ip'] as const) {
    it(`${metric}: every group taken ranks as the flat coarse step; the measured figure holds held-out queries' nearest lists`, async () => {
      const seed = (Math.random() * 2 ** 31) | 0;
      const { centroids, made, queries } = await fixture(seed, metric);
      expect(allHalf(made.supers)).toBe(true);
      const count = made.supers.length / dim;
      const members = groupMembers(made.listGroup, count);
      expect(members.reduce((a, m) => a + m.length, 0)).toBe(nlist);
      members.forEach((m, g) => {
        for (const l of m) expect(made.listGroup[l]).toBe(g);
      });

      // Every group: the flat ranking, list for list.
      const nq = 40,
        nprobe = 8;
      const head = queries.subarray(0, nq * dim);
      const all: CoarseGroups = { ...made, probe: [count] };
      const ranked = rankTaken(groupsTaken(all, members, head, nq, dim, metric, nprobe, nprobe), members, centroids, head, dim, metric, nprobe);
      const flat = referenceProbes(centroids, head, dim, metric, nprobe);
      for (let q = 0; q < nq; q++) expect(Array.from(ranked.subarray(q * nprobe, (q + 1) * nprobe))).toEqual(flat[q]);

      // Measured on 300 queries, checked on 300 others: their groups hold on average at least 97% of their nprobe nearest lists (the target is 99%).
      const train = queries.subarray(0, 300 * dim),
        held = queries.subarray(300 * dim);
      const probe = measureGroupProbe(made, centroids, train, dim, metric, 0.99);
      expect(probe.length).toBe(Math.log2(nlist) + 1);
      for (let i = 1; i < probe.length; i++) expect(probe[i]).toBeGreaterThanOrEqual(probe[i - 1]!);
      const groups: CoarseGroups = { ...made, probe };
      expect(groupsFor(groups, nprobe, count)).toBeLessThan(count); // it takes fewer than all
      const taken = groupsTaken(groups, members, held, 300, dim, metric, nprobe, nprobe);
      const got = rankTaken(taken, members, centroids, held, dim, metric, nprobe);
      const truth = referenceProbes(centroids, held, dim, metric, nprobe);
      let share = 0;
      for (let q = 0; q < 300; q++) share += truth[q]!.filter((l) => got.subarray(q * nprobe, (q + 1) * nprobe).includes(l)).length / nprobe;
      expect(share / 300).toBeGreaterThanOrEqual(0.97);
    });
  }

  it('a deeper ranking takes groups until they hold its depth', async () => {
    const { centroids, made, queries } = await fixture(7, 'l2');
    const count = made.supers.length / dim;
    const members = groupMembers(made.listGroup, count);
    const groups: CoarseGroups = { ...made, probe: [1] };
    const depth = 100;
    const taken = groupsTaken(groups, members, queries, 20, dim, 'l2', 1, depth);
    for (const t of taken) {
      const held = [...t].reduce((a, g) => a + members[g]!.length, 0);
      expect(held).toBeGreaterThanOrEqual(depth);
      // and no group more than needed
      expect(held - members[t.at(-1)!]!.length).toBeLessThan(depth);
    }
    const ranked = rankTaken(taken, members, centroids, queries, dim, 'l2', depth);
    expect(new Set(ranked.subarray(0, depth)).size).toBe(depth);
    expect(groupsFor({ probe: [1, 2, 5] }, 3, count)).toBe(5);
    expect(groupsFor({ probe: [1, 2, 5] }, 1000, count)).toBe(5);
    expect(groupsFor({ probe: [1, 2, 50] }, 4, count)).toBe(count);
  });
});
