// Filters inside the search: a declarative filter becomes an allow-list that the GPU scan, the
// CPU scoring of uncached lists and sliced sessions honour, so a filter matching ~1% of the
// chunks still returns exactly k passages, equal to a CPU brute-force search over the matching
// vectors (decoded as the GPU scores them). Also: widening past nprobe, ranges and sets, a filter
// matching nothing, deletes, another tab's add, and the in-memory indexes' allow bitmap.
import { describe, expect } from 'vitest';
import {
  createFlatIndex,
  createIvfIndex,
  gaussianMixture,
  NO_ID,
  referenceSearch,
  type GpuContext,
  type ReferenceList,
  type SearchResult,
} from '../../src/weft.js';
import { decodeRows, deinterleave, layoutFor } from '../../src/ivf/codec.js';
import type { StorageType } from '../../src/ivf/types.js';
import { openStore } from '../../src/storage/idb-store.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { createStoredIndex, openStoredIndex } from '../../src/stored-index/stored-index.js';
import type { PassageFilter } from '../../src/stored-index/passage-filter.js';
import { expectSameTopK, freshSeed, gpuTest } from '../support/gpu-harness.js';
import { indexCleanup } from '../support/store-fixtures.js';

const dim = 16,
  nlist = 16,
  n = 4000,
  k = 10;
let dbName = '';
const { toClose, body } = indexCleanup(() => dbName);

interface Meta {
  bucket: number;
  year: number;
  date: string;
  lang: string;
  tags: string[];
}

/** Chunk i's metadata: bucket i % 100 (so one bucket is 1% of the chunks), a year, an ISO date, a language, tags. */
function meta(i: number): Meta {
  const day = String(1 + (i % 28)).padStart(2, '0');
  return {
    bucket: i % 100,
    year: 2000 + (i % 25),
    date: `20${String(10 + (i % 15))}-0${1 + (i % 9)}-${day}`,
    lang: ['en', 'de', 'fr', 'it', 'es'][i % 5]!,
    tags: i % 7 === 0 ? ['faq', 'howto'] : ['note'],
  };
}

/** The stored vectors decoded as the GPU scores them, per list, from the store itself. */
async function decodedLists(store: WeftStore, name: string): Promise<(ReferenceList & { list: number })[]> {
  const m = await store.manifest(name);
  const layout = layoutFor(m.dim, m.storage as StorageType);
  const c = await store.readCentroids(name);
  const sq = c.vmin && c.scale ? { vmin: c.vmin, scale: c.scale } : undefined;
  const records = await store.readLists(
    name,
    Array.from({ length: m.nlist }, (_, l) => l),
  );
  return records.map((r) => ({ list: r.list, ids: r.ids.slice(), vectors: decodeRows(deinterleave(r.codes, r.count, layout.units), layout, sq) }));
}

/** The lists restricted to the vectors `keep` allows (tombstones dropped). */
function only(lists: readonly ReferenceList[], keep: (id: number) => boolean): ReferenceList[] {
  return lists.map((l) => {
    const rows = [...l.ids.keys()].filter((i) => l.ids[i] !== NO_ID && keep(l.ids[i]!));
    const vectors = new Float32Array(rows.length * dim);
    rows.forEach((row, j) => vectors.set(l.vectors.subarray(row * dim, (row + 1) * dim), j * dim));
    return { ids: Uint32Array.from(rows, (row) => l.ids[row]!), vectors };
  });
}

function expectIdentical(a: SearchResult, b: SearchResult) {
  expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
  expect(Array.from(a.distances)).toEqual(Array.from(b.distances));
}

/** Rows of a result that hold k real ids each. */
function expectFull(r: SearchResult) {
  for (let q = 0; q < r.numQueries; q++) expect(r.ids.subarray(q * r.k, (q + 1) * r.k).includes(NO_ID), `query ${q} has empty slots`).toBe(false);
}

async function setup(ctx: GpuContext, storage: 'f32' | 'f16' | 'int8', metric: 'l2' | 'ip') {
  const seed = freshSeed();
  dbName = `weft-filter-${crypto.randomUUID()}`;
  const data = gaussianMixture(n, dim, { centers: 24, seed });
  const queries = gaussianMixture(12, dim, { centers: 24, seed: seed + 1 });
  const store = await openStore({ dbName });
  toClose.push(store);
  const stored = await createStoredIndex(data, { splitLists: 'oversized', gpu: ctx, store, name: 'docs', dim, nlist, storage, metric, seed });
  toClose.push(stored);
  await stored.add(data, { chunks: Array.from({ length: n }, (_, i) => ({ docId: `doc-${i % 40}`, text: `passage ${i}`, metadata: { ...meta(i) } })) });
  return { data, queries, store, stored, seed };
}

