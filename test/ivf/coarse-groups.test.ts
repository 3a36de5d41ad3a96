// The two-level coarse quantiser (src/ivf/coarse-groups.ts), on the CPU, on fresh gaussian
// mixtures: taking every group ranks exactly as the flat coarse step; the measured figure takes
// fewer groups than all, yet keeps nearly all the neighbours (by the scan's PQ keys) a search of
// held-out queries finds with every centroid; a deeper ranking takes more groups; and the figure
// never decreases with nprobe.

import { describe, expect, it } from 'vitest';
import { groupMembers, groupsFor, groupsTaken, measureGroupProbe, rankTaken, trainGroups, type CoarseGroups } from '../../src/ivf/coarse-groups.js';
import { allHalf } from '../../src/ivf/codec.js';
import { referenceProbes } from '../../src/ivf/reference.js';
import { COARSE_FIXTURE, coarseFixture, keptNeighbours } from '../support/coarse-fixture.js';

const { dim, nlist, k } = COARSE_FIXTURE;

async function fixture(seed: number, metric: 'l2' | 'ip') {
  const made = await coarseFixture(seed, metric);
  return { ...made, made: await trainGroups(made.index.centroids, dim, metric, 16, seed) };
}

describe('coarse groups', () => {
  for (const metric of ['l2', 'ip'] as const) {
    it(`${metric}: every group taken ranks as the flat coarse step; the measured figure keeps held-out queries' neighbours`, async () => {
      const seed = (Math.random() * 2 ** 31) | 0;
      const { index, made, queries } = await fixture(seed, metric);
      const { centroids } = index;
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

      // Measured on 300 queries (with export's margin of a group), checked on 300 others: the groups
      // taken keep at least 98% of the neighbours a search finds with every centroid (the target is
      // 99.5%), with fewer groups than all.
      const train = queries.subarray(0, 300 * dim),
        held = queries.subarray(300 * dim);
      const probe = measureGroupProbe(made, index, train, 0.995, k, 1);
      expect(probe.length).toBe(Math.log2(nlist) + 1);
      for (let i = 1; i < probe.length; i++) expect(probe[i]).toBeGreaterThanOrEqual(probe[i - 1]!);
      const groups: CoarseGroups = { ...made, probe };
      expect(groupsFor(groups, nprobe, count)).toBeLessThan(count);
      const got = rankTaken(groupsTaken(groups, members, held, 300, dim, metric, nprobe, nprobe), members, centroids, held, dim, metric, nprobe);
      const truth = referenceProbes(centroids, held, dim, metric, nprobe);
      const share = keptNeighbours(index, held, truth, got, nprobe) * 300;
      console.log(
        `${metric}: ${groupsFor(groups, nprobe, count)} of ${count} groups at nprobe ${nprobe} keep ${(share / 300).toFixed(4)} of the neighbours (probe ${probe.join(',')})`,
      );
      expect(share / 300).toBeGreaterThanOrEqual(0.98);
    });
  }

  it('a deeper ranking takes groups until they hold its depth', async () => {
    const { index, made, queries } = await fixture(7, 'l2');
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
    const ranked = rankTaken(taken, members, index.centroids, queries, dim, 'l2', depth);
    expect(new Set(ranked.subarray(0, depth)).size).toBe(depth);
    expect(groupsFor({ probe: [1, 2, 5] }, 3, count)).toBe(5);
    expect(groupsFor({ probe: [1, 2, 5] }, 1000, count)).toBe(5);
    expect(groupsFor({ probe: [1, 2, 50] }, 4, count)).toBe(count);
  });
});
