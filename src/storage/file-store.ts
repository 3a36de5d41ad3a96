// The file tier: the storage core (store-core.ts) over a directory of files, for Deno and Node
// where there is no IndexedDB: the same rules, record formats, checksums and error codes as the
// IndexedDB store, so stored indexes, the runtime and export/import run on it unchanged. This file
// is only the backend: how records are kept in files and how a write is made atomic.
//
//   <dir>/indexes/<hex of the name>/
//     head-<seq>.json           the committed state: the sealed manifest + which record file holds
//                               each list, the centroids and each shard of chunks (by id / 512)
//     <seq>.<kind>-<rand>.bin   record files, immutable once written (lists, centroids and term
//                               buckets binary, chunk shards JSON, every record with the CRC-32 of
//                               records.ts)
//     stats.bin                 access counts (not part of any commit, as in IndexedDB)
//
// Why every change is still one atomic commit, whatever point a write stops at:
// - A commit never rewrites a file a reader may be using. It writes its new records to new files
//   (fsynced), then the new head to a temporary file (fsynced), and publishes it by hard-linking it
//   as head-<seq+1>.json, which fails if that name exists: an atomic create-if-absent of a complete
//   file. The current state is the highest head; until the link it is the old one, after it the
//   new one, and nothing in between is visible. A crash before the link leaves only unreferenced
//   files (garbage); after it, a complete head whose records were on disk before it existed.
// - The link is also the generation check, done atomically inside the commit: a commit planned on
//   head <seq> can only become <seq+1>. Two writers (tabs, processes, store objects) planned on the
//   same head race for one name; the loser gets EEXIST and reports CONFLICT (UNKNOWN_INDEX if the
//   winner was a delete), having changed nothing. No lock file, so a crashed writer blocks no one.
// - Garbage is collected after each commit by one rule: a file whose sequence number is at most
//   the new head's and which that head does not name is dead (superseded, or written by a commit
//   that can no longer win, since every slot up to the new head is taken). Files of later sequence
//   numbers belong to commits still in flight and are left alone.
// - A reader takes the highest head and reads the files it names; if one has been collected under
//   it, a newer head exists, and the read starts again from that one (a read never mixes two
//   commits; a missing file with no newer head is CORRUPT_RECORD).
// - Deleting an index publishes a head that says "deleted" through the same link, so a commit
//   racing it either lands before it or is refused.
// The link needs hard links (ext4, APFS, NTFS …; not FAT). Record checksums, as in IndexedDB, catch
// a file damaged behind the store's back; the head also checksums its table of files.
// The lexical index's term buckets (lexical-records.ts) are records like the others, 64 to a file
// (so an import writes a few dozen files, not a thousand): a commit that puts or deletes chunks
// rewrites the files of the buckets their terms fall in and names them in the same head.
// An index written in format 2 (no postings) is migrated when first read (by the core): its
// postings are built from its chunks and published as a new head with the same generation.
// The record files' byte layouts are in file-records.ts.
// Over 400 lines: one backend whose reads, writes and publishing share one directory's state (its
// heads, shards and the compare-and-swap); a tenth of it is this header arguing why a write is atomic.

import { WeftError } from '../errors.js';
import { emptyRecord } from '../ivf/list-records.js';
import { LostRace, type RecordReader, type RecordWriter, type StorageBackend } from './backend.js';
import { valueChecksum } from './checksum.js';
import type { WeftStore } from './contract.js';
import {
  decodeCentroids,
  decodeList,
  decodeTermShard,
  encodeCentroids,
  encodeList,
  encodeTermShard,
  hexName,
  nameOfHex,
  type ShardBucket,
} from './file-records.js';
import { errorCode, joinPath, type StoreFileSystem } from './file-system.js';
import { corruptBucket, type EncodedBucket } from './lexical-records.js';
import { FORMAT_VERSION, unknownIndex, type StoredChunk, type StoredManifest } from './records.js';
import { createStore } from './store-core.js';

/** Where openFileStore keeps its indexes and the file system it reaches them through. */
export interface FileStoreOptions {
  /** The store's directory (created if missing); `dbName` of the store. */
  dir: string;
  /** The filesystem: nodeFileSystem() (fs-node.ts) or denoFileSystem() (fs-deno.ts). */
  fs: StoreFileSystem;
}

/** Chunk ids per shard file: an ingest of consecutive ids rewrites one or two shards. */
const SHARD = 512;
/** Term buckets per file: an import writes at most buckets / 64 files (each fsynced), a query reads one file per term. */
const TERM_SHARD = 64;
const termShardOf = (bucket: number) => String(Math.floor(bucket / TERM_SHARD));
const shardOf = (id: number) => String(Math.floor(id / SHARD));
/** How often a read or write starts again from a newer head before giving up (each retry means a commit landed). */
const READ_ATTEMPTS = 16;
/** Directory names stay within 255 bytes. */
const MAX_NAME_BYTES = 120;

