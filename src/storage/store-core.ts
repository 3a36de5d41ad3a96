// The storage core: every rule of Weft's storage contract (contract.ts), written once over a thin
// backend (backend.ts) that only reads records and commits a write atomically. Here, for every
// backend alike: the argument checks, each record checked against its CRC-32 and the manifest's
// when read, indexes of an older format migrated when first used, what a commit may change and the
// manifest it produces (generation, counts, checksums, nextId, the postings that follow the
// chunks), a whole-index write over an existing one, and the error messages. The IndexedDB store
// (idb-store.ts) and the file store (file-store.ts) are `createStore(theirBackend)`.

import { WeftError } from '../errors.js';
import { emptyRecord } from '../ivf/list-records.js';
import { DEFAULT_LANGUAGE, checkLanguage, loadAnalyzer } from '../lexical/analyzer.js';
import { DEFAULT_BUCKETS } from '../lexical/postings.js';
import { LostRace, type RecordReader, type StorageBackend } from './backend.js';
import { writeCommit, writeMigration } from './commit-writes.js';
import type { CatalogEntry, WeftStore } from './contract.js';
import { centroidProblem, checkCommit, checkIds, isInt, manifestProblem } from './index-checks.js';
import { analyzerOf, wholePostingsWith } from './lexical-records.js';
import { checkedWholeWrite, newIndexManifest, wholeIndexManifest, withEmptyChecksums } from './manifest-builders.js';
import { checkedBucketsFrom, checkedCentroidsFrom, checkedListsFrom } from './read-checks.js';
import {
  FORMAT_VERSION,
  Outdated,
  checkedChunk,
  chunkVector,
  checkedManifest,
  publicManifest,
  sealedManifest,
  storedChunk,
  unknownIndex,
  type ChunkRecord,
  type Manifest,
  type StoredManifest,
} from './records.js';

/** How often a delete tries again after losing its race to a commit (each loss means one landed). */
const DELETE_ATTEMPTS = 16;

const corruptManifest = (name: string, why: string) =>
  new WeftError(
    'CORRUPT_RECORD',
    `The manifest of index '${name}' ${why}, so it cannot be trusted. Delete the index (deleteIndex) and re-import or rebuild it.`,
    {
      details: { name, record: 'manifest' },
    },
  );

const conflict = (name: string, expected: number, found: number | undefined, what: string) =>
  new WeftError('CONFLICT', `Index '${name}' changed since it was read (another tab or process wrote to it); ${what}. Read it again and retry.`, {
    details: { name, expected, found },
  });

const indexExists = (name: string, hint: string) => new WeftError('INDEX_EXISTS', `An index named '${name}' already exists. ${hint}`, { details: { name } });

