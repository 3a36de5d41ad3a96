// The CPU backend against the GPU path, in one page: the same stored index opened on the GPU and
// with `gpu: 'cpu'` answers every search (plain, deep nprobe, filtered, sliced sessions) with
// the same ids, in the same order, with the same float32 distances, bit for bit, for every metric
// and storage; a CPU-built index (k-means and list assignment on the CPU) stores the same
// centroids and lists as a GPU-built one and searches the same on either backend; and without
// navigator.gpu an index falls back to the CPU by itself. Fresh random data each run.
import { describe, expect } from 'vitest';
import { gaussianMixture, NO_ID, type GpuContext, type Metric, type SearchResult, type StorageType } from '../../src/weft.js';
import { openStore } from '../../src/storage/idb-store.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { createStoredIndex, openStoredIndex, type StoredIndex } from '../../src/stored-index/stored-index.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';
import { indexCleanup } from '../support/store-fixtures.js';

const dim = 37,
  nlist = 12,
  n = 1500,
  nq = 12;
let dbName = '';
const { toClose, body } = indexCleanup(() => dbName);

function expectIdentical(cpu: SearchResult, gpu: SearchResult, what: string) {
  expect(Array.from(cpu.ids), `${what}: ids`).toEqual(Array.from(gpu.ids));
  // Bit patterns, so that -0/+0 or a last-bit difference would show.
  expect(Array.from(new Uint32Array(cpu.distances.buffer.slice(0))), `${what}: distance bits`).toEqual(
    Array.from(new Uint32Array(gpu.distances.buffer.slice(0))),
  );
}

async function fresh(): Promise<WeftStore> {
  dbName = `weft-cpu-${crypto.randomUUID()}`;
  const store = await openStore({ dbName });
  toClose.push(store);
  return store;
}

const track = (x: StoredIndex) => {
  toClose.push(x);
  return x;
};

function data(seed: number) {
  const vectors = gaussianMixture(n, dim, { centers: 20, seed });
  const queries = gaussianMixture(nq, dim, { centers: 20, seed: seed + 1 });
  const chunks = Array.from({ length: n }, (_, i) => ({ docId: `doc-${i % 7}`, text: `passage ${i}`, metadata: { page: i % 13 } }));
  return { vectors, queries, chunks };
}

describe('CPU backend equals the GPU path', () => {
  for (const metric of ['l2', 'ip', 'cosine'] as Metric[]) {
    for (const storage of ['f32', 'f16', 'int8'] as StorageType[]) {
      gpuTest(
        `${metric} ${storage}: same ids, order and distance bits`,
        body(async (ctx: GpuContext) => {
          const seed = freshSeed();
          const store = await fresh();
          const { vectors, queries, chunks } = data(seed);
          const gpu = track(
            await createStoredIndex(vectors, { splitLists: 'oversized', gpu: ctx, store, name: 'docs', dim, nlist, metric, storage, seed, niter: 8 }),
          );
          await gpu.add(vectors, { chunks });
          const cpu = track(await openStoredIndex({ splitLists: 'oversized', gpu: 'cpu', store, name: 'docs' }));
          expect(cpu.backend).toBe('cpu');
          expect(cpu.gpu).toBeUndefined();
          expect(gpu.backend).toBe('gpu');
          for (const [k, nprobe] of [
            [10, 3],
            [40, nlist],
            [1, 1],
          ] as const) {
            const g = await gpu.search(queries, { k, nprobe });
            expect(g.ids.filter((id) => id === NO_ID).length, 'the GPU found k results').toBe(0);
            expectIdentical(await cpu.search(queries, { k, nprobe }), g, `seed ${seed} k ${k} nprobe ${nprobe}`);
          }
          // A selective filter: both widen nprobe the same way and keep only allowed chunks.
          const filter = { docId: 'doc-3', metadata: { page: [1, 2, 5] } };
          const gf = await gpu.search(queries, { k: 8, nprobe: 2, filter });
          const cf = await cpu.search(queries, { k: 8, nprobe: 2, filter });
          expectIdentical(cf, gf, `seed ${seed} filtered`);
          const kept = await cpu.chunks(Array.from(cf.ids).filter((id) => id !== NO_ID));
          expect(kept.every((c) => c?.docId === 'doc-3' && [1, 2, 5].includes(c.metadata?.page as number))).toBe(true);
          // A session in slices equals the one-shot search.
          const session = await cpu.searchSession(queries, { k: 10, nprobe: 5 });
          const first = await session.step(2);
          expect(first.lists).toBe(2 * nq);
          await session.step();
          expect(session.done).toBe(true);
          expectIdentical(await session.read(), await gpu.search(queries, { k: 10, nprobe: 5 }), `seed ${seed} session`);
          // Deletes and compaction, seen by the CPU index through the store.
          const gone = Array.from(g10(await gpu.search(queries, { k: 10, nprobe: 3 })));
          await cpu.delete(gone);
          expectIdentical(await cpu.search(queries, { k: 10, nprobe: 3 }), await gpu.search(queries, { k: 10, nprobe: 3 }), `seed ${seed} after delete`);
          expect(cpu.cacheStats().hits + cpu.cacheStats().misses).toBeGreaterThan(0);
        }),
      );
    }
  }
});

