// Passage filters are plain data (they cross the engine worker): what they keep (equality, sets,
// ranges over numbers and strings, documents), the malformed ones they refuse, and the
// allow-list a stored index builds from them (one bit per kept id, counts per IVF list), and the
// file store's chunk catalog they are built from (IndexedDB's: test/stored-index/filter.browser.test.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { openFileStore } from '../../src/storage/file-store.js';
import { nodeFileSystem } from '../../src/storage/fs-node.js';
import { storeInit } from '../support/store-behaviour.js';
import { compileFilter } from '../../src/runtime/filter.js';
import { buildAllowList, createAllowLists, type ChunkCatalog } from '../../src/stored-index/allow-list.js';
import type { PassageFilter } from '../../src/runtime/types.js';

test('a filter keeps the passages whose document and metadata match; arrays mean any of; array fields match by membership', () => {
  expect(compileFilter(undefined)).toBeUndefined();
  const keep = compileFilter({ docId: ['a.md', 'b.md'], metadata: { lang: 'en', year: [2023, 2024], tags: 'faq' } })!;
  const meta = { lang: 'en', year: 2024, tags: ['faq', 'billing'] };
  expect(keep(meta, 'a.md')).toBe(true);
  expect(keep(meta, 'c.md')).toBe(false);
  expect(keep({ ...meta, year: 2022 }, 'b.md')).toBe(false);
  expect(keep({ ...meta, lang: 'de' }, 'b.md')).toBe(false);
  expect(keep({ ...meta, tags: ['billing'] }, 'b.md')).toBe(false);
  expect(keep({ lang: 'en', year: 2023 }, 'b.md')).toBe(false); // a missing field does not match
  expect(compileFilter({ docId: 'x' })!({}, 'x')).toBe(true);
  expect(compileFilter({ metadata: { draft: null } })!({ draft: null }, 'x')).toBe(true);
  expect(compileFilter({ metadata: { draft: null } })!({}, 'x')).toBe(false);
  expect(compileFilter({ metadata: { toString: 'x' } })!({}, 'x')).toBe(false); // inherited properties are not fields
  expect(compileFilter({})!({ any: 1 }, 'y')).toBe(true);
  expect(compileFilter({})!.all).toBe(true);
  expect(compileFilter({ metadata: {} })!.all).toBe(true);
  expect(compileFilter({ docId: [] })!.all).toBe(false);
  expect(compileFilter({ docId: [] })!({}, 'x')).toBe(false); // an empty set keeps nothing
  expect(compileFilter({ metadata: { lang: 'en' } })!.filter).toEqual({ metadata: { lang: 'en' } }); // the plain form travels with it
});

test('ranges compare numbers with numbers and strings with strings (ISO dates in order); every bound must hold', () => {
  const years = compileFilter({ metadata: { year: { gte: 2020, lt: 2024 } } })!;
  expect([2019, 2020, 2023.5, 2024, 2030].map((year) => years({ year }, 'd'))).toEqual([false, true, true, false, false]);
  expect(years({ year: '2021' }, 'd')).toBe(false); // a string is not in a number range
  expect(years({ year: Number.NaN }, 'd')).toBe(false);
  expect(years({ year: [1990, 2022] }, 'd')).toBe(true); // an array field matches when one element is in range
  expect(years({}, 'd')).toBe(false);
  const open = compileFilter({ metadata: { score: { gt: 0.5 } } })!;
  expect([0.5, 0.51].map((score) => open({ score }, 'd'))).toEqual([false, true]);
  const lte = compileFilter({ metadata: { n: { lte: 3 } } })!;
  expect([3, 4, -1].map((n) => lte({ n }, 'd'))).toEqual([true, false, true]);
  const dates = compileFilter({ metadata: { date: { gte: '2024-01-01', lte: '2024-06-30T23:59:59Z' } } })!;
  expect(['2023-12-31', '2024-01-01', '2024-03-15T10:00:00Z', '2024-07-01'].map((date) => dates({ date }, 'd'))).toEqual([false, true, true, false]);
  expect(dates({ date: 20240301 }, 'd')).toBe(false);
  // Ranges, sets and documents together: every condition must hold.
  const all = compileFilter({ docId: 'a', metadata: { year: { gte: 2020 }, lang: ['en', 'de'] } })!;
  expect(all({ year: 2021, lang: 'de' }, 'a')).toBe(true);
  expect(all({ year: 2021, lang: 'fr' }, 'a')).toBe(false);
  expect(all({ year: 2021, lang: 'de' }, 'b')).toBe(false);
});

test('the key is canonical: the same conditions in another order give the same key, other conditions another', () => {
  const a = compileFilter({ docId: ['b', 'a'], metadata: { year: { lt: 2024, gte: 2020 }, lang: ['en', 'de'] } })!;
  const b = compileFilter({ metadata: { lang: ['de', 'en'], year: { gte: 2020, lt: 2024 } }, docId: ['a', 'b'] })!;
  expect(a.key).toBe(b.key);
  const others: PassageFilter[] = [
    { docId: ['a', 'b'], metadata: { year: { gte: 2020, lte: 2024 }, lang: ['en', 'de'] } },
    { docId: ['a', 'b'], metadata: { year: { gte: 2020, lt: 2024 }, lang: ['en'] } },
    { docId: ['a'], metadata: { year: { gte: 2020, lt: 2024 }, lang: ['en', 'de'] } },
    { metadata: { year: { gte: 2020, lt: 2024 }, lang: ['en', 'de'] } },
    { docId: ['a', 'b'], metadata: { year: { gte: '2020', lt: '2024' }, lang: ['en', 'de'] } },
    { docId: ['a', 'b'], metadata: { year: [2020], lang: ['en', 'de'] } },
  ];
  for (const f of others) expect(compileFilter(f)!.key).not.toBe(a.key);
  expect(compileFilter({ metadata: { n: 1 } })!.key).not.toBe(compileFilter({ metadata: { n: '1' } })!.key);
});

