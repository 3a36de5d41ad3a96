// The IndexedDB-backed index with its GPU list cache: results equal the in-memory IVF index
// whatever the cache holds; updates, deletes, compaction, corruption, prefetch, reopen.
import { describe, expect } from 'vitest';
import { openDB } from 'idb';
import { createIvfIndex, gaussianMixture, layoutFor, NO_ID, type GpuContext, type SearchResult, type StorageType } from '../../src/weft.js';
import { openStore } from '../../src/storage/idb-store.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { createStoredIndex, openStoredIndex, type StoredIndex } from '../../src/stored-index/stored-index.js';
import { exportIndex, importIndex } from '../../src/storage/portable.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';
import { indexCleanup } from '../support/store-fixtures.js';

const dim = 20,
  nlist = 16,
  n = 3000;
let dbName = '';
const { toClose, body } = indexCleanup(() => dbName);

function expectIdentical(a: SearchResult, b: SearchResult) {
  expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
  expect(Array.from(a.distances)).toEqual(Array.from(b.distances));
}

async function setup(ctx: GpuContext, cacheBytes?: number, storage: 'f32' | 'f16' | 'int8' = 'f16') {
  const seed = freshSeed();
  dbName = `weft-stored-${crypto.randomUUID()}`;
  const data = gaussianMixture(n, dim, { centers: 24, seed });
  const queries = gaussianMixture(15, dim, { centers: 24, seed: seed + 1 });
  const store = await openStore({ dbName });
  toClose.push(store);
  const stored = await createStoredIndex(data, {
    splitLists: 'oversized',
    gpu: ctx,
    store,
    name: 'docs',
    dim,
    nlist,
    storage,
    metric: 'l2',
    seed,
    ...(cacheBytes ? { cacheBytes } : {}),
  });
  toClose.push(stored);
  await stored.add(data, { chunks: Array.from({ length: n }, (_, i) => ({ docId: `doc-${i % 50}`, text: `passage ${i}` })) });
  return { data, queries, store, stored, seed };
}

/** The in-memory IVF index with the same centroids and vectors: the reference for every cache state. */
async function reference(ctx: GpuContext, stored: StoredIndex, store: WeftStore, data: Float32Array, ids?: Uint32Array) {
  const c = await store.readCentroids('docs');
  const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, storage: stored.storage as StorageType, metric: 'l2' });
  await ivf.setTrained(c.centroids, c.vmin && c.scale ? { vmin: c.vmin, scale: c.scale } : undefined);
  await ivf.add(data, ids);
  return ivf;
}

