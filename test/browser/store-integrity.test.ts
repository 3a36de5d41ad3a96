// Integrity of the IndexedDB store beyond list records: checksummed chunks and manifests, ids that
// IndexedDB cannot take, the migration of format-1 indexes, and a whole-index replace that is
// refused when another writer got in first.
import { describe, expect, test } from 'vitest';
import { openDB } from 'idb';
import { crc32 } from '../../src/store/checksum.js';
import { FORMAT_VERSION } from '../../src/store/idb-store.js';
import { exportIndex } from '../../src/store/portable.js';
import { buildIndex, storeSession, withVector } from './store-fixtures.js';

const db = storeSession('weft-test');

/** Rewrites one record behind the store's back, as a disk fault or a buggy writer would. */
async function tamper(store: 'chunks' | 'manifests', key: IDBValidKey, edit: (record: Record<string, unknown>) => void) {
  const raw = await openDB(db.dbName);
  const rec = await raw.get(store, key) as Record<string, unknown>;
  edit(rec);
  await raw.put(store, rec);
  raw.close();
}

async function rawRecord(store: 'chunks' | 'manifests', key: IDBValidKey) {
  const raw = await openDB(db.dbName);
  const rec = await raw.get(store, key) as Record<string, unknown>;
  raw.close();
  return rec;
}

const init = (name: string) => ({ name, dim: 8, metric: 'l2' as const, storage: 'f32' as const, nlist: 4, centroids: new Float32Array(32).fill(0.25) });

