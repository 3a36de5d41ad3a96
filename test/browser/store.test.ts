// The IndexedDB tier: named indexes, atomic commits, checksums, quota, aborts, other connections.
import { afterEach, describe, expect, test } from 'vitest';
import { openDB } from 'idb';
import { deleteStore, openStore, type ListRecord, type WeftStore } from '../../src/store/idb-store.js';

const open: WeftStore[] = [];
let dbName = '';

async function store(): Promise<WeftStore> {
  const s = await openStore({ dbName });
  open.push(s);
  return s;
}

function randomWords(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i += 16384) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 16384)));
  return out;
}

function randomList(list: number, count: number, words = 8): ListRecord {
  const ids = randomWords(count).map((x) => x >>> 1);
  const codes = randomWords(Math.ceil(count / 32) * 32 * words);
  return { list, count, ids, codes };
}

const centroids = () => ({ centroids: Float32Array.from({ length: 4 * 8 }, () => Math.random() - 0.5) });
const init = (name: string) => ({ name, dim: 8, metric: 'l2' as const, storage: 'f32' as const, nlist: 4, modelId: 'test-model', ...centroids() });

afterEach(async () => {
  for (const s of open.splice(0)) s.close();
  await deleteStore(dbName);
});

describe('IndexedDB store', () => {
  test('named indexes: create, list, manifest, delete; duplicate and unknown names', async () => {
    dbName = `weft-test-${crypto.randomUUID()}`;
    const s = await store();
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
    dbName = `weft-test-${crypto.randomUUID()}`;
    const s = await store();
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
    dbName = `weft-test-${crypto.randomUUID()}`;
    const s = await store();
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
    dbName = `weft-test-${crypto.randomUUID()}`;
    const s = await store();
    const m0 = await s.createIndex(init('idx'));
    const lists = [0, 1, 2, 3].map((l) => randomList(l, 50));
    await s.commit('idx', m0.generation, { lists, countDelta: 200 });
    // Flip one byte of list 2 behind the store's back, as a disk or a buggy writer would.
    const raw = await openDB(dbName);
    const rec = await raw.get('lists', ['idx', 2]);
    const bytes = new Uint8Array(rec.codes);
    bytes[100]! ^= 0x01;
    await raw.put('lists', rec);
    raw.close();
    await expect(s.readLists('idx', [2])).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { name: 'idx', list: 2 } });
    expect(await s.readLists('idx', [0, 1, 3])).toEqual([lists[0], lists[1], lists[3]]);
  });

  test('a schema upgrade from another connection (another tab) is not blocked; this one closes and says so', async () => {
    dbName = `weft-test-${crypto.randomUUID()}`;
    let closed = 0;
    const s = await openStore({ dbName, onClosedByOtherTab: () => { closed++; } });
    open.push(s);
    await s.createIndex(init('idx'));
    const upgraded = await openDB(dbName, 2, { upgrade(db) { db.createObjectStore('future'); } });
    expect(closed).toBe(1);
    expect([...upgraded.objectStoreNames]).toContain('future');
    // The data written before the upgrade is intact for the new connection.
    expect((await upgraded.get('manifests', 'idx')).name).toBe('idx');
    upgraded.close();
  });

  test('access statistics round trip', async () => {
    dbName = `weft-test-${crypto.randomUUID()}`;
    const s = await store();
    await s.createIndex(init('idx'));
    expect(Array.from(await s.readAccessCounts('idx'))).toEqual([0, 0, 0, 0]);
    await s.writeAccessCounts('idx', Float64Array.from([5, 0, 2.5, 1]));
    expect(Array.from(await s.readAccessCounts('idx'))).toEqual([5, 0, 2.5, 1]);
  });
});
