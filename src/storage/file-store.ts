// The file tier: the same WeftStore as idb-store.ts (same record formats, checksums, consistency
// checks and error codes, so stored indexes, the runtime and export/import run on it unchanged),
// kept in a directory, for Deno and Node where there is no IndexedDB.
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
// An index written in format 2 (no postings) is migrated when first read: its postings are built
// from its chunks and published as a new head with the same generation.
// Over 400 lines: until the backends' shared rules (migration, the commit's checks and manifest)
// move into one storage core over thin backends; read-checks.ts is the first piece.

import { WeftError } from '../errors.js';
import type { ListRecord } from '../ivf/types.js';
import { valueChecksum } from './checksum.js';
import { errorCode, joinPath, type StoreFileSystem } from './file-system.js';
import {
  checkedWholeWrite,
  commitProgress,
  grownCentroids,
  movedChunk,
  newIndexManifest,
  wholeIndexManifest,
  withEmptyChecksums,
} from './manifest-builders.js';
import type { WeftStore } from './contract.js';
import { emptyRecord } from '../ivf/list-records.js';
import { checkListNumbers, checkedCentroids, checkedList, localIndex } from './read-checks.js';
import { centroidProblem, checkCommit, checkIds, isInt, manifestProblem } from './index-checks.js';
import { checkLanguage, loadAnalyzer, DEFAULT_LANGUAGE } from '../lexical/analyzer.js';
import { DEFAULT_BUCKETS } from '../lexical/postings.js';
import {
  analyzerOf,
  checkBuckets,
  checkedBucket,
  corruptBucket,
  lexicalOf,
  postingChange,
  wholePostingsWith,
  type EncodedBucket,
  type TermBucket,
} from './lexical-records.js';
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
  type Manifest,
  type StoredChunk,
  type StoredManifest,
} from './records.js';

/** Where openFileStore keeps its indexes and the file system it reaches them through. */
export interface FileStoreOptions {
  /** The store's directory (created if missing); `dbName` of the store. */
  dir: string;
  /** The filesystem: nodeFileSystem() (fs-node.ts) or denoFileSystem() (fs-deno.ts). */
  fs: StoreFileSystem;
}

/** Chunk ids per shard file: an ingest of consecutive ids rewrites one or two shards. */
const SHARD = 512;
const LIST_MAGIC = 0x4c544657; // 'WFTL'
const CENTROID_MAGIC = 0x43544657; // 'WFTC'
const TERMS_MAGIC = 0x54544657; // 'WFTT'
/** Term buckets per file: an import writes at most buckets / 64 files (each fsynced), a query reads one file per term. */
const TERM_SHARD = 64;
const termShardOf = (bucket: number) => String(Math.floor(bucket / TERM_SHARD));
const ABSENT = 0xffffffff;
/** How often a read starts again from a newer head before giving up (each retry means a commit landed). */
const READ_ATTEMPTS = 16;

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

/** The head of an index as found on disk: undefined when it has none, `broken` when unreadable. */
type RawHead = (Head & { broken?: false }) | { seq: number; broken: true };

interface Snapshot {
  seq: number;
  manifest: Manifest;
  files: HeadFiles;
}

/** A file a head names was collected (a newer head exists) or lost: the read starts again or is CORRUPT_RECORD. */
class Vanished extends Error {}
/** The head slot was taken by another writer. */
class Lost extends Error {}

const pad = (n: number) => String(n).padStart(12, '0');
const headName = (seq: number) => `head-${pad(seq)}.json`;
const HEAD = /^head-(\d{12})\.json$/;
/** Sequence number of any file the store writes in an index directory (heads, records, temporaries). */
const seqOf = (file: string): number | undefined => {
  const m = /^(?:head-|tmp-)?(\d{12})[.-]/.exec(file);
  return m ? Number(m[1]) : undefined;
};
const rand = () => crypto.randomUUID().slice(0, 8);

const hex = (name: string) => Array.from(new TextEncoder().encode(name), (b) => b.toString(16).padStart(2, '0')).join('');
const unhex = (h: string): string | undefined => {
  if (!/^(?:[0-9a-f]{2})+$/.test(h)) return undefined;
  return new TextDecoder().decode(Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16)));
};
/** Directory names stay within 255 bytes. */
const MAX_NAME_BYTES = 120;

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

const aborted = (what: string) => new WeftError('ABORTED', `${what} was aborted; nothing was changed.`);

