// Small stored indexes for the store tests, written through the store with vectors encoded by the
// codec (so that they pass import validation): dim 6 (padded in every storage), 4 lists.
import { appendInterleaved, BLOCK, encodeRows, interleave, layoutFor, trainScalarQuantizer } from '../../src/ivf/codec.js';
import { NO_ID, type StorageType } from '../../src/ivf/types.js';
import { afterEach } from 'vitest';
import { deleteStore, openStore, type StoreOptions } from '../../src/storage/idb-store.js';
import type { ChunkRecord, ListRecord, WeftStore } from '../../src/storage/contract.js';

export const dim = 6,
  nlist = 4;

/**
 * A fresh database per test: `fresh()` names a new one and opens a store on it, `open()` opens
 * another connection, `rename()` only names one; after each test every connection is closed and the database deleted.
 */
export function storeSession(prefix: string) {
  const opened: { close(): void | Promise<void> }[] = [];
  let dbName = '';
  afterEach(async () => {
    for (const x of opened.splice(0).reverse()) await x.close();
    if (dbName) await deleteStore(dbName);
  });
  const session = {
    get dbName() {
      return dbName;
    },
    /** Closed after the test, before the database is deleted. */
    track<T extends { close(): void | Promise<void> }>(x: T): T {
      opened.push(x);
      return x;
    },
    async open(options: Omit<StoreOptions, 'dbName'> = {}): Promise<WeftStore> {
      return session.track(await openStore({ ...options, dbName }));
    },
    /** Names a new database (opening nothing). */
    rename(): string {
      dbName = `${prefix}-${crypto.randomUUID()}`;
      return dbName;
    },
    fresh(): Promise<WeftStore> {
      session.rename();
      return session.open();
    },
  };
  return session;
}

/**
 * Lists of 5, 33, 12 and 7 vectors (ids 0..56 in order; list 1 spans two blocks), id 39 (list 2,
 * slot 1) tombstoned, a chunk per live vector (every odd id with metadata), nextId 57.
 */
export async function buildIndex(s: WeftStore, name: string, storage: StorageType) {
  const layout = layoutFor(dim, storage);
  const counts = [5, 33, 12, 7];
  const total = counts.reduce((a, b) => a + b, 0);
  const vectors = Float32Array.from({ length: total * dim }, () => Math.random() * 2 - 1);
  const sq = storage === 'int8' ? trainScalarQuantizer(vectors, dim, layout.dimPad) : undefined;
  const m0 = await s.createIndex({
    name,
    dim,
    metric: 'l2',
    storage,
    nlist,
    modelId: 'test-model',
    centroids: Float32Array.from({ length: nlist * dim }, () => Math.random() - 0.5),
    ...(sq ? { vmin: sq.vmin, scale: sq.scale } : {}),
  });
  const rows = encodeRows(vectors, layout, sq);
  const lists: ListRecord[] = [];
  const chunks: ChunkRecord[] = [];
  let next = 0,
    tombstones = 0;
  counts.forEach((count, l) => {
    const codes = new Uint32Array(Math.ceil(count / BLOCK) * BLOCK * layout.words);
    interleave(rows.subarray(next * layout.words, (next + count) * layout.words), count, layout.units, codes, 0);
    const ids = Uint32Array.from({ length: count }, (_, i) => next + i);
    if (l === 2) {
      ids[1] = NO_ID;
      tombstones++;
    }
    for (const id of ids)
      if (id !== NO_ID) chunks.push({ id, list: l, docId: `doc-${id % 3}`, text: `passage ${id}`, ...(id % 2 ? { metadata: { page: id } } : {}) });
    lists.push({ list: l, count, ids, codes });
    next += count;
  });
  const manifest = await s.commit(name, m0.generation, { lists, putChunks: chunks, countDelta: total - tombstones, tombstoneDelta: tombstones, nextId: next });
  return { manifest, lists, chunks, total, tombstones };
}

/** `r` with one more (random, f32-encoded) vector `id` appended. */
export function withVector(r: ListRecord, id: number): ListRecord {
  const layout = layoutFor(dim, 'f32');
  const rows = encodeRows(
    Float32Array.from({ length: dim }, () => Math.random()),
    layout,
  );
  const ids = new Uint32Array(r.count + 1);
  ids.set(r.ids);
  ids[r.count] = id;
  return { list: r.list, count: r.count + 1, ids, codes: appendInterleaved(r.codes, r.count, rows, 1, layout.units) };
}

/**
 * What a stored-index test opened (indexes, stores), closed newest first at the end of its body
 * (`body`, before the harness checks for leaked GPU bytes) and after each test, when the database
 * `dbName()` names is deleted too.
 */
export function indexCleanup(dbName: () => string) {
  const toClose: { close(): void | Promise<void> }[] = [];
  const closeAll = async () => {
    for (const x of toClose.splice(0).reverse()) await x.close();
  };
  afterEach(async () => {
    await closeAll();
    if (dbName()) await deleteStore(dbName());
  });
  const body =
    <C>(fn: (ctx: C) => Promise<void>) =>
    async (ctx: C) => {
      try {
        await fn(ctx);
      } finally {
        await closeAll();
      }
    };
  return { toClose, closeAll, body };
}