describe('filters inside the stored index search', () => {
  for (const [storage, metric] of [
    ['f32', 'l2'],
    ['f32', 'ip'],
    ['f16', 'l2'],
    ['f16', 'ip'],
    ['int8', 'l2'],
    ['int8', 'ip'],
  ] as const) {
    gpuTest(
      `a filter matching 1% of the chunks gives exactly k matching results, the CPU reference's, one-shot, sliced and CPU-scored (${storage}, ${metric})`,
      body(async (ctx) => {
        const { queries, store, stored } = await setup(ctx, storage, metric);
        const filter: PassageFilter = { metadata: { bucket: 37 } };
        const matching = (id: number) => meta(id).bucket === 37; // ids are 0..n-1 in order
        const lists = await decodedLists(store, 'docs');
        const want = referenceSearch(only(lists, matching), queries, dim, metric, k);
        expectFull(want);

        const got = await stored.search(queries, { k, nprobe: nlist, filter });
        expectFull(got);
        expect(Array.from(got.ids).every(matching)).toBe(true);
        if (storage === 'f32') expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
        else expectSameTopK(got, want, only(lists, matching), queries, dim, metric, storage === 'f16' ? 1e-3 : 1e-2);
        // The allow-list the lead filters other results with says the same.
        const allow = (await stored.allowList(filter))!;
        expect(allow.count).toBe(n / 100);
        expect(Array.from({ length: n }, (_, id) => allow.has(id))).toEqual(Array.from({ length: n }, (_, id) => matching(id)));

        // Sliced, on an index whose cache starts empty or is smaller than one list.
        for (const cacheBytes of [undefined, 1024]) {
          const fresh = await openStoredIndex({
            splitLists: 'oversized',
            gpu: ctx,
            store,
            name: 'docs',
            preload: false,
            ...(cacheBytes ? { cacheBytes } : {}),
          });
          toClose.push(fresh);
          const s = await fresh.searchSession(queries, { k, nprobe: nlist, filter });
          for (const width of [1, 3, 2, 5, 16]) if (!s.done) await s.step(width);
          expect(s.done).toBe(true);
          expectIdentical(await s.read(), got);
        }
        // Uncached lists scored on the CPU meanwhile (a few lists warm, the rest missing).
        const cold = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', preload: false });
        toClose.push(cold);
        await cold.search(queries.subarray(0, dim), { k: 3, nprobe: 2 });
        expectIdentical(await cold.search(queries, { k, nprobe: nlist, filter, missing: 'cpu' }), got);

        // nprobe below nlist: each query probes on past nprobe until its lists hold k matching
        // chunks; the result is the k best matching vectors of the lists it probed.
        const probed: number[][] = [];
        const narrow = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store, name: 'docs', onProbe: (l) => probed.push(l) });
        toClose.push(narrow);
        for (const missing of ['stream', 'cpu'] as const) {
          probed.length = 0;
          const r = await narrow.search(queries, { k, nprobe: 1, filter, missing });
          expectFull(r);
          expect(Array.from(r.ids).every(matching)).toBe(true);
          expect(probed.length).toBe(queries.length / dim);
          expect(Math.max(...probed.map((p) => p.length))).toBeGreaterThan(1); // 1 list of 16 holds ~2.5 of the 40
          for (let q = 0; q < probed.length; q++) {
            const inLists = lists.filter((l) => probed[q]!.includes(l.list));
            const ref = referenceSearch(only(inLists, matching), queries.subarray(q * dim, (q + 1) * dim), dim, metric, k);
            const row: SearchResult = { ids: r.ids.slice(q * k, (q + 1) * k), distances: r.distances.slice(q * k, (q + 1) * k), numQueries: 1, k };
            if (storage === 'f32') expect(Array.from(row.ids)).toEqual(Array.from(ref.ids));
            else expectSameTopK(row, ref, only(inLists, matching), queries.subarray(q * dim, (q + 1) * dim), dim, metric, storage === 'f16' ? 1e-3 : 1e-2);
          }
        }
        const s = await narrow.searchSession(queries, { k, nprobe: 1, filter });
        expect(s.nprobe).toBeGreaterThan(1);
        while (!s.done) await s.step(1);
        const sliced = await s.read();
        expectFull(sliced);
        expectIdentical(sliced, await narrow.search(queries, { k, nprobe: 1, filter }));
      }),
      { timeout: 240_000 },
    );
  }

  gpuTest(
    'ranges, sets and documents; a filter matching nothing gives empty rows; malformed filters are INVALID_OPTION',
    body(async (ctx) => {
      const { queries, store, stored } = await setup(ctx, 'f16', 'l2');
      const lists = await decodedLists(store, 'docs');
      const cases: [PassageFilter, (m: Meta, id: number) => boolean][] = [
        [{ metadata: { year: { gte: 2003, lt: 2005 }, lang: ['de', 'it'] } }, (m) => m.year >= 2003 && m.year < 2005 && (m.lang === 'de' || m.lang === 'it')],
        [{ metadata: { date: { gt: '2013-03-00', lte: '2013-05-31' } } }, (m) => m.date > '2013-03-00' && m.date <= '2013-05-31'],
        [{ docId: ['doc-3', 'doc-9'], metadata: { tags: 'faq' } }, (m, id) => (id % 40 === 3 || id % 40 === 9) && m.tags.includes('faq')],
        [{ metadata: { bucket: [5, 6], year: { lte: 2010 } } }, (m) => (m.bucket === 5 || m.bucket === 6) && m.year <= 2010],
      ];
      for (const [filter, keep] of cases) {
        const matching = (id: number) => keep(meta(id), id);
        const count = Array.from({ length: n }, (_, id) => id).filter(matching).length;
        expect(count, JSON.stringify(filter)).toBeGreaterThanOrEqual(k);
        expect(count).toBeLessThan(n / 10);
        const got = await stored.search(queries, { k, nprobe: 4, filter });
        expectFull(got);
        expect(Array.from(got.ids).every(matching), JSON.stringify(filter)).toBe(true);
        const exact = await stored.search(queries, { k, nprobe: nlist, filter });
        expectSameTopK(exact, referenceSearch(only(lists, matching), queries, dim, 'l2', k), only(lists, matching), queries, dim, 'l2', 1e-3);
        expect((await stored.allowList(filter))!.count).toBe(count);
      }
      // Fewer matching chunks than k: all of them, then empty slots.
      const few = await stored.search(queries, { k, nprobe: 2, filter: { metadata: { bucket: 3, lang: 'fr' } } });
      const fewIds = Array.from({ length: n }, (_, id) => id).filter((id) => meta(id).bucket === 3 && meta(id).lang === 'fr');
      expect(fewIds.length).toBeLessThan(k);
      for (let q = 0; q < few.numQueries; q++) {
        const row = Array.from(few.ids.subarray(q * k, (q + 1) * k));
        expect(row.filter((id) => id !== NO_ID).sort((a, b) => a - b)).toEqual(fewIds);
      }
      // Nothing matches: empty rows, no error; the session too.
      const none = await stored.search(queries, { k, nprobe: 3, filter: { metadata: { lang: 'la' } } });
      expect(Array.from(none.ids).every((id) => id === NO_ID)).toBe(true);
      expect(Array.from(none.distances).every((d) => d === Infinity)).toBe(true);
      const noneSession = await stored.searchSession(queries, { k, nprobe: 3, filter: { docId: [] } });
      while (!noneSession.done) await noneSession.step();
      expect(Array.from((await noneSession.read()).ids).every((id) => id === NO_ID)).toBe(true);
      expect((await stored.allowList({ metadata: { lang: 'la' } }))!.count).toBe(0);
      // No conditions: no allow-list, the unfiltered search.
      expect(await stored.allowList({})).toBeUndefined();
      expect(await stored.allowList(undefined)).toBeUndefined();
      expectIdentical(await stored.search(queries, { k, nprobe: 4, filter: {} }), await stored.search(queries, { k, nprobe: 4 }));
      for (const bad of [{ metadata: { year: { between: [1, 2] } } }, { lang: 'en' }, () => true, { metadata: { year: { gt: 1, lt: 'z' } } }]) {
        await expect(stored.search(queries, { k, filter: bad as never })).rejects.toMatchObject({
          code: 'INVALID_OPTION',
          message: expect.stringContaining('A filter looks like'),
        });
        await expect(stored.searchSession(queries, { k, filter: bad as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      }
    }),
    { timeout: 240_000 },
  );

  gpuTest(
    'after deletes and after another tab adds chunks the allow-lists follow the index',
    body(async (ctx) => {
      const { queries, store, stored, seed } = await setup(ctx, 'f32', 'l2');
      const filter: PassageFilter = { metadata: { bucket: 11 } };
      const before = await stored.search(queries, { k, nprobe: nlist, filter });
      expectFull(before);
      // Delete half of the matching chunks, some of them in the results.
      const gone = Array.from({ length: n }, (_, id) => id).filter((id) => meta(id).bucket === 11 && id % 200 === 11);
      expect(gone.length).toBe(20);
      await stored.delete(gone);
      const afterDelete = await stored.search(queries, { k, nprobe: nlist, filter });
      expectFull(afterDelete);
      expect(Array.from(afterDelete.ids).some((id) => gone.includes(id))).toBe(false);
      expect(Array.from(before.ids).some((id) => gone.includes(id))).toBe(true); // the delete mattered
      const left = (id: number) => meta(id).bucket === 11 && !gone.includes(id);
      const lists = await decodedLists(store, 'docs');
      expect(Array.from(afterDelete.ids)).toEqual(Array.from(referenceSearch(only(lists, left), queries, dim, 'l2', k).ids));
      expect((await stored.allowList(filter))!.count).toBe(20);

      // Another tab (its own connection and index) adds chunks that match, close to the queries.
      const otherStore = await openStore({ dbName });
      toClose.push(otherStore);
      const other = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store: otherStore, name: 'docs' });
      toClose.push(other);
      const near = queries.map((x, i) => x + 1e-3 * ((i % 3) - 1));
      const added = await other.add(near, {
        chunks: Array.from({ length: queries.length / dim }, (_, i) => ({ docId: 'other-tab', text: `near ${i}`, metadata: { bucket: 11, year: 1999 } })),
      });
      const afterAdd = await stored.search(queries, { k, nprobe: nlist, filter });
      expectFull(afterAdd);
      for (let q = 0; q < queries.length / dim; q++) expect(afterAdd.ids[q * k]).toBe(added[q]); // each query's own near copy comes first
      expect((await stored.allowList(filter))!.count).toBe(20 + added.length);
      expect((await stored.allowList({ docId: 'other-tab' }))!.count).toBe(added.length);
      // A session opened before another tab's commit ends with CONFLICT, as unfiltered ones do.
      const s = await stored.searchSession(queries, { k, nprobe: nlist, filter });
      await s.step(1);
      await other.add(gaussianMixture(2, dim, { seed: seed + 9 }), { chunks: [{ docId: 'x' }, { docId: 'y' }] });
      await expect(s.step(1)).rejects.toMatchObject({ code: 'CONFLICT' });
      s.destroy();
    }),
    { timeout: 240_000 },
  );
});

