// The CPU tier: named IVF indexes in IndexedDB (through idb, with a typed schema). One record
// per IVF list holds its ids and its vectors in the GPU's interleaved layout, so one read is one
// upload. Every write of an ingest is one transaction: a closed page, an AbortSignal or a full
// disk leaves the last committed index as it was. Every record carries a CRC-32 that is checked
// on read; the manifest keeps them too, so a record replaced behind our back is caught as well.

import { deleteDB, openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import { WeftError } from '../errors.js';
import type { ListRecord, Metric, StorageType } from '../ivf/types.js';

export type { ListRecord };
import { crc32 } from './checksum.js';

/** Version of the record formats below (bumped when a stored shape changes). */
export const FORMAT_VERSION = 1;
/** IndexedDB schema version. */
const DB_VERSION = 1;

export interface Manifest {
  name: string;
  formatVersion: number;
  dim: number;
  metric: Metric;
  storage: StorageType;
  nlist: number;
  /** The embedding model the vectors came from (so a query embedder can be checked against it). */
  modelId: string;
  /** Live vectors (tombstoned ones excluded). */
  count: number;
  /** Deleted vectors still present in list records until compaction. */
  tombstones: number;
  /** CRC-32 of each list record, by list id. */
  checksums: number[];
  /** Slots of each list record (live vectors and tombstones). */
  listCounts: number[];
  /** The next automatically assigned vector id. */
  nextId: number;
  centroidsChecksum: number;
  createdAt: number;
  updatedAt: number;
  /** Incremented by every commit; a commit based on an older generation is refused (CONFLICT). */
  generation: number;
}


/** What is kept per vector besides the vector: its list, and the passage it embeds (if any). */
export interface ChunkRecord {
  id: number;
  /** The IVF list holding the vector (how a delete finds it). */
  list: number;
  docId: string;
  text: string;
  metadata?: Record<string, unknown>;
}

export interface CentroidData {
  centroids: Float32Array;
  vmin?: Float32Array;
  scale?: Float32Array;
}

export interface WholeIndex {
  manifest: Manifest;
  centroids: CentroidData;
  lists: ListRecord[];
  chunks: ChunkRecord[];
}

interface StoredList { index: string; list: number; count: number; ids: ArrayBuffer; codes: ArrayBuffer; checksum: number }
interface StoredChunk extends ChunkRecord { index: string }
interface StoredCentroids { index: string; centroids: ArrayBuffer; vmin?: ArrayBuffer; scale?: ArrayBuffer; checksum: number }
interface StoredStats { index: string; access: ArrayBuffer }

interface WeftSchema extends DBSchema {
  manifests: { key: string; value: Manifest };
  centroids: { key: string; value: StoredCentroids };
  lists: { key: [string, number]; value: StoredList };
  chunks: { key: [string, number]; value: StoredChunk; indexes: { byDoc: [string, string] } };
  stats: { key: string; value: StoredStats };
}

type Stores = StoreNames<WeftSchema>;
const ALL_STORES: Stores[] = ['manifests', 'centroids', 'lists', 'chunks', 'stats'];

export interface CommitChanges {
  /** Whole new records for the lists that changed. */
  lists?: ListRecord[];
  putChunks?: ChunkRecord[];
  deleteChunks?: number[];
  /** Change in live vectors and tombstones. */
  countDelta?: number;
  tombstoneDelta?: number;
  nextId?: number;
}

export interface WeftStore {
  readonly dbName: string;
  listIndexes(): Promise<Manifest[]>;
  manifest(name: string): Promise<Manifest>;
  createIndex(init: { name: string; dim: number; metric: Metric; storage: StorageType; nlist: number; modelId?: string } & CentroidData): Promise<Manifest>;
  deleteIndex(name: string): Promise<void>;
  readCentroids(name: string): Promise<CentroidData>;
  /** Reads list records, verifying each checksum (CORRUPT_RECORD names the list). */
  readLists(name: string, lists: readonly number[]): Promise<ListRecord[]>;
  /** Applies all changes in one transaction, only if the index is still at `generation`. */
  commit(name: string, generation: number, changes: CommitChanges, signal?: AbortSignal): Promise<Manifest>;
  readChunks(name: string, ids: readonly number[]): Promise<(ChunkRecord | undefined)[]>;
  chunkIdsOfDocument(name: string, docId: string): Promise<number[]>;
  /** Every record of an index, checked, for export. */
  readWholeIndex(name: string): Promise<WholeIndex>;
  /** Writes a whole index (an import) in one transaction; refuses an existing name unless `replace`. */
  writeWholeIndex(whole: WholeIndex, options?: { replace?: boolean }): Promise<Manifest>;
  readAccessCounts(name: string): Promise<Float64Array>;
  writeAccessCounts(name: string, counts: Float64Array): Promise<void>;
  close(): void;
}

export interface StoreOptions {
  /** IndexedDB database name. Default 'weft'. */
  dbName?: string;
  /** Called when another tab upgrades or deletes the database; this connection has already closed. */
  onClosedByOtherTab?: () => void;
}

export function listChecksum(r: ListRecord): number {
  return crc32(new Uint32Array([r.list, r.count]), r.ids, r.codes);
}

function centroidChecksum(c: CentroidData): number {
  return crc32(c.centroids, c.vmin ?? new Uint8Array(0), c.scale ?? new Uint8Array(0));
}

/** Turns IndexedDB failures into WeftErrors; a full disk gets its own code. */
export function storageError(e: unknown, what: string): WeftError {
  if (e instanceof WeftError) return e;
  const name = (e as { name?: string } | null)?.name;
  if (name === 'QuotaExceededError') {
    return new WeftError('STORAGE_FULL', `${what} did not fit in this site's storage quota; nothing was changed. Free space (delete an index) or ask the browser for persistent storage.`, { cause: e });
  }
  if (name === 'AbortError') {
    return new WeftError('ABORTED', `${what} was aborted; nothing was changed.`, { cause: e });
  }
  return new WeftError('STORAGE_ERROR', `${what} failed in IndexedDB (${name ?? 'error'}: ${(e as Error)?.message ?? String(e)}).`, { cause: e });
}

function bytesOf(v: ArrayBufferView): ArrayBuffer {
  return (v.buffer as ArrayBuffer).slice(v.byteOffset, v.byteOffset + v.byteLength);
}

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

  const tx = <S extends Stores[], M extends IDBTransactionMode>(stores: S, mode: M): IDBPTransaction<WeftSchema, S, M> => {
    try {
      return db.transaction(stores, mode);
    } catch (e) {
      throw storageError(e, 'Starting a transaction');
    }
  };

  const getManifest = async (t: IDBPTransaction<WeftSchema, Stores[], IDBTransactionMode>, name: string) => {
    const m = await t.objectStore('manifests').get(name);
    if (!m) throw new WeftError('UNKNOWN_INDEX', `There is no index named '${name}' in this site's storage. Create it first, or list the existing ones with listIndexes().`, { details: { name } });
    if (m.formatVersion > FORMAT_VERSION) {
      throw new WeftError('UNSUPPORTED_FORMAT', `Index '${name}' was written by a newer Weft (format ${m.formatVersion}; this one reads ${FORMAT_VERSION}). Update Weft.`);
    }
    return m;
  };

  const store: WeftStore = {
    dbName,

    async listIndexes() {
      try {
        return await db.getAll('manifests');
      } catch (e) { throw storageError(e, 'Listing indexes'); }
    },

    async manifest(name) {
      const t = tx(['manifests'], 'readonly');
      return getManifest(t as never, name);
    },

    async createIndex(init) {
      const now = Date.now();
      const centroids: CentroidData = { centroids: init.centroids, ...(init.vmin ? { vmin: init.vmin } : {}), ...(init.scale ? { scale: init.scale } : {}) };
      const manifest: Manifest = {
        name: init.name, formatVersion: FORMAT_VERSION, dim: init.dim, metric: init.metric, storage: init.storage,
        nlist: init.nlist, modelId: init.modelId ?? '', count: 0, tombstones: 0, nextId: 0,
        checksums: [], listCounts: new Array<number>(init.nlist).fill(0), centroidsChecksum: centroidChecksum(centroids), createdAt: now, updatedAt: now, generation: 1,
      };
      const empty = { ids: new Uint32Array(0), codes: new Uint32Array(0), count: 0 };
      for (let l = 0; l < init.nlist; l++) manifest.checksums.push(listChecksum({ list: l, ...empty }));
      const t = tx(['manifests', 'centroids', 'lists', 'stats'], 'readwrite');
      try {
        if (await t.objectStore('manifests').get(init.name)) {
          t.abort();
          throw new WeftError('INDEX_EXISTS', `An index named '${init.name}' already exists. Open it, or delete it first to start over.`, { details: { name: init.name } });
        }
        await t.objectStore('manifests').put(manifest);
        await t.objectStore('centroids').put({
          index: init.name, centroids: bytesOf(init.centroids), checksum: manifest.centroidsChecksum,
          ...(init.vmin ? { vmin: bytesOf(init.vmin) } : {}), ...(init.scale ? { scale: bytesOf(init.scale) } : {}),
        });
        for (let l = 0; l < init.nlist; l++) {
          await t.objectStore('lists').put({ index: init.name, list: l, count: 0, ids: new ArrayBuffer(0), codes: new ArrayBuffer(0), checksum: manifest.checksums[l]! });
        }
        await t.objectStore('stats').put({ index: init.name, access: new ArrayBuffer(init.nlist * 8) });
        await t.done;
        return manifest;
      } catch (e) {
        await t.done.catch(() => undefined);
        throw storageError(e, `Creating index '${init.name}'`);
      }
    },

    async deleteIndex(name) {
      const t = tx(ALL_STORES, 'readwrite');
      try {
        await getManifest(t as never, name);
        await t.objectStore('manifests').delete(name);
        await t.objectStore('centroids').delete(name);
        await t.objectStore('stats').delete(name);
        await t.objectStore('lists').delete(IDBKeyRange.bound([name, -Infinity], [name, Infinity]));
        await t.objectStore('chunks').delete(IDBKeyRange.bound([name, -Infinity], [name, Infinity]));
        await t.done;
      } catch (e) {
        t.abort?.();
        await t.done.catch(() => undefined);
        throw storageError(e, `Deleting index '${name}'`);
      }
    },

    async readCentroids(name) {
      const t = tx(['manifests', 'centroids'], 'readonly');
      const m = await getManifest(t as never, name);
      const r = await t.objectStore('centroids').get(name);
      if (!r) throw new WeftError('CORRUPT_RECORD', `The centroids of index '${name}' are missing. Rebuild the index.`, { details: { name } });
      const data: CentroidData = {
        centroids: new Float32Array(r.centroids),
        ...(r.vmin ? { vmin: new Float32Array(r.vmin) } : {}),
        ...(r.scale ? { scale: new Float32Array(r.scale) } : {}),
      };
      if (centroidChecksum(data) !== r.checksum || r.checksum !== m.centroidsChecksum) {
        throw new WeftError('CORRUPT_RECORD', `The centroids of index '${name}' fail their checksum. Rebuild or re-import the index.`, { details: { name, record: 'centroids' } });
      }
      return data;
    },

    async readLists(name, lists) {
      const t = tx(['manifests', 'lists'], 'readonly');
      const m = await getManifest(t as never, name);
      const out: ListRecord[] = [];
      const os = t.objectStore('lists');
      const raw = await Promise.all(lists.map((l) => os.get([name, l])));
      raw.forEach((r, i) => {
        const l = lists[i]!;
        if (!r) throw new WeftError('CORRUPT_RECORD', `List ${l} of index '${name}' is missing.`, { details: { name, list: l } });
        const rec: ListRecord = { list: r.list, count: r.count, ids: new Uint32Array(r.ids), codes: new Uint32Array(r.codes) };
        const sum = listChecksum(rec);
        if (sum !== r.checksum || sum !== m.checksums[l] || rec.ids.length !== rec.count) {
          throw new WeftError('CORRUPT_RECORD', `List ${l} of index '${name}' fails its checksum: the record is damaged. The other lists are unaffected; rebuild or re-import the index to repair it.`, { details: { name, list: l } });
        }
        out.push(rec);
      });
      return out;
    },

    async commit(name, generation, changes, signal) {
      if (signal?.aborted) throw storageError(signal.reason ?? new DOMException('Aborted', 'AbortError'), `Committing to index '${name}'`);
      const t = tx(['manifests', 'lists', 'chunks'], 'readwrite');
      const onAbort = () => t.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const m = await getManifest(t as never, name);
        if (m.generation !== generation) {
          throw new WeftError('CONFLICT', `Index '${name}' changed since it was read (another tab wrote to it). Reopen it and try again.`, { details: { name, expected: generation, found: m.generation } });
        }
        const next: Manifest = { ...m, checksums: m.checksums.slice(), listCounts: m.listCounts.slice(), generation: m.generation + 1, updatedAt: Date.now() };
        for (const rec of changes.lists ?? []) {
          const checksum = listChecksum(rec);
          next.checksums[rec.list] = checksum;
          next.listCounts[rec.list] = rec.count;
          await t.objectStore('lists').put({ index: name, list: rec.list, count: rec.count, ids: bytesOf(rec.ids), codes: bytesOf(rec.codes), checksum });
        }
        for (const c of changes.putChunks ?? []) await t.objectStore('chunks').put({ ...c, index: name });
        for (const id of changes.deleteChunks ?? []) await t.objectStore('chunks').delete([name, id]);
        next.count += changes.countDelta ?? 0;
        next.tombstones += changes.tombstoneDelta ?? 0;
        if (changes.nextId !== undefined) next.nextId = Math.max(next.nextId, changes.nextId);
        await t.objectStore('manifests').put(next);
        await t.done;
        return next;
      } catch (e) {
        try { t.abort(); } catch { /* already finished */ }
        await t.done.catch(() => undefined);
        throw storageError(e, `Committing to index '${name}'`);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },

    async readChunks(name, ids) {
      const t = tx(['chunks'], 'readonly');
      const os = t.objectStore('chunks');
      const raw = await Promise.all(ids.map((id) => os.get([name, id])));
      return raw.map((r) => {
        if (!r) return undefined;
        const { index: _index, ...chunk } = r;
        return chunk;
      });
    },

    async chunkIdsOfDocument(name, docId) {
      const keys = await db.getAllKeysFromIndex('chunks', 'byDoc', [name, docId]);
      return keys.map((k) => k[1]);
    },

    async readWholeIndex(name) {
      const manifest = await store.manifest(name);
      const centroids = await store.readCentroids(name);
      const lists = await store.readLists(name, Array.from({ length: manifest.nlist }, (_, i) => i));
      const raw = await db.getAll('chunks', IDBKeyRange.bound([name, -Infinity], [name, Infinity]));
      const chunks = raw.map(({ index: _index, ...c }) => c);
      return { manifest, centroids, lists, chunks };
    },

    async writeWholeIndex(whole, opts = {}) {
      const name = whole.manifest.name;
      const t = tx(ALL_STORES, 'readwrite');
      try {
        const existing = await t.objectStore('manifests').get(name);
        if (existing && !opts.replace) {
          throw new WeftError('INDEX_EXISTS', `An index named '${name}' already exists. Import under another name, or pass replace: true.`, { details: { name } });
        }
        if (existing) {
          await t.objectStore('lists').delete(IDBKeyRange.bound([name, -Infinity], [name, Infinity]));
          await t.objectStore('chunks').delete(IDBKeyRange.bound([name, -Infinity], [name, Infinity]));
        }
        const m: Manifest = {
          ...whole.manifest, formatVersion: FORMAT_VERSION, generation: (existing?.generation ?? 0) + 1, updatedAt: Date.now(),
          checksums: whole.lists.map(listChecksum), listCounts: whole.lists.map((l) => l.count), centroidsChecksum: centroidChecksum(whole.centroids),
        };
        await t.objectStore('manifests').put(m);
        const c = whole.centroids;
        await t.objectStore('centroids').put({
          index: name, centroids: bytesOf(c.centroids), checksum: m.centroidsChecksum,
          ...(c.vmin ? { vmin: bytesOf(c.vmin) } : {}), ...(c.scale ? { scale: bytesOf(c.scale) } : {}),
        });
        for (const r of whole.lists) {
          await t.objectStore('lists').put({ index: name, list: r.list, count: r.count, ids: bytesOf(r.ids), codes: bytesOf(r.codes), checksum: listChecksum(r) });
        }
        for (const ch of whole.chunks) await t.objectStore('chunks').put({ ...ch, index: name });
        await t.objectStore('stats').put({ index: name, access: new ArrayBuffer(m.nlist * 8) });
        await t.done;
        return m;
      } catch (e) {
        try { t.abort(); } catch { /* finished */ }
        await t.done.catch(() => undefined);
        throw storageError(e, `Importing index '${name}'`);
      }
    },

    async readAccessCounts(name) {
      const r = await db.get('stats', name);
      return r ? new Float64Array(r.access) : new Float64Array(0);
    },

    async writeAccessCounts(name, counts) {
      try {
        await db.put('stats', { index: name, access: bytesOf(counts) });
      } catch (e) { throw storageError(e, `Saving access statistics of '${name}'`); }
    },

    close() { db.close(); },
  };
  return store;
}

/** Deletes a whole Weft database (every index in it). */
export async function deleteStore(dbName = 'weft'): Promise<void> {
  await deleteDB(dbName, {
    blocked() { /* open connections close themselves on versionchange */ },
  });
}
