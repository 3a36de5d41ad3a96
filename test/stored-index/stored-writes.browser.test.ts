// The stored index's storage promises under races with "another tab" (a second store connection
// and index in this page): every change is one transaction, a write based on a stale view never
// erases another commit, a rejected call changes nothing, and an open index follows another
// tab's rebuild or replacing import. Races are placed exactly with a store whose calls run a
// hook first — the WeftStore interface is public, so this is what a wrapped store would see.
import { describe, expect } from 'vitest';
import { gaussianMixture, NO_ID, type GpuContext } from '../../src/weft.js';
import { openStore } from '../../src/storage/idb-store.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { createStoredIndex, openStoredIndex, type StoredIndex } from '../../src/stored-index/stored-index.js';
import { exportIndex, importIndex } from '../../src/storage/portable.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';
import { indexCleanup } from '../support/store-fixtures.js';

const dim = 16,
  nlist = 8,
  n = 800;
let dbName = '';
const { toClose, body } = indexCleanup(() => dbName);

/** A store whose `method` runs `hook` once, before (or after) the real call. */
function hooked<K extends 'readWholeIndex' | 'writeWholeIndex'>(store: WeftStore, method: K, hook: () => Promise<void>, when: 'before' | 'after'): WeftStore {
  let fired = false;
  const real = store[method] as (...a: unknown[]) => Promise<unknown>;
  const wrapped = async (...args: unknown[]) => {
    if (!fired && when === 'before') {
      fired = true;
      await hook();
    }
    const r = await real(...args);
    if (!fired && when === 'after') {
      fired = true;
      await hook();
    }
    return r;
  };
  return { ...store, [method]: wrapped } as WeftStore;
}

async function twoTabs(ctx: GpuContext, opts: { rebuildImbalance?: number } = {}) {
  const seed = freshSeed();
  dbName = `weft-writes-${crypto.randomUUID()}`;
  const data = gaussianMixture(n, dim, { centers: 12, seed });
  const storeA = await openStore({ dbName });
  const storeB = await openStore({ dbName });
  toClose.push(storeA, storeB);
  const a = await createStoredIndex(data, {
    splitLists: 'oversized',
    gpu: ctx,
    store: storeA,
    name: 'docs',
    dim,
    nlist,
    storage: 'f32',
    metric: 'l2',
    seed,
    rebuildImbalance: Infinity,
  });
  toClose.push(a);
  await a.add(data, { chunks: Array.from({ length: n }, (_, i) => ({ docId: `doc-${i % 10}`, text: `passage ${i}` })) });
  const b = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store: storeB, name: 'docs', preload: false, rebuildImbalance: Infinity });
  toClose.push(b);
  return { seed, data, storeA, storeB, a, b, ...opts };
}

/**
 * Vectors far from everything: they all land in one list, so the lists' imbalance factor is well
 * above 2 (about 3.5 with n = 800 over 8 lists), whatever the random data.
 */
const BLOB = 1200;
const farBlob = (seed: number) => gaussianMixture(BLOB, dim, { centers: 1, seed: seed + 5 }).map((x) => x - 40);

/** How many of `rows` find themselves as their nearest neighbour probing one list. */
async function selfHits(index: StoredIndex, rows: Float32Array, ids: ArrayLike<number>): Promise<number> {
  const r = await index.search(rows, { k: 1, nprobe: 1 });
  return Array.from(r.ids).filter((id, i) => id === ids[i]).length;
}

/** Every live id in the stored lists, checking none appears twice. */
async function liveIds(store: WeftStore): Promise<number[]> {
  const whole = await store.readWholeIndex('docs');
  const ids = whole.lists.flatMap((l) => Array.from(l.ids).filter((id) => id !== NO_ID));
  expect(new Set(ids).size, 'an id stored twice').toBe(ids.length);
  return ids;
}