test('functions, unknown fields, non-scalar values and malformed ranges are refused with INVALID_OPTION showing the form', () => {
  const bads: unknown[] = [
    () => true,
    { lang: 'en' },
    { docId: 3 },
    { docId: ['a', 1] },
    { metadata: { a: { b: 1 } } },
    { metadata: 'en' },
    { metadata: ['en'] },
    null,
    'en',
    { metadata: { a: {} } },
    { metadata: { a: { gt: 1, lt: 'z' } } },
    { metadata: { a: { gt: true } } },
    { metadata: { a: { gte: Number.NaN } } },
    { metadata: { a: { gte: null } } },
    { metadata: { a: [{ gte: 1 }] } },
    { metadata: { a: [['x']] } },
    { metadata: { a: undefined } },
  ];
  for (const bad of bads) {
    expect(() => compileFilter(bad as never), JSON.stringify(bad) ?? String(bad)).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('A filter looks like {') }),
    );
  }
});

test('the allow-list sets one bit per kept id and counts the kept chunks per IVF list', () => {
  const catalog: ChunkCatalog = {
    generation: 3,
    chunks: [
      { id: 0, list: 0, docId: 'a', metadata: { year: 2020 } },
      { id: 31, list: 1, docId: 'a', metadata: { year: 2021 } },
      { id: 32, list: 1, docId: 'b', metadata: { year: 2022 } },
      { id: 100, list: 2, docId: 'b' },
      { id: 70, list: 2, docId: 'c', metadata: { year: 2023 } },
    ],
  };
  const a = buildAllowList(catalog, compileFilter({ metadata: { year: { gte: 2021 } } })!, 4);
  expect(a.count).toBe(3);
  expect([0, 31, 32, 70, 100, 101, -1, 1.5, 2 ** 40].map((id) => a.has(id))).toEqual([false, true, true, true, false, false, false, false, false]);
  expect(a.bits.length).toBe(3); // up to id 70: words 0..2
  expect(a.bits[0]).toBe(0x80000000);
  expect(a.bits[1]).toBe(1);
  expect(a.bits[2]).toBe(1 << 6);
  expect(Array.from(a.perList)).toEqual([0, 2, 1, 0]);
  const none = buildAllowList(catalog, compileFilter({ docId: 'nope' })!, 4);
  expect(none.count).toBe(0);
  expect(none.bits.length).toBe(0);
  expect(none.has(0)).toBe(false);
});

test('the file store reads the chunk catalog: every chunk of the index, with its list, document and metadata but not its text, and the generation', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-catalog-'));
  try {
    const s = await openFileStore({ dir, fs: nodeFileSystem() });
    const m0 = await s.createIndex(storeInit('docs'));
    await s.createIndex(storeInit('other'));
    expect(await s.readCatalog('docs')).toEqual({ generation: m0.generation, chunks: [] });
    const chunks = Array.from({ length: 700 }, (_, i) => ({
      id: i * 3,
      list: i % 4,
      docId: `d${i % 3}`,
      text: `text ${i}`,
      ...(i % 2 ? { metadata: { n: i, tags: ['a'] } } : {}),
    }));
    const m1 = await s.commit('docs', m0.generation, { putChunks: chunks });
    await s.commit('other', m0.generation, { putChunks: [{ id: 1, list: 0, docId: 'x', text: 'y' }] });
    const c1 = await s.readCatalog('docs');
    expect(c1.generation).toBe(m1.generation);
    expect(c1.chunks).toEqual(chunks.map(({ text: _, ...rest }) => rest));
    const m2 = await s.commit('docs', m1.generation, { deleteChunks: [0, 3, 1500] });
    const c2 = await s.readCatalog('docs');
    expect(c2.generation).toBe(m2.generation);
    expect(c2.chunks.map((c) => c.id)).toEqual(chunks.map((c) => c.id).filter((id) => id !== 0 && id !== 3 && id !== 1500));
    await expect(s.readCatalog('missing')).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
    s.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("this tab's commits update the catalog in place; another generation reads it again", async () => {
  let reads = 0;
  const stored = {
    generation: 3,
    chunks: [
      { id: 0, list: 0, docId: 'a', metadata: { lang: 'en' } },
      { id: 1, list: 1, docId: 'b', metadata: { lang: 'de' } },
    ],
  };
  const lists = createAllowLists(
    async () => {
      reads++;
      return structuredClone(stored);
    },
    () => 2,
  );
  const en = compileFilter({ metadata: { lang: 'en' } })!;
  expect((await lists.get(en, 3)).count).toBe(1);
  expect(reads).toBe(1);
  // An add (id 2, English) and a delete (id 0) committed here: no read, and the bitmap follows.
  lists.committed(3, 4, { putChunks: [{ id: 2, list: 1, docId: 'c', metadata: { lang: 'en' } }], deleteChunks: [0] });
  const after = await lists.get(en, 4);
  expect(reads).toBe(1);
  expect([after.has(0), after.has(2), after.count]).toEqual([false, true, 1]);
  expect(Array.from(after.perList)).toEqual([0, 1]);
  // A re-ingest replacing a chunk's metadata in place.
  lists.committed(4, 5, { putChunks: [{ id: 2, list: 1, docId: 'c', metadata: { lang: 'de' } }] });
  expect((await lists.get(en, 5)).count).toBe(0);
  // A commit on a generation the catalog is not at (another tab's came first) leaves it stale: read again.
  lists.committed(7, 8, { deleteChunks: [1] });
  await lists.get(en, 8);
  expect(reads).toBe(2);
});
