// Integrity of the IndexedDB store beyond list records: the checks every backend shares
// (test/support/store-behaviour.ts: checksummed chunks and manifests, ids IndexedDB cannot take, a
// whole-index replace refused when another writer got in first), and the migration of format-1
// and format-2 indexes (no checksums; no lexical index), which only IndexedDB has.
import { describe, expect, test } from 'vitest';
import { openDB } from 'idb';
import { crc32 } from '../../src/storage/checksum.js';
import { FORMAT_VERSION } from '../../src/storage/idb-store.js';
import { storeIntegrityBehaviour, lexicalAgreement } from '../support/store-behaviour.js';
import { sealedManifest, storedChunk } from '../../src/storage/records.js';
import { lexicalSearch } from '../../src/stored-index/lexical-search.js';
import { idbBackend } from '../support/idb-backend.js';
import { storeSession } from '../support/store-fixtures.js';

const db = storeSession('weft-test');
const backend = idbBackend(db);
storeIntegrityBehaviour(backend);

const tamper = (store: 'chunks' | 'manifests', key: IDBValidKey, edit: (record: Record<string, unknown>) => void) =>
  store === 'chunks' ? backend.tamper.chunk(...(key as [string, number]), edit) : backend.tamper.manifest(key as string, edit);

async function rawRecord(store: 'chunks' | 'manifests', key: IDBValidKey) {
  const raw = await openDB(db.dbName);
  const rec = (await raw.get(store, key)) as Record<string, unknown>;
  raw.close();
  return rec;
}

/**
 * A database in IndexedDB's version-1 layout (formats 1 and 2: no term buckets), and the lists and
 * centroids of a 2-list index of 3 vectors (dim 8) for the test to write in it.
 */
