// A read-only WeftStore over an index file on any static host that serves HTTP range requests:
// the cold tier under IndexedDB and the GPU. Opening reads the file's header and table of
// contents (one or two ranges); after that each read fetches only the sections it needs — a
// probed list's ids and codes (one range), a result's chunk record (its directory page first),
// a term bucket, the catalog for filters — checks each against its CRC-32 and keeps it in
// IndexedDB (section-cache.ts) under a byte budget, evicting with the same policy as the GPU list
// cache. So a stored index opened on this store (openRemoteIndex) searches GPU ← IndexedDB ← HTTP.
//
// Versions: every file has a fileId drawn when it was exported. A section that fails its CRC, or
// a response whose length or ETag differs from the opened file's, makes the store read the header
// again: a new fileId means the index was republished (the old cached sections are dropped in the
// same transaction, and every later read says REMOTE_CHANGED: open the index again); the same
// fileId means the bytes were damaged on the way (CORRUPT_RECORD, nothing cached). Without a
// network, what is cached answers and the rest is REMOTE_UNAVAILABLE naming what is missing.

import { WeftError } from '../errors.js';
import { crc32 } from '../store/checksum.js';
import type { ChunkCatalog } from '../store/allow-list.js';
import type { WeftStore } from '../store/idb-store.js';
import { checkIds } from '../store/index-checks.js';
import { checkBuckets, checkedBucket } from '../store/lexical-records.js';
import { bucketChecksum, listChecksum, unknownIndex, type ChunkRecord, type Manifest } from '../store/records.js';
import type { ListRecord } from '../ivf/types.js';
import { SECTION, decodeCatalog, decodeChunk, pageOf, parseDirectoryPage, parseListDirectory, sectionKey, sectionName, type DirectoryEntry, type Section } from '../store/index-file.js';
import { fetchHead, parseHead, type Head } from './file-head.js';
import { fetchRange, type RangeFetchOptions } from './range-fetch.js';
import { openSectionCache, type SectionCache } from './section-cache.js';
import { createLocalTier } from './local-tier.js';

export interface RemoteStoreOptions {
  /** IndexedDB bytes for this file's sections (default 256 MiB). 0: only the header is kept (no offline use). */
  localBytes?: number;
  /** Extra attempts for a failed range request (default 3), the first backoff (default 200 ms, doubled each time). */
  retries?: number;
  retryDelayMs?: number;
  /** Request headers, e.g. authorization for a private bucket. */
  headers?: Record<string, string>;
  /** IndexedDB database of the remote tier (default 'weft-remote'). */
  cacheDbName?: string;
  signal?: AbortSignal;
}

export interface RemoteStats {
  /** HTTP requests sent (the header's included). */
  requests: number;
  bytesFetched: number;
  /** Sections found in IndexedDB, and fetched over HTTP. */
  localHits: number;
  localMisses: number;
  /** Bytes of sections kept in IndexedDB now, and its budget. */
  localBytes: number;
  localBudget: number;
}

export interface RemoteStore extends WeftStore {
  readonly url: string;
  /** The one index the file holds. */
  readonly indexName: string;
  /** The publication opened (a republished file has another). */
  readonly fileId: string;
  /** True when the file could not be reached at open: only cached sections answer. */
  readonly offline: boolean;
  stats(): RemoteStats;
  warmTermBuckets(name: string, buckets: readonly number[]): Promise<void>;
  warmChunks(name: string, ids: readonly number[]): Promise<void>;
}

/** A byte range of the file with its CRC: a section of the toc, or one chunk's record. */
interface Piece { key: string; offset: number; length: number; crc: number; what: string }

/** Ranges closer than this are fetched as one (a list's ids and codes are adjacent). */
const MERGE_GAP = 16 * 1024;
const MAX_MERGED = 4 * 2 ** 20;
const PARALLEL = 6;
/**
 * Which reads the browser sends first when there are more than its connections to the host: an
 * answer waits for its chunk texts (small) right now, while lists and term buckets are largely
 * read ahead (prefetch, other questions' lookahead).
 */
type Priority = 'high' | 'low';
/** Entries of lists' directories kept in memory (16 bytes each in the file, ~70 as objects). */
const LIST_DIRECTORY_ENTRIES = 65_536;

/** The entry of chunk `id` in `entries` (sorted by id). */
function findEntry(entries: readonly DirectoryEntry[], id: number): DirectoryEntry | undefined {
  let lo = 0, hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = entries[mid]!;
    if (e.id === id) return e;
    if (e.id < id) lo = mid + 1; else hi = mid - 1;
  }
  return undefined;
}

