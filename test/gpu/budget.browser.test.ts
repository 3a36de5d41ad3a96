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

gpuTest(
  'the list cache gives shards back to a generator that needs them and takes them again when it goes; a search open across it is unchanged',
  async (ctx) => {
    const dbName = `weft-budget-${crypto.randomUUID()}`;
    const tick = () => new Promise((r) => setTimeout(r, 20));
    try {
      const probe = await loadLlama2c({ ...model, gpu: ctx });
      const generatorBytes = ctx.memory().holders.generator!;
      probe.destroy();
      // Shards of 1.25 MiB (the context's limit, above the generator's largest buffer): a 4 MiB
      // cache is 4 shards, given back one by one; the index fills two of them.
      const store = await openStore({ dbName });
      const dim = 48,
        nlist = 24;
      const data = gaussianMixture(12000, dim, { centers: 24, seed: 5 });
      const queries = gaussianMixture(6, dim, { centers: 24, seed: 6 });
      const idx = await createStoredIndex(data, {
        gpu: ctx,
        store,
        name: 'docs',
        dim,
        nlist,
        storage: 'f32',
        seed: 5,
        cacheBytes: 4 * MiB,
        splitLists: 'oversized',
      });
      try {
        await idx.add(data);
        const want = await idx.search(queries, { k: 10, nprobe: nlist }); // every list: the cache fills
        const full = idx.cacheStats().budget;
        expect(full).toBeGreaterThan(3.5 * MiB);
        const resident = idx.cacheStats().resident;
        expect(resident).toBe(idx.cacheStats().misses); // every list
        expect(idx.cacheStats().used).toBeGreaterThan(1.25 * MiB);
        // A sliced search opened on the full cache, one step taken.
        const session = await idx.searchSession(queries, { k: 10, nprobe: nlist });
        await session.step(3);

        // A budget with room for the generator only if the cache gives back 2.5 MiB: it keeps one
        // shard, and the lists in the others are evicted.
        const budget = ctx.memory().used + generatorBytes - 2.5 * MiB;
        ctx.setBudget(budget);
        const g = await loadLlama2c({ ...model, gpu: ctx });
        try {
          const m = ctx.memory();
          expect(m.used).toBeLessThanOrEqual(budget);
          expect(m.holders.generator).toBe(generatorBytes);
          expect(m.holders['list cache']).toBeLessThanOrEqual(full - 2.5 * MiB);
          expect(m.holders['list cache']).toBeGreaterThan(0);
          // The holder's share: the shards it kept, and its residency table.
          expect(m.holders['list cache']! - idx.cacheStats().budget).toBeLessThan(4096);
          expect(idx.cacheStats().resident).toBeLessThan(resident);
          // The session goes on over the smaller cache; a new search too.
          while (!session.done) await session.step(4);
          expect(Array.from((await session.read()).ids)).toEqual(Array.from(want.ids));
          expect(Array.from((await idx.search(queries, { k: 10, nprobe: nlist })).ids)).toEqual(Array.from(want.ids));
          expect(ctx.memory().used).toBeLessThanOrEqual(budget);
          // More than the caches at their least would leave (here it has one shard, its least): refused, nothing taken.
          const cacheBefore = idx.cacheStats().budget;
          expect(() => ctx.reserve(budget, 'Something huge')).toThrow(
            expect.objectContaining({ code: 'DEVICE_LIMIT', message: expect.stringMatching(/Something huge.*held: generator/s) }),
          );
          expect(idx.cacheStats().budget).toBe(cacheBefore);
        } finally {
          g.destroy();
        }
        // The generator gone, the cache takes its shards again.
        await tick();
        expect(idx.cacheStats().budget).toBe(full);
        expect(ctx.memory().holders['list cache']! - full).toBeLessThan(4096);
        expect(Array.from((await idx.search(queries, { k: 10, nprobe: nlist })).ids)).toEqual(Array.from(want.ids));
        expect(idx.cacheStats().resident).toBeGreaterThanOrEqual(resident);
      } finally {
        await idx.close();
        store.close();
      }
      expect(ctx.memory().used).toBe(ctx.liveBytes);
    } finally {
      ctx.setBudget(Number.POSITIVE_INFINITY);
      await deleteStore(dbName);
    }
  },
  { maxShardBytes: 1310720 },
);
