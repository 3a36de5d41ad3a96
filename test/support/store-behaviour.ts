// What every WeftStore backend promises, as one spec run against each: IndexedDB in the browser
// tier (test/storage/store.browser.test.ts, store-integrity.browser.test.ts) and the file store in the unit tier
// (test/storage/store-file.test.ts). Named indexes, one atomic commit per change with a generation
// check, aborts, checksums on every record (the backend damages its own records through `tamper`,
// as a disk fault or a buggy writer would), INVALID_ID, and whole-index writes. The lexical index
// (term buckets) follows every commit that changes chunks, with the same atomicity
// (storeLexicalBehaviour; lexicalAgreement checks postings against the live chunks).
import { describe, expect, test } from 'vitest';
import { NO_ID } from '../../src/ivf/types.js';
import { loadAnalyzer } from '../../src/lexical/analyzer.js';
import { bucketOf } from '../../src/lexical/postings.js';
import type { ChunkRecord, ListRecord, WeftStore } from '../../src/storage/contract.js';
import { lexicalSearch } from '../../src/stored-index/lexical-search.js';
import { exportIndex, importIndex } from '../../src/storage/portable.js';
import { buildIndex, withVector } from './store-fixtures.js';

export interface StoreBackend {
  /** Names the describe blocks ('IndexedDB store', 'file store'). */
  label: string;
  /** A store on a new, empty location (closed and removed after the test). */
  fresh(): Promise<WeftStore>;
  /** Damages the stored records of the location `fresh()` made last, behind the store's back. */
  tamper: {
    /** Edits the bytes of a list record's codes in place. */
    listCodes(index: string, list: number, edit: (codes: Uint8Array) => void): Promise<void>;
    chunk(index: string, id: number, edit: (record: Record<string, unknown>) => void): Promise<void>;
    manifest(index: string, edit: (record: Record<string, unknown>) => void): Promise<void>;
    /** The stored manifest record as it is (with its checksum field). */
    rawManifest(index: string): Promise<Record<string, unknown>>;
    /** Edits the bytes of a term bucket's postings in place (storeLexicalBehaviour). */
    terms?(index: string, bucket: number, edit: (bytes: Uint8Array) => void): Promise<void>;
  };
  /** Another connection to the location `fresh()` made last (another tab, another process). */
  another?(): Promise<WeftStore>;
}

export interface AgreementOptions {
  /** More words to look up (e.g. the texts of deleted chunks: they must find nothing of theirs). */
  alsoWords?: readonly string[];
  /** Keyword search to check; default the store-level lexicalSearch (a StoredIndex passes its own). */
  search?: (query: string, k: number) => Promise<{ ids: Uint32Array }>;
  /** Chunks committed without vectors (store-level tests): skip the chunk/vector check. */
  chunksOnly?: boolean;
}

/**
 * The lexical index of `name` agrees with its chunks, and its chunks with its vectors: the live
 * ids in the lists are the chunk ids; for every word of every stored chunk (and of `alsoWords`),
 * keyword search finds exactly the live chunks holding one of its terms; the lexical totals are
 * those of the live chunks.
 */
