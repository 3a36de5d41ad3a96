// Multi-query dispatch ≡ separate searches on the GPU index (WebGPU in Chromium), every storage
// type, and reordered ≡ unordered (the CPU index's: search-batches.test.ts).
import { afterAll, beforeAll, test } from 'vitest';
import { createGpuContext, type GpuContext } from '../../src/gpu/context.js';
import { openStore } from '../../src/storage/idb-store.js';
import { batchedEqualsSeparate, reorderedEqualsUnordered } from '../support/search-batches-behaviour.js';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await createGpuContext();
});
afterAll(() => ctx.destroy());

test.each(['f32', 'f16', 'int8'] as const)('batched searches equal separate ones, with filters, and survive one caller aborting (GPU, %s)', async (storage) => {
  const dbName = `weft-batches-${storage}-${Math.random()}`;
  const store = await openStore({ dbName });
  const seed = Math.floor(Math.random() * 2 ** 31);
  try {
    await batchedEqualsSeparate(store, ctx, storage, seed);
  } catch (e) {
    throw new Error(`seed ${seed}: ${(e as Error).message}`, { cause: e });
  } finally {
    store.close();
    indexedDB.deleteDatabase(dbName);
  }
});

test("a search told to scan a related search's lists first finds the same top-k in fewer slices (GPU)", async () => {
  const dbName = `weft-reorder-${Math.random()}`;
  const store = await openStore({ dbName });
  const seed = Math.floor(Math.random() * 2 ** 31);
  try {
    const r = await reorderedEqualsUnordered(store, ctx, seed);
    console.log(`slices until the top-k is stable: ${r.plain.toFixed(2)} in rank order, ${r.reordered.toFixed(2)} reordered (seed ${seed})`);
  } catch (e) {
    throw new Error(`seed ${seed}: ${(e as Error).message}`, { cause: e });
  } finally {
    store.close();
    indexedDB.deleteDatabase(dbName);
  }
});