interface HeadFiles {
  centroids: string;
  /** One per list; null for an empty list (no file). */
  lists: (string | null)[];
  /** Shard number (id / SHARD) -> file. */
  chunks: Record<string, string>;
  /** Term shard (bucket / TERM_SHARD) -> file holding its non-empty buckets (format 3 on). */
  terms?: Record<string, string>;
}

interface Head {
  seq: number;
  deleted?: true;
  manifest?: StoredManifest;
  files?: HeadFiles;
  filesChecksum?: number;
}

/** The head of an index as found on disk: `broken` when unreadable. */
type RawHead = (Head & { broken?: false }) | { seq: number; broken: true };

/** A file a head names was collected (a newer head exists) or lost: the operation starts again or is CORRUPT_RECORD. */
class Vanished extends Error {}

const pad = (n: number) => String(n).padStart(12, '0');
const headName = (seq: number) => `head-${pad(seq)}.json`;
const HEAD = /^head-(\d{12})\.json$/;
/** Sequence number of any file the store writes in an index directory (heads, records, temporaries). */
const seqOf = (file: string): number | undefined => {
  const m = /^(?:head-|tmp-)?(\d{12})[.-]/.exec(file);
  return m ? Number(m[1]) : undefined;
};
const rand = () => crypto.randomUUID().slice(0, 8);
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const validName = (name: unknown): name is string => typeof name === 'string' && name !== '' && new TextEncoder().encode(name).byteLength <= MAX_NAME_BYTES;
const abortError = () => new DOMException('Aborted', 'AbortError');

function fileError(e: unknown, what: string): WeftError {
  if (e instanceof WeftError) return e;
  const code = errorCode(e);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new WeftError('STORAGE_FULL', `${what} did not fit on the disk; nothing was changed. Free space (delete an index or other files) and try again.`, {
      cause: e,
    });
  }
  if ((e as { name?: string } | null)?.name === 'AbortError') return new WeftError('ABORTED', `${what} was aborted; nothing was changed.`, { cause: e });
  return new WeftError('STORAGE_ERROR', `${what} failed in the file store (${code ?? (e as Error)?.name ?? 'error'}: ${(e as Error)?.message ?? String(e)}).`, {
    cause: e,
  });
}

const corruptHead = (name: string, why: string) =>
  new WeftError(
    'CORRUPT_RECORD',
    `The head of index '${name}' ${why}, so its manifest cannot be trusted. Delete the index (deleteIndex) and re-import or rebuild it.`,
    { details: { name, record: 'manifest' } },
  );

/**
 * A WeftStore in a directory of files (Node or Deno, through `fs`): the same record formats,
 * checksums, checks and error codes as the IndexedDB store, so stored indexes, the runtime and
 * exportIndex/importIndex run on it unchanged. Every commit is atomic.
 */