async function version1Database(dbName: string) {
  const raw = await openDB(dbName, 1, {
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
  const listCrc = (l: (typeof lists)[number]) => crc32(new Uint32Array([l.list, l.count]), l.ids, l.codes);
  return { raw, centroids, lists, listCrc };
}

describe('store integrity', () => {
  test('a format-1 index (no chunk or manifest checksums) written by raw IndexedDB calls is migrated on first use, losing nothing', async () => {
    db.rename();
    // The stores and records exactly as format 1 wrote them.
    const { raw, centroids, lists, listCrc } = await version1Database(db.dbName);
    const chunks = [
      { id: 0, list: 0, docId: 'a', text: 'zero', metadata: { page: 1 } },
      { id: 1, list: 1, docId: 'a', text: 'one' },
      { id: 2, list: 0, docId: 'b', text: 'two' },
    ];
    for (const name of ['old', 'older']) {
      await raw.put('manifests', {
        name,
        formatVersion: 1,
        dim: 8,
        metric: 'l2',
        storage: 'f32',
        nlist: 2,
        modelId: 'm',
        count: 3,
        tombstones: 0,
        checksums: lists.map(listCrc),
        listCounts: [2, 1],
        nextId: 3,
        centroidsChecksum: crc32(centroids),
        createdAt: 1,
        updatedAt: 2,
        generation: 5,
      });
      await raw.put('centroids', { index: name, centroids: centroids.buffer.slice(0), checksum: crc32(centroids) });
      for (const l of lists)
        await raw.put('lists', { index: name, list: l.list, count: l.count, ids: l.ids.buffer.slice(0), codes: l.codes.buffer.slice(0), checksum: listCrc(l) });
      for (const c of chunks) await raw.put('chunks', { ...c, index: name });
      await raw.put('stats', { index: name, access: new ArrayBuffer(16) });
    }
    raw.close();

    const s = await db.open();
    expect(FORMAT_VERSION).toBe(3);
    expect(await s.manifest('old')).toMatchObject({
      name: 'old',
      formatVersion: 3,
      count: 3,
      nextId: 3,
      generation: 5,
      createdAt: 1,
      lexical: { language: 'english', chunks: 3, tokens: 3 },
    });
    // Its postings were built from its chunks in the same migration.
    await lexicalAgreement(s, 'old');
    expect(await s.readChunks('old', [2, 0, 1])).toEqual([chunks[2], chunks[0], chunks[1]]);
    expect((await s.readLists('old', [0, 1])).map((l) => Array.from(l.ids))).toEqual([[0, 2], [1]]);
    expect(await s.chunkIdsOfDocument('old', 'a')).toEqual([0, 1]);
    // The records now carry their checksums, so damage is caught from here on.
    expect(typeof (await rawRecord('chunks', ['old', 1])).checksum).toBe('number');
    expect(await rawRecord('manifests', 'old')).toMatchObject({ formatVersion: 3, manifestChecksum: expect.any(Number) });
    await tamper('chunks', ['old', 1], (r) => {
      r.text = 'uno';
    });
    await expect(s.readChunks('old', [1])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { chunk: 1 } });

    // listIndexes migrates whatever is still in format 1.
    expect((await s.listIndexes()).map((m) => [m.name, m.formatVersion]).sort()).toEqual([
      ['old', 3],
      ['older', 3],
    ]);
    expect(await s.readWholeIndex('older')).toMatchObject({ manifest: { formatVersion: 3 }, chunks });

    // A format-2 manifest whose version field was damaged back to 1 is not "migrated" into validity.
    await tamper('manifests', 'old', (r) => {
      r.formatVersion = 1;
      r.count = 99;
    });
    await expect(s.manifest('old')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
  });

  test('a format-2 index (database version 1, no term buckets) gets its postings built on first use, in one transaction; a damaged one is not migrated', async () => {
    db.rename();
    const { raw, centroids, lists, listCrc } = await version1Database(db.dbName);
    const chunks = [
      { id: 0, list: 0, docId: 'a', text: 'Supersonic flows over cones', metadata: { page: 1 } },
      { id: 1, list: 1, docId: 'a', text: 'the heated slab' },
      { id: 2, list: 0, docId: 'b', text: 'flow separation' },
    ];
    for (const name of ['v2', 'damaged']) {
      const manifest = sealedManifest({
        name,
        formatVersion: 2,
        dim: 8,
        metric: 'l2',
        storage: 'f32',
        nlist: 2,
        modelId: 'm',
        count: 3,
        tombstones: 0,
        checksums: lists.map(listCrc),
        listCounts: [2, 1],
        nextId: 3,
        centroidsChecksum: crc32(centroids),
        createdAt: 1,
        updatedAt: 2,
        generation: 7,
      });
      await raw.put('manifests', name === 'damaged' ? { ...manifest, count: 4 } : manifest);
      await raw.put('centroids', { index: name, centroids: centroids.buffer.slice(0), checksum: crc32(centroids) });
      for (const l of lists)
        await raw.put('lists', { index: name, list: l.list, count: l.count, ids: l.ids.buffer.slice(0), codes: l.codes.buffer.slice(0), checksum: listCrc(l) });
      for (const c of chunks) await raw.put('chunks', storedChunk(name, c));
      await raw.put('stats', { index: name, access: new ArrayBuffer(16) });
    }
    raw.close();

    const s = await db.open();
    // Listing migrates it (the damaged one is reported, not migrated).
    await expect(s.listIndexes()).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'damaged' } });
    expect(await s.manifest('v2')).toMatchObject({
      formatVersion: 3,
      generation: 7,
      count: 3,
      lexical: { language: 'english', buckets: 1024, chunks: 3, tokens: 4 + 2 + 2 },
    });
    await lexicalAgreement(s, 'v2');
    const m = await s.manifest('v2');
    expect(Array.from((await lexicalSearch(s, 'v2', m, 'flow', { k: 5 })).ids).sort()).toEqual([0, 2]);
    // Nothing else changed: chunks, lists, document lookup.
    expect(await s.readChunks('v2', [0, 1, 2])).toEqual(chunks);
    expect(await s.chunkIdsOfDocument('v2', 'a')).toEqual([0, 1]);
    // Writes from here on keep the postings in step.
    await s.commit('v2', m.generation, { deleteChunks: [2] });
    expect(Array.from((await lexicalSearch(s, 'v2', await s.manifest('v2'), 'flow', { k: 5 })).ids)).toEqual([0]);
    // A damaged format-2 manifest stays CORRUPT_RECORD: it is not sealed into a valid format-3 one.
    await expect(s.manifest('damaged')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
    expect(await rawRecord('manifests', 'damaged')).toMatchObject({ formatVersion: 2, count: 4 });
  });
});