export async function lexicalAgreement(store: WeftStore, name: string, o: AgreementOptions = {}): Promise<void> {
  const whole = await store.readWholeIndex(name);
  const live = whole.lists.flatMap((l) => Array.from(l.ids).filter((id) => id !== NO_ID)).sort((a, b) => a - b);
  if (!o.chunksOnly)
    expect(
      whole.chunks.map((c) => c.id).sort((a, b) => a - b),
      'chunk ids = live vector ids',
    ).toEqual(live);
  const alsoWords = o.alsoWords ?? [],
    search = o.search;
  const lex = whole.manifest.lexical!;
  const analyzer = await loadAnalyzer(lex.language);
  const termsOf = new Map(whole.chunks.map((c) => [c.id, new Set(analyzer.terms(c.text))]));
  const withTerms = whole.chunks.filter((c) => termsOf.get(c.id)!.size > 0);
  expect({ chunks: lex.chunks, tokens: lex.tokens }, 'lexical totals').toEqual({
    chunks: withTerms.length,
    tokens: withTerms.reduce((a, c) => a + analyzer.terms(c.text).length, 0),
  });
  const words = new Set([...whole.chunks.flatMap((c) => c.text.split(/\s+/)), ...alsoWords.flatMap((t) => t.split(/\s+/))].filter((w) => w !== ''));
  const find = search ?? ((q: string, k: number) => lexicalSearch(store, name, whole.manifest, q, { k }));
  for (const w of words) {
    const terms = analyzer.terms(w);
    if (terms.length === 0) continue;
    const want = whole.chunks
      .filter((c) => terms.some((t) => termsOf.get(c.id)!.has(t)))
      .map((c) => c.id)
      .sort((a, b) => a - b);
    const got = Array.from((await find(w, 1_000_000)).ids).sort((a, b) => a - b);
    expect(got, `chunks found for '${w}'`).toEqual(want);
  }
}

function randomWords(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i += 16384) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 16384)));
  return out;
}

export function randomList(list: number, count: number, words = 8): ListRecord {
  const ids = randomWords(count).map((x) => x >>> 1);
  const codes = randomWords(Math.ceil(count / 32) * 32 * words);
  return { list, count, ids, codes };
}

const centroids = () => ({ centroids: Float32Array.from({ length: 4 * 8 }, () => Math.random() - 0.5) });
export const storeInit = (name: string) => ({ name, dim: 8, metric: 'l2' as const, storage: 'f32' as const, nlist: 4, modelId: 'test-model', ...centroids() });
const flatInit = (name: string) => ({ name, dim: 8, metric: 'l2' as const, storage: 'f32' as const, nlist: 4, centroids: new Float32Array(32).fill(0.25) });