export async function openFileStore(options: FileStoreOptions): Promise<WeftStore> {
  const { fs } = options;
  const root = options.dir.replace(/\/+$/, '') || '/';
  const indexesDir = joinPath(root, 'indexes');
  try {
    await fs.mkdir(indexesDir);
  } catch (e) {
    throw fileError(e, `Opening the file store '${root}'`);
  }
  const dirOf = (name: string) => joinPath(indexesDir, hexName(name));

  /** Reads a file a head names; a missing one is Vanished. */
  const readRecord = async (dir: string, file: string): Promise<Uint8Array> => {
    try {
      return await fs.readFile(joinPath(dir, file));
    } catch (e) {
      if (errorCode(e) === 'ENOENT') throw new Vanished(file);
      throw e;
    }
  };

  const highestHead = async (dir: string): Promise<number | undefined> => {
    let best: number | undefined;
    for (const f of await fs.list(dir)) {
      const m = HEAD.exec(f);
      if (m && (best === undefined || Number(m[1]) > best)) best = Number(m[1]);
    }
    return best;
  };

  /** The highest head of an index directory, read whole (a head collected between listing and reading is looked for again). */
  const rawHead = async (name: string): Promise<RawHead | undefined> => {
    if (!validName(name)) return undefined;
    const dir = dirOf(name);
    for (let attempt = 0; ; attempt++) {
      const seq = await highestHead(dir);
      if (seq === undefined) return undefined;
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(joinPath(dir, headName(seq)));
      } catch (e) {
        if (errorCode(e) === 'ENOENT' && attempt < READ_ATTEMPTS) continue;
        throw e;
      }
      try {
        const head = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Head;
        if (typeof head !== 'object' || head === null || head.seq !== seq) return { seq, broken: true };
        return head;
      } catch {
        return { seq, broken: true };
      }
    }
  };

  /** A shard's stored chunks by id, unchecked (the core checks each one it reads). */
  const shardOfFile = async (name: string, file: string): Promise<Map<number, StoredChunk>> => {
    const bytes = await readRecord(dirOf(name), file);
    let records: unknown;
    try {
      records = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      records = undefined;
    }
    if (!Array.isArray(records)) {
      throw new WeftError('CORRUPT_RECORD', `Index '${name}': the chunk file ${file} is damaged (not a list of records). Re-import or rebuild the index.`, {
        details: { name, record: file },
      });
    }
    return new Map((records as StoredChunk[]).map((r) => [r?.id, r]));
  };

  /** A term shard file, decoded (CORRUPT_RECORD naming `bucket` if it is not a term shard). */
  const termShard = async (name: string, file: string, bucket: number): Promise<Map<number, ShardBucket>> => {
    const got = decodeTermShard(await readRecord(dirOf(name), file));
    if (!got) throw corruptBucket(name, bucket);
    return got;
  };

  /**
   * The reads of one head. `files` is the table the reads follow (a writer's, as it changes); the
   * shards a writer has changed are looked up in `chunkShards` and `termShards` first.
   */
  const reader = (
    name: string,
    head: RawHead | undefined,
    files: () => HeadFiles,
    chunkShards: Map<string, Map<number, StoredChunk>> = new Map(),
    termShards: Map<string, Map<number, ShardBucket>> = new Map(),
  ): RecordReader => {
    const dir = dirOf(name);
    const loadedChunks = new Map<string, Promise<Map<number, StoredChunk>>>();
    const shard = (k: string): Promise<Map<number, StoredChunk>> => {
      const changed = chunkShards.get(k);
      if (changed) return Promise.resolve(changed);
      const f = files().chunks[k];
      if (!f) return Promise.resolve(new Map());
      if (!loadedChunks.has(f)) loadedChunks.set(f, shardOfFile(name, f));
      return loadedChunks.get(f)!;
    };
    const loadedTerms = new Map<string, Promise<Map<number, ShardBucket>>>();
    const terms = (k: string, bucket: number): Promise<Map<number, ShardBucket>> => {
      const changed = termShards.get(k);
      if (changed) return Promise.resolve(changed);
      const f = files().terms?.[k];
      if (!f) return Promise.resolve(new Map());
      if (!loadedTerms.has(f)) loadedTerms.set(f, termShard(name, f, bucket));
      return loadedTerms.get(f)!;
    };
    const allChunks = async (): Promise<StoredChunk[][]> => {
      const keys = [...new Set([...Object.keys(files().chunks), ...chunkShards.keys()])].sort((a, b) => Number(a) - Number(b));
      const shards = await Promise.all(keys.map(shard));
      return shards.map((m) => [...m.values()].sort((a, b) => a.id - b.id));
    };
    return {
      async manifest() {
        if (!head || (!head.broken && head.deleted)) return undefined;
        if (head.broken || !head.manifest) throw corruptHead(name, 'is not readable');
        // A newer format's head is the core's to refuse; its table of files may differ.
        if (head.manifest.formatVersion > FORMAT_VERSION) return head.manifest;
        if (!head.files || head.filesChecksum !== valueChecksum(head.files)) throw corruptHead(name, 'fails its checksum');
        return head.manifest;
      },
      async centroids() {
        const got = decodeCentroids(await readRecord(dir, files().centroids));
        return got && { value: got.data, checksum: got.checksum };
      },
      lists(lists) {
        return Promise.all(
          lists.map(async (l) => {
            const file = files().lists[l];
            // null: an empty list, which has no file.
            if (file === undefined) return undefined;
            if (file === null) return { value: emptyRecord(l), checksum: undefined };
            const got = decodeList(await readRecord(dir, file));
            return got && { value: got.rec, checksum: got.checksum };
          }),
        );
      },
      chunks: (ids) => Promise.all(ids.map(async (id) => (await shard(shardOf(id))).get(id))),
      // As IndexedDB's byDoc index: the records filed under this document.
      chunksOfDocument: async (docId) => (await allChunks()).flat().filter((r) => r?.docId === docId),
      async eachChunk(visit) {
        for (const page of await allChunks()) visit(page);
      },
      buckets: (buckets) =>
        Promise.all(buckets.map(async (b) => (await terms(termShardOf(b), b)).get(b))).then((got) =>
          got.map((g) => g && { value: g.bytes, checksum: g.checksum }),
        ),
    };
  };

  /** Runs `op` on the current head, again on a newer one if a file it names was collected meanwhile. */
  const atHead = async <T>(name: string, op: (head: RawHead | undefined) => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      const head = await rawHead(name);
      try {
        return await op(head);
      } catch (e) {
        if (!(e instanceof Vanished)) throw e;
        if (attempt < READ_ATTEMPTS && (await highestHead(dirOf(name))) !== head?.seq) continue;
        throw new WeftError('CORRUPT_RECORD', `Index '${name}': the record file ${e.message} is missing. Rebuild or re-import the index.`, {
          details: { name, record: e.message },
        });
      }
    }
  };

  /**
   * Publishes `head` as the successor of head `base` (the compare-and-swap) and collects what it
   * made dead. LostRace when another writer took the slot first.
   */
  const publish = async (dir: string, base: number, head: Omit<Head, 'seq'>): Promise<void> => {
    const seq = base + 1;
    const full: Head = { seq, ...head, ...(head.files ? { filesChecksum: valueChecksum(head.files) } : {}) };
    const tmp = joinPath(dir, `tmp-${pad(seq)}-${rand()}.json`);
    await fs.writeFile(tmp, json(full));
    try {
      await fs.link(tmp, joinPath(dir, headName(seq)));
    } catch (e) {
      if (errorCode(e) === 'EEXIST') throw new LostRace();
      throw e;
    } finally {
      await fs.remove(tmp).catch(() => undefined);
    }
    // The link was the point of no return: from here on nothing fails the commit, it has happened.
    await fs.syncDir(dir).catch(() => undefined);
    // Collecting garbage is best effort: what it leaves, the next commit collects.
    try {
      const keep = new Set([
        headName(seq),
        ...(head.files
          ? [
              head.files.centroids,
              ...head.files.lists.filter((f): f is string => !!f),
              ...Object.values(head.files.chunks),
              ...Object.values(head.files.terms ?? {}),
            ]
          : []),
      ]);
      for (const f of await fs.list(dir)) {
        const s = seqOf(f);
        if (s !== undefined && s <= seq && !keep.has(f)) await fs.remove(joinPath(dir, f)).catch(() => undefined);
      }
    } catch {
      /* left for the next commit */
    }
  };

  const writeStats = async (dir: string, counts: Float64Array) => {
    const tmp = joinPath(dir, `stats-${rand()}.tmp`);
    await fs.writeFile(tmp, new Uint8Array(counts.buffer.slice(counts.byteOffset, counts.byteOffset + counts.byteLength)));
    await fs.rename(tmp, joinPath(dir, 'stats.bin'));
  };

  /**
   * One write on `head`: list and centroid records are written to new files at once, chunk and
   * term shards once the work is done (each shard it changed, whole), then the new head is
   * published as head.seq + 1. Files of a write that does not publish are removed.
   */
  const writeOn = async <T>(name: string, head: RawHead | undefined, work: (w: RecordWriter) => Promise<T>, signal: AbortSignal | undefined): Promise<T> => {
    const dir = dirOf(name);
    const seq = (head?.seq ?? 0) + 1;
    const current = head && !head.broken && !head.deleted ? head.files : undefined;
    let files: HeadFiles = current
      ? { centroids: current.centroids, lists: current.lists.slice(), chunks: { ...current.chunks }, terms: { ...current.terms } }
      : { centroids: '', lists: [], chunks: {}, terms: {} };
    const chunkShards = new Map<string, Map<number, StoredChunk>>();
    const termShards = new Map<string, Map<number, ShardBucket>>();
    const base = reader(name, head, () => files, chunkShards, termShards);
    const written: string[] = [];
    const write = async (kind: string, bytes: Uint8Array): Promise<string> => {
      if (signal?.aborted) throw abortError();
      const file = `${pad(seq)}.${kind}-${rand()}.bin`;
      written.push(file);
      await fs.writeFile(joinPath(dir, file), bytes);
      return file;
    };
    /** A chunk shard this write changes, loaded from its file the first time. */
    const changedShard = async (k: string) => {
      if (!chunkShards.has(k)) {
        const f = files.chunks[k];
        chunkShards.set(k, f ? new Map(await shardOfFile(name, f)) : new Map());
      }
      return chunkShards.get(k)!;
    };
    const changedTerms = async (k: string, bucket: number) => {
      if (!termShards.has(k)) {
        const f = files.terms?.[k];
        termShards.set(k, f ? new Map(await termShard(name, f, bucket)) : new Map());
      }
      return termShards.get(k)!;
    };
    let manifest: StoredManifest | undefined;
    let deleted = false;
    let statsLists: number | undefined;
    const w: RecordWriter = {
      ...base,
      async putManifest(m) {
        manifest = m;
      },
      async putCentroids(c, checksum) {
        files.centroids = await write('centroids', encodeCentroids(c, checksum));
      },
      async putList(rec, checksum) {
        files.lists[rec.list] = rec.count === 0 ? null : await write(`list-${rec.list}`, encodeList(rec, checksum));
      },
      async putChunk(r) {
        (await changedShard(shardOf(r.id))).set(r.id, r);
      },
      async deleteChunk(id) {
        (await changedShard(shardOf(id))).delete(id);
      },
      async putBucket(b: EncodedBucket) {
        const shard = await changedTerms(termShardOf(b.bucket), b.bucket);
        if (b.bytes.length <= 1) shard.delete(b.bucket);
        else shard.set(b.bucket, { checksum: b.checksum, bytes: b.bytes });
      },
      async clearBuckets() {
        files.terms = {};
        termShards.clear();
      },
      async clearRecords() {
        files = { centroids: files.centroids, lists: [], chunks: {}, terms: {} };
        chunkShards.clear();
        termShards.clear();
      },
      async resetAccessCounts(nlist) {
        statsLists = nlist;
      },
      async deleteIndex() {
        deleted = true;
      },
    };
    let result: T;
    try {
      result = await work(w);
      if (deleted) {
        await publish(dir, seq - 1, { deleted: true });
        await fs.remove(joinPath(dir, 'stats.bin')).catch(() => undefined);
        return result;
      }
      if (!manifest) {
        await discard(dir, written);
        return result; // nothing to commit
      }
      for (const [k, recs] of chunkShards) {
        if (recs.size === 0) delete files.chunks[k];
        else files.chunks[k] = await write(`chunks-${k}`, json([...recs.values()].sort((a, b) => a.id - b.id)));
      }
      const terms = { ...files.terms };
      for (const [k, buckets] of termShards) {
        if (buckets.size === 0) delete terms[k];
        else terms[k] = await write(`terms-${k}`, encodeTermShard(buckets));
      }
      files.terms = terms;
      // The last moment an abort can still take effect: after the link the commit has happened.
      if (signal?.aborted) throw abortError();
      await publish(dir, seq - 1, { manifest, files });
    } catch (e) {
      await discard(dir, written);
      throw e;
    }
    if (statsLists !== undefined) await writeStats(dir, new Float64Array(statsLists)).catch(() => undefined);
    return result;
  };

  const discard = async (dir: string, written: readonly string[]) => {
    for (const f of written) await fs.remove(joinPath(dir, f)).catch(() => undefined);
  };

  const backend: StorageBackend = {
    location: root,
    // The file store began at format 2: a head claiming format 1 was damaged.
    oldestFormat: 2,
    nameProblem: (name) => (validName(name) ? undefined : `names are at most ${MAX_NAME_BYTES} bytes of UTF-8 in the file store.`),

    async names() {
      return (await fs.list(indexesDir))
        .sort()
        .map(nameOfHex)
        .filter((n): n is string => n !== undefined);
    },

    read(name, work) {
      return atHead(name, (head) => work(reader(name, head, () => (head && !head.broken && head.files) || { centroids: '', lists: [], chunks: {} })));
    },

    async write(name, work, options = {}) {
      if (options.signal?.aborted) throw abortError();
      if (options.creates && validName(name)) await fs.mkdir(dirOf(name));
      return atHead(name, (head) => writeOn(name, head, work, options.signal));
    },

    async readAccessCounts(name) {
      if (!validName(name)) return new Float64Array(0);
      try {
        const b = await fs.readFile(joinPath(dirOf(name), 'stats.bin'));
        return b.byteLength % 8 === 0 ? new Float64Array(b.slice().buffer) : new Float64Array(0);
      } catch (e) {
        if (errorCode(e) === 'ENOENT') return new Float64Array(0);
        throw e;
      }
    },

    async writeAccessCounts(name, counts) {
      if (!validName(name)) throw unknownIndex(name);
      await fs.mkdir(dirOf(name));
      await writeStats(dirOf(name), counts);
    },

    failure: fileError,

    close() {
      /* nothing is held open between calls */
    },
  };
  return createStore(backend);
}

/** The directory that holds index `name` in a file store at `dir` (for tools and tests that look inside). */
export function fileStoreIndexDir(dir: string, name: string): string {
  return joinPath(dir.replace(/\/+$/, '') || '/', 'indexes', hexName(name));
}
