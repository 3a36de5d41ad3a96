// One GPU memory budget (issue 23, gpu/budget.ts) on a real device: a generator that would pass
// it is refused with DEVICE_LIMIT before anything is allocated (the harness's live-bytes check),
// naming what holds the memory; what fits is charged to its holder; a stored index's list cache
// takes what the generator leaves, and a cacheBytes that does not fit is refused when the index
// opens (never in the middle of a search); closing gives every byte back.
import { expect, inject } from 'vitest';
import { gaussianMixture } from '../../src/weft.js';
import { loadLlama2c } from '../../src/generate/llama2c-gpu.js';
import { openStore } from '../../src/storage/idb-store.js';
import { createStoredIndex, openStoredIndex } from '../../src/stored-index/stored-index.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { gpuTest } from '../support/gpu-harness.js';

const base = `${inject('sharedAssets')}/lm-stories260K`;
const model = { model: `${base}/stories260K.bin`, tokenizer: `${base}/tok512.bin` };
const MiB = 2 ** 20;

gpuTest('a generator over the budget is DEVICE_LIMIT before any buffer; the list cache takes what is left; all is given back', async (ctx) => {
  const dbName = `weft-budget-${crypto.randomUUID()}`;
  try {
    ctx.setBudget(256 * 1024);
    const before = ctx.liveBytes;
    const refused = await loadLlama2c({ ...model, gpu: ctx }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ code: 'DEVICE_LIMIT', message: expect.stringMatching(/reference generator.*budget.*gpuBudgetBytes/s) });
    expect(ctx.liveBytes).toBe(before);

    // Room for the generator and 1 MiB more.
    ctx.setBudget(Number.POSITIVE_INFINITY);
    const probe = await loadLlama2c({ ...model, gpu: ctx });
    const generatorBytes = ctx.memory().holders.generator!;
    probe.destroy();
    expect(generatorBytes).toBeGreaterThan(0);
    ctx.setBudget(ctx.memory().used + generatorBytes + MiB);
    const g = await loadLlama2c({ ...model, gpu: ctx });
    try {
      expect(ctx.memory().holders.generator).toBe(generatorBytes);
      // An index whose default cache (16 MiB) would not fit: it gets what is left.
      const store = await openStore({ dbName });
      const data = gaussianMixture(4000, 32, { centers: 16, seed: 3 });
      const idx = await createStoredIndex(data, { gpu: ctx, store, name: 'docs', dim: 32, nlist: 16, storage: 'f16', seed: 3 });
      await idx.add(data);
      const { budget, used, holders } = ctx.memory();
      expect(holders['list cache']).toBeGreaterThan(0);
      expect(holders['list cache']).toBeLessThanOrEqual(MiB);
      expect(used).toBeLessThanOrEqual(budget);
      expect((await idx.search(data.subarray(0, 32), { k: 5, nprobe: 16 })).ids.length).toBe(5);
      await idx.close();
      // An explicit cacheBytes beyond what is left: refused at open, nothing allocated.
      const held = ctx.liveBytes;
      await expect(openStoredIndex({ store, name: 'docs', gpu: ctx, cacheBytes: 8 * MiB })).rejects.toMatchObject({
        code: 'DEVICE_LIMIT',
        message: expect.stringMatching(/list cache.*held: generator/s),
      });
      expect(ctx.liveBytes).toBe(held);
      expect(ctx.memory().holders['list cache']).toBeUndefined();
      store.close();
    } finally {
      g.destroy();
    }
    expect(ctx.memory().used).toBe(ctx.liveBytes);
  } finally {
    ctx.setBudget(Number.POSITIVE_INFINITY);
    await deleteStore(dbName);
  }
});