describe('store integrity', () => {
  test('ids that are not integers in [0, 2^32 - 2] are refused with INVALID_ID, not a DataError', async () => {
    const s = await db.fresh();
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
    const s = await db.fresh();
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
    await tamper('chunks', ['idx', 9], (r) => { r.docId = 'doc-a'; });
    await expect(s.chunkIdsOfDocument('idx', 'doc-a')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 9 } });
    await expect(s.readChunks('idx', [9])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 9 } });

    await tamper('chunks', ['idx', 7], (r) => { r.text = 'seven (edited)'; });
    const err = await s.readChunks('idx', [8, 7]).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'WeftError', code: 'CORRUPT_RECORD', details: { name: 'idx', chunk: 7 } });
    expect((err as Error).message).toMatch(/chunk 7/);
    await expect(s.readWholeIndex('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
    await expect(exportIndex(s, 'idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });

    await tamper('chunks', ['idx', 10], (r) => { (r.metadata as { page: number }).page = 5; });
    await expect(s.readChunks('idx', [10])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { chunk: 10 } });
    await tamper('chunks', ['idx', 8], (r) => { delete r.checksum; });
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
    const s = await db.fresh();
    const built = await buildIndex(s, 'idx', 'f32');
    await s.createIndex(init('other'));
    const good = await rawRecord('manifests', 'idx');

    await tamper('manifests', 'idx', (r) => { r.count = 1000; });
    const err = await s.manifest('idx').catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'WeftError', code: 'CORRUPT_RECORD', details: { name: 'idx', record: 'manifest' } });
    expect((err as Error).message).toMatch(/manifest/);
    await expect(s.readLists('idx', [0])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
    await expect(s.readCentroids('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
    await expect(s.readChunks('idx', [0])).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
    await expect(s.listIndexes()).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx' } });
    await expect(s.commit('idx', built.manifest.generation, { countDelta: 1 })).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
    expect(await rawRecord('manifests', 'idx')).toEqual({ ...good, count: 1000 });
    expect(await s.manifest('other')).toMatchObject({ name: 'other', count: 0 });

    // nextId pulled back would make the next add() overwrite chunk 0.
    await tamper('manifests', 'idx', (r) => { r.count = good.count; r.nextId = 0; });
    await expect(s.manifest('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
    await tamper('manifests', 'idx', (r) => { r.nextId = good.nextId; });
    expect(await s.manifest('idx')).toMatchObject({ count: built.manifest.count, nextId: built.manifest.nextId });

    // A damaged manifest can always be deleted (the way out its message names).
    await tamper('manifests', 'idx', (r) => { r.generation = 1; });
    await s.deleteIndex('idx');
    expect((await s.listIndexes()).map((m) => m.name)).toEqual(['other']);
  });

  test('a format-1 index (no chunk or manifest checksums) written by raw IndexedDB calls is migrated on first use, losing nothing', async () => {
    db.rename();
    // The stores and records exactly as format 1 wrote them.
    const raw = await openDB(db.dbName, 1, {
      upgrade(db) {
        db.createObjectStore('manifests', { keyPath: 'name' });
        db.createObjectStore('centroids', { keyPath: 'index' });
        db.createObjectStore('lists', { keyPath: ['index', 'list'] });
        db.createObjectStore('chunks', { keyPath: ['index', 'id'] }).createIndex('byDoc', ['index', 'docId']);
        db.createObjectStore('stats', { keyPath: 'index' });
      },
    });
    const centroids = Float32Array.from({ length: 2 * 8 }, (_, i) => i / 16);
    const lists = [
      { list: 0, count: 2, ids: Uint32Array.from([0, 2]), codes: Float32Array.from({ length: 32 * 8 }, (_, i) => (i < 16 ? i : 0)) },
      { list: 1, count: 1, ids: Uint32Array.from([1]), codes: new Float32Array(32 * 8) },
    ];
    const listCrc = (l: typeof lists[number]) => crc32(new Uint32Array([l.list, l.count]), l.ids, l.codes);
    const chunks = [
      { id: 0, list: 0, docId: 'a', text: 'zero', metadata: { page: 1 } },
      { id: 1, list: 1, docId: 'a', text: 'one' },
      { id: 2, list: 0, docId: 'b', text: 'two' },
    ];
    for (const name of ['old', 'older']) {
      await raw.put('manifests', {
        name, formatVersion: 1, dim: 8, metric: 'l2', storage: 'f32', nlist: 2, modelId: 'm', count: 3, tombstones: 0,
        checksums: lists.map(listCrc), listCounts: [2, 1], nextId: 3, centroidsChecksum: crc32(centroids), createdAt: 1, updatedAt: 2, generation: 5,
      });
      await raw.put('centroids', { index: name, centroids: centroids.buffer.slice(0), checksum: crc32(centroids) });
      for (const l of lists) await raw.put('lists', { index: name, list: l.list, count: l.count, ids: l.ids.buffer.slice(0), codes: l.codes.buffer.slice(0), checksum: listCrc(l) });
      for (const c of chunks) await raw.put('chunks', { ...c, index: name });
      await raw.put('stats', { index: name, access: new ArrayBuffer(16) });
    }
    raw.close();

    const s = await db.open();
    expect(FORMAT_VERSION).toBe(2);
    expect(await s.manifest('old')).toMatchObject({ name: 'old', formatVersion: 2, count: 3, nextId: 3, generation: 5, createdAt: 1 });
    expect(await s.readChunks('old', [2, 0, 1])).toEqual([chunks[2], chunks[0], chunks[1]]);
    expect((await s.readLists('old', [0, 1])).map((l) => Array.from(l.ids))).toEqual([[0, 2], [1]]);
    expect(await s.chunkIdsOfDocument('old', 'a')).toEqual([0, 1]);
    // The records now carry their checksums, so damage is caught from here on.
    expect(typeof (await rawRecord('chunks', ['old', 1])).checksum).toBe('number');
    expect(await rawRecord('manifests', 'old')).toMatchObject({ formatVersion: 2, manifestChecksum: expect.any(Number) });
    await tamper('chunks', ['old', 1], (r) => { r.text = 'uno'; });
    await expect(s.readChunks('old', [1])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { chunk: 1 } });

    // listIndexes migrates whatever is still in format 1.
    expect((await s.listIndexes()).map((m) => [m.name, m.formatVersion]).sort()).toEqual([['old', 2], ['older', 2]]);
    expect(await s.readWholeIndex('older')).toMatchObject({ manifest: { formatVersion: 2 }, chunks });

    // A format-2 manifest whose version field was damaged back to 1 is not "migrated" into validity.
    await tamper('manifests', 'old', (r) => { r.formatVersion = 1; r.count = 99; });
    await expect(s.manifest('old')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
  });

  test('writeWholeIndex with expectGeneration: CONFLICT after another commit (which stays intact); nextId never goes back', async () => {
    const s = await db.fresh();
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
    const s = await db.fresh();
    await buildIndex(s, 'idx', 'f16');
    const whole = await s.readWholeIndex('idx');
    await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy', nextId: 3 } })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/nextId/) });
    await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy' }, lists: whole.lists.slice(1) })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect((await s.listIndexes()).map((m) => m.name)).toEqual(['idx']);
    await expect(s.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy' } })).resolves.toMatchObject({ name: 'copy', generation: 1 });
  });
});
