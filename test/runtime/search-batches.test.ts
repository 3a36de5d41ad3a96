// Multi-query dispatch ≡ separate searches, and reordered ≡ unordered, on the CPU index (the GPU's:
// search-batches.browser.test.ts).
import { afterEach, test } from 'vitest';
import { nodeStores } from '../support/node-rag.js';
import { batchedEqualsSeparate, reorderedEqualsUnordered } from '../support/search-batches-behaviour.js';

const stores = nodeStores();
afterEach(() => stores.cleanup());

test.each(['f32', 'f16', 'int8'] as const)(
  'batched searches equal separate ones, with filters, and survive one caller aborting (CPU, %s)',
  { timeout: 60_000 },
  async (storage) => {
    const store = await stores.open(await stores.dir());
    const seed = Math.floor(Math.random() * 2 ** 31);
    try {
      await batchedEqualsSeparate(store, 'cpu', storage, seed);
    } catch (e) {
      throw new Error(`seed ${seed}: ${(e as Error).message}`, { cause: e });
    } finally {
      store.close();
    }
  },
);

test("a search told to scan a related search's lists first finds the same top-k in fewer slices (CPU)", { timeout: 60_000 }, async () => {
  const store = await stores.open(await stores.dir());
  const seed = Math.floor(Math.random() * 2 ** 31);
  try {
    const r = await reorderedEqualsUnordered(store, 'cpu', seed);
    console.log(`slices until the top-k is stable: ${r.plain.toFixed(2)} in rank order, ${r.reordered.toFixed(2)} reordered (seed ${seed})`);
  } catch (e) {
    throw new Error(`seed ${seed}: ${(e as Error).message}`, { cause: e });
  } finally {
    store.close();
  }
});