const corruptManifest = (name: string, why: string) =>
  new WeftError(
    'CORRUPT_RECORD',
    `The head of index '${name}' ${why}, so its manifest cannot be trusted. Delete the index (deleteIndex) and re-import or rebuild it.`,
    { details: { name, record: 'manifest' } },
  );

// ---- record files ----------------------------------------------------------------------------

function encodeList(r: ListRecord, checksum: number): Uint8Array {
  const out = new Uint8Array(16 + r.ids.byteLength + r.codes.byteLength);
  new Uint32Array(out.buffer, 0, 4).set([LIST_MAGIC, r.list, r.count, checksum]);
  out.set(new Uint8Array(r.ids.buffer, r.ids.byteOffset, r.ids.byteLength), 16);
  out.set(new Uint8Array(r.codes.buffer, r.codes.byteOffset, r.codes.byteLength), 16 + r.ids.byteLength);
  return out;
}

/** A list record from its file; undefined if the file is not one (wrong magic, sizes). */
function decodeList(bytes: Uint8Array): { rec: ListRecord; checksum: number } | undefined {
  if (bytes.byteLength < 16 || bytes.byteLength % 4 !== 0) return undefined;
  const words = new Uint32Array(bytes.slice().buffer);
  const [magic, list, count, checksum] = words;
  if (magic !== LIST_MAGIC || 4 + count! > words.length) return undefined;
  return { rec: { list: list!, count: count!, ids: words.slice(4, 4 + count!), codes: words.slice(4 + count!) }, checksum: checksum! };
}

function encodeCentroids(c: CentroidData, checksum: number): Uint8Array {
  const parts = [c.centroids, c.vmin, c.scale];
  const floats = parts.reduce((n, p) => n + (p?.length ?? 0), 0);
  const out = new Uint8Array(20 + floats * 4);
  new Uint32Array(out.buffer, 0, 5).set([CENTROID_MAGIC, c.centroids.length, c.vmin?.length ?? ABSENT, c.scale?.length ?? ABSENT, checksum]);
  const f = new Float32Array(out.buffer, 20);
  let at = 0;
  for (const p of parts)
    if (p) {
      f.set(p, at);
      at += p.length;
    }
  return out;
}

function decodeCentroids(bytes: Uint8Array): { data: CentroidData; checksum: number } | undefined {
  if (bytes.byteLength < 20 || bytes.byteLength % 4 !== 0) return undefined;
  const copy = bytes.slice().buffer;
  const [magic, nc, nv, ns, checksum] = new Uint32Array(copy, 0, 5);
  const lens = [nc!, nv!, ns!].map((n) => (n === ABSENT ? 0 : n));
  if (magic !== CENTROID_MAGIC || 20 + lens.reduce((a, b) => a + b, 0) * 4 !== bytes.byteLength) return undefined;
  const f = new Float32Array(copy, 20);
  const centroids = f.slice(0, lens[0]);
  const vmin = nv === ABSENT ? undefined : f.slice(lens[0], lens[0]! + lens[1]!);
  const scale = ns === ABSENT ? undefined : f.slice(lens[0]! + lens[1]!);
  return { data: { centroids, ...(vmin ? { vmin } : {}), ...(scale ? { scale } : {}) }, checksum: checksum! };
}

/** A term shard file: magic, bucket count, then (bucket, checksum, byte length) per bucket, then their bytes. */
function encodeTermShard(buckets: Map<number, { checksum: number; bytes: Uint8Array }>): Uint8Array {
  const entries = [...buckets].sort((a, b) => a[0] - b[0]);
  const head = 8 + entries.length * 12;
  const out = new Uint8Array(head + entries.reduce((n, [, e]) => n + e.bytes.byteLength, 0));
  const v = new DataView(out.buffer);
  v.setUint32(0, TERMS_MAGIC, true);
  v.setUint32(4, entries.length, true);
  let at = head;
  entries.forEach(([b, e], i) => {
    v.setUint32(8 + i * 12, b, true);
    v.setUint32(12 + i * 12, e.checksum, true);
    v.setUint32(16 + i * 12, e.bytes.byteLength, true);
    out.set(e.bytes, at);
    at += e.bytes.byteLength;
  });
  return out;
}

