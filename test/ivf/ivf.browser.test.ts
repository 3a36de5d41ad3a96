import { describe, expect } from 'vitest';
import { createFlatIndex, createIvfIndex, gaussianMixture, METRICS, STORAGE_TYPES, referenceIvfSearch, referenceSearch } from '../../src/weft.js';
import { expectSameTopK, freshSeed, gpuTest, normalized } from '../support/gpu-harness.js';

const DIM = 36; // not a multiple of 4, 8 or 16: exercises the padding of every storage type

describe('IVF search equals the CPU reference', () => {
  for (const metric of METRICS) {
    for (const storage of STORAGE_TYPES) {
      gpuTest(`${metric} / ${storage}`, async (ctx) => {
        const seed = freshSeed();
        const n = 1500,
          nq = 17,
          nlist = 12,
          k = 10,
          nprobe = 3;
        const data = gaussianMixture(n, DIM, { centers: 20, seed });
        const queries = gaussianMixture(nq, DIM, { centers: 20, seed: seed + 1 });
        const index = await createIvfIndex({ gpu: ctx, dim: DIM, metric, storage, nlist, seed });
        try {
          await index.train(data);
          await index.add(data);
          expect(index.size).toBe(n);
          const got = await index.search(queries, { k, nprobe });
          const lists = index.lists();
          const q = metric === 'cosine' ? normalized(queries, DIM) : queries;
          const ref = referenceIvfSearch(index.centroids(), lists, q, DIM, metric, k, nprobe);
          expectSameTopK(got, ref, lists, q, DIM, metric);
        } finally {
          index.destroy();
        }
      });
    }
  }
});

describe('flat search equals the CPU reference', () => {
  for (const metric of METRICS) {
    for (const storage of STORAGE_TYPES) {
      gpuTest(`${metric} / ${storage}`, async (ctx) => {
        const seed = freshSeed();
        const n = 1100,
          nq = 9,
          k = 25;
        const data = gaussianMixture(n, DIM, { centers: 10, seed });
        const queries = gaussianMixture(nq, DIM, { centers: 10, seed: seed + 7 });
        const index = await createFlatIndex({ gpu: ctx, dim: DIM, metric, storage });
        try {
          if (storage === 'int8') await index.train(data);
          await index.add(data);
          const got = await index.search(queries, { k });
          const lists = index.lists();
          const q = metric === 'cosine' ? normalized(queries, DIM) : queries;
          expectSameTopK(got, referenceSearch(lists, q, DIM, metric, k), lists, q, DIM, metric);
        } finally {
          index.destroy();
        }
      });
    }
  }
});