/** The first result of each query. */
function g10(r: SearchResult): Uint32Array {
  return Uint32Array.from({ length: r.numQueries }, (_, q) => r.ids[q * r.k]!).filter((id, i, a) => id !== NO_ID && a.indexOf(id) === i);
}

describe('CPU-built indexes', () => {
  for (const [metric, storage] of [
    ['l2', 'f32'],
    ['cosine', 'f16'],
    ['ip', 'int8'],
  ] as [Metric, StorageType][]) {
    gpuTest(
      `${metric} ${storage}: a CPU-built index stores what a GPU-built one does and searches the same on both`,
      body(async (ctx: GpuContext) => {
        const seed = freshSeed();
        const store = await fresh();
        const { vectors, queries, chunks } = data(seed);
        const opts = { store, dim, nlist, metric, storage, seed, niter: 6 };
        const onGpu = track(await createStoredIndex(vectors, { splitLists: 'oversized', ...opts, gpu: ctx, name: 'gpu-built' }));
        const onCpu = track(await createStoredIndex(vectors, { splitLists: 'oversized', ...opts, gpu: 'cpu', name: 'cpu-built' }));
        expect(Array.from((await store.readCentroids('cpu-built')).centroids), `seed ${seed}: centroids`).toEqual(
          Array.from((await store.readCentroids('gpu-built')).centroids),
        );
        await onGpu.add(vectors, { chunks });
        await onCpu.add(vectors, { chunks });
        expect(onCpu.manifest.listCounts).toEqual(onGpu.manifest.listCounts);
        expect(onCpu.manifest.checksums).toEqual(onGpu.manifest.checksums);
        const reopened = track(await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'cpu-built' }));
        const g = await onGpu.search(queries, { k: 10, nprobe: 4 });
        expectIdentical(await onCpu.search(queries, { k: 10, nprobe: 4 }), g, `seed ${seed}: CPU-built on the CPU`);
        expectIdentical(await reopened.search(queries, { k: 10, nprobe: 4 }), g, `seed ${seed}: CPU-built on the GPU`);
        // A rebuild on the CPU retrains as the GPU does.
        await onCpu.rebuild({ seed: seed + 2 });
        await onGpu.rebuild({ seed: seed + 2 });
        expect(Array.from((await store.readCentroids('cpu-built')).centroids)).toEqual(Array.from((await store.readCentroids('gpu-built')).centroids));
        await reopened.close();
      }),
    );
  }
});

describe('fallback without WebGPU', () => {
  gpuTest(
    'no navigator.gpu: createStoredIndex and openStoredIndex run on the CPU and say so',
    body(async () => {
      const store = await fresh();
      const seed = freshSeed();
      const { vectors, queries, chunks } = data(seed);
      Object.defineProperty(navigator, 'gpu', { value: undefined, configurable: true });
      try {
        const index = track(await createStoredIndex(vectors, { splitLists: 'oversized', store, name: 'docs', dim, nlist, metric: 'cosine', seed, niter: 4 }));
        expect(index.backend).toBe('cpu');
        await index.add(vectors, { chunks });
        const r = await index.search(queries, { k: 5 });
        expect(r.ids.every((id) => id !== NO_ID)).toBe(true);
        const again = track(await openStoredIndex({ splitLists: 'oversized', store, name: 'docs' }));
        expect(again.backend).toBe('cpu');
        expectIdentical(await again.search(queries, { k: 5 }), r, 'reopened');
      } finally {
        delete (navigator as { gpu?: unknown }).gpu;
      }
    }),
  );
});
