// What every WeftStore backend promises, as one spec run against each: IndexedDB in the browser
// tier (test/browser/store.test.ts, store-integrity.test.ts) and the file store in the unit tier
// (test/unit/store-file.test.ts). Named indexes, one atomic commit per change with a generation
// check, aborts, checksums on every record (the backend damages its own records through `tamper`,
// as a disk fault or a buggy writer would), INVALID_ID, and whole-index writes.
import { describe, expect, test } from 'vitest';
import type { ListRecord, WeftStore } from '../../src/store/idb-store.js';
import { exportIndex } from '../../src/store/portable.js';
import { buildIndex, withVector } from '../browser/store-fixtures.js';

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
  };
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
      const l1 = randomList(1, 70), l3 = randomList(3, 5);
      const m1 = await s.commit('idx', m0.generation, {
        lists: [l1, l3], countDelta: 75,
        putChunks: [{ id: 7, list: 1, docId: 'doc-a', text: 'seven', metadata: { page: 2 } }, { id: 8, list: 1, docId: 'doc-a', text: 'eight' }, { id: 9, list: 3, docId: 'doc-b', text: 'nine' }],
      });
      expect(m1).toMatchObject({ count: 75, generation: 2 });
      const [r1, r0, r3] = await s.readLists('idx', [1, 0, 3]);
      expect(r1).toEqual(l1);
      expect(r0!.count).toBe(0);
      expect(r3).toEqual(l3);
      expect(await s.readChunks('idx', [8, 7, 100])).toEqual([
        { id: 8, list: 1, docId: 'doc-a', text: 'eight' }, { id: 7, list: 1, docId: 'doc-a', text: 'seven', metadata: { page: 2 } }, undefined]);
      expect((await s.chunkIdsOfDocument('idx', 'doc-a')).sort()).toEqual([7, 8]);

      // Another writer committed since generation 1 was read: refused, and nothing changes.
      await expect(s.commit('idx', m0.generation, { lists: [randomList(1, 3)], countDelta: 3, deleteChunks: [7] })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await s.readLists('idx', [1])).toEqual([l1]);
      expect((await s.manifest('idx')).count).toBe(75);
      expect((await s.readChunks('idx', [7]))[0]?.text).toBe('seven');
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
      await backend.tamper.listCodes('idx', 2, (bytes) => { bytes[100]! ^= 0x01; });
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
      await tamper.chunk('idx', 9, (r) => { r.docId = 'doc-a'; });
      await expect(s.chunkIdsOfDocument('idx', 'doc-a')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 9 } });
      await expect(s.readChunks('idx', [9])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 9 } });

      await tamper.chunk('idx', 7, (r) => { r.text = 'seven (edited)'; });
      const err = await s.readChunks('idx', [8, 7]).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WeftError', code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 7 } });
      expect((err as Error).message).toMatch(/chunk 7/);
      await expect(s.readWholeIndex('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
      await expect(exportIndex(s, 'idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });

      await tamper.chunk('idx', 10, (r) => { (r.metadata as { page: number }).page = 5; });
      await expect(s.readChunks('idx', [10])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { chunk: 10 } });
      await tamper.chunk('idx', 8, (r) => { delete r.checksum; });
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

      await tamper.manifest('idx', (r) => { r.count = 1000; });
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
      await tamper.manifest('idx', (r) => { r.count = good.count; r.nextId = 0; });
      await expect(s.manifest('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
      await tamper.manifest('idx', (r) => { r.nextId = good.nextId; });
      expect(await s.manifest('idx')).toMatchObject({ count: built.manifest.count, nextId: built.manifest.nextId });

      // A damaged manifest can always be deleted (the way out its message names).
      await tamper.manifest('idx', (r) => { r.generation = 1; });
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
      const moved = await s.commit('idx', whole.manifest.generation, { lists: [l3], putChunks: [{ id: 57, list: 3, docId: 'new', text: 'new' }], countDelta: 1, nextId: 58 });
      await expect(s.writeWholeIndex(whole, { replace: true, expectGeneration: whole.manifest.generation }))
        .rejects.toMatchObject({ name: 'WeftError', code: 'CONFLICT', details: { name: 'idx', expected: whole.manifest.generation, found: moved.generation } });
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
      await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy', nextId: 3 } })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/nextId/) });
      await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy' }, lists: whole.lists.slice(1) })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect((await s.listIndexes()).map((m) => m.name)).toEqual(['idx']);
      await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy' } })).resolves.toMatchObject({ name: 'copy', generation: 1 });
    });
  });
}
