// Coarse codes (src/ivf/coarse-codes.ts), on the CPU, on fresh gaussian mixtures: ranking every
// list exactly is the flat coarse step; the measured width ranks fewer lists than all yet keeps
// nearly all the neighbours (by the scan's PQ keys) a search of held-out queries finds with every
// centroid; the codes alone rank the lists near the exact order; the width never decreases with
// nprobe, is at least twice nprobe, and a deeper ranking adds its margin to its depth; too few lists is INVALID_OPTION;
// the places' order puts a query's nearest lists in fewer runs of rows than list order does.

import { describe, expect, it } from 'vitest';
import {
  codeOrder,
  codedLists,
  codesTaken,
  exactWidth,
  measureExactWidth,
  placeOrder,
  trainCoarseCodes,
  type CoarseCodes,
} from '../../src/ivf/coarse-codes.js';
import { rankCandidates } from '../../src/ivf/coarse-rank.js';
import { allHalf } from '../../src/ivf/codec.js';
import { referenceProbes } from '../../src/ivf/reference.js';
import { COARSE_FIXTURE, coarseFixture, keptNeighbours } from '../support/coarse-fixture.js';

const { dim, nlist, k } = COARSE_FIXTURE;

describe('coarse codes', () => {
  for (const metric of ['l2', 'ip'] as const) {
    it(`${metric}: every list ranked exactly is the flat coarse step; the measured width keeps held-out queries' neighbours`, async () => {
      const seed = (Math.random() * 2 ** 31) | 0;
      const { index, queries } = await coarseFixture(seed, metric);
      const { centroids } = index;
      const made = await trainCoarseCodes(centroids, dim, seed);
      expect(codedLists(made)).toBe(nlist);
      expect(made.book.m).toBe(dim / 4);
      expect(made.codes.length).toBe((nlist * dim) / 8);
      expect(allHalf(made.book.centroids)).toBe(true);

      // Every list ranked exactly: the flat ranking, list for list.
      const nq = 40,
        nprobe = 8;
      const head = queries.subarray(0, nq * dim);
      const all: CoarseCodes = { ...made, exact: [nlist] };
      const ranked = rankCandidates(codesTaken(all, head, nq, metric, nprobe, nprobe), centroids, head, dim, metric, nprobe);
      const flat = referenceProbes(centroids, head, dim, metric, nprobe);
      for (let q = 0; q < nq; q++) expect(Array.from(ranked.subarray(q * nprobe, (q + 1) * nprobe))).toEqual(flat[q]);
      // The codes alone: most of a query's nprobe nearest lists are among its first 2 x nprobe by code.
      let near = 0;
      for (let q = 0; q < nq; q++) {
        const first = codeOrder(made, head, q, metric).subarray(0, 2 * nprobe);
        near += flat[q]!.filter((l) => first.includes(l)).length;
      }
      // Over 50 fresh fixtures the share was 0.79-0.91 (a bound of 0.8 failed about one run in five).
      expect(near / (nq * nprobe)).toBeGreaterThan(0.7);

      // Measured on 300 queries, checked on 300 others: the lists ranked exactly keep at least 98%
      // of the neighbours a search finds with every centroid (the target is 99.5%), fewer than all.
      const train = queries.subarray(0, 300 * dim),
        held = queries.subarray(300 * dim);
      const exact = measureExactWidth(made, index, train, 0.995, k);
      expect(exact.length).toBe(Math.log2(nlist) + 1);
      exact.forEach((w, i) => {
        expect(w).toBeGreaterThanOrEqual(Math.min(nlist, 2 * 2 ** i));
        if (i > 0) expect(w).toBeGreaterThanOrEqual(exact[i - 1]!);
      });
      const codes: CoarseCodes = { ...made, exact };
      const width = exactWidth(codes, nlist, nprobe, nprobe);
      expect(width).toBeLessThan(nlist / 2);
      const taken = codesTaken(codes, held, 300, metric, nprobe, nprobe);
      // The lists taken are the first `width` of the code order (found without sorting the rest).
      for (let q = 0; q < 20; q++) expect(Array.from(taken[q]!)).toEqual(Array.from(codeOrder(codes, held, q, metric).subarray(0, width)));
      const got = rankCandidates(taken, centroids, held, dim, metric, nprobe);
      const share = keptNeighbours(index, held, referenceProbes(centroids, held, dim, metric, nprobe), got, nprobe);
      console.log(
        `${metric}: ${width} of ${nlist} lists ranked exactly at nprobe ${nprobe} keep ${share.toFixed(4)} of the neighbours (exact ${exact.join(',')})`,
      );
      expect(share).toBeGreaterThanOrEqual(0.98);
    });
  }

  it('a deeper ranking ranks more lists exactly; too few lists cannot have codes', async () => {
    const codes = { exact: [2, 4, 8, 20, 32] };
    expect(exactWidth(codes, 64, 8, 8)).toBe(20);
    // A filtered search ranks 32 deep at nprobe 8: the figure's margin (12 lists) is added to its depth.
    expect(exactWidth(codes, 64, 8, 32)).toBe(44);
    expect(exactWidth(codes, 64, 8, 16)).toBe(28);
    // nprobe 5 takes the margin of the figure for 8; never more than nlist.
    expect(exactWidth(codes, 64, 5, 5)).toBe(17);
    expect(exactWidth(codes, 64, 1000, 64)).toBe(64);
    await expect(trainCoarseCodes(new Float32Array(15 * 8), 8)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  it("orders the places so that a query's nearest lists lie in few runs of rows", async () => {
    const seed = (Math.random() * 2 ** 31) | 0;
    const { index, queries } = await coarseFixture(seed, 'l2');
    const order = placeOrder(index.centroids, dim);
    expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: nlist }, (_, l) => l));
    expect(Array.from(placeOrder(index.centroids, dim))).toEqual(Array.from(order));
    const row = new Uint32Array(nlist);
    order.forEach((l, r) => {
      row[l] = r;
    });
    // Runs of consecutive rows among a query's 16 nearest lists, by the places' order and by list number.
    const runs = (rows: number[]) => rows.sort((a, b) => a - b).filter((r, i) => i === 0 || r !== rows[i - 1]! + 1).length;
    const nq = 100;
    const near = referenceProbes(index.centroids, queries.subarray(0, nq * dim), dim, 'l2', 16);
    const ordered = near.reduce((a, lists) => a + runs(lists.map((l) => row[l]!)), 0) / nq;
    const plain = near.reduce((a, lists) => a + runs(lists.slice()), 0) / nq;
    console.log(`a query's 16 nearest lists: ${ordered.toFixed(1)} runs of rows in the places' order, ${plain.toFixed(1)} in list order`);
    // Over 40 fresh fixtures the ratio was 0.52-0.61 (a bound of 0.6 failed about one run in ten).
    expect(ordered).toBeLessThan(0.7 * plain);
  });
});