describe('stored writes and coherence across tabs', () => {
  gpuTest(
    "another tab's rebuild or replacing import: this tab searches and adds with the new centroids",
    body(async (ctx) => {
      const { seed, data, storeB, a, b } = await twoTabs(ctx);
      const probe = data.subarray(0, 20 * dim);
      const probeIds = Array.from({ length: 20 }, (_, i) => i);
      expect(await selfHits(a, probe, probeIds)).toBe(20);
      await b.rebuild({ seed: seed + 7 }); // other centroids: every vector may move to another list
      expect(await selfHits(a, probe, probeIds)).toBe(20);
      // Vectors this tab adds now go to the lists the new centroids say.
      const more = gaussianMixture(20, dim, { centers: 12, seed: seed + 3 });
      const added = await a.add(more);
      const fresh = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store: storeB, name: 'docs', preload: false });
      toClose.push(fresh);
      expect(await selfHits(fresh, more, added)).toBe(20);

      // An import that replaces the index (same vectors, trained with another seed).
      const other = await createStoredIndex(data, {
        splitLists: 'oversized',
        gpu: ctx,
        store: storeB,
        name: 'other',
        dim,
        nlist,
        storage: 'f32',
        metric: 'l2',
        seed: seed + 11,
      });
      toClose.push(other);
      await other.add(data);
      await importIndex(storeB, await exportIndex(storeB, 'other'), { name: 'docs', replace: true });
      expect(await selfHits(a, probe, probeIds)).toBe(20);
    }),
  );

  gpuTest(
    'an add whose automatic rebuild is aborted has still landed, and says so by resolving',
    body(async (ctx) => {
      const { seed, storeA, a } = await twoTabs(ctx);
      const abort = new AbortController();
      const store = hooked(storeA, 'readWholeIndex', async () => abort.abort(), 'before');
      const idx = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false, rebuildImbalance: 2 });
      toClose.push(idx);
      const ids = await idx.add(farBlob(seed), { signal: abort.signal });
      expect(abort.signal.aborted, 'the add started its rebuild').toBe(true);
      expect(ids.length).toBe(BLOB);
      expect((await storeA.manifest('docs')).count).toBe(n + BLOB);
      expect((await liveIds(storeA)).length).toBe(n + BLOB);
      void a;
    }),
  );

  gpuTest(
    'an add whose automatic rebuild loses a race to another tab lands once; the rebuild keeps both',
    body(async (ctx) => {
      const { seed, storeA, b } = await twoTabs(ctx);
      const fromB = gaussianMixture(30, dim, { centers: 12, seed: seed + 9 });
      let bIds: Uint32Array | undefined;
      let bError: unknown;
      const store = hooked(
        storeA,
        'readWholeIndex',
        async () => {
          try {
            bIds = await b.add(fromB);
          } catch (e) {
            bError = e;
            throw e;
          }
        },
        'after',
      );
      const idx = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false, rebuildImbalance: 2 });
      toClose.push(idx);
      const ids = await idx.add(farBlob(seed));
      expect(bIds, 'the add started its rebuild (and the other tab added meanwhile)').toBeDefined();
      expect(bError, "the other tab's add").toBeUndefined();
      expect(ids.length).toBe(BLOB);
      const live = await liveIds(storeA);
      expect(live.length).toBe(n + BLOB + 30);
      for (const id of [...ids, ...bIds!]) expect(live).toContain(id);
      expect((await storeA.manifest('docs')).count).toBe(n + BLOB + 30);
    }),
  );

  gpuTest(
    "rebuild() never erases another tab's commit made while it trained, nor reuses its ids",
    body(async (ctx) => {
      const { seed, storeA, b } = await twoTabs(ctx);
      const fromB = gaussianMixture(30, dim, { centers: 12, seed: seed + 9 });
      let bIds: Uint32Array | undefined;
      const store = hooked(
        storeA,
        'writeWholeIndex',
        async () => {
          bIds = await b.add(fromB, { chunks: Array.from({ length: 30 }, () => ({ docId: 'b', text: 'from b' })) });
        },
        'before',
      );
      const idx = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false });
      toClose.push(idx);
      await idx.rebuild({ seed: seed + 1 });
      const live = await liveIds(storeA);
      expect(live.length).toBe(n + 30);
      for (const id of bIds!) expect(live).toContain(id);
      const m = await storeA.manifest('docs');
      expect(m.nextId).toBeGreaterThan(Math.max(...bIds!));
      const next = await idx.add(gaussianMixture(5, dim, { centers: 12, seed: seed + 2 }));
      for (const id of next) expect(Array.from(bIds!)).not.toContain(id);
      expect((await storeA.readChunks('docs', Array.from(bIds!))).every((c) => c?.docId === 'b')).toBe(true);
    }),
  );

  gpuTest(
    'ids that are not ids are refused with INVALID_ID and change nothing',
    body(async (ctx) => {
      const { storeA, a } = await twoTabs(ctx);
      const before = await storeA.manifest('docs');
      for (const bad of [[NaN], [-1], ['abc'], [1.5], [2 ** 32]] as unknown as number[][]) {
        await expect(a.delete(bad), JSON.stringify(bad)).rejects.toMatchObject({ code: 'INVALID_ID' });
        await expect(a.chunks(bad), JSON.stringify(bad)).rejects.toMatchObject({ code: 'INVALID_ID' });
      }
      const after = await storeA.manifest('docs');
      expect(after.generation).toBe(before.generation);
      expect(after.count).toBe(n);
      expect(await a.delete([n + 5])).toBe(0); // a well-formed id that is not there: nothing to delete
    }),
  );
});