/** A WeftStore over `backend`: the contract's rules, the backend's medium. */
export function createStore(backend: StorageBackend): WeftStore {
  const within = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw backend.failure(e, what);
    }
  };

  /** A stored manifest, checked (Outdated when it needs migrating). */
  const checked = (name: string, raw: StoredManifest): Manifest => {
    let m: Manifest;
    try {
      m = checkedManifest(name, raw);
    } catch (e) {
      if (e instanceof Outdated && raw.formatVersion < backend.oldestFormat) throw corruptManifest(name, 'names an older format it was never written in');
      // Only format 1 had no manifest checksum: a later one without it was damaged.
      if (e instanceof Outdated && raw.manifestChecksum === undefined && raw.formatVersion !== 1) throw corruptManifest(name, 'has lost its checksum');
      throw e;
    }
    if (m.name !== name) throw corruptManifest(name, `names another index ('${m.name}')`);
    return m;
  };

  const manifestOf = async (r: RecordReader, name: string): Promise<Manifest> => {
    const raw = await r.manifest();
    if (!raw) throw unknownIndex(name);
    return checked(name, raw);
  };

  /** The stored manifest, or 'damaged' where even its envelope is unreadable (it still exists: it can be deleted or replaced). */
  const rawManifest = async (r: RecordReader): Promise<StoredManifest | 'damaged' | undefined> => {
    try {
      return await r.manifest();
    } catch (e) {
      if (e instanceof WeftError && e.code === 'CORRUPT_RECORD') return 'damaged';
      throw e;
    }
  };

  /** Brings an index of an older format to this one in one write (writeMigration). Losing the race to another writer is fine: it migrated or changed the index. */
  const migrate = async (name: string): Promise<void> => {
    const analyzer = await loadAnalyzer(DEFAULT_LANGUAGE);
    try {
      await backend.write(name, async (w) => {
        const r = await w.manifest();
        if (!r || r.formatVersion >= FORMAT_VERSION) return;
        if (r.manifestChecksum !== undefined) {
          // A damaged manifest is not migrated (reading it stays CORRUPT_RECORD).
          try {
            checked(name, r);
          } catch (e) {
            if (!(e instanceof Outdated)) throw e;
          }
        }
        await writeMigration(w, name, r, analyzer);
      });
    } catch (e) {
      if (e instanceof LostRace) return;
      throw backend.failure(e, `Migrating index '${name}' to format ${FORMAT_VERSION}`);
    }
  };

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

  /** A read of index `name` at one committed state, with its checked manifest; migrated first if outdated. */
  const reading = <T>(name: string, what: string, op: (r: RecordReader, m: Manifest) => Promise<T>): Promise<T> =>
    current(name, () => within(what, () => backend.read(name, async (r) => op(r, await manifestOf(r, name)))));

  /** After a write lost its race: the error the winner's commit makes it. */
  const lostTo = async (name: string, expected: number, what: string): Promise<WeftError> => {
    const now = await backend.read(name, rawManifest);
    if (!now) return unknownIndex(name);
    return conflict(name, expected, now === 'damaged' ? undefined : now.generation, what);
  };

  const store: WeftStore = {
    dbName: backend.location,

    listIndexes() {
      return within('Listing indexes', async () => {
        const out: Manifest[] = [];
        for (const name of await backend.names()) {
          const raw = await backend.read(name, (r) => r.manifest());
          // Gone meanwhile, or still waiting for its first commit (pending): not there for anyone listing.
          if (!raw || raw.pending === true) continue;
          // Indexes of a newer format are listed as they are (this Weft cannot check or open them).
          if (raw.formatVersion > FORMAT_VERSION) {
            out.push(publicManifest(raw));
            continue;
          }
          try {
            out.push(checked(name, raw)); // the record just read; read again only after migrating it
          } catch (e) {
            if (!(e instanceof Outdated)) throw e;
            const m = await store.manifest(name).catch((err: unknown) => {
              if (err instanceof WeftError && err.code === 'UNKNOWN_INDEX') return undefined; // deleted meanwhile
              throw err;
            });
            if (m && m.pending !== true) out.push(m);
          }
        }
        return out;
      });
    },

    manifest(name) {
      return reading(name, `Reading the manifest of index '${name}'`, async (_r, m) => m);
    },

    createIndex(init) {
      return within(`Creating index '${init?.name}'`, async () => {
        checkLanguage(init?.language);
        const fresh = newIndexManifest(init);
        const problem = manifestProblem(fresh.manifest) ?? centroidProblem(fresh.centroids, init, init.nlist) ?? backend.nameProblem(init.name);
        if (problem) throw new WeftError('INVALID_OPTION', `Index '${String(init.name)}' was not created: ${problem}`);
        const manifest = withEmptyChecksums(fresh.manifest, fresh.centroids);
        const exists = () => indexExists(init.name, 'Open it, or delete it first to start over.');
        try {
          return await backend.write(
            init.name,
            async (w) => {
              if ((await rawManifest(w)) !== undefined) throw exists();
              await w.putCentroids(fresh.centroids, manifest.centroidsChecksum);
              for (let l = 0; l < init.nlist; l++) await w.putList(emptyRecord(l), manifest.checksums[l]!);
              await w.resetAccessCounts(init.nlist);
              await w.putManifest(sealedManifest(manifest));
              return manifest;
            },
            { creates: true },
          );
        } catch (e) {
          throw e instanceof LostRace ? exists() : e;
        }
      });
    },

    deleteIndex(name, options = {}) {
      return within(`Deleting index '${name}'`, async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await backend.write(name, async (w) => {
              // Only existence is checked: a damaged index must stay deletable.
              const raw = await rawManifest(w);
              if (!raw) throw unknownIndex(name);
              // A commit landed: it is someone's index now (one landing after this read makes the delete lose its race, and this runs again).
              if (options.onlyPending && (raw === 'damaged' || raw.pending !== true)) return;
              await w.deleteIndex();
            });
          } catch (e) {
            if (!(e instanceof LostRace) || attempt >= DELETE_ATTEMPTS) throw e;
          }
        }
      });
    },

    readCentroids(name) {
      return reading(name, `Reading the centroids of index '${name}'`, (r, m) => checkedCentroidsFrom(r, name, m));
    },

    readLists(name, lists) {
      return reading(name, `Reading lists of index '${name}'`, (r, m) => checkedListsFrom(r, name, m, lists));
    },

    async commit(name, generation, changes, signal, onProgress) {
      const what = `Committing to index '${name}'`;
      if (signal?.aborted) throw backend.failure(new DOMException('Aborted', 'AbortError'), what);
      checkIds(
        (changes.putChunks ?? []).map((c) => c?.id),
        `Commit to index '${name}'`,
      );
      checkIds(changes.deleteChunks ?? [], `Commit to index '${name}'`);
      // The analyzer is loaded before the write (a transaction cannot wait for a module).
      const analyzer = await current(name, () => within(what, async () => analyzerOf(await store.manifest(name))));
      return current(name, () =>
        within(what, async () => {
          try {
            return await backend.write(
              name,
              async (w) => {
                const m = await manifestOf(w, name);
                if (m.generation !== generation) throw conflict(name, generation, m.generation, 'nothing was written');
                checkCommit(name, m, changes);
                return writeCommit(w, name, m, changes, analyzer, onProgress);
              },
              { signal },
            );
          } catch (e) {
            throw e instanceof LostRace ? await lostTo(name, generation, 'nothing was written') : e;
          }
        }),
      );
    },

    async readChunks(name, ids) {
      checkIds(ids, 'readChunks');
      return reading(name, `Reading chunks of index '${name}'`, async (r) => (await r.chunks(ids)).map((c) => (c ? checkedChunk(name, c) : undefined)));
    },

    async readVectors(name, ids) {
      checkIds(ids, 'readVectors');
      return reading(name, `Reading vectors of index '${name}'`, async (r, m) =>
        (await r.chunks(ids)).map((c) => (c ? chunkVector(name, checkedChunk(name, c), m.dim) : undefined)),
      );
    },

    chunkIdsOfDocument(name, docId) {
      return reading(name, `Finding the chunks of document '${docId}' in index '${name}'`, async (r) =>
        (await r.chunksOfDocument(docId)).map((c) => checkedChunk(name, c).id),
      );
    },

    readCatalog(name) {
      return reading(name, `Reading the chunk catalog of index '${name}'`, async (r, manifest) => {
        const chunks: CatalogEntry[] = [];
        // A page at a time: the texts are let go as it goes.
        await r.eachChunk((page) => {
          for (const stored of page) {
            const c = checkedChunk(name, stored);
            chunks.push({ id: c.id, list: c.list, docId: c.docId, ...(c.metadata !== undefined ? { metadata: c.metadata } : {}) });
          }
        });
        return { generation: manifest.generation, chunks };
      });
    },

    readWholeIndex(name) {
      // One committed state: the records read all belong to the manifest's generation.
      return reading(name, `Reading index '${name}'`, async (r, manifest) => {
        const centroids = await checkedCentroidsFrom(r, name, manifest);
        const lists = await checkedListsFrom(
          r,
          name,
          manifest,
          Array.from({ length: manifest.nlist }, (_, i) => i),
        );
        const chunks: ChunkRecord[] = [];
        await r.eachChunk((page) => {
          for (const c of page) chunks.push(checkedChunk(name, c));
        });
        return { manifest, centroids, lists, chunks };
      });
    },

    async writeWholeIndex(whole, opts = {}) {
      const name = checkedWholeWrite(whole, opts);
      const nameProblem = backend.nameProblem(name);
      if (nameProblem) throw new WeftError('INVALID_INPUT', `The index was not written: ${nameProblem}`, { details: { name } });
      const what = `Writing index '${name}'`;
      // The postings, from the chunks (an export file carries none; a rebuild keeps the ids, so they come out the same).
      const analyzer = await loadAnalyzer(whole.manifest.lexical?.language ?? DEFAULT_LANGUAGE);
      const postings = wholePostingsWith(analyzer, whole.chunks, whole.manifest.lexical?.buckets ?? DEFAULT_BUCKETS);
      let previous = 0;
      return within(what, async () => {
        try {
          return await backend.write(
            name,
            async (w) => {
              const raw = await rawManifest(w);
              let replaced: Manifest | undefined;
              if (opts.expectGeneration !== undefined) {
                if (!raw) throw unknownIndex(name);
                if (raw === 'damaged') throw corruptManifest(name, 'is not readable');
                replaced = replacedManifest(name, raw);
                if (replaced.generation !== opts.expectGeneration) throw conflict(name, opts.expectGeneration, replaced.generation, 'nothing was replaced');
              } else if (raw) {
                // A pending index (a first ingest cut off before its first commit) exists for no one: replaced.
                if (!opts.replace && (raw === 'damaged' || raw.pending !== true)) throw indexExists(name, 'Import under another name, or pass replace: true.');
                // An import may replace a damaged index; its fields are then not trusted.
                // A newer format's fields are not known to be sound either.
                try {
                  replaced = raw === 'damaged' ? undefined : replacedManifest(name, raw);
                } catch {
                  replaced = undefined;
                }
              }
              const rawGeneration = raw && raw !== 'damaged' ? raw.generation : undefined;
              previous = replaced?.generation ?? (isInt(rawGeneration, 0, Number.MAX_SAFE_INTEGER) ? rawGeneration : 0);
              const m = wholeIndexManifest(whole, replaced, previous, postings.lexical);
              if (raw) await w.clearRecords();
              await w.putCentroids(whole.centroids, m.centroidsChecksum);
              for (const r of whole.lists) await w.putList(r, m.checksums[r.list]!);
              for (const c of [...whole.chunks].sort((a, b) => a.id - b.id)) await w.putChunk(storedChunk(name, c));
              for (const b of postings.records) await w.putBucket(b);
              await w.resetAccessCounts(m.nlist);
              await w.putManifest(sealedManifest(m));
              return m;
            },
            { creates: true },
          );
        } catch (e) {
          if (!(e instanceof LostRace)) throw e;
          if (opts.expectGeneration === undefined && !opts.replace)
            throw indexExists(name, 'It was created while this one was written; nothing was written. Import under another name, or pass replace: true.');
          throw await lostTo(name, opts.expectGeneration ?? previous, 'nothing was replaced');
        }
      });
    },

    readTermBuckets(name, buckets, terms) {
      return reading(name, `Reading term buckets of index '${name}'`, async (r, manifest) => ({
        manifest,
        buckets: await checkedBucketsFrom(r, name, manifest, buckets, terms ? new Set(terms) : undefined),
      }));
    },

    readAccessCounts(name) {
      return within(`Reading access statistics of '${name}'`, () => backend.readAccessCounts(name));
    },

    writeAccessCounts(name, counts) {
      return within(`Saving access statistics of '${name}'`, () => backend.writeAccessCounts(name, counts));
    },

    close() {
      backend.close();
    },
  };

  /** The manifest of an index a whole-index write replaces: checked; one of an older format as it is (it is replaced, not migrated). */
  const replacedManifest = (name: string, raw: StoredManifest): Manifest => {
    try {
      return checked(name, raw);
    } catch (e) {
      if (e instanceof Outdated) return publicManifest(raw);
      throw e;
    }
  };

  return store;
}