/** Named indexes, commits, aborts, damaged lists, access statistics. */
export function storeBehaviour(backend: StoreBackend): void {
  const init = storeInit;
  describe(backend.label, () => {
    test('named indexes: create, list, manifest, delete; duplicate and unknown names', async () => {
      const s = await backend.fresh();
      const a = await s.createIndex(init('a'));
      await s.createIndex(init('b'));
      expect(a).toMatchObject({ name: 'a', dim: 8, metric: 'l2', storage: 'f32', nlist: 4, modelId: 'test-model', count: 0, generation: 1 });
      expect((await s.listIndexes()).map((m) => m.name).sort()).toEqual(['a', 'b']);
      await expect(s.createIndex(init('a'))).rejects.toMatchObject({ code: 'INDEX_EXISTS' });
      await expect(s.manifest('nope')).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
      await expect(s.readLists('nope', [0])).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
      await s.deleteIndex('a');
      expect((await s.listIndexes()).map((m) => m.name)).toEqual(['b']);
      await expect(s.readLists('a', [0])).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
      await expect(s.deleteIndex('a')).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
      // 'b' is untouched by a's deletion.
      expect((await s.readLists('b', [0, 1, 2, 3])).map((l) => l.count)).toEqual([0, 0, 0, 0]);
    });

    test('a commit writes lists, chunks and counts in one step; a stale generation is refused', async () => {
      const s = await backend.fresh();
      const m0 = await s.createIndex(init('idx'));
      const l1 = randomList(1, 70),
        l3 = randomList(3, 5);
      const progress: [number, number][] = [];
      const m1 = await s.commit(
        'idx',
        m0.generation,
        {
          lists: [l1, l3],
          countDelta: 75,
          putChunks: [
            { id: 7, list: 1, docId: 'doc-a', text: 'seven', metadata: { page: 2 } },
            { id: 8, list: 1, docId: 'doc-a', text: 'eight' },
            { id: 9, list: 3, docId: 'doc-b', text: 'nine' },
          ],
        },
        undefined,
        (done, total) => progress.push([done, total]),
      );
      expect(m1).toMatchObject({ count: 75, generation: 2 });
      // Progress counts every record written, the term buckets the chunks' words fall in as well
      // (3 chunks and 1 to 3 buckets), from 0 to the end, on every backend alike.
      const total = progress[0]![1];
      expect(total).toBeGreaterThanOrEqual(4);
      expect(total).toBeLessThanOrEqual(6);
      expect(progress.at(0)).toEqual([0, total]);
      expect(progress.at(-1)).toEqual([total, total]);
      const [r1, r0, r3] = await s.readLists('idx', [1, 0, 3]);
      expect(r1).toEqual(l1);
      expect(r0!.count).toBe(0);
      expect(r3).toEqual(l3);
      expect(await s.readChunks('idx', [8, 7, 100])).toEqual([
        { id: 8, list: 1, docId: 'doc-a', text: 'eight' },
        { id: 7, list: 1, docId: 'doc-a', text: 'seven', metadata: { page: 2 } },
        undefined,
      ]);
      expect((await s.chunkIdsOfDocument('idx', 'doc-a')).sort()).toEqual([7, 8]);

      // Another writer committed since generation 1 was read: refused, and nothing changes.
      await expect(s.commit('idx', m0.generation, { lists: [randomList(1, 3)], countDelta: 3, deleteChunks: [7] })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await s.readLists('idx', [1])).toEqual([l1]);
      expect((await s.manifest('idx')).count).toBe(75);
      expect((await s.readChunks('idx', [7]))[0]?.text).toBe('seven');
    });

    test('a commit with new centroids adds lists (a split) and moves chunks; it cannot shrink nlist', async () => {
      const s = await backend.fresh();
      const m0 = await s.createIndex(init('idx'));
      const m1 = await s.commit('idx', m0.generation, {
        lists: [randomList(1, 40)],
        countDelta: 40,
        putChunks: [
          { id: 3, list: 1, docId: 'doc-a', text: 'three', metadata: { page: 1 } },
          { id: 4, list: 1, docId: 'doc-a', text: 'four' },
        ],
      });
      const grown = Float32Array.from({ length: 6 * 8 }, () => Math.random() - 0.5);
      const l1 = randomList(1, 25),
        l5 = randomList(5, 15);
      const m2 = await s.commit('idx', m1.generation, { centroids: { centroids: grown }, lists: [l1, l5], moveChunks: [{ id: 4, list: 5 }] });
      expect(m2).toMatchObject({ nlist: 6, count: 40, generation: 3 });
      expect(m2.listCounts).toEqual([0, 25, 0, 0, 0, 15]);
      expect((await s.readCentroids('idx')).centroids).toEqual(grown);
      const [r1, r4, r5] = await s.readLists('idx', [1, 4, 5]);
      expect(r1).toEqual(l1);
      expect(r4!.count).toBe(0);
      expect(r5).toEqual(l5);
      // Only the list moved: the chunk is intact (its checksum renewed) and its postings still find it.
      expect(await s.readChunks('idx', [3, 4])).toEqual([
        { id: 3, list: 1, docId: 'doc-a', text: 'three', metadata: { page: 1 } },
        { id: 4, list: 5, docId: 'doc-a', text: 'four' },
      ]);
      expect((await s.readCatalog('idx')).chunks.find((c) => c.id === 4)?.list).toBe(5);
      // Fewer lists than the index has, or a list past the new nlist: refused, nothing written.
      await expect(s.commit('idx', m2.generation, { centroids: { centroids: grown.subarray(0, 5 * 8) } })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(s.commit('idx', m2.generation, { lists: [randomList(6, 3)] })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(s.commit('idx', m2.generation, { moveChunks: [{ id: 3, list: 6 }] })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect(await s.manifest('idx')).toEqual(m2);
    });

    test('an aborted commit changes nothing', async () => {
      const s = await backend.fresh();
      const m0 = await s.createIndex(init('idx'));
      const before = randomList(2, 40);
      const m1 = await s.commit('idx', m0.generation, { lists: [before], countDelta: 40 });
      const ctl = new AbortController();
      const big = Array.from({ length: 4 }, (_, l) => randomList(l, 3000));
      const pending = s.commit('idx', m1.generation, { lists: big, countDelta: 12000 }, ctl.signal);
      ctl.abort();
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await s.readLists('idx', [2])).toEqual([before]);
      expect(await s.manifest('idx')).toMatchObject({ count: 40, generation: m1.generation });
      const pre = new AbortController();
      pre.abort();
      await expect(s.commit('idx', m1.generation, { countDelta: 1 }, pre.signal)).rejects.toMatchObject({ code: 'ABORTED' });
    });

    test('a damaged list record is reported as CORRUPT_RECORD and the other lists stay readable', async () => {
      const s = await backend.fresh();
      const m0 = await s.createIndex(init('idx'));
      const lists = [0, 1, 2, 3].map((l) => randomList(l, 50));
      await s.commit('idx', m0.generation, { lists, countDelta: 200 });
      // Flip one byte of list 2 behind the store's back, as a disk or a buggy writer would.
      await backend.tamper.listCodes('idx', 2, (bytes) => {
        bytes[100]! ^= 0x01;
      });
      await expect(s.readLists('idx', [2])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx', list: 2 } });
      expect(await s.readLists('idx', [0, 1, 3])).toEqual([lists[0], lists[1], lists[3]]);
    });

    test('access statistics round trip', async () => {
      const s = await backend.fresh();
      await s.createIndex(init('idx'));
      expect(Array.from(await s.readAccessCounts('idx'))).toEqual([0, 0, 0, 0]);
      await s.writeAccessCounts('idx', Float64Array.from([5, 0, 2.5, 1]));
      expect(Array.from(await s.readAccessCounts('idx'))).toEqual([5, 0, 2.5, 1]);
    });
  });
}

/** Checksummed chunks and manifests, ids a store cannot take, whole-index writes against a concurrent commit. */
export function storeIntegrityBehaviour(backend: StoreBackend): void {
  const { tamper } = backend;
  const init = flatInit;
  describe(`${backend.label} integrity`, () => {
    test('ids that are not integers in [0, 2^32 - 2] are refused with INVALID_ID, not a DataError', async () => {
      const s = await backend.fresh();
      const m0 = await s.createIndex(init('idx'));
      for (const id of [NaN, -1, 1.5, 2 ** 32 - 1, 2 ** 32, Infinity, '3' as never, null as never]) {
        await expect(s.readChunks('idx', [0, id]), String(id)).rejects.toMatchObject({ name: 'WeftError', code: 'INVALID_ID', details: { id } });
      }
      expect(await s.readChunks('idx', [2 ** 32 - 2, 0])).toEqual([undefined, undefined]);
      await expect(s.commit('idx', m0.generation, { deleteChunks: [NaN] })).rejects.toMatchObject({ code: 'INVALID_ID' });
      await expect(s.commit('idx', m0.generation, { putChunks: [{ id: -1, list: 0, docId: 'd', text: 't' }] })).rejects.toMatchObject({ code: 'INVALID_ID' });
      await expect(s.commit('idx', m0.generation, { putChunks: [{ id: 1, list: 7, docId: 'd', text: 't' }] })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect((await s.manifest('idx')).generation).toBe(m0.generation);
    });

    test('a tampered chunk (text, metadata, docId, a removed checksum) is CORRUPT_RECORD naming it; the other chunks stay readable', async () => {
      const s = await backend.fresh();
      const m0 = await s.createIndex(init('idx'));
      const chunks = [
        { id: 7, list: 1, docId: 'doc-a', text: 'seven', metadata: { page: 2, tags: ['x', 'y'] } },
        { id: 8, list: 1, docId: 'doc-a', text: 'eight' },
        { id: 9, list: 3, docId: 'doc-b', text: 'nine' },
        { id: 10, list: 3, docId: 'doc-b', text: 'ten', metadata: { page: 4 } },
      ];
      await s.commit('idx', m0.generation, { putChunks: chunks });
      expect(await s.readChunks('idx', [7, 8, 9, 10])).toEqual(chunks);

      // A docId moved to another document: deleting that document must not act on it blindly.
      await tamper.chunk('idx', 9, (r) => {
        r.docId = 'doc-a';
      });
      await expect(s.chunkIdsOfDocument('idx', 'doc-a')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 9 } });
      await expect(s.readChunks('idx', [9])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 9 } });

      await tamper.chunk('idx', 7, (r) => {
        r.text = 'seven (edited)';
      });
      const err = await s.readChunks('idx', [8, 7]).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WeftError', code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 7 } });
      expect((err as Error).message).toMatch(/chunk 7/);
      await expect(s.readWholeIndex('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
      await expect(exportIndex(s, 'idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });

      await tamper.chunk('idx', 10, (r) => {
        (r.metadata as { page: number }).page = 5;
      });
      await expect(s.readChunks('idx', [10])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { chunk: 10 } });
      await tamper.chunk('idx', 8, (r) => {
        delete r.checksum;
      });
      await expect(s.readChunks('idx', [8])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { chunk: 8 } });

      // Unaffected chunks read as they were; a missing one is still undefined.
      await s.commit('idx', (await s.manifest('idx')).generation, { putChunks: [{ id: 11, list: 0, docId: 'doc-c', text: 'eleven' }] });
      expect(await s.readChunks('idx', [11, 12])).toEqual([{ id: 11, list: 0, docId: 'doc-c', text: 'eleven' }, undefined]);
      expect(await s.chunkIdsOfDocument('idx', 'doc-c')).toEqual([11]);
      // Deleting and re-adding the damaged chunks repairs them.
      const g = (await s.manifest('idx')).generation;
      await s.commit('idx', g, { deleteChunks: [7, 9], putChunks: [{ ...chunks[1]! }, { ...chunks[3]! }] });
      expect(await s.readChunks('idx', [8, 10])).toEqual([chunks[1], chunks[3]]);
      expect(await s.chunkIdsOfDocument('idx', 'doc-a')).toEqual([8]);
    });

    test('a tampered manifest (count, nextId) is CORRUPT_RECORD on every read; nothing is written over it; it can be deleted', async () => {
      const s = await backend.fresh();
      const built = await buildIndex(s, 'idx', 'f32');
      await s.createIndex(init('other'));
      const good = await tamper.rawManifest('idx');

      await tamper.manifest('idx', (r) => {
        r.count = 1000;
      });
      const err = await s.manifest('idx').catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WeftError', code: 'CORRUPT_RECORD', details: { name: 'idx', record: 'manifest' } });
      expect((err as Error).message).toMatch(/manifest/);
      await expect(s.readLists('idx', [0])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
      await expect(s.readCentroids('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
      await expect(s.readChunks('idx', [0])).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
      await expect(s.listIndexes()).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx' } });
      await expect(s.commit('idx', built.manifest.generation, { countDelta: 1 })).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
      expect(await tamper.rawManifest('idx')).toEqual({ ...good, count: 1000 });
      expect(await s.manifest('other')).toMatchObject({ name: 'other', count: 0 });

      // nextId pulled back would make the next add() overwrite chunk 0.
      await tamper.manifest('idx', (r) => {
        r.count = good.count;
        r.nextId = 0;
      });
      await expect(s.manifest('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
      await tamper.manifest('idx', (r) => {
        r.nextId = good.nextId;
      });
      expect(await s.manifest('idx')).toMatchObject({ count: built.manifest.count, nextId: built.manifest.nextId });

      // Only format 1 had no manifest checksum: a later format without one was damaged, not
      // written by an older Weft, so it is refused on every backend rather than migrated (sealed).
      await tamper.manifest('idx', (r) => {
        r.formatVersion = 2;
        delete r.manifestChecksum;
      });
      const unsealed = await tamper.rawManifest('idx');
      await expect(s.manifest('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
      await expect(s.readLists('idx', [0])).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
      expect(await tamper.rawManifest('idx')).toEqual(unsealed);

      // A damaged manifest can always be deleted (the way out its message names).
      await tamper.manifest('idx', (r) => {
        r.generation = 1;
      });
      await s.deleteIndex('idx');
      expect((await s.listIndexes()).map((m) => m.name)).toEqual(['other']);
    });

    test('writeWholeIndex with expectGeneration: CONFLICT after another commit (which stays intact); nextId never goes back', async () => {
      const s = await backend.fresh();
      const built = await buildIndex(s, 'idx', 'f32');
      const whole = await s.readWholeIndex('idx');
      expect(whole.manifest.generation).toBe(built.manifest.generation);

      // Another tab adds id 57 to list 3 between the read and the replace.
      const l3 = withVector(built.lists[3]!, 57);
      const moved = await s.commit('idx', whole.manifest.generation, {
        lists: [l3],
        putChunks: [{ id: 57, list: 3, docId: 'new', text: 'new' }],
        countDelta: 1,
        nextId: 58,
      });
      await expect(s.writeWholeIndex(whole, { replace: true, expectGeneration: whole.manifest.generation })).rejects.toMatchObject({
        name: 'WeftError',
        code: 'CONFLICT',
        details: { name: 'idx', expected: whole.manifest.generation, found: moved.generation },
      });
      expect(await s.manifest('idx')).toMatchObject({ generation: moved.generation, nextId: 58, count: moved.count });
      expect(await s.readLists('idx', [3])).toEqual([l3]);
      expect(await s.readChunks('idx', [57])).toEqual([{ id: 57, list: 3, docId: 'new', text: 'new' }]);

      // At the current generation the replace goes through, but nextId stays past id 57.
      const replaced = await s.writeWholeIndex(whole, { replace: true, expectGeneration: moved.generation });
      expect(replaced).toMatchObject({ generation: moved.generation + 1, nextId: 58, count: whole.manifest.count });
      expect(await s.manifest('idx')).toMatchObject({ generation: moved.generation + 1, nextId: 58 });
      expect(await s.readLists('idx', [3])).toEqual([built.lists[3]]);
      // A plain replace (an import over it) does not move nextId back either.
      expect(await s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, nextId: 57 } }, { replace: true })).toMatchObject({ nextId: 58 });

      // An index that is gone is not recreated by a stale rebuild.
      await s.deleteIndex('idx');
      await expect(s.writeWholeIndex(whole, { replace: true, expectGeneration: replaced.generation })).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
      expect(await s.listIndexes()).toEqual([]);
    });

    test('writeWholeIndex refuses an inconsistent index (INVALID_INPUT) and writes nothing', async () => {
      const s = await backend.fresh();
      await buildIndex(s, 'idx', 'f16');
      const whole = await s.readWholeIndex('idx');
      await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy', nextId: 3 } })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(/nextId/),
      });
      await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy' }, lists: whole.lists.slice(1) })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
      expect((await s.listIndexes()).map((m) => m.name)).toEqual(['idx']);
      await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy' } })).resolves.toMatchObject({ name: 'copy', generation: 1 });
    });
  });
}

/** The lexical index: postings committed with the chunks (atomically, with the same generation check), rebuilt by whole-index writes, checksummed. */
export function storeLexicalBehaviour(backend: StoreBackend): void {
  const init = flatInit;
  const text = (i: number) => ['shock wave drag', 'boundary layer flows', 'heated slabs conduct heat', 'delta wings at Mach 3', 'the naïve café flow'][i % 5]!;
  const chunk = (id: number, list = id % 4): ChunkRecord => ({ id, list, docId: `doc-${id % 3}`, text: `${text(id)} n${id}` });
  describe(`${backend.label} lexical index`, () => {
    test('postings follow every commit: puts, deletes, overwrites, a document replaced; totals in the manifest', async () => {
      const s = await backend.fresh();
      let m = await s.createIndex(init('idx'));
      expect(m.lexical).toMatchObject({ language: 'english', buckets: 1024, chunks: 0, tokens: 0 });
      // Chunk records without vectors: the store-level agreement is between chunks and postings.
      const agree = (gone: string[] = []) => lexicalAgreement(s, 'idx', { alsoWords: gone, chunksOnly: true });
      m = await s.commit('idx', m.generation, { putChunks: Array.from({ length: 12 }, (_, i) => chunk(i)) });
      // nextId moves past every chunk put, so a later put below it is known to overwrite.
      expect(m.nextId).toBe(12);
      await agree();
      expect(Array.from((await lexicalSearch(s, 'idx', m, 'n7', { k: 5 })).ids)).toEqual([7]);
      m = await s.commit('idx', m.generation, { deleteChunks: [1, 6, 11] });
      await agree([text(1), 'n1', 'n6', 'n11']);
      expect(Array.from((await lexicalSearch(s, 'idx', m, 'n6', { k: 5 })).ids)).toEqual([]);
      // Overwriting a stored chunk: its old terms go, its new ones come.
      m = await s.commit('idx', m.generation, { putChunks: [{ id: 2, list: 0, docId: 'doc-2', text: 'vortex shedding' }] });
      await agree(['heated slabs n2']);
      expect(Array.from((await lexicalSearch(s, 'idx', m, 'n2', { k: 5 })).ids)).toEqual([]);
      expect(Array.from((await lexicalSearch(s, 'idx', m, 'VORTEX sheds', { k: 5 })).ids)).toEqual([2]);
      // A document's chunks deleted and new ones put in one commit (what replaceDocuments commits).
      const doc0 = await s.chunkIdsOfDocument('idx', 'doc-0');
      m = await s.commit('idx', m.generation, { deleteChunks: doc0, putChunks: [{ id: 40, list: 1, docId: 'doc-0', text: 'nozzle flow n40' }] });
      await agree(doc0.map((id) => `${text(id)} n${id}`));
      // A chunk without terms counts toward nothing.
      m = await s.commit('idx', m.generation, {
        putChunks: [
          { id: 41, list: 1, docId: 'doc-x', text: '' },
          { id: 42, list: 1, docId: 'doc-x', text: 'the of and' },
        ],
      });
      await agree();
    });

    test('an aborted commit and a stale one leave the postings as they were', async () => {
      const s = await backend.fresh();
      const m0 = await s.createIndex(init('idx'));
      const m1 = await s.commit('idx', m0.generation, { putChunks: [chunk(0), chunk(1)] });
      const ctl = new AbortController();
      const pending = s.commit('idx', m1.generation, { putChunks: Array.from({ length: 400 }, (_, i) => chunk(100 + i)), deleteChunks: [0] }, ctl.signal);
      ctl.abort();
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(s.commit('idx', m0.generation, { putChunks: [chunk(5)], deleteChunks: [1] })).rejects.toMatchObject({ code: 'CONFLICT' });
      const m = await s.manifest('idx');
      expect(m.generation).toBe(m1.generation);
      expect(m.lexical).toEqual(m1.lexical);
      for (const [q, ids] of [
        ['shock', [0]],
        ['boundary', [1]],
        ['n100', []],
        ['n5', []],
      ] as const) {
        expect(Array.from((await lexicalSearch(s, 'idx', m, q, { k: 10 })).ids), q).toEqual(ids);
      }
    });

    test('a whole-index write builds the postings from the chunks: export/import round trip, replace, another language', async () => {
      const s = await backend.fresh();
      const built = await buildIndex(s, 'idx', 'f32');
      await lexicalAgreement(s, 'idx');
      const before = await lexicalSearch(s, 'idx', built.manifest, 'passage 12', { k: 5 });
      expect(before.ids[0]).toBe(12);
      await importIndex(s, await exportIndex(s, 'idx'), { name: 'copy' });
      await lexicalAgreement(s, 'copy');
      const copy = await s.manifest('copy');
      expect(copy.lexical).toEqual(built.manifest.lexical);
      expect(await lexicalSearch(s, 'copy', copy, 'passage 12', { k: 5 })).toEqual(before);
      // Replacing an index drops its old postings with its old chunks.
      const whole = await s.readWholeIndex('idx');
      const words = whole.chunks.map((c) => ({ ...c, text: `mot ${c.id}` }));
      await s.writeWholeIndex({ ...whole, chunks: words }, { replace: true });
      await lexicalAgreement(s, 'idx', { alsoWords: ['passage'] });
      // The language travels with the index: a French index is stemmed in French.
      await s.writeWholeIndex({
        ...whole,
        manifest: { ...whole.manifest, name: 'fr', lexical: { ...whole.manifest.lexical!, language: 'french' } },
        chunks: whole.chunks.map((c) => ({ ...c, text: c.id === 3 ? 'les chevaux' : 'rien' })),
      });
      const fr = await s.manifest('fr');
      expect(fr.lexical!.language).toBe('french');
      expect(Array.from((await lexicalSearch(s, 'fr', fr, 'cheval', { k: 5 })).ids)).toEqual([3]);
      await lexicalAgreement(s, 'fr');
    });

    test('a damaged term bucket is CORRUPT_RECORD naming it; other buckets stay searchable; a whole-index write repairs it', async () => {
      if (!backend.tamper.terms) return;
      const s = await backend.fresh();
      const built = await buildIndex(s, 'idx', 'f32');
      const m = built.manifest;
      const passage = bucketOf('passag', 1024),
        twelve = bucketOf('12', 1024);
      expect(passage).not.toBe(twelve);
      await backend.tamper.terms('idx', passage, (b) => {
        b[b.length - 1]! ^= 1;
      });
      await expect(lexicalSearch(s, 'idx', m, 'passages', { k: 5 })).rejects.toMatchObject({
        name: 'WeftError',
        code: 'CORRUPT_RECORD',
        details: { name: 'idx', bucket: passage },
      });
      await expect(s.readTermBuckets('idx', [twelve, passage])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { bucket: passage } });
      expect(Array.from((await lexicalSearch(s, 'idx', m, '12', { k: 5 })).ids)).toEqual([12]);
      // A commit that needs the damaged bucket is refused, changing nothing.
      await expect(s.commit('idx', m.generation, { deleteChunks: [12] })).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { bucket: passage } });
      expect((await s.manifest('idx')).generation).toBe(m.generation);
      // A whole-index write (what re-importing or rebuilding does) rebuilds every bucket.
      await s.writeWholeIndex(await s.readWholeIndex('idx'), { replace: true });
      await lexicalAgreement(s, 'idx');
    });

    test('deleting a chunk whose record is damaged takes it out of every bucket', async () => {
      const s = await backend.fresh();
      const m0 = await s.createIndex(init('idx'));
      const m1 = await s.commit('idx', m0.generation, { putChunks: [chunk(0), chunk(5), chunk(2)] });
      await backend.tamper.chunk('idx', 5, (r) => {
        r.text = 'something else entirely';
      });
      const m2 = await s.commit('idx', m1.generation, { deleteChunks: [5] });
      for (const q of ['shock', 'n5', 'something']) {
        expect(Array.from((await lexicalSearch(s, 'idx', m2, q, { k: 5 })).ids), q).toEqual(q === 'shock' ? [0] : []);
      }
      expect(m2.lexical).toMatchObject({ chunks: 2 });
    });

    test('two connections: postings one commits are what the other searches; a stale commit from the other is refused', async () => {
      if (!backend.another) return;
      const a = await backend.fresh();
      const m0 = await a.createIndex(init('idx'));
      const b = await backend.another();
      const m1 = await a.commit('idx', m0.generation, { putChunks: [chunk(0), chunk(1)] });
      const seenByB = await b.manifest('idx');
      expect(Array.from((await lexicalSearch(b, 'idx', seenByB, 'drag', { k: 5 })).ids)).toEqual([0]);
      await b.commit('idx', m1.generation, { deleteChunks: [0], putChunks: [chunk(7)] });
      await expect(a.commit('idx', m1.generation, { putChunks: [chunk(10)] })).rejects.toMatchObject({ code: 'CONFLICT' });
      await lexicalAgreement(a, 'idx', { alsoWords: ['shock drag n0', 'n10'], chunksOnly: true });
      await lexicalAgreement(b, 'idx', { alsoWords: ['shock drag n0', 'n10'], chunksOnly: true });
    });
  });
}