describe('stored index with a GPU list cache', () => {
  gpuTest(
    'cold, warm and a cache smaller than one list give the same top-k as the in-memory index',
    body(async (ctx) => {
      const { data, queries, store, stored } = await setup(ctx);
      const ivf = await reference(ctx, stored, store, data);
      try {
        const want = await ivf.search(queries, { k: 10, nprobe: 4 });
        const cold = await stored.search(queries, { k: 10, nprobe: 4 });
        expect(stored.cacheStats().misses).toBeGreaterThan(0);
        expectIdentical(cold, want);
        const hitsBefore = stored.cacheStats().hits;
        const warm = await stored.search(queries, { k: 10, nprobe: 4 });
        expect(stored.cacheStats().hits).toBeGreaterThan(hitsBefore);
        expectIdentical(warm, want);
        const tiny = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', cacheBytes: 1024, preload: false });
        toClose.push(tiny);
        expectIdentical(await tiny.search(queries, { k: 10, nprobe: 4 }), want);
        // The cache's budget is raised to one block of 32 vectors (32 x 52 bytes here, ids
        // included): a list of more than 32 vectors never fits, and only lists of at most 32 (k-means leaves one
        // now and then, or an empty one) can be resident. The rest were scanned from scratch.
        const small = tiny.manifest.listCounts.filter((c) => c <= 32).length;
        const stats = tiny.cacheStats();
        expect(stats.resident).toBeLessThanOrEqual(small);
        expect(stats.used).toBeLessThanOrEqual(stats.budget);
        expect(stats.budget).toBeLessThan(2 * 32 * (layoutFor(dim, stored.storage as StorageType).bytesPerVector + 4));
        expect(tiny.cacheStats().scratchLists).toBeGreaterThan(0);
      } finally {
        ivf.destroy();
      }
    }),
  );

  gpuTest(
    'the hotness cache stays within its fill fraction and keeps the hot lists',
    body(async (ctx) => {
      const { queries, store, stored } = await setup(ctx);
      const m = stored.manifest;
      const perVector = layoutFor(dim, stored.storage as StorageType).bytesPerVector + 4; // codes + id
      const total = m.listCounts.reduce((a, b) => a + b, 0) * perVector;
      const small = await openStoredIndex({
        splitLists: 'oversized',
        gpu: ctx,
        store,
        name: 'docs',
        cacheBytes: Math.floor(total / 3),
        cacheFill: 0.8,
        preload: false,
      });
      toClose.push(small);
      for (let i = 0; i < 5; i++) await small.search(queries.subarray(0, dim), { k: 5, nprobe: 2 }); // one query, over and over
      const st = small.cacheStats();
      expect(st.used).toBeLessThanOrEqual(0.8 * st.budget);
      expect(st.hits).toBeGreaterThan(0);
      expect(st.resident).toBeGreaterThan(0);
    }),
  );

  gpuTest(
    'reopening (a new connection, as after a reload) gives the same results and preloads hot lists',
    body(async (ctx) => {
      const { queries, stored } = await setup(ctx);
      const before = await stored.search(queries, { k: 8, nprobe: 5 });
      const hot = stored.residentLists().sort();
      await stored.close();
      toClose.splice(toClose.indexOf(stored), 1);
      const store2 = await openStore({ dbName });
      toClose.push(store2);
      const again = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store: store2, name: 'docs' });
      toClose.push(again);
      expect(again.residentLists().length).toBeGreaterThan(0);
      expect(hot).toEqual(expect.arrayContaining(again.residentLists()));
      expectIdentical(await again.search(queries, { k: 8, nprobe: 5 }), before);
    }),
  );

  gpuTest(
    'incremental add, delete by id and by document, and compaction match a rebuilt in-memory index',
    body(async (ctx) => {
      const { data, queries, store, stored, seed } = await setup(ctx, undefined, 'f32');
      const more = gaussianMixture(400, dim, { centers: 24, seed: seed + 5 });
      const moreIds = await stored.add(more, { chunks: Array.from({ length: 400 }, () => ({ docId: 'late', text: 'late passage' })) });
      expect(Array.from(moreIds.subarray(0, 3))).toEqual([n, n + 1, n + 2]);
      const removedIds = await stored.delete([0, 1, 2, 3, 4, 99999]);
      expect(removedIds).toBe(5);
      const removedDoc = await stored.deleteDocument('doc-7'); // ids 7, 57, 107, ...
      expect(removedDoc).toBe(n / 50);
      expect(stored.size).toBe(n + 400 - 5 - n / 50);
      // The reference holds exactly the live vectors.
      const live: number[] = [];
      for (let i = 0; i < n; i++) if (i > 4 && i % 50 !== 7) live.push(i);
      const liveData = new Float32Array((live.length + 400) * dim);
      live.forEach((i, j) => liveData.set(data.subarray(i * dim, (i + 1) * dim), j * dim));
      liveData.set(more, live.length * dim);
      const ids = Uint32Array.from([...live, ...Array.from(moreIds)]);
      const ivf = await reference(ctx, stored, store, liveData, ids);
      try {
        const want = await ivf.search(queries, { k: 12, nprobe: 6 });
        const got = await stored.search(queries, { k: 12, nprobe: 6 });
        expectIdentical(got, want);
        expect(Array.from(got.ids)).not.toContain(3);
        expect(stored.manifest.tombstones).toBe(5 + n / 50);
        expect(await stored.compact()).toBe(5 + n / 50);
        expect(stored.manifest.tombstones).toBe(0);
        expectIdentical(await stored.search(queries, { k: 12, nprobe: 6 }), want);
        expect(await stored.chunks([7, 8])).toEqual([undefined, expect.objectContaining({ id: 8, docId: 'doc-8', text: 'passage 8' })]);
      } finally {
        ivf.destroy();
      }
    }),
  );

  gpuTest(
    'an aborted add leaves the committed index as it was',
    body(async (ctx) => {
      const { queries, stored, seed } = await setup(ctx);
      const before = await stored.search(queries, { k: 5, nprobe: 3 });
      const size = stored.size;
      const ctl = new AbortController();
      ctl.abort();
      await expect(stored.add(gaussianMixture(50, dim, { seed: seed + 9 }), { signal: ctl.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      expect(stored.size).toBe(size);
      expectIdentical(await stored.search(queries, { k: 5, nprobe: 3 }), before);
      await expect(stored.add(gaussianMixture(2, dim, { seed: 1 }), { ids: [5, 6] })).rejects.toMatchObject({ code: 'DUPLICATE_ID' });
    }),
  );

  gpuTest(
    'a damaged list is reported when a search needs it; searches that do not need it still work',
    body(async (ctx) => {
      const { queries, stored } = await setup(ctx);
      await stored.close();
      toClose.splice(toClose.indexOf(stored), 1);
      const raw = await openDB(dbName);
      const rec = await raw.get('lists', ['docs', 3]);
      new Uint8Array(rec.codes)[40]! ^= 0xff;
      await raw.put('lists', rec);
      raw.close();
      const store2 = await openStore({ dbName });
      toClose.push(store2);
      const again = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store: store2, name: 'docs', preload: false });
      toClose.push(again);
      await expect(again.search(queries, { k: 5, nprobe: nlist })).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { list: 3 } });
      // A query whose probes avoid list 3 still works.
      let ok = 0;
      for (let q = 0; q < 15; q++) {
        const r = await again.search(queries.subarray(q * dim, (q + 1) * dim), { k: 3, nprobe: 1 }).catch((e: { code: string }) => e);
        if (!('code' in r)) {
          ok++;
          expect(r.ids[0]).not.toBe(NO_ID);
        }
      }
      expect(ok).toBeGreaterThan(0);
    }),
  );

  gpuTest(
    'prefetch streams the lists a query will probe, best first, within its byte budget; cancel stops it',
    body(async (ctx) => {
      const { queries, store } = await setup(ctx);
      const fresh = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false });
      toClose.push(fresh);
      const q = queries.subarray(0, dim);
      const h = fresh.prefetch(q, { nprobe: 4 });
      const report = await h.done;
      expect(report.cancelled).toBe(false);
      expect(report.arrived).toEqual(h.planned);
      expect(h.planned.length).toBe(4);
      expect(fresh.residentLists().sort()).toEqual([...h.planned].sort());
      const misses = fresh.cacheStats().misses;
      await fresh.search(q, { k: 5, nprobe: 4 });
      expect(fresh.cacheStats().misses).toBe(misses); // everything it probes had arrived
      // A budget of one list streams exactly the best list; a cancelled prefetch stops early.
      const other = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false });
      toClose.push(other);
      const one = other.prefetch(queries.subarray(dim, 2 * dim), { nprobe: 8, byteBudget: 1 });
      expect((await one.done).arrived).toEqual([]);
      const c = other.prefetch(queries.subarray(dim, 2 * dim), { nprobe: 8 });
      c.cancel();
      const cr = await c.done;
      expect(cr.cancelled).toBe(true);
      expect(cr.arrived.length).toBeLessThan(8);
    }),
  );

  gpuTest(
    'export to one file and import it back (under another name) gives the same index; damaged files are refused',
    body(async (ctx) => {
      const { queries, store, stored } = await setup(ctx, undefined, 'int8');
      await stored.delete([10, 11]);
      const want = await stored.search(queries, { k: 7, nprobe: 5 });
      const file = await exportIndex(store, 'docs');
      expect(file.size).toBeGreaterThan(n * 8);
      const m = await importIndex(store, file, { name: 'copy' });
      expect(m).toMatchObject({ name: 'copy', count: stored.size, tombstones: 2, storage: 'int8' });
      const copy = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'copy' });
      toClose.push(copy);
      expectIdentical(await copy.search(queries, { k: 7, nprobe: 5 }), want);
      expect((await copy.chunks([12]))[0]).toMatchObject({ text: 'passage 12' });
      await expect(importIndex(store, file)).rejects.toMatchObject({ code: 'INDEX_EXISTS' });
      const buf = new Uint8Array(await file.arrayBuffer());
      const damaged = buf.slice();
      damaged[buf.length >> 1]! ^= 0x40;
      await expect(importIndex(store, damaged.buffer, { name: 'bad' })).rejects.toMatchObject({ code: 'INVALID_FILE' });
      await expect(importIndex(store, buf.slice(0, buf.length - 100).buffer, { name: 'bad' })).rejects.toMatchObject({ code: 'INVALID_FILE' });
      await expect(importIndex(store, new TextEncoder().encode('not an index at all, really').buffer, { name: 'bad' })).rejects.toMatchObject({
        code: 'INVALID_FILE',
      });
      expect((await store.listIndexes()).map((x) => x.name).sort()).toEqual(['copy', 'docs']);
    }),
  );

  gpuTest(
    'unbalanced lists are rebuilt (retrained) on demand or past the threshold; results match a fresh index',
    body(async (ctx) => {
      const seed = freshSeed();
      dbName = `weft-stored-${crypto.randomUUID()}`;
      const store = await openStore({ dbName });
      toClose.push(store);
      const early = gaussianMixture(800, dim, { centers: 16, seed });
      // Later documents come from elsewhere: shifted far away, they crowd into a few lists.
      const late = gaussianMixture(2400, dim, { centers: 6, seed: seed + 1 }).map((x) => x + 25);
      const idx = await createStoredIndex(early, {
        splitLists: 'oversized',
        gpu: ctx,
        store,
        name: 'docs',
        dim,
        nlist,
        storage: 'f32',
        seed,
        rebuildImbalance: Infinity,
      });
      toClose.push(idx);
      await idx.add(early);
      await idx.add(late);
      const skewed = idx.imbalance();
      expect(skewed).toBeGreaterThan(3);
      await idx.delete([1, 2, 3]);
      await idx.rebuild({ seed });
      expect(idx.imbalance()).toBeLessThan(skewed / 2);
      expect(idx.size).toBe(3200 - 3);
      expect(idx.manifest.tombstones).toBe(0);
      const all = new Float32Array(3200 * dim);
      all.set(early);
      all.set(late, 800 * dim);
      const liveIds = Array.from({ length: 3200 }, (_, i) => i).filter((i) => i < 1 || i > 3);
      const liveData = new Float32Array(liveIds.length * dim);
      liveIds.forEach((i, j) => liveData.set(all.subarray(i * dim, (i + 1) * dim), j * dim));
      const ivf = await reference(ctx, idx, store, liveData, Uint32Array.from(liveIds));
      try {
        const queries = late.slice(0, 10 * dim);
        expectIdentical(await idx.search(queries, { k: 6, nprobe: 3 }), await ivf.search(queries, { k: 6, nprobe: 3 }));
      } finally {
        ivf.destroy();
      }
      // With a threshold, add() rebuilds by itself.
      const auto = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', rebuildImbalance: 2.5 });
      toClose.push(auto);
      const centroidsBefore = auto.manifest.centroidsChecksum;
      await auto.add(gaussianMixture(2000, dim, { centers: 1, seed: seed + 2 }).map((x) => x - 40)); // one far blob: one list
      expect(auto.manifest.centroidsChecksum).not.toBe(centroidsBefore); // it retrained
      expect(auto.imbalance()).toBeLessThan(4); // 2000 new vectors in ~1 list would be far above
      expect(auto.size).toBe(3197 + 2000);
    }),
  );

  for (const [storage, metric] of [
    ['f32', 'l2'],
    ['f16', 'cosine'],
    ['int8', 'ip'],
  ] as const) {
    gpuTest(
      `missing lists scored on the CPU meanwhile give the same result as streaming them (${storage}, ${metric})`,
      body(async (ctx) => {
        const seed = freshSeed();
        dbName = `weft-stored-${crypto.randomUUID()}`;
        const store = await openStore({ dbName });
        toClose.push(store);
        const data = gaussianMixture(n, dim, { centers: 24, seed });
        const queries = gaussianMixture(12, dim, { centers: 24, seed: seed + 1 });
        const built = await createStoredIndex(data, { splitLists: 'oversized', gpu: ctx, store, name: 'docs', dim, nlist, storage, metric, seed });
        toClose.push(built);
        await built.add(data);
        await built.delete([5, 6, 7]); // tombstones must be skipped on the CPU too
        const want = await built.search(queries, { k: 9, nprobe: 6 }); // streamed into its cache
        for (const cacheBytes of [undefined, 1024]) {
          const cold = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false, ...(cacheBytes ? { cacheBytes } : {}) });
          toClose.push(cold);
          // Warm a few lists so that the search is split between GPU-cached and CPU-scored lists.
          await cold.search(queries.subarray(0, dim), { k: 3, nprobe: 2 });
          expectIdentical(await cold.search(queries, { k: 9, nprobe: 6, missing: 'cpu' }), want);
        }
        await expect(built.search(queries, { missing: 'gpu' as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      }),
    );
  }

  gpuTest(
    'a sliced search (a few lists per step, streaming as it goes) equals the one-shot search, whatever the cache',
    body(async (ctx) => {
      const { queries, store, stored } = await setup(ctx);
      const want = await stored.search(queries, { k: 8, nprobe: 7 });
      for (const cacheBytes of [undefined, 1024, 64 * 1024]) {
        const fresh = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false, ...(cacheBytes ? { cacheBytes } : {}) });
        toClose.push(fresh);
        const s = await fresh.searchSession(queries, { k: 8, nprobe: 7 });
        let steps = 0,
          streamed = 0;
        for (const width of [1, 2, 1, 3]) {
          if (s.done) break;
          const r = await s.step(width);
          streamed += r.streamedBytes;
          steps++;
        }
        expect(s.done).toBe(true);
        expect(steps).toBe(4);
        expect(streamed).toBeGreaterThan(0);
        expectIdentical(await s.read(), want);
        await expect(s.step(1)).rejects.toMatchObject({ code: 'SEARCH_FINISHED' });
      }
      // A write between steps invalidates the session instead of mixing two versions of the index.
      const s2 = await stored.searchSession(queries, { k: 8, nprobe: 4 });
      await s2.step(1);
      await stored.add(gaussianMixture(3, dim, { seed: 99 }));
      await expect(s2.step(1)).rejects.toMatchObject({ code: 'CONFLICT' });
      s2.destroy();
    }),
  );

  gpuTest(
    'a sliced search whose later steps bring lists into cache shards created after it opened scans them too',
    body(async (ctx) => {
      // 16 KiB shards hold 12 blocks of 20-d f16 vectors: a list or two each. The session opens
      // on an empty cache (one shard so far); its steps fill shards that did not exist then.
      const { queries, store, stored } = await setup(ctx);
      const want = await stored.search(queries, { k: 8, nprobe: 7 });
      const fresh = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false });
      toClose.push(fresh);
      expect(fresh.cacheStats().resident).toBe(0);
      const s = await fresh.searchSession(queries, { k: 8, nprobe: 7 });
      while (!s.done) await s.step(1);
      expect(fresh.cacheStats().resident).toBeGreaterThan(2);
      expectIdentical(await s.read(), want);
    }),
    { maxShardBytes: 16384 },
  );
});