const pieceOf = (s: Section): Piece => ({ key: sectionKey(s.kind, s.key), offset: s.offset, length: s.length, crc: s.crc, what: `the ${sectionName(s)}` });
const chunkPiece = (e: DirectoryEntry): Piece => ({ key: `c:${e.id}`, offset: e.offset, length: e.length, crc: e.crc, what: `chunk ${e.id}'s record` });

function readOnly(url: string): WeftError {
  return new WeftError('READ_ONLY', `The index at ${url} is read-only: it is served over HTTP. To change it, import it into this browser (importIndex) or rebuild it and publish the new file.`, { details: { url } });
}

/** Opens the index file at `url` (absolute or relative to the page) for reading in place. */
export async function openRemoteStore(url: string | URL, options: RemoteStoreOptions = {}): Promise<RemoteStore> {
  const href = new URL(String(url), globalThis.location?.href).href;
  const budget = options.localBytes ?? 256 * 2 ** 20;
  if (!(budget >= 0)) throw new WeftError('INVALID_OPTION', `localBytes must be a number of bytes ≥ 0; got ${String(options.localBytes)}.`);
  let requests = 0, bytesFetched = 0, localHits = 0, localMisses = 0;
  const fetchOptions = (signal?: AbortSignal, priority?: Priority): RangeFetchOptions => ({
    ...(priority ? { priority } : {}), retries: options.retries ?? 3, retryDelayMs: options.retryDelayMs ?? 200, ...(options.headers ? { headers: options.headers } : {}),
    ...(signal ? { signal } : {}), onRequest: (s, e) => { requests++; bytesFetched += e - s; },
  });
  const cache: SectionCache = await openSectionCache(options.cacheDbName);
  let head: Head;
  let offline = false;
  let cachedAccess: ArrayBuffer | undefined;
  try {
    const known = await cache.file(href);
    try {
      head = await fetchHead(href, fetchOptions(options.signal));
    } catch (e) {
      if (!(e instanceof WeftError && e.code === 'REMOTE_UNAVAILABLE') || !known) throw e;
      head = parseHead(href, new Uint8Array(known.head), known.length);
      offline = true;
    }
    if (!offline) {
      await cache.adopt({ url: href, fileId: head.header.fileId, etag: head.etag, length: head.length, head: head.bytes.slice().buffer });
    }
    cachedAccess = known?.fileId === head.header.fileId ? known.access : undefined;
  } catch (e) {
    cache.close();
    throw e;
  }
  const name = head.header.manifest.name;
  // The publication being read; replaced when the URL is found to hold a new one (see recheck).
  let epoch = 1;
  const publication = (h: Head) => ({
    head: h, header: h.header, toc: h.toc,
    // Generations count publications seen by this store, so an open index adopts a new one as a commit.
    manifest: { ...h.header.manifest, name, generation: epoch } as Manifest,
    directoryPages: new Map<number, DirectoryEntry[]>(),
    // The directories of lists read lately (version 3), sorted by id, the most recent last.
    listDirectories: new Map<number, DirectoryEntry[]>(),
    listEntries: 0,
    catalog: undefined as Promise<ChunkCatalog> | undefined,
  });
  let pub = publication(head);

  const local = await createLocalTier(cache, href, pub.header.fileId, budget);

  const checkName = (n: string) => { if (n !== name) throw unknownIndex(n); };
  // After a switch to a new publication, reads are refused until the reader has asked for the
  // manifest (a stored index does so before each operation, and then adopts the new one): an
  // operation that began on the old file can never go on with sections of the new one.
  let adopted = true;
  const current = (n: string) => {
    checkName(n);
    if (!adopted) throw changedError();
  };
  const changedError = () => new WeftError('REMOTE_CHANGED', `The index at ${href} was republished during this call, which was stopped so that nothing of the two files is mixed. Call again: the index now reads the new file.`, { details: { url: href } });

  /**
   * Reads the header again after a mismatch. A new fileId: the URL holds a new publication, which
   * this store reads from now on (its old cached sections are dropped with the same transaction
   * that records it), and the call that noticed fails with REMOTE_CHANGED.
   */
  const recheck = async (at: typeof pub, signal?: AbortSignal) => {
    const now = await fetchHead(href, fetchOptions(signal));
    if (now.header.fileId === at.header.fileId) return;
    if (now.header.fileId === pub.header.fileId) throw changedError(); // another read switched already
    if (now.header.manifest.name !== name) {
      throw new WeftError('REMOTE_CHANGED', `${href} now holds index '${now.header.manifest.name}', not '${name}'. Open it again.`, { details: { url: href } });
    }
    await cache.adopt({ url: href, fileId: now.header.fileId, etag: now.etag, length: now.length, head: now.bytes.slice().buffer }).catch(() => undefined);
    epoch++;
    pub = publication(now);
    adopted = false;
    local.reset();
    cachedAccess = undefined;
    throw changedError();
  };

  const damaged = (p: Piece) => new WeftError('CORRUPT_RECORD', `${p.what} of the index at ${href} arrived damaged (it fails its checksum) and was not kept. Try again; if it persists, the file on the server is damaged: publish it again.`, { details: { url: href, section: p.key } });

  const inflight = new Map<string, Promise<Uint8Array>>();

  /** The bytes of `pieces`, from IndexedDB or over HTTP (with the browser's `priority`), each checked. */
  const read = async (pieces: readonly Piece[], signal?: AbortSignal, priority?: Priority): Promise<Uint8Array[]> => {
    const keep = local.touch(pieces.map((p) => p.key));
    const results = new Map<string, Promise<Uint8Array>>();
    const todo: Piece[] = [];
    for (const p of pieces) {
      if (results.has(p.key)) continue;
      const pending = inflight.get(p.key);
      if (pending) results.set(p.key, pending); else todo.push(p);
    }
    if (todo.length > 0) {
      const fileId = pub.header.fileId;
      const work = (async () => {
        const cached = await cache.get(href, fileId, todo.map((p) => p.key)).catch(() => todo.map(() => undefined));
        const out = new Map<string, Uint8Array>();
        const missing: Piece[] = [];
        todo.forEach((p, i) => {
          const b = cached[i];
          if (b && b.byteLength === p.length && crc32(b) === p.crc) { out.set(p.key, b); localHits++; } else { missing.push(p); localMisses++; }
        });
        const got = await fetchPieces(missing, signal, priority);
        for (const g of got) out.set(g.p.key, g.bytes);
        if (fileId === pub.header.fileId) await local.keep(fileId, got.map((g) => ({ key: g.p.key, bytes: g.bytes })), keep);
        return out;
      })();
      for (const p of todo) {
        const one = work.then((m) => m.get(p.key)!);
        inflight.set(p.key, one);
        results.set(p.key, one);
        void one.catch(() => undefined).finally(() => { if (inflight.get(p.key) === one) inflight.delete(p.key); });
      }
    }
    return Promise.all(pieces.map((p) => results.get(p.key)!));
  };

  const fetchPieces = async (missing: Piece[], signal?: AbortSignal, priority?: Priority): Promise<{ p: Piece; bytes: Uint8Array }[]> => {
    if (missing.length === 0) return [];
    const at = pub;
    const sorted = [...missing].sort((a, b) => a.offset - b.offset);
    const ranges: { start: number; end: number; pieces: Piece[] }[] = [];
    for (const p of sorted) {
      const last = ranges.at(-1);
      if (last && p.offset - last.end <= MERGE_GAP && p.offset + p.length - last.start <= MAX_MERGED) {
        last.end = Math.max(last.end, p.offset + p.length);
        last.pieces.push(p);
      } else ranges.push({ start: p.offset, end: p.offset + p.length, pieces: [p] });
    }
    const out: { p: Piece; bytes: Uint8Array }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < ranges.length) {
        const r = ranges[next++]!;
        let got;
        try {
          got = await fetchRange(href, r.start, r.end, fetchOptions(signal, priority));
        } catch (e) {
          if (e instanceof WeftError && e.code === 'REMOTE_UNAVAILABLE') {
            throw new WeftError('REMOTE_UNAVAILABLE', `${r.pieces[0]!.what} of index '${name}' is not cached in this browser and ${href} cannot be reached (${e.message}) Reconnect, or ask what the cached lists hold.`, { cause: e, details: { url: href, section: r.pieces[0]!.key } });
          }
          if (e instanceof WeftError && e.code === 'REMOTE_CHANGED') await recheck(at, signal);
          throw e;
        }
        const { head } = at;
        if ((got.total !== undefined && got.total !== head.length) || (got.etag !== undefined && head.etag !== undefined && got.etag !== head.etag)) await recheck(at, signal);
        if (at !== pub) throw changedError();
        for (const p of r.pieces) {
          const bytes = got.bytes.slice(p.offset - r.start, p.offset - r.start + p.length);
          if (crc32(bytes) !== p.crc) {
            await recheck(at, signal);
            throw damaged(p);
          }
          out.push({ p, bytes });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, ranges.length) }, worker));
    return out;
  };

  const section = (kind: number, key: number) => pub.toc.get(sectionKey(kind, key));

  const directoryPage = async (pages: readonly number[], signal?: AbortSignal) => {
    const at = pub;
    const need = [...new Set(pages)].filter((p) => !at.directoryPages.has(p));
    const bytes = await read(need.map((p) => pieceOf(section(SECTION.directory, p)!)), signal, 'high');
    if (at !== pub) throw changedError();
    need.forEach((p, i) => at.directoryPages.set(p, parseDirectoryPage(bytes[i]!, at.header.bodyOffset)));
  };

  const entryOf = (id: number) => {
    const page = pageOf(pub.header.pages, id);
    return page < 0 ? undefined : findEntry(pub.directoryPages.get(page)!, id);
  };

  const readCatalog = () => {
    const at = pub;
    at.catalog ??= (async () => {
      const s = section(SECTION.catalog, 0);
      const chunks = s ? decodeCatalog((await read([pieceOf(s)]))[0]!, (what) => new WeftError('CORRUPT_RECORD', `${what} in the index at ${href}.`, { details: { url: href } })) : [];
      if (at !== pub) throw changedError();
      return { generation: at.manifest.generation, chunks };
    })();
    at.catalog.catch(() => { at.catalog = undefined; });
    return at.catalog;
  };

  /** Keeps list `l`'s directory (checked bytes) among the recent ones, within LIST_DIRECTORY_ENTRIES. */
  const keepListDirectory = (at: typeof pub, l: number, bytes: Uint8Array) => {
    const kept = at.listDirectories.get(l);
    if (kept) { at.listDirectories.delete(l); at.listDirectories.set(l, kept); return; } // parsed already: now the most recent
    const texts = section(SECTION.chunks, l);
    if (!texts) return;
    const entries = parseListDirectory(bytes, l, texts, (what) => new WeftError('CORRUPT_RECORD', `${what} in the index at ${href}. Publish it again.`, { details: { url: href, list: l } }))
      .sort((a, b) => a.id - b.id);
    at.listDirectories.set(l, entries);
    at.listEntries += entries.length;
    for (const [list, e] of at.listDirectories) {
      if (at.listEntries <= LIST_DIRECTORY_ENTRIES || list === l) break;
      at.listDirectories.delete(list);
      at.listEntries -= e.length;
    }
  };

  /** Chunk `id`'s entry in the directory of a list read lately, if one holds it. */
  const listEntryOf = (id: number): DirectoryEntry | undefined => {
    for (const entries of pub.listDirectories.values()) {
      const e = findEntry(entries, id);
      if (e) return e;
    }
    return undefined;
  };

  const readLists = async (lists: readonly number[]): Promise<ListRecord[]> => {
    if (!Array.isArray(lists)) throw new WeftError('INVALID_INPUT', 'readLists takes an array of list numbers.');
    const at = pub;
    const { manifest } = at;
    const wrong = lists.find((l) => typeof l !== 'number' || !Number.isInteger(l) || l < 0 || l >= manifest.nlist);
    if (wrong !== undefined) throw new WeftError('INVALID_INPUT', `Index '${name}' has lists 0..${manifest.nlist - 1}; got ${String(wrong)}.`, { details: { name, list: wrong } });
    // With each list its directory, where the file has one: adjacent to the codes, so the same range.
    const dirs = lists.map((l) => section(SECTION.listDirectory, l));
    const pieces = lists.flatMap((l, i) => [pieceOf(section(SECTION.ids, l)!), pieceOf(section(SECTION.codes, l)!), ...(dirs[i] ? [pieceOf(dirs[i])] : [])]);
    const bytes = await read(pieces, undefined, 'low');
    if (manifest !== pub.manifest) throw changedError();
    let j = 0;
    return lists.map((l, i) => {
      const ids = new Uint32Array(bytes[j++]!.slice().buffer);
      const rec: ListRecord = { list: l, count: ids.length, ids, codes: new Uint32Array(bytes[j++]!.slice().buffer) };
      if (listChecksum(rec) !== manifest.checksums[l] || rec.count !== manifest.listCounts[l]) {
        throw new WeftError('CORRUPT_RECORD', `List ${l} of the index at ${href} does not match its manifest: the file is inconsistent. Publish it again.`, { details: { url: href, list: l } });
      }
      if (dirs[i]) keepListDirectory(at, l, bytes[j++]!);
      return rec;
    });
  };

  const readChunks = async (chunkIds: readonly number[]): Promise<(ChunkRecord | undefined)[]> => {
    // The chunks of lists read lately (a vector search's results) through those lists' directories;
    // the others (keyword results from lists not scanned) through the directory pages.
    const known = chunkIds.map(listEntryOf);
    await directoryPage(chunkIds.filter((_, i) => !known[i]).map((id) => pageOf(pub.header.pages, id)).filter((p) => p >= 0));
    const entries = chunkIds.map((id, i) => known[i] ?? entryOf(id));
    const found = entries.filter((e): e is DirectoryEntry => e !== undefined);
    const at = pub;
    const bytes = await read(found.map(chunkPiece), undefined, 'high');
    if (at !== pub) throw changedError();
    const byId = new Map<number, ChunkRecord>();
    found.forEach((e, i) => byId.set(e.id, decodeChunk(bytes[i]!, e, (what) => new WeftError('CORRUPT_RECORD', `${what} in the index at ${href}.`, { details: { url: href, id: e.id } }))));
    return chunkIds.map((id) => byId.get(id));
  };

  const store: RemoteStore = {
    dbName: href,
    url: href,
    indexName: name,
    get fileId() { return pub.header.fileId; },
    offline,
    stats: () => ({ requests, bytesFetched, localHits, localMisses, localBytes: local.bytes, localBudget: budget }),
    async listIndexes() { return [pub.manifest]; },
    async manifest(n) { checkName(n); adopted = true; return pub.manifest; },
    async createIndex() { throw readOnly(href); },
    async deleteIndex() { throw readOnly(href); },
    async commit() { throw readOnly(href); },
    async writeWholeIndex() { throw readOnly(href); },
    async readCentroids(n) {
      current(n);
      const [vmin, scale] = [section(SECTION.vmin, 0), section(SECTION.scale, 0)];
      const parts = await read([section(SECTION.centroids, 0)!, ...(vmin ? [vmin] : []), ...(scale ? [scale] : [])].map(pieceOf));
      const f32 = (b: Uint8Array) => new Float32Array(b.slice().buffer);
      return { centroids: f32(parts[0]!), ...(vmin ? { vmin: f32(parts[1]!) } : {}), ...(scale ? { scale: f32(parts[vmin ? 2 : 1]!) } : {}) };
    },
    async readLists(n, lists) { current(n); return readLists(lists); },
    async readChunks(n, chunkIds) { checkIds(chunkIds, 'readChunks'); current(n); return readChunks(chunkIds); },
    async chunkIdsOfDocument(n, docId) { current(n); return (await readCatalog()).chunks.filter((c) => c.docId === docId).map((c) => c.id); },
    async readCatalog(n) { current(n); return readCatalog(); },
    async readWholeIndex(n) {
      current(n);
      const { manifest } = pub;
      const all = Array.from({ length: manifest.nlist }, (_, l) => l);
      const lists = await readLists(all);
      const ids = lists.flatMap((r) => Array.from(r.ids).filter((id) => id !== 0xffffffff)).sort((a, b) => a - b);
      const chunks = (await readChunks(ids)).filter((c): c is ChunkRecord => c !== undefined);
      return { manifest, centroids: await store.readCentroids(n), lists, chunks };
    },
    async readTermBuckets(n, buckets, terms) {
      current(n);
      const { manifest } = pub;
      checkBuckets(name, manifest, buckets);
      const present = buckets.filter((b) => section(SECTION.terms, b));
      const bytes = await read(present.map((b) => pieceOf(section(SECTION.terms, b)!)), undefined, 'low');
      if (manifest !== pub.manifest) throw changedError();
      const byBucket = new Map(present.map((b, i) => [b, bytes[i]!]));
      const only = terms ? new Set(terms) : undefined;
      return {
        manifest,
        buckets: buckets.map((b) => {
          const data = byBucket.get(b);
          return checkedBucket(name, manifest, b, data, data ? bucketChecksum(b, data) : undefined, only);
        }),
      };
    },
    async warmTermBuckets(n, buckets) {
      if (n !== name || !adopted) return;
      const present = buckets.filter((b) => Number.isInteger(b) && section(SECTION.terms, b));
      // Fetched now, in parallel; the keyword steps' reads then find them in flight or kept.
      if (present.length) await read(present.map((b) => pieceOf(section(SECTION.terms, b)!)), undefined, 'low').catch(() => undefined);
    },
    async warmChunks(n, ids) {
      if (n !== name || !adopted || !Array.isArray(ids)) return;
      const valid = ids.filter((id) => Number.isInteger(id) && id >= 0);
      if (valid.length) await readChunks(valid).catch(() => undefined);
    },
    async readAccessCounts(n) { checkName(n); return cachedAccess ? new Float64Array(cachedAccess) : new Float64Array(0); },
    async writeAccessCounts(n, counts) { checkName(n); cachedAccess = counts.slice().buffer; await cache.saveAccess(href, counts); },
    close() { cache.close(); },
  };
  return store;
}
