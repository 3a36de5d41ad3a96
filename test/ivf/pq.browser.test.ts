// Product quantisation's sub-space k-means on the GPU (the project's k-means kernels) learns the
// same codebook, bit for bit, as the CPU fallback, on fresh random residuals.
import { expect } from 'vitest';
import { encodePq, trainPq } from '../../src/ivf/pq.js';
import { gaussianMixture } from '../../src/random.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';

gpuTest('the GPU-trained codebook equals the CPU-trained one, and so do the codes (8- and 4-bit)', async (ctx) => {
  const seed = freshSeed();
  const dim = 16;
  const residuals = gaussianMixture(700, dim, { centers: 12, seed });
  for (const [nbits, m] of [
    [8, 4],
    [4, 8],
  ] as const) {
    const gpu = await trainPq(ctx, residuals, dim, { m, nbits, seed, niter: 5 });
    const cpu = await trainPq(undefined, residuals, dim, { m, nbits, seed, niter: 5 });
    expect(new Uint32Array(gpu.centroids.buffer), `seed ${seed}, ${nbits}-bit`).toEqual(new Uint32Array(cpu.centroids.buffer));
    const zero = new Float32Array(dim);
    expect(encodePq(gpu, residuals, zero, 'l2').codes).toEqual(encodePq(cpu, residuals, zero, 'l2').codes);
  }
});
