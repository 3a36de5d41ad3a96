// What exportIndex decides for a 'pq' index's coarse step (src/storage/export-measures.ts): coarse
// codes by default from 256 lists (layout 7), or when layout 6 or 7 is asked for; never with groups, nor
// for other storages; and they are kept by default only where they pay (a search of nprobe 16 ranks
// at most half the lists exactly). Measured on the coarse steps' fixture, the codes pay there.

import { describe, expect, it } from 'vitest';
import { codesPay, codesWanted, groupCountOf, measuredCoarseCodes } from '../../src/storage/export-measures.js';
import type { Manifest } from '../../src/storage/contract.js';
import { prepareRows } from '../../src/ivf/probe.js';
import { COARSE_FIXTURE, coarseFixture } from '../support/coarse-fixture.js';

const manifest = (nlist: number, storage: Manifest['storage'] = 'pq') => ({ nlist, storage }) as Manifest;

describe("export's coarse step", () => {
  it('writes coarse codes by default from 256 lists, or when layout 6 or 7 asks; groups only when asked', () => {
    expect(codesWanted(undefined, undefined, manifest(256))).toBe(true);
    expect(codesWanted(undefined, undefined, manifest(255))).toBe(false);
    expect(codesWanted(undefined, 6, manifest(64))).toBe(true);
    expect(codesWanted(undefined, 7, manifest(64))).toBe(true);
    expect(codesWanted(undefined, 4, manifest(4096))).toBe(false);
    expect(codesWanted(16, undefined, manifest(4096))).toBe(false);
    expect(codesWanted(0, undefined, manifest(4096))).toBe(false);
    expect(codesWanted(undefined, undefined, manifest(4096, 'f16'))).toBe(false);
    expect(groupCountOf(undefined, undefined, manifest(4096))).toBe(0);
    expect(groupCountOf(undefined, 5, manifest(4096))).toBe(128);
    expect(groupCountOf(7, undefined, manifest(4096))).toBe(7);
  });

  it('keeps them where a search of nprobe 16 ranks at most half the lists exactly', async () => {
    const { dim, nlist } = COARSE_FIXTURE;
    const { index, data } = await coarseFixture(11, 'l2');
    const parts = {
      ...index,
      nlist,
      vectorOf: (id: number) => data.subarray(id * dim, (id + 1) * dim),
      prepare: (q: Float32Array) => prepareRows('l2', q, dim),
    };
    const codes = await measuredCoarseCodes(parts);
    expect(codes.exact.length).toBe(Math.log2(nlist) + 1);
    // Measured on queries made from the vectors: at nprobe 1 more than the floor of 2 lists.
    expect(codes.exact[0]).toBeGreaterThan(2);
    expect(codesPay(codes, nlist)).toBe(true);
    expect(codesPay({ ...codes, exact: codes.exact.map(() => nlist) }, nlist)).toBe(false);
  });
});