/** A term shard file's buckets (bytes and stored checksum); undefined if the file is not one. */
function decodeTermShard(bytes: Uint8Array): Map<number, { checksum: number; bytes: Uint8Array }> | undefined {
  if (bytes.byteLength < 8) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getUint32(4, true);
  if (v.getUint32(0, true) !== TERMS_MAGIC || 8 + n * 12 > bytes.byteLength) return undefined;
  const out = new Map<number, { checksum: number; bytes: Uint8Array }>();
  let at = 8 + n * 12;
  for (let i = 0; i < n; i++) {
    const len = v.getUint32(16 + i * 12, true);
    if (at + len > bytes.byteLength) return undefined;
    out.set(v.getUint32(8 + i * 12, true), { checksum: v.getUint32(12 + i * 12, true), bytes: bytes.subarray(at, at + len) });
    at += len;
  }
  return at === bytes.byteLength ? out : undefined;
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const shardOf = (id: number) => String(Math.floor(id / SHARD));

// ---- the store -------------------------------------------------------------------------------

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

  const within = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      throw fileError(e, what);
    }
  };

  const dirOf = (name: string) => joinPath(indexesDir, hex(name));
  const validName = (name: unknown): name is string => typeof name === 'string' && name !== '' && new TextEncoder().encode(name).byteLength <= MAX_NAME_BYTES;

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

  /** A head's manifest, checked; newer formats as they are when `lenient`. */
  const manifestOfHead = (name: string, head: RawHead): Snapshot => {
    if (head.broken || !head.manifest || !head.files) throw corruptManifest(name, 'is not readable');
    let manifest: Manifest;
    try {
      manifest = checkedManifest(name, head.manifest);
    } catch (e) {
      // The file store has never written format 1: a manifest that looks like one was damaged.
      // Format 2 (intact, checksummed) lacks only the postings: the caller migrates it.
      if (e instanceof Outdated && head.manifest.formatVersion === 2 && head.manifest.manifestChecksum !== undefined) throw e;
      if (e instanceof Outdated) throw corruptManifest(name, 'names an older format it was never written in');
      throw e;
    }
    if (head.filesChecksum !== valueChecksum(head.files) || manifest.name !== name) throw corruptManifest(name, 'fails its checksum');
    return { seq: head.seq, manifest, files: head.files };
  };

  /** A head's manifest, checked; one of format 2 (a whole-index write replaces it, no need to migrate) as it is. */
  const headManifest = (name: string, head: RawHead): Manifest => {
    try {
      return manifestOfHead(name, head).manifest;
    } catch (e) {
      if (e instanceof Outdated && !head.broken && head.manifest) return publicManifest(head.manifest);
      throw e;
    }
  };

  const live = async (name: string): Promise<Snapshot> => {
    for (let attempt = 0; ; attempt++) {
      const head = await rawHead(name);
      if (!head || (!head.broken && head.deleted)) throw unknownIndex(name);
      try {
        return manifestOfHead(name, head);
      } catch (e) {
        if (!(e instanceof Outdated) || head.broken || attempt >= READ_ATTEMPTS) throw e;
        await migrate(name, head);
      }
    }
  };

  /** Builds the postings of a format-2 head and publishes them as its successor (same generation); losing the race to another writer is fine. */
  const migrate = async (name: string, head: Head): Promise<void> => {
    const dir = dirOf(name);
    const files = head.files!;
    if (head.filesChecksum !== valueChecksum(files)) throw corruptManifest(name, 'fails its checksum');
    const stored = head.manifest!;
    const chunks: ChunkRecord[] = [];
    for (const f of Object.values(files.chunks)) {
      let recs: Map<number, StoredChunk>;
      try {
        recs = await shardOfFile(name, f);
      } catch (e) {
        if (e instanceof Vanished) return;
        throw e;
      }
      for (const r of recs.values()) {
        try {
          chunks.push(checkedChunk(name, r));
        } catch {
          /* damaged: not indexed */
        }
      }
    }
    const built = wholePostingsWith(await loadAnalyzer(DEFAULT_LANGUAGE), chunks, DEFAULT_BUCKETS);
    const records = recordWriter(dir, head.seq + 1);
    try {
      const terms = await writeTermShards(records, {}, undefined, built.records);
      const { manifestChecksum: _, ...fields } = stored;
      const nextId = chunks.reduce((n, c) => Math.max(n, c.id + 1), fields.nextId);
      await publish(dir, head.seq, {
        manifest: sealedManifest({ ...fields, nextId, formatVersion: FORMAT_VERSION, lexical: built.lexical }),
        files: { ...files, terms },
      });
    } catch (e) {
      await records.discard();
      if (!(e instanceof Lost)) throw e;
    }
  };

  /** Runs `op` on the current head, again on a newer one if a file it names was collected meanwhile. */
  const atSnapshot = async <T>(name: string, op: (s: Snapshot) => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      const snap = await live(name);
      try {
        return await op(snap);
      } catch (e) {
        if (!(e instanceof Vanished)) throw e;
        if (attempt < READ_ATTEMPTS && (await highestHead(dirOf(name))) !== snap.seq) continue;
        throw new WeftError('CORRUPT_RECORD', `Index '${name}': the record file ${e.message} is missing. Rebuild or re-import the index.`, {
          details: { name, record: e.message },
        });
      }
    }
  };

  const centroidsOf = async (name: string, s: Snapshot): Promise<CentroidData> => {
    const got = decodeCentroids(await readRecord(dirOf(name), s.files.centroids));
    return checkedCentroids(localIndex(name), s.manifest, got?.data, got?.checksum);
  };

  const listsOf = async (name: string, s: Snapshot, lists: readonly number[]): Promise<ListRecord[]> => {
    const m = s.manifest;
    checkListNumbers(localIndex(name), m.nlist, lists);
    return Promise.all(
      lists.map(async (l) => {
        const file = s.files.lists[l];
        // null: an empty list, which has no file.
        const got =
          file === undefined ? undefined : file === null ? { rec: emptyRecord(l), checksum: undefined } : decodeList(await readRecord(dirOf(name), file));
        return checkedList(localIndex(name), m, l, got?.rec, got?.checksum);
      }),
    );
  };

  /** A shard's stored chunks by id, unchecked (each is checked when it is read). */
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

  /** A term shard file of `s`, decoded (CORRUPT_RECORD naming `bucket` if it is not a term shard). */
  const termShard = async (name: string, file: string, bucket: number) => {
    const got = decodeTermShard(await readRecord(dirOf(name), file));
    if (!got) throw corruptBucket(name, bucket);
    return got;
  };

  const bucketsOf = async (name: string, s: Snapshot, buckets: readonly number[], only?: ReadonlySet<string>, keepRaw = false): Promise<TermBucket[]> => {
    checkBuckets(name, s.manifest, buckets);
    const shards = new Map<string, ReturnType<typeof termShard>>();
    return Promise.all(
      buckets.map(async (b) => {
        const file = s.files.terms?.[termShardOf(b)];
        if (file === undefined) return checkedBucket(name, s.manifest, b, undefined, undefined, only, keepRaw);
        if (!shards.has(file)) shards.set(file, termShard(name, file, b));
        const got = (await shards.get(file)!).get(b);
        return checkedBucket(name, s.manifest, b, got?.bytes, got?.checksum, only, keepRaw);
      }),
    );
  };

  /**
   * Writes the term shards that `changed` buckets fall in (the other buckets of each shard carried
   * over from `old` as they are, still checked on read): the new table of shard files.
   */
  const writeTermShards = async (
    records: ReturnType<typeof recordWriter>,
    table: Record<string, string>,
    name: string | undefined,
    changed: readonly EncodedBucket[],
  ): Promise<Record<string, string>> => {
    const out = { ...table };
    const byShard = new Map<string, EncodedBucket[]>();
    for (const b of changed) (byShard.get(termShardOf(b.bucket)) ?? byShard.set(termShardOf(b.bucket), []).get(termShardOf(b.bucket))!).push(b);
    for (const [shard, list] of byShard) {
      const old = table[shard];
      const content =
        old && name !== undefined ? new Map(await termShard(name, old, list[0]!.bucket)) : new Map<number, { checksum: number; bytes: Uint8Array }>();
      for (const b of list) {
        if (b.bytes.length <= 1) content.delete(b.bucket);
        else content.set(b.bucket, { checksum: b.checksum, bytes: b.bytes });
      }
      if (content.size === 0) delete out[shard];
      else out[shard] = await records.write(`terms-${shard}`, encodeTermShard(content));
    }
    return out;
  };

  const allChunks = async (name: string, s: Snapshot): Promise<StoredChunk[]> => {
    const shards = await Promise.all(Object.values(s.files.chunks).map((f) => shardOfFile(name, f)));
    return shards.flatMap((m) => [...m.values()]).sort((a, b) => a.id - b.id);
  };

  /**
   * Publishes `head` as the successor of head `base` (the compare-and-swap) and collects what it
   * made dead. Lost when another writer took the slot first.
   */
  const publish = async (dir: string, base: number, head: Omit<Head, 'seq'>): Promise<void> => {
    const seq = base + 1;
    const full: Head = { seq, ...head, ...(head.files ? { filesChecksum: valueChecksum(head.files) } : {}) };
    const tmp = joinPath(dir, `tmp-${pad(seq)}-${rand()}.json`);
    await fs.writeFile(tmp, json(full));
    try {
      await fs.link(tmp, joinPath(dir, headName(seq)));
    } catch (e) {
      if (errorCode(e) === 'EEXIST') throw new Lost();
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

  /** Writes new record files for a commit that will publish `seq`; removes them all if it does not. */
  const recordWriter = (dir: string, seq: number, signal?: AbortSignal, what = '') => {
    const written: string[] = [];
    return {
      async write(kind: string, bytes: Uint8Array): Promise<string> {
        if (signal?.aborted) throw aborted(what);
        const file = `${pad(seq)}.${kind}-${rand()}.bin`;
        written.push(file);
        await fs.writeFile(joinPath(dir, file), bytes);
        return file;
      },
      async discard(): Promise<void> {
        for (const f of written) await fs.remove(joinPath(dir, f)).catch(() => undefined);
      },
    };
  };

  const writeStats = async (dir: string, counts: Float64Array) => {
    const tmp = joinPath(dir, `stats-${rand()}.tmp`);
    await fs.writeFile(tmp, new Uint8Array(counts.buffer.slice(counts.byteOffset, counts.byteOffset + counts.byteLength)));
    await fs.rename(tmp, joinPath(dir, 'stats.bin'));
  };

  /** After a lost race: the error the winner's commit makes this one. */
  const lostTo = async (name: string, expected: number, what: string): Promise<WeftError> => {
    const now = await rawHead(name);
    if (!now || (!now.broken && now.deleted)) return unknownIndex(name);
    const found = !now.broken ? now.manifest?.generation : undefined;
    return new WeftError('CONFLICT', `Index '${name}' changed while ${what} (another writer committed first); nothing was written. Reopen it and try again.`, {
      details: { name, expected, found },
    });
  };

  const store: WeftStore = {
    dbName: root,

    listIndexes() {
      return within('Listing indexes', async () => {
        const out: Manifest[] = [];
        for (const d of (await fs.list(indexesDir)).sort()) {
          const name = unhex(d);
          if (name === undefined) continue;
          const head = await rawHead(name);
          if (!head || (!head.broken && head.deleted)) continue;
          if (!head.broken && head.manifest && head.manifest.formatVersion > FORMAT_VERSION) {
            out.push(publicManifest(head.manifest));
            continue;
          }
          const { manifest } = await live(name);
          if (manifest.pending !== true) out.push(manifest); // pending: not there until its first commit
        }
        return out;
      });
    },

    manifest(name) {
      return within(`Reading the manifest of index '${name}'`, async () => (await live(name)).manifest);
    },

    createIndex(init) {
      return within(`Creating index '${init?.name}'`, async () => {
        checkLanguage(init?.language);
        const { manifest: fresh, centroids } = newIndexManifest(init);
        const problem =
          manifestProblem(fresh) ??
          centroidProblem(centroids, init.dim, init.nlist, init.storage) ??
          (validName(init.name) ? undefined : `names are at most ${MAX_NAME_BYTES} bytes of UTF-8 in the file store.`);
        if (problem) throw new WeftError('INVALID_OPTION', `Index '${String(init.name)}' was not created: ${problem}`);
        const manifest = withEmptyChecksums(fresh, centroids);
        const exists = () =>
          new WeftError('INDEX_EXISTS', `An index named '${init.name}' already exists. Open it, or delete it first to start over.`, {
            details: { name: init.name },
          });
        const dir = dirOf(init.name);
        await fs.mkdir(dir);
        const cur = await rawHead(init.name);
        if (cur && (cur.broken || !cur.deleted)) throw exists();
        const base = cur?.seq ?? 0;
        const records = recordWriter(dir, base + 1);
        try {
          const files: HeadFiles = {
            centroids: await records.write('centroids', encodeCentroids(centroids, manifest.centroidsChecksum)),
            lists: new Array<null>(init.nlist).fill(null),
            chunks: {},
            terms: {},
          };
          await publish(dir, base, { manifest: sealedManifest(manifest), files });
        } catch (e) {
          await records.discard();
          if (e instanceof Lost) throw exists();
          throw e;
        }
        await writeStats(dir, new Float64Array(init.nlist)).catch(() => undefined);
        return manifest;
      });
    },

    deleteIndex(name, options = {}) {
      // Only existence is checked: a damaged index must stay deletable.
      return within(`Deleting index '${name}'`, async () => {
        for (let attempt = 0; ; attempt++) {
          const cur = await rawHead(name);
          if (!cur || (!cur.broken && cur.deleted)) throw unknownIndex(name);
          // A commit landed: it is someone's index now. (One landing after this read takes the head
          // slot, so the delete below is Lost and this check runs again.)
          if (options.onlyPending && (cur.broken || cur.manifest?.pending !== true)) return;
          try {
            await publish(dirOf(name), cur.seq, { deleted: true });
          } catch (e) {
            if (e instanceof Lost && attempt < READ_ATTEMPTS) continue;
            throw e;
          }
          await fs.remove(joinPath(dirOf(name), 'stats.bin')).catch(() => undefined);
          return;
        }
      });
    },

    readCentroids(name) {
      return within(`Reading the centroids of index '${name}'`, () => atSnapshot(name, (s) => centroidsOf(name, s)));
    },

    readLists(name, lists) {
      return within(`Reading lists of index '${name}'`, () => atSnapshot(name, (s) => listsOf(name, s, lists)));
    },

    async commit(name, generation, changes, signal, onProgress) {
      const what = `Committing to index '${name}'`;
      if (signal?.aborted) throw aborted(what);
      checkIds(
        (changes.putChunks ?? []).map((c) => c?.id),
        `Commit to index '${name}'`,
      );
      checkIds(changes.deleteChunks ?? [], `Commit to index '${name}'`);
      return within(what, () =>
        atSnapshot(name, async (s) => {
          const m = s.manifest;
          if (m.generation !== generation) {
            throw new WeftError('CONFLICT', `Index '${name}' changed since it was read (another writer committed to it). Reopen it and try again.`, {
              details: { name, expected: generation, found: m.generation },
            });
          }
          checkCommit(name, m, changes);
          const analyzer = await analyzerOf(m);
          const dir = dirOf(name);
          const records = recordWriter(dir, s.seq + 1, signal, what);
          try {
            const next: Manifest = {
              ...m,
              checksums: m.checksums.slice(),
              listCounts: m.listCounts.slice(),
              generation: m.generation + 1,
              updatedAt: Date.now(),
            };
            delete next.pending; // the first commit makes a pending index exist
            const files: HeadFiles = { centroids: s.files.centroids, lists: s.files.lists.slice(), chunks: { ...s.files.chunks }, terms: { ...s.files.terms } };
            const removed: ChunkRecord[] = [],
              damaged: number[] = [];
            if (changes.centroids) {
              const grown = grownCentroids(name, m, await centroidsOf(name, s), changes);
              Object.assign(next, grown.manifest);
              files.centroids = await records.write('centroids', encodeCentroids(changes.centroids, next.centroidsChecksum));
              for (let l = m.nlist; l < next.nlist; l++) files.lists[l] = null;
            }
            for (const rec of changes.lists ?? []) {
              const checksum = listChecksum(rec);
              next.checksums[rec.list] = checksum;
              next.listCounts[rec.list] = rec.count;
              files.lists[rec.list] = rec.count === 0 ? null : await records.write(`list-${rec.list}`, encodeList(rec, checksum));
            }
            // Chunk shards touched by this commit are rewritten whole; a damaged chunk they carry keeps its checksum (and stays detectable).
            // Term buckets are counted with the chunks whose postings they hold: one step per bucket shard is not known yet.
            const progress = commitProgress(changes, 0, onProgress);
            const touched = new Map<string, { put: ChunkRecord[]; del: number[]; move: { id: number; list: number }[] }>();
            const at = (id: number) => touched.get(shardOf(id)) ?? touched.set(shardOf(id), { put: [], del: [], move: [] }).get(shardOf(id))!;
            for (const id of changes.deleteChunks ?? []) at(id).del.push(id);
            for (const c of changes.putChunks ?? []) at(c.id).put.push(c);
            for (const mv of changes.moveChunks ?? []) at(mv.id).move.push(mv);
            for (const [shard, { put, del, move }] of touched) {
              const old = s.files.chunks[shard];
              const recs = old ? await shardOfFile(name, old) : new Map<number, StoredChunk>();
              // The stored chunks this commit deletes or overwrites: their postings go.
              for (const id of new Set([...del, ...put.map((c) => c.id)])) {
                const r = recs.get(id);
                if (!r) continue;
                try {
                  removed.push(checkedChunk(name, r));
                } catch {
                  damaged.push(id);
                }
              }
              for (const id of del) recs.delete(id);
              for (const c of put) recs.set(c.id, storedChunk(name, c));
              for (const mv of move) {
                const r = recs.get(mv.id);
                if (r) recs.set(mv.id, movedChunk(name, r, mv.list));
              }
              if (recs.size === 0) delete files.chunks[shard];
              else files.chunks[shard] = await records.write(`chunks-${shard}`, json([...recs.values()].sort((a, b) => a.id - b.id)));
              for (let i = put.length + del.length + move.length; i > 0; i--) progress();
              if (signal?.aborted) throw aborted(what);
            }
            // The postings follow the chunks in this head.
            const change = postingChange(analyzer, lexicalOf(m), removed, damaged, changes.putChunks ?? []);
            const posted = change.apply(await bucketsOf(name, s, change.buckets, change.terms, true));
            next.lexical = posted.lexical;
            files.terms = await writeTermShards(records, s.files.terms ?? {}, name, posted.records);
            next.count += changes.countDelta ?? 0;
            next.tombstones += changes.tombstoneDelta ?? 0;
            if (changes.nextId !== undefined) next.nextId = Math.max(next.nextId, changes.nextId);
            // nextId stays above every stored chunk id, as in IndexedDB.
            for (const c of changes.putChunks ?? []) if (c.id >= next.nextId) next.nextId = c.id + 1;
            // The last moment an abort can still take effect: after the link the commit has happened.
            if (signal?.aborted) throw aborted(what);
            await publish(dir, s.seq, { manifest: sealedManifest(next), files });
            return next;
          } catch (e) {
            await records.discard();
            if (e instanceof Lost) throw await lostTo(name, generation, 'this commit was written');
            throw e;
          }
        }),
      );
    },

    async readChunks(name, ids) {
      checkIds(ids, 'readChunks');
      return within(`Reading chunks of index '${name}'`, () =>
        atSnapshot(name, async (s) => {
          const shards = new Map<string, Promise<Map<number, StoredChunk>>>();
          for (const id of ids) {
            const f = s.files.chunks[shardOf(id)];
            if (f && !shards.has(f)) shards.set(f, shardOfFile(name, f));
          }
          return Promise.all(
            ids.map(async (id) => {
              const f = s.files.chunks[shardOf(id)];
              const r = f ? (await shards.get(f)!).get(id) : undefined;
              return r ? checkedChunk(name, r) : undefined;
            }),
          );
        }),
      );
    },

    chunkIdsOfDocument(name, docId) {
      return within(`Finding the chunks of document '${docId}' in index '${name}'`, () =>
        atSnapshot(name, async (s) => {
          // As IndexedDB's byDoc index: the records filed under this document, each checked.
          return (await allChunks(name, s)).filter((r) => r?.docId === docId).map((r) => checkedChunk(name, r).id);
        }),
      );
    },

    readCatalog(name) {
      return within(`Reading the chunk catalog of index '${name}'`, () =>
        atSnapshot(name, async (s) => {
          const chunks = (await allChunks(name, s)).map((r) => {
            const c = checkedChunk(name, r);
            return { id: c.id, list: c.list, docId: c.docId, ...(c.metadata !== undefined ? { metadata: c.metadata } : {}) };
          });
          return { generation: s.manifest.generation, chunks };
        }),
      );
    },

    readWholeIndex(name) {
      return within(`Reading index '${name}'`, () =>
        atSnapshot(name, async (s) => {
          const centroids = await centroidsOf(name, s);
          const lists = await listsOf(
            name,
            s,
            Array.from({ length: s.manifest.nlist }, (_, i) => i),
          );
          const chunks = (await allChunks(name, s)).map((r) => checkedChunk(name, r));
          return { manifest: s.manifest, centroids, lists, chunks };
        }),
      );
    },

    async writeWholeIndex(whole, opts = {}) {
      const name = checkedWholeWrite(whole, opts);
      if (!validName(name))
        throw new WeftError('INVALID_INPUT', `The index was not written: names are at most ${MAX_NAME_BYTES} bytes of UTF-8 in the file store.`, {
          details: { name },
        });
      return within(`Writing index '${name}'`, async () => {
        const dir = dirOf(name);
        await fs.mkdir(dir);
        const cur = await rawHead(name);
        const exists = !!cur && (cur.broken || !cur.deleted);
        let replaced: Manifest | undefined;
        if (opts.expectGeneration !== undefined) {
          if (!exists) throw unknownIndex(name);
          replaced = headManifest(name, cur);
          if (replaced.generation !== opts.expectGeneration) {
            throw new WeftError(
              'CONFLICT',
              `Index '${name}' changed since it was read (another writer committed to it); nothing was replaced. Read it again and retry.`,
              { details: { name, expected: opts.expectGeneration, found: replaced.generation } },
            );
          }
        } else if (exists) {
          // A pending index (a first ingest cut off before its first commit) exists for no one: replaced.
          if (!opts.replace && (cur.broken || cur.manifest?.pending !== true))
            throw new WeftError('INDEX_EXISTS', `An index named '${name}' already exists. Import under another name, or pass replace: true.`, {
              details: { name },
            });
          // An import may replace a damaged index; its fields are then not trusted.
          try {
            replaced = headManifest(name, cur);
          } catch {
            replaced = !cur.broken && cur.manifest && cur.manifest.formatVersion > FORMAT_VERSION ? publicManifest(cur.manifest) : undefined;
          }
        }
        const rawGeneration = cur && !cur.broken && !cur.deleted ? cur.manifest?.generation : undefined;
        const previous = replaced?.generation ?? (isInt(rawGeneration, 0, Number.MAX_SAFE_INTEGER) ? rawGeneration : 0);
        const analyzer = await loadAnalyzer(whole.manifest.lexical?.language ?? DEFAULT_LANGUAGE);
        const postings = wholePostingsWith(analyzer, whole.chunks, whole.manifest.lexical?.buckets ?? DEFAULT_BUCKETS);
        const m = wholeIndexManifest(whole, replaced, previous, postings.lexical);
        const base = cur?.seq ?? 0;
        const records = recordWriter(dir, base + 1);
        try {
          const files: HeadFiles = {
            centroids: await records.write('centroids', encodeCentroids(whole.centroids, m.centroidsChecksum)),
            lists: [],
            chunks: {},
            terms: {},
          };
          for (const r of whole.lists) files.lists.push(r.count === 0 ? null : await records.write(`list-${r.list}`, encodeList(r, m.checksums[r.list]!)));
          const shards = new Map<string, StoredChunk[]>();
          for (const c of [...whole.chunks].sort((a, b) => a.id - b.id)) {
            const k = shardOf(c.id);
            (shards.get(k) ?? shards.set(k, []).get(k)!).push(storedChunk(name, c));
          }
          for (const [k, recs] of shards) files.chunks[k] = await records.write(`chunks-${k}`, json(recs));
          files.terms = await writeTermShards(records, {}, undefined, postings.records);
          await publish(dir, base, { manifest: sealedManifest(m), files });
        } catch (e) {
          await records.discard();
          if (e instanceof Lost) {
            if (opts.expectGeneration === undefined && !opts.replace)
              throw new WeftError(
                'INDEX_EXISTS',
                `An index named '${name}' was created while this one was written; nothing was written. Import under another name, or pass replace: true.`,
                { details: { name } },
              );
            throw await lostTo(name, opts.expectGeneration ?? previous, 'the whole index was written');
          }
          throw e;
        }
        await writeStats(dir, new Float64Array(m.nlist)).catch(() => undefined);
        return m;
      });
    },

    readTermBuckets(name, buckets, terms) {
      return within(`Reading term buckets of index '${name}'`, () =>
        atSnapshot(name, async (s) => ({ manifest: s.manifest, buckets: await bucketsOf(name, s, buckets, terms ? new Set(terms) : undefined) })),
      );
    },

    readAccessCounts(name) {
      return within(`Reading access statistics of '${name}'`, async () => {
        if (!validName(name)) return new Float64Array(0);
        try {
          const b = await fs.readFile(joinPath(dirOf(name), 'stats.bin'));
          return b.byteLength % 8 === 0 ? new Float64Array(b.slice().buffer) : new Float64Array(0);
        } catch (e) {
          if (errorCode(e) === 'ENOENT') return new Float64Array(0);
          throw e;
        }
      });
    },

    writeAccessCounts(name, counts) {
      return within(`Saving access statistics of '${name}'`, async () => {
        if (!validName(name)) throw unknownIndex(name);
        await fs.mkdir(dirOf(name));
        await writeStats(dirOf(name), counts);
      });
    },

    close() {
      /* nothing is held open between calls */
    },
  };
  return store;
}

/** The directory that holds index `name` in a file store at `dir` (for tools and tests that look inside). */
export function fileStoreIndexDir(dir: string, name: string): string {
  return joinPath(dir.replace(/\/+$/, '') || '/', 'indexes', hex(name));
}
