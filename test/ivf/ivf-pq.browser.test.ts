// The in-memory IVF-PQ index (src/ivf/ivf-pq.ts) on WebGPU, on fresh random data each run: with
// every vector re-scored it is exact (the flat index's top-k, distances within rounding); with
// 20 candidates per result its recall at a given nprobe is IVF-Flat's (same centroids) within
// 0.02, above what the codes alone find; bad options fail before a device is made.
import { expect } from 'vitest';
import { createFlatIndex, createIvfIndex } from '../../src/ivf/ivf.js';
import { createIvfPqIndex } from '../../src/ivf/ivf-pq.js';
import { recallAtK } from '../../src/ivf/reference.js';
import { gaussianMixture } from '../../src/random.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';

gpuTest('every vector re-scored: the exact top-k, for l2 and cosine, 8- and 4-bit codes', async (ctx) => {
  const seed = freshSeed();
  const dim = 32,
    n = 700,
    k = 10;
  const data = gaussianMixture(n, dim, { centers: 12, seed });
  const queries = gaussianMixture(8, dim, { centers: 12, seed: seed + 1 });
  for (const metric of ['l2', 'cosine'] as const) {
    const flat = await createFlatIndex({ gpu: ctx, dim, metric });
    await flat.add(data);
    const truth = await flat.search(queries, { k });
    flat.destroy();
    for (const [bits, m] of [
      [8, 8],
      [4, 16],
    ] as const) {
      const pq = await createIvfPqIndex({ gpu: ctx, dim, nlist: 8, metric, m, bits, seed, niter: 6 });
      try {
        await pq.train(data);
        await pq.add(data);
        const got = await pq.search(queries, { k, nprobe: 8, rerank: 100 }); // 1,000 > n candidates: all of them
        const label = `seed ${seed}, ${metric}, ${bits}-bit`;
        expect(Array.from(got.ids), label).toEqual(Array.from(truth.ids));
        got.distances.forEach((d, i) => expect(Math.abs(d - truth.distances[i]!), label).toBeLessThan(1e-4 * Math.max(1, Math.abs(d))));
      } finally {
        pq.destroy();
      }
    }
  }
});

gpuTest("20 candidates per result: IVF-Flat's recall at the same nprobe (within 0.02), above the codes' own", async (ctx) => {
  const seed = freshSeed();
  const dim = 48,
    n = 6000,
    k = 10,
    nlist = 24,
    nprobe = 6;
  const data = gaussianMixture(n, dim, { centers: 40, seed });
  const queries = gaussianMixture(40, dim, { centers: 40, seed: seed + 1 });
  const flat = await createFlatIndex({ gpu: ctx, dim });
  await flat.add(data);
  const truth = await flat.search(queries, { k });
  flat.destroy();
  const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, seed, niter: 10 });
  await ivf.train(data);
  await ivf.add(data);
  const ivfRecall = recallAtK(await ivf.search(queries, { k, nprobe }), truth);
  ivf.destroy();
  const pq = await createIvfPqIndex({ gpu: ctx, dim, nlist, m: 12, bits: 8, seed, niter: 10 });
  try {
    await pq.train(data);
    await pq.add(data);
    const codes = recallAtK(await pq.searchCodes(queries, { k, nprobe }), truth);
    const reranked = recallAtK(await pq.search(queries, { k, nprobe, rerank: 20 }), truth);
    console.log(
      `seed ${seed}: recall@10 at nprobe ${nprobe}: IVF-Flat ${ivfRecall.toFixed(3)}, IVF-PQ codes ${codes.toFixed(3)}, re-ranked ${reranked.toFixed(3)}; ${pq.bytesPerVector} bytes a vector against ${dim * 4 + 4}`,
    );
    expect(reranked).toBeGreaterThanOrEqual(ivfRecall - 0.02);
    expect(reranked).toBeGreaterThan(codes);
    expect(pq.bytesPerVector).toBe(20); // term + 12 codes in one vec4 unit, and the id
  } finally {
    pq.destroy();
  }
});

gpuTest('bad options and calls out of order are clear errors', async (ctx) => {
  await expect(createIvfPqIndex({ gpu: ctx, dim: 30, nlist: 4, m: 7 })).rejects.toMatchObject({
    code: 'INVALID_OPTION',
    message: expect.stringMatching(/must divide the dimension 30/),
  });
  await expect(createIvfPqIndex({ gpu: ctx, dim: 32, nlist: 4, m: 8, bits: 6 as 8 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  await expect(createIvfPqIndex({ gpu: ctx, dim: 32, nlist: 4, m: 8, rerank: 0 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  const pq = await createIvfPqIndex({ gpu: ctx, dim: 32, nlist: 4, m: 8 });
  try {
    await expect(pq.search(new Float32Array(32))).rejects.toMatchObject({ code: 'NOT_TRAINED' });
    await expect(pq.add(new Float32Array(32))).rejects.toMatchObject({ code: 'NOT_TRAINED' });
    await expect(pq.train(new Float32Array(100 * 32))).rejects.toMatchObject({ code: 'TOO_FEW_TRAINING_VECTORS' });
  } finally {
    pq.destroy();
  }
});
