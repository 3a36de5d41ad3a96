// Cold open on the GPU (src/stored-index/warm-up.ts): a stored index opened on a context that has
// compiled nothing answers its first searches on the CPU without creating a pipeline, with the
// ids and distance bits a GPU search gives; its first answer starts the scan and merge
// pipelines compiling with createComputePipelineAsync, and once they are in, searches run on
// the GPU with exactly those pipelines (no pipeline is created for them synchronously). Fresh
// random data each run, for each storage type ('pq' too: its scan compiled with its codes' shape
// for the candidates it keeps, its CPU searches re-ranked as its GPU searches are). The filtered
// scan compiles after them, and a filtered GPU search then creates no pipeline either.
import { describe, expect } from 'vitest';
import { createGpuContext, gaussianMixture, NO_ID, type GpuContext, type Metric, type SearchResult, type StorageType } from '../../src/weft.js';
import { openStore } from '../../src/storage/idb-store.js';
import { createStoredIndex, openStoredIndex } from '../../src/stored-index/stored-index.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';
import { indexCleanup } from '../support/store-fixtures.js';

const dim = 24,
  nlist = 16,
  n = 1200,
  nq = 6;
let dbName = '';
const { toClose, body } = indexCleanup(() => dbName);

function expectIdentical(a: SearchResult, b: SearchResult, what: string) {
  expect(Array.from(a.ids), `${what}: ids`).toEqual(Array.from(b.ids));
  expect(Array.from(new Uint32Array(a.distances.buffer.slice(0))), `${what}: distance bits`).toEqual(Array.from(new Uint32Array(b.distances.buffer.slice(0))));
}

/**
 * A context of its own on the shared device (nothing compiled yet), counting the pipelines made
 * on it; its asynchronous compiles finish only once `compile()` is called.
 */
async function countingContext(device: GPUDevice) {
  const ctx = await createGpuContext({ device });
  const counts = { sync: 0, async: [] as Promise<GPUComputePipeline>[] };
  let compile!: () => void;
  const gate = new Promise<void>((resolve) => {
    compile = resolve;
  });
  const createSync = device.createComputePipeline.bind(device);
  const createAsync = device.createComputePipelineAsync.bind(device);
  // The wrapped context is the only one that reaches the device through these while the test runs.
  device.createComputePipeline = (d) => {
    counts.sync++;
    return createSync(d);
  };
  device.createComputePipelineAsync = (d) => {
    const p = gate.then(() => createAsync(d));
    counts.async.push(p);
    return p;
  };
  const restore = () => {
    device.createComputePipeline = createSync;
    device.createComputePipelineAsync = createAsync;
  };
  return { ctx, counts, restore, compile };
}

describe('cold open: CPU answers while the first search compiles', () => {
  for (const [metric, storage] of [
    ['cosine', 'f32'],
    ['l2', 'f16'],
    ['ip', 'int8'],
    ['l2', 'pq'],
  ] as [Metric, StorageType | 'pq'][]) {
    gpuTest(
      `${metric} ${storage}: the first searches create no pipeline and equal the GPU's; the compiled pipelines serve the GPU searches`,
      body(async (shared: GpuContext) => {
        const seed = freshSeed();
        dbName = `weft-warm-${crypto.randomUUID()}`;
        const store = await openStore({ dbName });
        toClose.push(store);
        const vectors = gaussianMixture(n, dim, { centers: 20, seed });
        const queries = gaussianMixture(nq, dim, { centers: 20, seed: seed + 1 });
        const chunks = Array.from({ length: n }, (_, i) => ({ docId: `doc-${i % 5}`, text: `passage ${i}` }));
        // 'pq': every search re-ranks the tuner's starting figure (its eighth search would explore twice as many).
        const rerank = storage === 'pq' ? { rerank: 16 } : {};
        const built = await createStoredIndex(vectors, {
          splitLists: 'oversized',
          gpu: shared,
          store,
          name: 'docs',
          dim,
          nlist,
          metric,
          storage,
          ...(storage === 'pq' ? { pq: { m: 6 } } : {}),
          seed,
          niter: 6,
        });
        await built.add(vectors, { chunks });
        await built.search(queries, { k: 10, nprobe: 4, ...rerank }); // access counts: the reopened index preloads these lists
        await built.close();

        const { ctx, counts, restore, compile } = await countingContext(shared.device);
        try {
          const idx = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs' });
          toClose.push(idx);
          const filter = { docId: 'doc-2' };
          const before = idx.cacheStats();
          const first = await idx.search(queries, { k: 10, nprobe: 4, ...rerank });
          // The CPU search counts the lists it read and puts them in the GPU cache, as a GPU search would.
          const after = idx.cacheStats();
          expect(after.misses - before.misses).toBe(after.resident - before.resident);
          expect(after.streamedBytes).toBeGreaterThanOrEqual(before.streamedBytes);
          // The compile has not finished: the same search runs on the CPU again and finds every list
          // in the GPU cache, counted as hits there as a GPU search's would be (they stayed at 0).
          expectIdentical(await idx.search(queries, { k: 10, nprobe: 4, ...rerank }), first, `seed ${seed}: second CPU search`);
          const second = idx.cacheStats();
          expect(second.misses).toBe(after.misses);
          expect(second.hits - after.hits).toBe(after.resident);
          const filtered = await idx.search(queries, { k: 10, nprobe: 2, filter, ...rerank });
          expect(counts.sync, 'pipelines created synchronously before the compile finished').toBe(0);
          expect(first.ids.filter((id) => id === NO_ID).length).toBe(0);
          // The first answer started the compile: the scan (coarse and lists) and merge pipelines.
          await expect.poll(() => counts.async.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(storage === 'f32' ? 2 : 3);
          const firstCompile = counts.async.length;
          compile();
          await Promise.all(counts.async);
          // A search that read nothing from the store ran on the GPU (a CPU search reads every list it probes).
          const streamed = () => idx.cacheStats().streamedBytes;
          await expect
            .poll(async () => {
              const [sync, bytes] = [counts.sync, streamed()];
              const again = await idx.search(queries, { k: 10, nprobe: 4, ...rerank });
              expectIdentical(again, first, `seed ${seed}: search after the compile`);
              return streamed() === bytes ? `on the GPU, ${counts.sync - sync} pipelines created` : 'on the CPU';
            })
            .toBe('on the GPU, 0 pipelines created');
          // Then the filtered scan compiles too: the first filtered GPU search creates no pipeline, and agrees.
          await expect.poll(() => counts.async.length, { timeout: 10_000 }).toBeGreaterThan(firstCompile);
          await Promise.all(counts.async);
          const sync = counts.sync;
          expectIdentical(await idx.search(queries, { k: 10, nprobe: 2, filter, ...rerank }), filtered, `seed ${seed}: filtered`);
          expect(counts.sync - sync, 'pipelines a filtered GPU search created').toBe(0);
          await idx.close();
          expect(ctx.liveBytes, 'bytes the fresh context still holds').toBe(0);
        } finally {
          compile(); // a test that failed before it still lets the compile finish
          restore();
          ctx.destroy();
        }
      }),
    );
  }
});