describe('the in-memory indexes take an allow bitmap', () => {
  gpuTest('IVF and flat searches with an allow bitmap give the k best allowed vectors', async (ctx) => {
    const seed = freshSeed();
    const data = gaussianMixture(2000, dim, { centers: 20, seed });
    const queries = gaussianMixture(9, dim, { centers: 20, seed: seed + 1 });
    const ivf = await createIvfIndex({ gpu: ctx, dim, nlist: 8, seed });
    const flat = await createFlatIndex({ gpu: ctx, dim });
    try {
      await ivf.train(data);
      await ivf.add(data);
      await flat.add(data);
      const allowed = (id: number) => id % 97 === 5 || id === 1999;
      const bits = new Uint32Array(Math.ceil(2000 / 32));
      for (let id = 0; id < 2000; id++) if (allowed(id)) bits[id >>> 5]! |= 1 << (id & 31);
      const want = referenceSearch(only(ivf.lists(), allowed), queries, dim, 'l2', k);
      expectFull(want);
      expect(Array.from((await ivf.search(queries, { k, nprobe: 8, allow: bits })).ids)).toEqual(Array.from(want.ids));
      expect(Array.from((await flat.search(queries, { k, allow: bits })).ids)).toEqual(Array.from(want.ids));
      // A bitmap shorter than the ids allows none past its end.
      const short = await flat.search(queries, { k, allow: bits.slice(0, 1) });
      expect(
        Array.from(short.ids)
          .filter((id) => id !== NO_ID)
          .every((id) => id < 32 && allowed(id)),
      ).toBe(true);
      await expect(flat.search(queries, { k, allow: [1, 2] as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    } finally {
      ivf.destroy();
      flat.destroy();
    }
  });
});
