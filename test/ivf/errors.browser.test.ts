// Every rejected call fails with a stable code and leaves the index exactly as it was.
import { describe, expect } from 'vitest';
import { createFlatIndex, createGpuContext, createIvfIndex, gaussianMixture, type GpuContext, type IvfIndex } from '../../src/weft.js';
import { freshSeed, gpuTest, sharedContext } from '../support/gpu-harness.js';

const dim = 16;

async function trainedIndex(ctx: GpuContext) {
  const seed = freshSeed();
  const data = gaussianMixture(600, dim, { centers: 10, seed });
  const index = await createIvfIndex({ gpu: ctx, dim, nlist: 6, storage: 'f16', seed });
  await index.train(data);
  await index.add(data);
  return { index, queries: gaussianMixture(5, dim, { centers: 10, seed: seed + 1 }) };
}

async function snapshot(index: IvfIndex, queries: Float32Array) {
  const r = await index.search(queries, { k: 10, nprobe: 6 });
  return { size: index.size, sizes: Array.from(index.listSizes()), ids: Array.from(r.ids), d: Array.from(r.distances) };
}

describe('bad input gets a stable code and changes nothing', () => {
  gpuTest('add / train / search rejections', async (ctx) => {
    const { index, queries } = await trainedIndex(ctx);
    try {
      const before = await snapshot(index, queries);
      const nan = gaussianMixture(3, dim, { seed: 2 });
      nan[17] = NaN;
      const inf = gaussianMixture(3, dim, { seed: 3 });
      inf[5] = -Infinity;
      const cases: [string, () => Promise<unknown>, string][] = [
        ['add: wrong dimension', () => index.add(new Float32Array(dim + 1).fill(1)), 'DIMENSION_MISMATCH'],
        ['add: empty', () => index.add(new Float32Array(0)), 'DIMENSION_MISMATCH'],
        ['add: NaN', () => index.add(nan), 'INVALID_VECTOR'],
        ['add: Infinity', () => index.add(inf), 'INVALID_VECTOR'],
        ['add: not a Float32Array', () => index.add([1, 2, 3] as unknown as Float32Array), 'INVALID_VECTOR'],
        ['add: beyond f16 range', () => index.add(new Float32Array(dim).fill(1e6)), 'INVALID_VECTOR'],
        ['add: duplicate id', () => index.add(gaussianMixture(2, dim, { seed: 4 }), [5, 600000]), 'DUPLICATE_ID'],
        ['add: repeated id in call', () => index.add(gaussianMixture(2, dim, { seed: 4 }), [700000, 700000]), 'DUPLICATE_ID'],
        ['add: negative id', () => index.add(gaussianMixture(1, dim, { seed: 4 }), [-1]), 'INVALID_ID'],
        ['add: id count', () => index.add(gaussianMixture(2, dim, { seed: 4 }), [1]), 'INVALID_ID'],
        ['train: already has vectors', () => index.train(gaussianMixture(50, dim, { seed: 5 })), 'ALREADY_TRAINED'],
        ['search: wrong dimension', () => index.search(new Float32Array(dim * 2 + 3).fill(1)), 'DIMENSION_MISMATCH'],
        ['search: NaN query', () => index.search(nan), 'INVALID_VECTOR'],
        ['search: k = 0', () => index.search(queries, { k: 0 }), 'K_OUT_OF_RANGE'],
        ['search: k larger than the index', () => index.search(queries, { k: 601 }), 'K_OUT_OF_RANGE'],
        ['search: k not an integer', () => index.search(queries, { k: 2.5 }), 'K_OUT_OF_RANGE'],
        ['search: nprobe = 0', () => index.search(queries, { nprobe: 0 }), 'NPROBE_OUT_OF_RANGE'],
        ['search: nprobe > nlist', () => index.search(queries, { nprobe: 7 }), 'NPROBE_OUT_OF_RANGE'],
        ['session: nprobe > nlist', () => index.searchSession(queries, { nprobe: 99 }), 'NPROBE_OUT_OF_RANGE'],
      ];
      for (const [what, call, code] of cases) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, what).toMatchObject({ name: 'WeftError', code });
        expect((err as Error).message.length, `${what}: message says what to do`).toBeGreaterThan(30);
      }
      expect(await snapshot(index, queries)).toEqual(before);
    } finally {
      index.destroy();
    }
  });

  gpuTest('search before training, add before training, empty index, too few training vectors', async (ctx) => {
    const index = await createIvfIndex({ gpu: ctx, dim, nlist: 8 });
    const flat = await createFlatIndex({ gpu: ctx, dim, storage: 'int8' });
    try {
      const q = gaussianMixture(2, dim, { seed: 1 });
      await expect(index.search(q)).rejects.toMatchObject({ code: 'NOT_TRAINED' });
      await expect(index.add(q)).rejects.toMatchObject({ code: 'NOT_TRAINED' });
      await expect(index.train(gaussianMixture(7, dim, { seed: 2 }))).rejects.toMatchObject({ code: 'TOO_FEW_TRAINING_VECTORS' });
      expect(index.trained).toBe(false);
      await index.train(gaussianMixture(100, dim, { seed: 3 }));
      await expect(index.search(q)).rejects.toMatchObject({ code: 'EMPTY_INDEX' });
      await expect(flat.add(q)).rejects.toMatchObject({ code: 'NOT_TRAINED' }); // int8 needs its range
      await flat.train(q);
      await expect(flat.search(q)).rejects.toMatchObject({ code: 'EMPTY_INDEX' });
      await flat.add(q);
      await expect(flat.search(q, { k: 3 })).rejects.toMatchObject({ code: 'K_OUT_OF_RANGE' });
    } finally {
      index.destroy();
      flat.destroy();
    }
  });

  gpuTest('invalid options are rejected with the list of valid values', async (ctx) => {
    await expect(createIvfIndex({ gpu: ctx, dim, nlist: 4, metric: 'hamming' as never })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('l2, ip, cosine'),
    });
    await expect(createIvfIndex({ gpu: ctx, dim, nlist: 4, storage: 'int4' as never })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('f32, f16, int8'),
    });
    await expect(createIvfIndex({ gpu: ctx, dim: 0, nlist: 4 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(createIvfIndex({ gpu: ctx, dim, nlist: 0 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(createFlatIndex({ gpu: ctx, dim: 3.5 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  gpuTest('cosine rejects zero vectors', async (ctx) => {
    const index = await createFlatIndex({ gpu: ctx, dim, metric: 'cosine' });
    try {
      await expect(index.add(new Float32Array(dim))).rejects.toMatchObject({ code: 'INVALID_VECTOR' });
      expect(index.size).toBe(0);
    } finally {
      index.destroy();
    }
  });
});

describe('device limits that cannot be met', () => {
  gpuTest('a storage buffer limit smaller than one 32-vector block', async () => {
    const tiny = await sharedContext({ maxShardBytes: 1024 });
    const flat = await createFlatIndex({ gpu: tiny, dim: 64 });
    try {
      const v = gaussianMixture(4, 64, { seed: freshSeed() });
      await expect(flat.add(v)).rejects.toMatchObject({ code: 'DEVICE_LIMIT', message: expect.stringContaining('storage buffer limit') });
      expect(flat.size).toBe(0);
    } finally {
      flat.destroy();
    }
  });

  gpuTest('k beyond the workgroup memory of a device with default limits', async () => {
    // A device requested without limits gets WebGPU's defaults (16 KiB of workgroup memory).
    const adapter = (await navigator.gpu.requestAdapter())!;
    const device = await adapter.requestDevice();
    const ctx = await createGpuContext({ device });
    const flat = await createFlatIndex({ gpu: ctx, dim: 8 });
    try {
      await flat.add(gaussianMixture(1100, 8, { seed: freshSeed() }));
      await expect(flat.search(gaussianMixture(1, 8, { seed: 1 }), { k: 1024 })).rejects.toMatchObject({
        code: 'DEVICE_LIMIT',
        message: expect.stringContaining('512'),
      });
      const ok = await flat.search(gaussianMixture(1, 8, { seed: 1 }), { k: 512 });
      expect(ok.ids.length).toBe(512);
    } finally {
      flat.destroy();
      ctx.destroy();
      device.destroy();
    }
  });
});
