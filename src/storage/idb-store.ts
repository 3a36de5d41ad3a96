// The CPU tier: named IVF indexes in IndexedDB (through idb, with a typed schema). One record
// per IVF list holds its ids and its vectors in the GPU's interleaved layout, so one read is one
// upload. Every write of an ingest is one transaction: a closed page, an AbortSignal or a full
// disk leaves the last committed index as it was. Every record carries a CRC-32 that is checked
// on read (lists, centroids, chunks, the manifest itself); the manifest keeps those of the lists
// and centroids too, so a record replaced behind our back is caught as well. A whole index (an
// import, a rebuild) is checked for consistency before it is written.
// This file is the store object itself (its transactions); the record formats and checksums are
// in records.ts, the consistency checks in index-checks.ts.
// Over 400 lines: until the backends' shared rules (migration, the commit's checks and manifest)
// move into one storage core over thin backends; read-checks.ts is the first piece.

import { deleteDB, openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import { WeftError } from '../errors.js';
import type { ListRecord } from '../ivf/types.js';
import { checkListNumbers, checkedCentroids, checkedList, localIndex } from './read-checks.js';
import { centroidProblem, checkCommit, checkIds, isInt, manifestProblem, wholeIndexProblem } from './index-checks.js';
import {
  FORMAT_VERSION,
  Outdated,
  checkedChunk,
  checkedManifest,
  listChecksum,
  publicManifest,
  sealedManifest,
  storedChunk,
  unknownIndex,
  type CentroidData,
  type ChunkRecord,
  type CommitChanges,
  type Manifest,
  type StoredChunk,
  type StoredManifest,
  type WholeIndex,
} from './records.js';
import {
  checkedWholeWrite,
  commitProgress,
  grownCentroids,
  movedChunk,
  newIndexManifest,
  wholeIndexManifest,
  withEmptyChecksums,
} from './manifest-builders.js';
import { checkLanguage, loadAnalyzer, DEFAULT_LANGUAGE, type Analyzer } from '../lexical/analyzer.js';
import { DEFAULT_BUCKETS } from '../lexical/postings.js';
import {
  analyzerOf,
  checkBuckets,
  checkedBucket,
  lexicalOf,
  postingChange,
  wholePostingsWith,
  type EncodedBucket,
  type TermBucket,
} from './lexical-records.js';
import type { CatalogEntry, WeftStore } from './contract.js';

export { FORMAT_VERSION, listChecksum, manifestProblem, wholeIndexProblem };
export type { CentroidData, ChunkRecord, CommitChanges, ListRecord, Manifest, TermBucket, WholeIndex };

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

// ---- the store ------------------------------------------------------------------------------

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

  type Tx = IDBPTransaction<WeftSchema, Stores[], IDBTransactionMode>;
  const tx = <S extends Stores[], M extends IDBTransactionMode>(stores: S, mode: M): IDBPTransaction<WeftSchema, S, M> => {
    try {
      return db.transaction(stores, mode);
    } catch (e) {
      throw storageError(e, 'Starting a transaction');
    }
  };

  /** Aborts a transaction that failed part-way (if it is still running) and waits for it to end. */
  const abandon = async (t: { abort(): void; done: Promise<void> }) => {
    try {
      t.abort();
    } catch {
      /* already finished */
    }
    await t.done.catch(() => undefined);
  };

  /** One transaction's work; any failure comes out as a WeftError. */
  const within = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw storageError(e, what);
    }
  };

  const getManifest = async (t: Tx, name: string): Promise<Manifest> => {
    const r = await t.objectStore('manifests').get(name);
    if (!r) throw unknownIndex(name);
    return checkedManifest(name, r);
  };

  /**
   * Brings an index of an older format to this one in one transaction: the checksums of format 2
   * (format 1), then the lexical index built from its chunks (formats 1 and 2). A chunk whose
   * record fails its checksum is left out of the postings (reading it stays CORRUPT_RECORD).
   */
  const migrate = async (name: string): Promise<void> => {
    const analyzer = await loadAnalyzer(DEFAULT_LANGUAGE);
    const t = tx(['manifests', 'chunks', 'terms'], 'readwrite');
    try {
      const r = await t.objectStore('manifests').get(name);
      if (r && r.formatVersion < FORMAT_VERSION) {
        // A damaged manifest is not migrated (reading it stays CORRUPT_RECORD).
        if (r.manifestChecksum !== undefined) checkedManifestOf(name, r);
        const chunks: ChunkRecord[] = [];
        let cursor = await t.objectStore('chunks').openCursor(keysOf(name));
        while (cursor) {
          if (cursor.value.checksum === undefined) await cursor.update(storedChunk(name, cursor.value));
          try {
            chunks.push(checkedChunk(name, cursor.value.checksum === undefined ? storedChunk(name, cursor.value) : cursor.value));
          } catch {
            /* damaged: not indexed */
          }
          cursor = await cursor.continue();
        }
        const built = wholePostingsWith(analyzer, chunks, DEFAULT_BUCKETS);
        await t.objectStore('terms').delete(keysOf(name));
        for (const b of built.records) await putBucket(t as never, name, b);
        const { manifestChecksum: _, ...fields } = r;
        // nextId above every stored chunk id (what commits rely on from format 3 on).
        const nextId = chunks.reduce((n, c) => Math.max(n, c.id + 1), fields.nextId);
        await t.objectStore('manifests').put(sealedManifest({ ...fields, nextId, formatVersion: FORMAT_VERSION, lexical: built.lexical }));
      }
      await t.done;
    } catch (e) {
      await abandon(t);
      throw storageError(e, `Migrating index '${name}' to format ${FORMAT_VERSION}`);
    }
  };

  /** A format-2 manifest's checksum checked (checkedManifest also refuses it as outdated). */
  const checkedManifestOf = (name: string, r: StoredManifest) => {
    try {
      return checkedManifest(name, r);
    } catch (e) {
      if (e instanceof Outdated) return publicManifest(r);
      throw e;
    }
  };

  /** Writes (or, empty, removes) a term bucket record. */
  const putBucket = async (t: IDBPTransaction<WeftSchema, Stores[], 'readwrite'>, name: string, b: EncodedBucket) => {
    if (b.bytes.length <= 1) await t.objectStore('terms').delete([name, b.bucket]);
    else await t.objectStore('terms').put({ index: name, bucket: b.bucket, data: bytesOf(b.bytes), checksum: b.checksum });
  };

  const bucketsOf = async (
    t: Tx,
    name: string,
    m: Manifest,
    buckets: readonly number[],
    only?: ReadonlySet<string>,
    keepRaw = false,
  ): Promise<TermBucket[]> => {
    checkBuckets(name, m, buckets);
    const os = t.objectStore('terms');
    const raw = await Promise.all(buckets.map((b) => os.get([name, b])));
    return raw.map((r, i) => checkedBucket(name, m, buckets[i]!, r ? new Uint8Array(r.data) : undefined, r?.checksum, only, keepRaw));
  };

  /** The analyzer of an index's language, loaded before a transaction needs it (a transaction cannot wait for a module). */
  const analyzerFor = (name: string): Promise<Analyzer> =>
    current(name, () =>
      within(`Reading the manifest of index '${name}'`, async () => analyzerOf(await getManifest(tx(['manifests'], 'readonly') as never, name))),
    );

  /** Runs `op` on index `name`; if the index is still in an older format, migrates it and runs `op` again. */
  const current = async <T>(name: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (e) {
      if (!(e instanceof Outdated)) throw e;
    }
    await migrate(name);
    return op();
  };

  const centroidsOf = async (t: Tx, name: string, m: Manifest): Promise<CentroidData> => {
    const r = await t.objectStore('centroids').get(name);
    const data: CentroidData | undefined = r && {
      centroids: new Float32Array(r.centroids),
      ...(r.vmin ? { vmin: new Float32Array(r.vmin) } : {}),
      ...(r.scale ? { scale: new Float32Array(r.scale) } : {}),
    };
    return checkedCentroids(localIndex(name), m, data, r?.checksum);
  };

  const listsOf = async (t: Tx, name: string, m: Manifest, lists: readonly number[]): Promise<ListRecord[]> => {
    checkListNumbers(localIndex(name), m.nlist, lists);
    const os = t.objectStore('lists');
    const raw = await Promise.all(lists.map((l) => os.get([name, l])));
    return raw.map((r, i) => {
      const rec: ListRecord | undefined = r && { list: r.list, count: r.count, ids: new Uint32Array(r.ids), codes: new Uint32Array(r.codes) };
      return checkedList(localIndex(name), m, lists[i]!, rec, r?.checksum);
    });
  };

  const store: WeftStore = {
    dbName,

    async listIndexes() {
      const read = () => within('Listing indexes', () => db.getAll('manifests'));
      let all = await read();
      const outdated = all.filter((r) => r.formatVersion < FORMAT_VERSION);
      for (const r of outdated) await migrate(r.name);
      if (outdated.length > 0) all = await read();
      // Indexes of a newer format are listed as they are (this Weft cannot check or open them).
      // One still waiting for its first commit (pending) does not exist yet for anyone listing.
      return all.filter((r) => r.pending !== true).map((r) => (r.formatVersion > FORMAT_VERSION ? publicManifest(r) : checkedManifest(r.name, r)));
    },

    manifest(name) {
      return current(name, () => within(`Reading the manifest of index '${name}'`, () => getManifest(tx(['manifests'], 'readonly') as never, name)));
    },

    async createIndex(init) {
      checkLanguage(init?.language);
      const fresh = newIndexManifest(init);
      const problem = manifestProblem(fresh.manifest) ?? centroidProblem(fresh.centroids, init.dim, init.nlist, init.storage);
      if (problem) throw new WeftError('INVALID_OPTION', `Index '${String(init.name)}' was not created: ${problem}`);
      const manifest = withEmptyChecksums(fresh.manifest, fresh.centroids);
      const t = tx(['manifests', 'centroids', 'lists', 'stats'], 'readwrite');
      try {
        if (await t.objectStore('manifests').get(init.name)) {
          throw new WeftError('INDEX_EXISTS', `An index named '${init.name}' already exists. Open it, or delete it first to start over.`, {
            details: { name: init.name },
          });
        }
        await t.objectStore('manifests').put(sealedManifest(manifest));
        await t.objectStore('centroids').put({
          index: init.name,
          centroids: bytesOf(init.centroids),
          checksum: manifest.centroidsChecksum,
          ...(init.vmin ? { vmin: bytesOf(init.vmin) } : {}),
          ...(init.scale ? { scale: bytesOf(init.scale) } : {}),
        });
        for (let l = 0; l < init.nlist; l++) {
          await t
            .objectStore('lists')
            .put({ index: init.name, list: l, count: 0, ids: new ArrayBuffer(0), codes: new ArrayBuffer(0), checksum: manifest.checksums[l]! });
        }
        await t.objectStore('stats').put({ index: init.name, access: new ArrayBuffer(init.nlist * 8) });
        await t.done;
        return manifest;
      } catch (e) {
        await abandon(t);
        throw storageError(e, `Creating index '${init.name}'`);
      }
    },

    async deleteIndex(name, options = {}) {
      // Only existence is checked: a damaged index must stay deletable.
      const t = tx(ALL_STORES, 'readwrite');
      try {
        const m = await t.objectStore('manifests').get(name);
        if (!m) throw unknownIndex(name);
        if (options.onlyPending && m.pending !== true) {
          await abandon(t);
          return;
        } // a commit landed: it is someone's index now
        await t.objectStore('manifests').delete(name);
        await t.objectStore('centroids').delete(name);
        await t.objectStore('stats').delete(name);
        await t.objectStore('lists').delete(keysOf(name));
        await t.objectStore('chunks').delete(keysOf(name));
        await t.objectStore('terms').delete(keysOf(name));
        await t.done;
      } catch (e) {
        await abandon(t);
        throw storageError(e, `Deleting index '${name}'`);
      }
    },

    readCentroids(name) {
      return current(name, () =>
        within(`Reading the centroids of index '${name}'`, async () => {
          const t = tx(['manifests', 'centroids'], 'readonly');
          return centroidsOf(t as never, name, await getManifest(t as never, name));
        }),
      );
    },

    readLists(name, lists) {
      return current(name, () =>
        within(`Reading lists of index '${name}'`, async () => {
          const t = tx(['manifests', 'lists'], 'readonly');
          return listsOf(t as never, name, await getManifest(t as never, name), lists);
        }),
      );
    },

    async commit(name, generation, changes, signal, onProgress) {
      if (signal?.aborted) throw storageError(signal.reason ?? new DOMException('Aborted', 'AbortError'), `Committing to index '${name}'`);
      checkIds(
        (changes.putChunks ?? []).map((c) => c?.id),
        `Commit to index '${name}'`,
      );
      checkIds(changes.deleteChunks ?? [], `Commit to index '${name}'`);
      return current(name, async () => {
        const analyzer = await analyzerFor(name);
        const t = tx(changes.centroids ? ['manifests', 'lists', 'chunks', 'terms', 'centroids'] : ['manifests', 'lists', 'chunks', 'terms'], 'readwrite');
        const onAbort = () => t.abort();
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          // Aborted while the analyzer loaded: nothing is written.
          if (signal?.aborted) throw signal.reason ?? new DOMException('Aborted', 'AbortError');
          const m = await getManifest(t as never, name);
          if (m.generation !== generation) {
            throw new WeftError('CONFLICT', `Index '${name}' changed since it was read (another tab wrote to it). Reopen it and try again.`, {
              details: { name, expected: generation, found: m.generation },
            });
          }
          checkCommit(name, m, changes);
          const next: Manifest = {
            ...m,
            checksums: m.checksums.slice(),
            listCounts: m.listCounts.slice(),
            generation: m.generation + 1,
            updatedAt: Date.now(),
          };
          delete next.pending; // the first commit makes a pending index exist
          if (changes.centroids) {
            const grown = grownCentroids(name, m, await centroidsOf(t as never, name, m), changes);
            Object.assign(next, grown.manifest);
            await t.objectStore('centroids').put({
              index: name,
              centroids: bytesOf(changes.centroids.centroids),
              checksum: next.centroidsChecksum,
              ...(changes.centroids.vmin ? { vmin: bytesOf(changes.centroids.vmin) } : {}),
              ...(changes.centroids.scale ? { scale: bytesOf(changes.centroids.scale) } : {}),
            });
            for (const l of grown.emptyLists)
              await t
                .objectStore('lists')
                .put({ index: name, list: l, count: 0, ids: new ArrayBuffer(0), codes: new ArrayBuffer(0), checksum: next.checksums[l]! });
          }
          for (const rec of changes.lists ?? []) {
            const checksum = listChecksum(rec);
            next.checksums[rec.list] = checksum;
            next.listCounts[rec.list] = rec.count;
            await t.objectStore('lists').put({ index: name, list: rec.list, count: rec.count, ids: bytesOf(rec.ids), codes: bytesOf(rec.codes), checksum });
          }
          // The postings follow the chunks in this transaction: those of the chunks deleted or
          // overwritten go (their stored texts read here), those of the chunks put come.
          const puts = changes.putChunks ?? [],
            dels = changes.deleteChunks ?? [];
          const chunkStore = t.objectStore('chunks');
          // Every stored id is below nextId, so a put at or past it overwrites nothing (an add's new ids).
          const touched = [...new Set([...dels, ...puts.map((c) => c.id).filter((id) => id < m.nextId)])];
          const olds = await Promise.all(touched.map((id) => chunkStore.get([name, id])));
          const removed: ChunkRecord[] = [],
            damaged: number[] = [];
          for (const r of olds) {
            if (!r) continue;
            try {
              removed.push(checkedChunk(name, r));
            } catch {
              damaged.push(r.id);
            }
          }
          const lex = lexicalOf(m);
          if (analyzer.language !== lex.language)
            throw new WeftError('CONFLICT', `Index '${name}' was replaced while this commit was prepared. Try again.`, { details: { name } });
          const change = postingChange(analyzer, lex, removed, damaged, puts);
          const { records: buckets, lexical } = change.apply(await bucketsOf(t as never, name, m, change.buckets, change.terms, true));
          next.lexical = lexical;
          const progress = commitProgress(changes, buckets.length, onProgress);
          for (const c of puts) {
            await chunkStore.put(storedChunk(name, c));
            progress();
          }
          for (const id of dels) {
            await chunkStore.delete([name, id]);
            progress();
          }
          for (const mv of changes.moveChunks ?? []) {
            const r = await chunkStore.get([name, mv.id]);
            if (r) await chunkStore.put(movedChunk(name, r, mv.list));
            progress();
          }
          for (const b of buckets) {
            await putBucket(t as never, name, b);
            progress();
          }
          next.count += changes.countDelta ?? 0;
          next.tombstones += changes.tombstoneDelta ?? 0;
          if (changes.nextId !== undefined) next.nextId = Math.max(next.nextId, changes.nextId);
          // nextId stays above every stored chunk id (what lets a commit skip looking for chunks its puts would overwrite).
          for (const c of puts) if (c.id >= next.nextId) next.nextId = c.id + 1;
          await t.objectStore('manifests').put(sealedManifest(next));
          await t.done;
          return next;
        } catch (e) {
          await abandon(t);
          // Aborted through the signal: whatever request failed first (the transaction was aborted under it), it is ABORTED.
          throw storageError(signal?.aborted && !(e instanceof WeftError) ? new DOMException('Aborted', 'AbortError') : e, `Committing to index '${name}'`);
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      });
    },

    async readChunks(name, ids) {
      checkIds(ids, 'readChunks');
      return current(name, () =>
        within(`Reading chunks of index '${name}'`, async () => {
          const t = tx(['manifests', 'chunks'], 'readonly');
          await getManifest(t as never, name);
          const os = t.objectStore('chunks');
          const raw = await Promise.all(ids.map((id) => os.get([name, id])));
          return raw.map((r) => (r ? checkedChunk(name, r) : undefined));
        }),
      );
    },

    chunkIdsOfDocument(name, docId) {
      return current(name, () =>
        within(`Finding the chunks of document '${docId}' in index '${name}'`, async () => {
          const t = tx(['manifests', 'chunks'], 'readonly');
          await getManifest(t as never, name);
          const raw = await t.objectStore('chunks').index('byDoc').getAll([name, docId]);
          return raw.map((r) => checkedChunk(name, r).id);
        }),
      );
    },

    readCatalog(name) {
      return current(name, () =>
        within(`Reading the chunk catalog of index '${name}'`, async () => {
          const t = tx(['manifests', 'chunks'], 'readonly');
          const manifest = await getManifest(t as never, name);
          const os = t.objectStore('chunks');
          const chunks: CatalogEntry[] = [];
          // In pages of records (a cursor that moves a page at a time): the texts are let go as it goes.
          for (let after = -Infinity; ; ) {
            const page = await os.getAll(IDBKeyRange.bound([name, after], [name, Infinity], true, false), 1024);
            for (const r of page) {
              const c = checkedChunk(name, r);
              chunks.push({ id: c.id, list: c.list, docId: c.docId, ...(c.metadata !== undefined ? { metadata: c.metadata } : {}) });
            }
            if (page.length < 1024) break;
            after = page[page.length - 1]!.id;
          }
          return { generation: manifest.generation, chunks };
        }),
      );
    },

    readWholeIndex(name) {
      return current(name, () =>
        within(`Reading index '${name}'`, async () => {
          // One transaction: the records read all belong to the manifest's generation.
          const t = tx(['manifests', 'centroids', 'lists', 'chunks'], 'readonly');
          const manifest = await getManifest(t as never, name);
          const centroids = await centroidsOf(t as never, name, manifest);
          const lists = await listsOf(
            t as never,
            name,
            manifest,
            Array.from({ length: manifest.nlist }, (_, i) => i),
          );
          const chunks = (await t.objectStore('chunks').getAll(keysOf(name))).map((r) => checkedChunk(name, r));
          return { manifest, centroids, lists, chunks };
        }),
      );
    },

    async writeWholeIndex(whole, opts = {}) {
      const name = checkedWholeWrite(whole, opts);
      // The postings, from the chunks (an export file carries none; a rebuild keeps the ids, so they come out the same).
      const analyzer = await loadAnalyzer(whole.manifest.lexical?.language ?? DEFAULT_LANGUAGE);
      const postings = wholePostingsWith(analyzer, whole.chunks, whole.manifest.lexical?.buckets ?? DEFAULT_BUCKETS);
      return current(name, async () => {
        const t = tx(ALL_STORES, 'readwrite');
        try {
          const raw = await t.objectStore('manifests').get(name);
          let replaced: Manifest | undefined;
          if (opts.expectGeneration !== undefined) {
            if (!raw) throw unknownIndex(name);
            replaced = checkedManifest(name, raw); // what getManifest does, without reading the record again
            if (replaced.generation !== opts.expectGeneration) {
              throw new WeftError(
                'CONFLICT',
                `Index '${name}' changed since it was read (another tab wrote to it); nothing was replaced. Read it again and retry.`,
                { details: { name, expected: opts.expectGeneration, found: replaced.generation } },
              );
            }
          } else if (raw) {
            // A pending index (a first ingest cut off before its first commit) exists for no one: replaced.
            if (!opts.replace && raw.pending !== true)
              throw new WeftError('INDEX_EXISTS', `An index named '${name}' already exists. Import under another name, or pass replace: true.`, {
                details: { name },
              });
            // An import may replace a damaged index; its fields are then not trusted.
            try {
              replaced = checkedManifest(name, raw);
            } catch (e) {
              replaced = e instanceof Outdated ? publicManifest(raw) : undefined;
            }
          }
          if (raw) {
            await t.objectStore('lists').delete(keysOf(name));
            await t.objectStore('chunks').delete(keysOf(name));
            await t.objectStore('terms').delete(keysOf(name));
          }
          const previous = replaced?.generation ?? (isInt(raw?.generation, 0, Number.MAX_SAFE_INTEGER) ? raw!.generation : 0);
          const m = wholeIndexManifest(whole, replaced, previous, postings.lexical);
          await t.objectStore('manifests').put(sealedManifest(m));
          const c = whole.centroids;
          await t.objectStore('centroids').put({
            index: name,
            centroids: bytesOf(c.centroids),
            checksum: m.centroidsChecksum,
            ...(c.vmin ? { vmin: bytesOf(c.vmin) } : {}),
            ...(c.scale ? { scale: bytesOf(c.scale) } : {}),
          });
          for (const r of whole.lists) {
            await t
              .objectStore('lists')
              .put({ index: name, list: r.list, count: r.count, ids: bytesOf(r.ids), codes: bytesOf(r.codes), checksum: listChecksum(r) });
          }
          for (const ch of whole.chunks) await t.objectStore('chunks').put(storedChunk(name, ch));
          for (const b of postings.records) await putBucket(t as never, name, b);
          await t.objectStore('stats').put({ index: name, access: new ArrayBuffer(m.nlist * 8) });
          await t.done;
          return m;
        } catch (e) {
          await abandon(t);
          throw storageError(e, `Writing index '${name}'`);
        }
      });
    },

    readTermBuckets(name, buckets, terms) {
      return current(name, () =>
        within(`Reading term buckets of index '${name}'`, async () => {
          const t = tx(['manifests', 'terms'], 'readonly');
          const manifest = await getManifest(t as never, name);
          return { manifest, buckets: await bucketsOf(t as never, name, manifest, buckets, terms ? new Set(terms) : undefined) };
        }),
      );
    },

    readAccessCounts(name) {
      return within(`Reading access statistics of '${name}'`, async () => {
        const r = await db.get('stats', name);
        return r ? new Float64Array(r.access) : new Float64Array(0);
      });
    },

    writeAccessCounts(name, counts) {
      return within(`Saving access statistics of '${name}'`, async () => {
        await db.put('stats', { index: name, access: bytesOf(counts) });
      });
    },

    close() {
      db.close();
    },
  };
  return store;
}

/** Deletes a whole Weft database (every index in it). */
export async function deleteStore(dbName = 'weft'): Promise<void> {
  await deleteDB(dbName, {
    blocked() {
      /* open connections close themselves on versionchange */
    },
  });
}
