// The CPU tier: named IVF indexes in IndexedDB (through idb, with a typed schema). One record
// per IVF list holds its ids and its vectors in the GPU's interleaved layout, so one read is one
// upload. Every read and every write is one transaction, so a write is atomic: a closed page, an
// AbortSignal or a full disk leaves the last committed index as it was, and another tab's commit
// is seen whole or not at all. This file is only the IndexedDB backend of the storage core
// (store-core.ts): its schema and transactions; the rules (checks, checksums, migrations, what a
// commit writes) are the core's, the same for every backend.

import { deleteDB, openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import { WeftError } from '../errors.js';
import type { RecordReader, RecordWriter, StorageBackend } from './backend.js';
import type { WeftStore } from './contract.js';
import { FORMAT_VERSION, type CentroidData, type StoredChunk, type StoredManifest } from './records.js';
import { createStore } from './store-core.js';

export { FORMAT_VERSION };

/** IndexedDB schema version (the object stores; the record formats are FORMAT_VERSION). 2: the `terms` store. */
const DB_VERSION = 2;

interface StoredList {
  index: string;
  list: number;
  count: number;
  ids: ArrayBuffer;
  codes: ArrayBuffer;
  checksum: number;
}
interface StoredCentroids {
  index: string;
  centroids: ArrayBuffer;
  vmin?: ArrayBuffer;
  scale?: ArrayBuffer;
  codebook?: ArrayBuffer;
  checksum: number;
}
interface StoredStats {
  index: string;
  access: ArrayBuffer;
}
/** A term bucket of the lexical index (lexical/postings.ts); absent while the bucket is empty. */
interface StoredTerms {
  index: string;
  bucket: number;
  data: ArrayBuffer;
  checksum: number;
}

interface WeftSchema extends DBSchema {
  manifests: { key: string; value: StoredManifest };
  centroids: { key: string; value: StoredCentroids };
  lists: { key: [string, number]; value: StoredList };
  chunks: { key: [string, number]; value: StoredChunk; indexes: { byDoc: [string, string] } };
  stats: { key: string; value: StoredStats };
  terms: { key: [string, number]; value: StoredTerms };
}

type Stores = StoreNames<WeftSchema>;
const ALL_STORES: Stores[] = ['manifests', 'centroids', 'lists', 'chunks', 'stats', 'terms'];
/** What a read spans: every record store but the access statistics, so that saving them never waits for a search's reads. */
const READ_STORES: Stores[] = ['manifests', 'centroids', 'lists', 'chunks', 'terms'];

/** Options of openStore. */
export interface StoreOptions {
  /** IndexedDB database name. Default 'weft'. */
  dbName?: string;
  /** Called when another tab upgrades or deletes the database; this connection has already closed. */
  onClosedByOtherTab?: () => void;
}

export function storageError(e: unknown, what: string): WeftError {
  if (e instanceof WeftError) return e;
  const name = (e as { name?: string } | null)?.name;
  if (name === 'QuotaExceededError') {
    return new WeftError(
      'STORAGE_FULL',
      `${what} did not fit in this site's storage quota; nothing was changed. Free space (delete an index) or ask the browser for persistent storage.`,
      { cause: e },
    );
  }
  if (name === 'AbortError') {
    return new WeftError('ABORTED', `${what} was aborted; nothing was changed.`, { cause: e });
  }
  return new WeftError('STORAGE_ERROR', `${what} failed in IndexedDB (${name ?? 'error'}: ${(e as Error)?.message ?? String(e)}).`, { cause: e });
}

function bytesOf(v: ArrayBufferView): ArrayBuffer {
  return (v.buffer as ArrayBuffer).slice(v.byteOffset, v.byteOffset + v.byteLength);
}

const keysOf = (name: string) => IDBKeyRange.bound([name, -Infinity], [name, Infinity]);

// ---- the backend ----------------------------------------------------------------------------

/**
 * Opens (or creates) Weft's IndexedDB database as a WeftStore; indexes written by an older Weft are
 * migrated when first used.
 */
export async function openStore(options: StoreOptions = {}): Promise<WeftStore> {
  const dbName = options.dbName ?? 'weft';
  let db: IDBPDatabase<WeftSchema>;
  try {
    db = await openDB<WeftSchema>(dbName, DB_VERSION, {
      upgrade(database, oldVersion) {
        if (oldVersion < 1) {
          database.createObjectStore('manifests', { keyPath: 'name' });
          database.createObjectStore('centroids', { keyPath: 'index' });
          database.createObjectStore('lists', { keyPath: ['index', 'list'] });
          database.createObjectStore('chunks', { keyPath: ['index', 'id'] }).createIndex('byDoc', ['index', 'docId']);
          database.createObjectStore('stats', { keyPath: 'index' });
        }
        // Indexes written before this have no postings: each is migrated (format 3) when first used.
        if (oldVersion < 2) database.createObjectStore('terms', { keyPath: ['index', 'bucket'] });
      },
      blocked() {
        // Another tab holds an older version open; it closes itself on `versionchange` (below).
      },
      blocking() {
        // A newer version (or a delete) wants the database: get out of its way at once.
        db.close();
        options.onClosedByOtherTab?.();
      },
    });
  } catch (e) {
    throw storageError(e, `Opening the IndexedDB database '${dbName}'`);
  }

  const tx = <M extends IDBTransactionMode>(mode: M): IDBPTransaction<WeftSchema, Stores[], M> => {
    try {
      return db.transaction(mode === 'readonly' ? READ_STORES : ALL_STORES, mode);
    } catch (e) {
      throw storageError(e, 'Starting a transaction');
    }
  };

  const backend: StorageBackend = {
    location: dbName,
    oldestFormat: 1,
    nameProblem: () => undefined,

    async names() {
      return (await db.getAllKeys('manifests')).map(String);
    },

    async read(name, work) {
      return work(reader(tx('readonly'), name));
    },

    async write(name, work, options = {}) {
      const { signal } = options;
      if (signal?.aborted) throw new DOMException('Aborted', 'AbortError');
      const t = tx('readwrite');
      const onAbort = () => t.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const result = await work(writer(t, name));
        await t.done;
        return result;
      } catch (e) {
        await abandon(t);
        // Aborted through the signal: whatever request failed first (the transaction was aborted under it), it is ABORTED.
        throw signal?.aborted && !(e instanceof WeftError) ? new DOMException('Aborted', 'AbortError') : e;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },

    async readAccessCounts(name) {
      const r = await db.get('stats', name);
      return r ? new Float64Array(r.access) : new Float64Array(0);
    },

    async writeAccessCounts(name, counts) {
      await db.put('stats', { index: name, access: bytesOf(counts) });
    },

    failure: storageError,

    close() {
      db.close();
    },
  };
  return createStore(backend);
}

/** Aborts a transaction that failed part-way (if it is still running) and waits for it to end. */
async function abandon(t: { abort(): void; done: Promise<void> }): Promise<void> {
  try {
    t.abort();
  } catch {
    /* already finished */
  }
  await t.done.catch(() => undefined);
}

/** Reads of index `name` inside transaction `t`. */
function reader(t: IDBPTransaction<WeftSchema, Stores[], IDBTransactionMode>, name: string): RecordReader {
  return {
    manifest: () => t.objectStore('manifests').get(name),

    async centroids() {
      const r = await t.objectStore('centroids').get(name);
      if (!r) return undefined;
      const value: CentroidData = {
        centroids: new Float32Array(r.centroids),
        ...(r.vmin ? { vmin: new Float32Array(r.vmin) } : {}),
        ...(r.scale ? { scale: new Float32Array(r.scale) } : {}),
        ...(r.codebook ? { codebook: new Float32Array(r.codebook) } : {}),
      };
      return { value, checksum: r.checksum };
    },

    async lists(lists) {
      const os = t.objectStore('lists');
      const raw = await Promise.all(lists.map((l) => os.get([name, l])));
      return raw.map(
        (r) => r && { value: { list: r.list, count: r.count, ids: new Uint32Array(r.ids), codes: new Uint32Array(r.codes) }, checksum: r.checksum },
      );
    },

    chunks(ids) {
      const os = t.objectStore('chunks');
      return Promise.all(ids.map((id) => os.get([name, id])));
    },

    chunksOfDocument: (docId) => t.objectStore('chunks').index('byDoc').getAll([name, docId]),

    async eachChunk(visit) {
      const os = t.objectStore('chunks');
      // A page of records at a time (a cursor that moves a page at a time).
      for (let after = -Infinity; ; ) {
        const page = await os.getAll(IDBKeyRange.bound([name, after], [name, Infinity], true, false), 1024);
        visit(page);
        if (page.length < 1024) break;
        after = page[page.length - 1]!.id;
      }
    },

    async buckets(buckets) {
      const os = t.objectStore('terms');
      const raw = await Promise.all(buckets.map((b) => os.get([name, b])));
      return raw.map((r) => r && { value: new Uint8Array(r.data), checksum: r.checksum });
    },
  };
}

/** Reads and writes of index `name` inside the read-write transaction `t`. */
function writer(t: IDBPTransaction<WeftSchema, Stores[], 'readwrite'>, name: string): RecordWriter {
  return {
    ...reader(t, name),

    async putManifest(m) {
      await t.objectStore('manifests').put(m);
    },

    async putCentroids(c, checksum) {
      await t.objectStore('centroids').put({
        index: name,
        centroids: bytesOf(c.centroids),
        checksum,
        ...(c.vmin ? { vmin: bytesOf(c.vmin) } : {}),
        ...(c.scale ? { scale: bytesOf(c.scale) } : {}),
        ...(c.codebook ? { codebook: bytesOf(c.codebook) } : {}),
      });
    },

    async putList(rec, checksum) {
      await t.objectStore('lists').put({ index: name, list: rec.list, count: rec.count, ids: bytesOf(rec.ids), codes: bytesOf(rec.codes), checksum });
    },

    async putChunk(r) {
      await t.objectStore('chunks').put(r);
    },

    async deleteChunk(id) {
      await t.objectStore('chunks').delete([name, id]);
    },

    async putBucket(b) {
      if (b.bytes.length <= 1) await t.objectStore('terms').delete([name, b.bucket]);
      else await t.objectStore('terms').put({ index: name, bucket: b.bucket, data: bytesOf(b.bytes), checksum: b.checksum });
    },

    async clearBuckets() {
      await t.objectStore('terms').delete(keysOf(name));
    },

    async clearRecords() {
      await t.objectStore('lists').delete(keysOf(name));
      await t.objectStore('chunks').delete(keysOf(name));
      await t.objectStore('terms').delete(keysOf(name));
    },

    async resetAccessCounts(nlist) {
      await t.objectStore('stats').put({ index: name, access: new ArrayBuffer(nlist * 8) });
    },

    async deleteIndex() {
      await t.objectStore('manifests').delete(name);
      await t.objectStore('centroids').delete(name);
      await t.objectStore('stats').delete(name);
      await t.objectStore('lists').delete(keysOf(name));
      await t.objectStore('chunks').delete(keysOf(name));
      await t.objectStore('terms').delete(keysOf(name));
    },
  };
}

/** Deletes a whole Weft database (every index in it). */
export async function deleteStore(dbName = 'weft'): Promise<void> {
  await deleteDB(dbName, {
    blocked() {
      /* open connections close themselves on versionchange */
    },
  });
}
