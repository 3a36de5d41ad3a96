// A read-only WeftStore over an index file on any static host that serves HTTP range requests:
// the cold tier under IndexedDB and the GPU. Opening reads the file's header and table of
// contents (one or two ranges); after that each read fetches only the sections it needs — a
// probed list's ids and codes (one range), a result's chunk record (its directory page first),
// a term bucket, the catalog for filters, in a file with grouped lists (layout 5) a group's
// centroids and its lists' places, and in a file with coarse codes (layouts 6 and 7) a list's place (its
// centroid and sections), the first time a list of it is wanted (the lists' sections then join
// the toc) — checks each against its CRC-32 and keeps it in
// IndexedDB (section-cache.ts) under a byte budget, evicting with the same policy as the GPU list
// cache. So a stored index opened on this store (openRemoteIndex) searches GPU ← IndexedDB ← HTTP.
//
// Versions: every file has a fileId drawn when it was exported. A section that fails its CRC, or
// a response whose length or ETag differs from the opened file's, makes the store read the header
// again: a new fileId means the index was republished (the old cached sections are dropped in the
// same transaction, and every later read says REMOTE_CHANGED: open the index again); the same
// fileId means the bytes were damaged on the way (CORRUPT_RECORD, nothing cached). Without a
// network, what is cached answers and the rest is REMOTE_UNAVAILABLE naming what is missing.
//
// Faults: every read takes the caller's signal, and each HTTP request gives up on a host that
// stops sending (range-fetch.ts), so no host can hang a search. Callers asking for the same
// sections at once share one fetch; a caller whose signal aborts stops waiting at once, and the
// fetch itself stops when no caller waits for it any more. Closing stops every fetch in flight.
// Every length the file states is checked before it is fetched (file-head.ts for the header and
// sections, here for chunk records); a host whose Content-Range misstates the file's length costs
// one re-read of the header, not one per read.
// Over 400 lines: one store closure over one publication (shared fetches, the recheck, and the
// reads that use them); the head and the range reads are apart already.

import { WeftError } from '../../errors.js';
import { crc32 } from '../checksum.js';
import type { ChunkCatalog } from '../contract.js';
import type { WeftStore } from '../contract.js';
import { checkIds } from '../index-checks.js';
import { checkBuckets, checkedBucket } from '../lexical-records.js';
import { bucketChecksum, unknownIndex, type ChunkRecord, type Manifest } from '../records.js';
import type { ListRecord } from '../../ivf/types.js';
import { valuesOfHalfBytes } from '../../ivf/half-text.js';
import {
  SECTION,
  decodeCatalog,
  decodeChunk,
  pageOf,
  parseDirectoryPage,
  parseGroup,
  parseListDirectory,
  parseListGroups,
  parsePageIndex,
  parsePlace,
  parsePlaceIndex,
  parseRowDirectory,
  placeSize,
  sectionKey,
  sectionName,
  type DirectoryEntry,
  type ListEntry,
  type Section,
} from '../index-file.js';
import { floatsOfFile, scanCodes } from '../file-codes.js';
import { indexLayout, storedCodebook } from '../../ivf/pq.js';
import type { CoarseCodes } from '../../ivf/coarse-codes.js';
import { abortable } from '../../util/abortable.js';
import { sharedRead, type SharedRead } from '../../util/shared-read.js';
import { checkListNumbers, checkedCentroids, checkedList, type ReadPlace } from '../read-checks.js';
import { MAX_CHUNK_RECORD_BYTES, checkSectionSize, fetchHead, parseHead, type Head } from './file-head.js';
import { groupMembers, type CoarseGroups } from '../../ivf/coarse-groups.js';
import { fetchRange, type RangeFetchOptions } from './range-fetch.js';
import { openSectionCache, type SectionCache } from './section-cache.js';
import { createLocalTier } from './local-tier.js';

/**
 * Options of openRemoteStore: the IndexedDB tier's budget and database, retries, stall timeout,
 * request headers, redirects and abort.
 */
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
  /**
   * A request that receives nothing for this long (ms; no answer, or a body that stops) is given
   * up as stalled and retried; after the retries the read fails REMOTE_UNAVAILABLE. Default 10 000.
   */
  stallMs?: number;
  /**
   * Follow a redirect to another origin (request headers go with it). Default false: such a
   * redirect is REMOTE_REDIRECTED. Redirects within the origin are followed; `url` says where the bytes come from.
   */
  crossOriginRedirects?: boolean;
  /** Stops opening (ABORTED). */
  signal?: AbortSignal;
}

/**
 * A remote store's counters: requests, bytes fetched, sections found in and missing from IndexedDB,
 * the IndexedDB tier's bytes and budget.
 */
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

/**
 * A read-only WeftStore over an index published as one file on a static HTTP host, read by range
 * requests, with IndexedDB as its local tier.
 */
export interface RemoteStore extends WeftStore {
  /** Where the bytes come from: the URL opened, or where a same-origin redirect led. */
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

/** A version-5 file's groups as read: what the coarse step needs, and each group's lists. */
interface Grouping {
  groups: CoarseGroups;
  members: Uint32Array[];
  /** The codebook, read with them (adjacent in the file: one range at open). */
  codebook: Float32Array;
}

/** A version-6 or -7 file's coarse codes as read: what the coarse step needs, and each list's place's row and CRC. */
interface Coded {
  codes: CoarseCodes;
  places: { rows: Uint32Array; crcs: Uint32Array };
  /** The index's codebook, read with them (adjacent in the file: one range at open). */
  codebook: Float32Array;
}

/**
 * One publication of the file as this store reads it: its head, what has been read of it, and the
 * reads made once for every caller (shared-read.ts). A republished file gets a new one (recheck).
 */
interface Publication {
  head: Head;
  header: Head['header'];
  toc: Head['toc'];
  manifest: Manifest;
  directoryPages: Map<number, DirectoryEntry[]>;
  /** The first chunk id of each directory page: the header's, or version 5's page index once read. */
  pageFirsts: readonly number[] | undefined;
  /** Version 5's page index, which sets pageFirsts. */
  pageIndex: SharedRead<readonly number[]>;
  /** The directories of lists read lately (version 3), sorted by id, the most recent last. */
  listDirectories: Map<number, ListEntry[]>;
  listEntries: number;
  catalog: SharedRead<ChunkCatalog>;
  /**
   * Set when a response's length disagreed with the file's yet the header was unchanged: the
   * host misstates lengths, so they are not compared again (ETags and CRCs still are).
   */
  lengthsUnreliable: boolean;
  /** Version 5: the lists' groups, and the centroids of the groups read so far. */
  grouping: SharedRead<Grouping>;
  groupCentroids: Map<number, Float32Array>;
  /** Versions 6 and 7: the coarse codes, and the centroids of the lists whose places were read so far. */
  coded: SharedRead<Coded>;
  placeCentroids: Map<number, Float32Array>;
}

/** A byte range of the file with its CRC: a section of the toc, one chunk's record, or one vector row. */
interface Piece {
  key: string;
  offset: number;
  length: number;
  crc: number;
  what: string;
  /**
   * The most bytes between this piece and the one before it for the two to share a request
   * (default MERGE_GAP). Vector rows take ROW_GAP.
   */
  gap?: number;
}

/** Ranges closer than this are fetched as one (a list's ids and codes are adjacent). */
const MERGE_GAP = 16 * 1024;
const MAX_MERGED = 4 * 2 ** 20;
/** The sections opening reads (the quantisers, which follow the toc): those the header's first read may hold. */
const OPEN_SECTIONS = new Set(
  [
    SECTION.centroids,
    SECTION.vmin,
    SECTION.scale,
    SECTION.codebook,
    SECTION.supers,
    SECTION.listGroups,
    SECTION.coarseBook,
    SECTION.coarseCodes,
    SECTION.placeIndex,
  ].map((kind) => sectionKey(kind, 0)),
);
const EMPTY = new Uint8Array(0);
/** The most bytes between two chunk records for them to share a request. */
const CHUNK_GAP = 4 * 1024;
/**
 * The most bytes between two vector rows for them to share a request: at least a row. A request
 * costs a round trip and about a kilobyte of headers each way, while a candidate's neighbours in
 * a list are candidates only now and then. Measured (docs/benchmarks.md): at 64 dimensions
 * (128-byte rows) a request per row made 1,017 requests a stream of 16 answers and 2 KiB made
 * 290, the search's median 918 -> 431 ms; at 384 dimensions (768 bytes) 2 KiB merges rows two
 * apart: 54 -> 48 requests a cold query for 9 KB more.
 */
const ROW_GAP = 2 * 1024;
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
function findEntry<E extends DirectoryEntry>(entries: readonly E[], id: number): E | undefined {
  let lo = 0,
    hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = entries[mid]!;
    if (e.id === id) return e;
    if (e.id < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

const pieceOf = (s: Section): Piece => ({ key: sectionKey(s.kind, s.key), offset: s.offset, length: s.length, crc: s.crc, what: `the ${sectionName(s)}` });
/**
 * A chunk's record. Records of one list share a request only within CHUNK_GAP of each other: a
 * search's results are a few records scattered over its lists' texts, and with the lists' gap
 * (MERGE_GAP) their requests read most of those texts (bench search --storage pq --remote: 119 KB
 * of texts for 10 results of 4 lists).
 */
const chunkPiece = (e: DirectoryEntry): Piece => ({
  key: `c:${e.id}`,
  offset: e.offset,
  length: e.length,
  crc: e.crc,
  what: `chunk ${e.id}'s record`,
  gap: CHUNK_GAP,
});

function readOnly(url: string): WeftError {
  return new WeftError(
    'READ_ONLY',
    `The index at ${url} is read-only: it is served over HTTP. To change it, import it into this browser (importIndex) or rebuild it and publish the new file.`,
    { details: { url } },
  );
}

/** Opens the index file at `url` (absolute or relative to the page) for reading in place. */
export async function openRemoteStore(url: string | URL, options: RemoteStoreOptions = {}): Promise<RemoteStore> {
  const href = new URL(String(url), globalThis.location?.href).href;
  const budget = options.localBytes ?? 256 * 2 ** 20;
  if (!(budget >= 0)) throw new WeftError('INVALID_OPTION', `localBytes must be a number of bytes ≥ 0; got ${String(options.localBytes)}.`);
  if (options.stallMs !== undefined && !(options.stallMs > 0 && options.stallMs <= 3_600_000))
    throw new WeftError('INVALID_OPTION', `stallMs must be milliseconds in (0, 3600000]; got ${String(options.stallMs)}.`);
  let requests = 0,
    bytesFetched = 0,
    localHits = 0,
    localMisses = 0;
  const fetchOptions = (signal?: AbortSignal, priority?: Priority): RangeFetchOptions => ({
    ...(priority ? { priority } : {}),
    retries: options.retries ?? 3,
    retryDelayMs: options.retryDelayMs ?? 200,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.stallMs !== undefined ? { stallMs: options.stallMs } : {}),
    ...(options.crossOriginRedirects ? { crossOriginRedirects: true } : {}),
    ...(signal ? { signal } : {}),
    onRequest: (s, e) => {
      requests++;
      bytesFetched += e - s;
    },
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
  // How read checks name this index and what repairs it (read-checks.ts).
  const place: ReadPlace = { name, where: `the index at ${href}`, repair: 'Publish it again.', details: { url: href } };
  // Where the bytes come from (a same-origin redirect may have moved it); the cache keys by `href`.
  const source = offline ? href : head.url;
  // Stopped by close(): every fetch in flight, and every read after.
  const closing = new AbortController();
  const closedError = () => new WeftError('ABORTED', `The index at ${href} was closed; open it again to read it.`);
  // The publication being read; replaced when the URL is found to hold a new one (see recheck).
  let epoch = 1;
  const publication = (h: Head): Publication => {
    const at: Publication = {
      head: h,
      header: h.header,
      toc: h.toc,
      // Generations count publications seen by this store, so an open index adopts a new one as a commit.
      manifest: { ...h.header.manifest, name, generation: epoch } as Manifest,
      directoryPages: new Map<number, DirectoryEntry[]>(),
      pageFirsts: h.header.pageCount ? undefined : (h.header.pages as readonly number[]),
      pageIndex: sharedRead(() => readPageIndex(at), `Reading the directory of index '${name}'`),
      listDirectories: new Map<number, ListEntry[]>(),
      listEntries: 0,
      catalog: sharedRead(() => readCatalogOf(at), `Reading the catalog of index '${name}'`),
      lengthsUnreliable: false,
      grouping: sharedRead(() => readGrouping(at), `Reading the groups of index '${name}'`),
      groupCentroids: new Map<number, Float32Array>(),
      coded: sharedRead(() => readCoded(at), `Reading the coarse codes of index '${name}'`),
      placeCentroids: new Map<number, Float32Array>(),
    };
    return at;
  };
  let pub = publication(head);

  const local = await createLocalTier(cache, href, pub.header.fileId, budget);

  const checkName = (n: string) => {
    if (n !== name) throw unknownIndex(n);
  };
  // After a switch to a new publication, reads are refused until the reader has asked for the
  // manifest (a stored index does so before each operation, and then adopts the new one): an
  // operation that began on the old file can never go on with sections of the new one.
  let adopted = true;
  const current = (n: string) => {
    checkName(n);
    if (!adopted) throw changedError();
  };
  const changedError = () =>
    new WeftError(
      'REMOTE_CHANGED',
      `The index at ${href} was republished during this call, which was stopped so that nothing of the two files is mixed. Call again: the index now reads the new file.`,
      { details: { url: href } },
    );

  /**
   * Reads the header again after a mismatch. A new fileId: the URL holds a new publication, which
   * this store reads from now on (its old cached sections are dropped with the same transaction
   * that records it), and the call that noticed fails with REMOTE_CHANGED.
   */
  const recheck = async (at: Publication, signal?: AbortSignal) => {
    const now = await fetchHead(source, fetchOptions(signal));
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

  const damaged = (p: Piece) =>
    new WeftError(
      'CORRUPT_RECORD',
      `${p.what} of the index at ${href} arrived damaged (it fails its checksum) and was not kept. Try again; if it persists, the file on the server is damaged: publish it again.`,
      { details: { url: href, section: p.key } },
    );

  /**
   * One fetch of sections, shared by the callers that ask for any of them meanwhile: `waiting`
   * counts those callers that have not aborted; when it drops to zero the fetch is stopped.
   */
  interface Flight {
    stop: AbortController;
    waiting: number;
  }
  const inflight = new Map<string, { flight: Flight; bytes: Promise<Uint8Array> }>();

  /**
   * The bytes of `pieces`, from IndexedDB or over HTTP (with the browser's `priority`), each
   * checked. A `hint` (a warm-up) never keeps a fetch going that no caller waits for.
   */
  const read = async (pieces: readonly Piece[], signal?: AbortSignal, priority?: Priority, hint = false): Promise<Uint8Array[]> => {
    if (closing.signal.aborted) throw closedError();
    if (signal?.aborted) throw new WeftError('ABORTED', `Reading index '${name}' from ${href} was aborted.`);
    const keep = local.touch(pieces.map((p) => p.key));
    const results = new Map<string, Promise<Uint8Array>>();
    const joined = new Set<Flight>();
    const todo: Piece[] = [];
    for (const p of pieces) {
      if (results.has(p.key)) continue;
      const pending = inflight.get(p.key);
      if (pending) {
        results.set(p.key, pending.bytes);
        joined.add(pending.flight);
      } else todo.push(p);
    }
    if (todo.length > 0) {
      const fileId = pub.header.fileId;
      const flight: Flight = { stop: new AbortController(), waiting: 0 };
      joined.add(flight);
      const stop = AbortSignal.any([flight.stop.signal, closing.signal]);
      const work = (async () => {
        const cached = await cache
          .get(
            href,
            fileId,
            todo.map((p) => p.key),
          )
          .catch(() => todo.map(() => undefined));
        const out = new Map<string, Uint8Array>();
        const missing: Piece[] = [];
        todo.forEach((p, i) => {
          const b = cached[i];
          if (b && b.byteLength === p.length && crc32(b) === p.crc) {
            out.set(p.key, b);
            localHits++;
          } else {
            missing.push(p);
            localMisses++;
          }
        });
        const got = await fetchPieces(missing, stop, priority);
        for (const g of got) out.set(g.p.key, g.bytes);
        if (fileId === pub.header.fileId && !closing.signal.aborted)
          await local.keep(
            fileId,
            got.map((g) => ({ key: g.p.key, bytes: g.bytes })),
            keep,
          );
        return out;
      })();
      for (const p of todo) {
        const one = work.then((m) => m.get(p.key)!);
        const entry = { flight, bytes: one };
        inflight.set(p.key, entry);
        results.set(p.key, one);
        void one
          .catch(() => undefined)
          .finally(() => {
            if (inflight.get(p.key) === entry) inflight.delete(p.key);
          });
      }
    }
    // This caller waits for every fetch it joined until it is done or its signal aborts.
    if (hint) return Promise.all(pieces.map((p) => results.get(p.key)!));
    for (const f of joined) f.waiting++;
    const leave = () => {
      for (const f of joined) if (--f.waiting === 0) f.stop.abort();
    };
    if (!signal) return Promise.all(pieces.map((p) => results.get(p.key)!));
    signal.addEventListener('abort', leave, { once: true });
    try {
      return await abortable(Promise.all(pieces.map((p) => results.get(p.key)!)), signal, `Reading index '${name}' from ${href}`);
    } finally {
      signal.removeEventListener('abort', leave);
    }
  };

  const fetchPieces = async (missing: Piece[], signal?: AbortSignal, priority?: Priority): Promise<{ p: Piece; bytes: Uint8Array }[]> => {
    if (missing.length === 0) return [];
    const at = pub;
    // What the header's first read brought past the toc (file-head.ts: up to 64 KiB in all) is
    // not asked for again: a quantiser section that opening reads (they follow the toc) and that
    // begins there takes those bytes, and only its remainder is requested. A grouped file of 20k
    // vectors then opens in one request; a bigger one's centroids or super-centroids read less.
    const { spare } = at.head;
    const parts = [...missing]
      .sort((a, b) => a.offset - b.offset)
      .map((p) => {
        const inSpare = spare !== undefined && OPEN_SECTIONS.has(p.key) && p.offset >= spare.offset && p.offset < spare.offset + spare.bytes.byteLength;
        const known = inSpare
          ? spare.bytes.subarray(p.offset - spare.offset, Math.min(p.offset + p.length, spare.offset + spare.bytes.byteLength) - spare.offset)
          : EMPTY;
        return { p, known, start: p.offset + known.byteLength, end: p.offset + p.length };
      });
    const out: { p: Piece; bytes: Uint8Array }[] = [];
    // A range of no bytes (an empty list's sections, or a piece the first read held) is not asked
    // for: "bytes=8-7" is no valid range, and a host answers it with the whole file.
    // Spare bytes that fail a piece's checksum are dropped, so that a retry asks the host.
    const failed = (p: Piece, known: Uint8Array) => {
      if (known.byteLength > 0) at.head.spare = undefined;
      return damaged(p);
    };
    for (const x of parts.filter((y) => y.end === y.start)) {
      const bytes = x.known.slice();
      if (crc32(bytes) !== x.p.crc) throw failed(x.p, x.known);
      out.push({ p: x.p, bytes });
    }
    const ranges: { start: number; end: number; parts: typeof parts }[] = [];
    for (const x of parts.filter((y) => y.end > y.start)) {
      const last = ranges.at(-1);
      const gap = Math.min(x.p.gap ?? MERGE_GAP, last?.parts.at(-1)?.p.gap ?? MERGE_GAP);
      if (last && x.start - last.end <= gap && x.end - last.start <= MAX_MERGED) {
        last.end = Math.max(last.end, x.end);
        last.parts.push(x);
      } else ranges.push({ start: x.start, end: x.end, parts: [x] });
    }
    let next = 0;
    const worker = async () => {
      while (next < ranges.length) {
        const r = ranges[next++]!;
        let got: Awaited<ReturnType<typeof fetchRange>>;
        try {
          got = await fetchRange(source, r.start, r.end, fetchOptions(signal, priority));
        } catch (e) {
          if (e instanceof WeftError && e.code === 'REMOTE_UNAVAILABLE') {
            throw new WeftError(
              'REMOTE_UNAVAILABLE',
              `${r.parts[0]!.p.what} of index '${name}' is not cached in this browser and ${href} cannot be reached (${e.message}) Reconnect, or ask what the cached lists hold.`,
              { cause: e, details: { url: href, section: r.parts[0]!.p.key } },
            );
          }
          if (e instanceof WeftError && e.code === 'REMOTE_CHANGED') await recheck(at, signal);
          throw e;
        }
        const { head } = at;
        // The same ETag vouches for the same file whatever length a host states; without one, a
        // length that differs is checked once (the header read again) and then no longer trusted.
        const sameTag = got.etag !== undefined && head.etag !== undefined && got.etag === head.etag;
        const lengthDiffers = got.total !== undefined && got.total !== head.length && !at.lengthsUnreliable && !sameTag;
        if (lengthDiffers || (got.etag !== undefined && head.etag !== undefined && got.etag !== head.etag)) {
          await recheck(at, signal);
          if (lengthDiffers) at.lengthsUnreliable = true;
        }
        if (at !== pub) throw changedError();
        for (const { p, known, start, end } of r.parts) {
          const bytes = new Uint8Array(p.length);
          bytes.set(known, 0);
          bytes.set(got.bytes.subarray(start - r.start, end - r.start), known.byteLength);
          if (crc32(bytes) !== p.crc) {
            await recheck(at, signal);
            throw failed(p, known);
          }
          out.push({ p, bytes });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, ranges.length) }, worker));
    return out;
  };

  const section = (kind: number, key: number) => pub.toc.get(sectionKey(kind, key));

  /** Version 5's page index (at.pageIndex): its pages' sections join the toc, its first ids are kept. */
  const readPageIndex = async (at: Publication): Promise<readonly number[]> => {
    const [bytes] = await read([pieceOf(section(SECTION.pageIndex, 0)!)], undefined, 'high');
    if (at !== pub) throw changedError();
    const index = parsePageIndex(bytes!, at.header, at.head.length, badFile);
    for (const s of index.sections) {
      checkSectionSize(href, at.header, s);
      at.toc.set(sectionKey(s.kind, s.key), s);
    }
    at.pageFirsts = index.firsts;
    return index.firsts;
  };

  /** Reads the directory pages that hold `ids` (those not read yet). */
  const directoryPagesOf = async (ids: readonly number[], signal?: AbortSignal, hint = false) => {
    if (ids.length === 0) return;
    const at = pub;
    const firsts = at.pageFirsts ?? (await at.pageIndex.get(signal));
    await directoryPage(
      ids.map((id) => pageOf(firsts, id)).filter((p) => p >= 0),
      signal,
      hint,
    );
  };

  const directoryPage = async (pages: readonly number[], signal?: AbortSignal, hint = false) => {
    const at = pub;
    const need = [...new Set(pages)].filter((p) => !at.directoryPages.has(p));
    const bytes = await read(
      need.map((p) => pieceOf(section(SECTION.directory, p)!)),
      signal,
      'high',
      hint,
    );
    if (at !== pub) throw changedError();
    need.forEach((p, i) => at.directoryPages.set(p, parseDirectoryPage(bytes[i]!, at.header.bodyOffset)));
  };

  const entryOf = (id: number) => {
    const page = pub.pageFirsts ? pageOf(pub.pageFirsts, id) : -1;
    return page < 0 ? undefined : findEntry(pub.directoryPages.get(page)!, id);
  };

  /** The catalog for filters (at.catalog: a filter's allow-list is built from it once). */
  const readCatalogOf = async (at: Publication): Promise<ChunkCatalog> => {
    const s = section(SECTION.catalog, 0);
    const chunks = s
      ? decodeCatalog((await read([pieceOf(s)]))[0]!, (what) => new WeftError('CORRUPT_RECORD', `${what} in the index at ${href}.`, { details: { url: href } }))
      : [];
    if (at !== pub) throw changedError();
    return { generation: at.manifest.generation, chunks };
  };

  /** The floats of a (checked) quantiser section of `count` values, f16 or f32 by its length (the head checked it). */
  const floats = (bytes: Uint8Array, count: number) => floatsOfFile(bytes, count) ?? new Float32Array(bytes.slice().buffer);

  /** Version 5 (index-file.ts): the lists' groups (at.grouping), with the super-centroids and the codebook. */
  const readGrouping = async (at: Publication): Promise<Grouping> => {
    const { dim } = at.manifest;
    const count = at.header.groups!.count;
    const [book, supers, lists] = await read(
      [SECTION.codebook, SECTION.supers, SECTION.listGroups].map((kind) => pieceOf(section(kind, 0)!)),
      undefined,
      'high',
    );
    if (at !== pub) throw changedError();
    const listGroup = parseListGroups(lists!, at.header, badFile);
    return {
      groups: { supers: floats(supers!, count * dim), listGroup, probe: at.header.groups!.probe },
      members: groupMembers(listGroup, count),
      codebook: floats(book!, 2 ** at.manifest.pq!.bits * dim),
    };
  };
  /** What a group's content says that its checksum cannot (the file was written wrong). */
  const badFile = (what: string) =>
    new WeftError('INVALID_FILE', `The index file at ${href} is not valid: ${what}. Publish it again with weft-publish or exportIndex.`, {
      details: { url: href },
    });

  /** Reads the groups `gs` not read yet: their lists' sections join the toc, their centroids are kept. */
  const readGroups = async (gs: readonly number[], signal?: AbortSignal) => {
    const at = pub;
    const { members } = await at.grouping.get(signal);
    const need = [...new Set(gs)].filter((g) => !at.groupCentroids.has(g));
    if (need.length === 0) return;
    const bytes = await read(
      need.map((g) => pieceOf(section(SECTION.group, g)!)),
      signal,
      'high',
    );
    if (at !== pub) throw changedError();
    need.forEach((g, i) => {
      if (at.groupCentroids.has(g)) return;
      const group = parseGroup(bytes[i]!, at.header, g, members[g]!, at.head.length, badFile);
      for (const s of group.sections) {
        checkSectionSize(href, at.header, s);
        at.toc.set(sectionKey(s.kind, s.key), s);
      }
      at.groupCentroids.set(g, group.centroids);
    });
  };

  /** Versions 6 and 7 (index-file.ts): the coarse codes (at.coded), with their codebook, the place index and the index's codebook. */
  const readCoded = async (at: Publication): Promise<Coded> => {
    const { dim, nlist, pq } = at.manifest;
    const { m, exact } = at.header.coarse!;
    const [book, coarseBook, codes, index] = await read(
      [SECTION.codebook, SECTION.coarseBook, SECTION.coarseCodes, SECTION.placeIndex].map((kind) => pieceOf(section(kind, 0)!)),
      undefined,
      'high',
    );
    if (at !== pub) throw changedError();
    return {
      codes: { book: storedCodebook(dim, { m, bits: 4 }, floats(coarseBook!, 16 * dim)), codes: codes!.slice(), exact },
      places: parsePlaceIndex(index!, nlist, badFile),
      codebook: floats(book!, 2 ** pq!.bits * dim),
    };
  };

  /** Versions 6 and 7: reads the places of `lists` not read yet (adjacent rows in one range): their sections join the toc, their centroids are kept. */
  const readPlaces = async (lists: readonly number[], signal?: AbortSignal) => {
    const at = pub;
    const { rows, crcs } = (await at.coded.get(signal)).places;
    const need = [...new Set(lists)].filter((l) => !at.placeCentroids.has(l));
    if (need.length === 0) return;
    const { dim, nlist } = at.manifest;
    const places = section(SECTION.places, 0)!;
    const row = placeSize(places.length, nlist, dim)!;
    const bytes = await read(
      need.map((l) => ({ key: `p:${l}`, offset: places.offset + rows[l]! * row, length: row, crc: crcs[l]!, what: `list ${l}'s place`, gap: row })),
      signal,
      'high',
    );
    if (at !== pub) throw changedError();
    need.forEach((l, i) => {
      if (at.placeCentroids.has(l)) return;
      const place = parsePlace(bytes[i]!, at.header, l, at.head.length, badFile);
      for (const s of place.sections) {
        checkSectionSize(href, at.header, s);
        at.toc.set(sectionKey(s.kind, s.key), s);
      }
      at.placeCentroids.set(l, place.centroid);
    });
  };

  /** Versions 5 and 6: reads the groups or the places of `lists`, so that their sections are in the toc. */
  const placeLists = async (lists: readonly number[], signal?: AbortSignal) => {
    if (pub.header.coarse) return readPlaces(lists, signal);
    if (!pub.header.groups) return;
    const { groups } = await pub.grouping.get(signal);
    await readGroups(
      lists.map((l) => groups.listGroup[l]!),
      signal,
    );
  };

  /** Keeps list `l`'s directory (checked bytes; `ids`: the list's, which a version-4 directory needs) among the recent ones, within LIST_DIRECTORY_ENTRIES. */
  const keepListDirectory = (at: Publication, l: number, bytes: Uint8Array, ids: Uint32Array) => {
    const kept = at.listDirectories.get(l);
    if (kept) {
      at.listDirectories.delete(l);
      at.listDirectories.set(l, kept);
      return;
    } // parsed already: now the most recent
    const texts = section(SECTION.chunks, l);
    if (!texts) return;
    const bad = (what: string) => new WeftError('CORRUPT_RECORD', `${what} in the index at ${href}. Publish it again.`, { details: { url: href, list: l } });
    const entries: ListEntry[] = (
      at.manifest.storage === 'pq' ? parseRowDirectory(bytes, ids, l, texts, bad) : parseListDirectory(bytes, l, texts, bad).map((e, row) => ({ ...e, row }))
    ).sort((a, b) => a.id - b.id);
    at.listDirectories.set(l, entries);
    at.listEntries += entries.length;
    for (const [list, e] of at.listDirectories) {
      if (at.listEntries <= LIST_DIRECTORY_ENTRIES || list === l) break;
      at.listDirectories.delete(list);
      at.listEntries -= e.length;
    }
  };

  /** List `l`'s ids and directory pieces (the ids first: a version-4 directory is in their order); none where the file has no directories. */
  const directoryPieces = (l: number): Piece[] => {
    const dir = section(SECTION.listDirectory, l);
    return dir ? [pieceOf(section(SECTION.ids, l)!), pieceOf(dir)] : [];
  };

  /** Keeps list `l`'s directory from the bytes of its directoryPieces, which `next` hands over in order. */
  const keepDirectoryOf = (at: Publication, l: number, pieces: readonly Piece[], next: () => Uint8Array) => {
    if (pieces.length === 0) return;
    const ids = new Uint32Array(next().slice().buffer);
    keepListDirectory(at, l, next(), ids);
  };

  /** Chunk `id`'s entry in the directory of a list read lately, if one holds it. */
  const listEntryOf = (id: number): ListEntry | undefined => {
    for (const entries of pub.listDirectories.values()) {
      const e = findEntry(entries, id);
      if (e) return e;
    }
    return undefined;
  };

  const readLists = async (lists: readonly number[], signal?: AbortSignal): Promise<ListRecord[]> => {
    const at = pub;
    const { manifest } = at;
    checkListNumbers(place, manifest.nlist, lists);
    await placeLists(lists, signal);
    if (at !== pub) throw changedError();
    // With each list its directory, where the file has one: adjacent to the codes, so the same range.
    const dirs = lists.map((l) => section(SECTION.listDirectory, l));
    const pieces = lists.flatMap((l, i) => [pieceOf(section(SECTION.ids, l)!), pieceOf(section(SECTION.codes, l)!), ...(dirs[i] ? [pieceOf(dirs[i])] : [])]);
    const bytes = await read(pieces, signal, 'low');
    if (manifest !== pub.manifest) throw changedError();
    let j = 0;
    const next = () => bytes[j++]!;
    // Version 4 holds a 'pq' list's rows without the scan's padding (file-codes.ts).
    const layout = manifest.pq ? indexLayout(manifest) : undefined;
    return lists.map((l, i) => {
      const ids = new Uint32Array(next().slice().buffer);
      const held = new Uint32Array(next().slice().buffer);
      const codes = layout ? scanCodes(held, ids.length, layout, manifest.pq!) : held;
      const rec = checkedList(place, manifest, l, { list: l, count: ids.length, ids, codes });
      if (dirs[i]) keepListDirectory(at, l, next(), ids);
      return rec;
    });
  };

  /**
   * A 'pq' index's full-precision vectors of `ids` (version 4): each one row of its list's
   * vectors, placed by the list's directory (lists just scanned have theirs; others come through
   * the directory pages, then their lists' directories) and checked against its own CRC. Only
   * the rows are fetched, not the chunks' texts; rows of one list that are neighbours by id are
   * adjacent in the file, and the reader fetches adjacent ranges as one.
   */
  const readVectors = async (ids: readonly number[], signal?: AbortSignal): Promise<(Float32Array | undefined)[]> => {
    const { dim } = pub.manifest;
    const row = dim * 2;
    const unplaced = ids.filter((id) => !listEntryOf(id));
    if (unplaced.length > 0) {
      await directoryPagesOf(unplaced, signal);
      const lists = [...new Set(unplaced.map((id) => entryOf(id)?.list).filter((l): l is number => l !== undefined))];
      await placeLists(lists, signal);
      const at = pub;
      const dirs = lists.map(directoryPieces);
      const bytes = await read(dirs.flat(), signal, 'high');
      if (at !== pub) throw changedError();
      let j = 0;
      lists.forEach((l, i) => keepDirectoryOf(at, l, dirs[i]!, () => bytes[j++]!));
    }
    const at = pub;
    const placed = ids.map((id) => {
      const e = listEntryOf(id);
      const rows = e && section(SECTION.vectors, e.list);
      return e && rows && e.vectorCrc !== undefined
        ? {
            id,
            piece: {
              key: `v:${id}`,
              offset: rows.offset + e.row * row,
              length: row,
              crc: e.vectorCrc,
              what: `chunk ${id}'s vector`,
              gap: Math.max(row, ROW_GAP),
            },
          }
        : { id, piece: undefined };
    });
    const found = placed.filter((p) => p.piece !== undefined);
    const bytes = await read(
      found.map((p) => p.piece!),
      signal,
      'high',
    );
    if (at !== pub) throw changedError();
    const byId = new Map(found.map((p, i) => [p.id, valuesOfHalfBytes(bytes[i]!, dim)]));
    return ids.map((id) => byId.get(id));
  };

  /** A chunk record's entry, checked before its bytes are asked for: inside the file, and of a size a record can have. */
  const checkedEntry = (e: DirectoryEntry): DirectoryEntry => {
    if (e.length > MAX_CHUNK_RECORD_BYTES || e.offset + e.length > pub.head.length) {
      throw new WeftError(
        'INVALID_FILE',
        `The index file at ${href} is not valid: chunk ${e.id}'s record claims ${e.length} bytes at offset ${e.offset}, ${e.length > MAX_CHUNK_RECORD_BYTES ? `more than the ${MAX_CHUNK_RECORD_BYTES} a record can take` : 'past the end of the file'}. Publish it again.`,
        { details: { url: href, field: `chunk ${e.id}` } },
      );
    }
    return e;
  };

  const readChunks = async (chunkIds: readonly number[], signal?: AbortSignal, hint = false): Promise<(ChunkRecord | undefined)[]> => {
    // The chunks of lists read lately (a vector search's results) through those lists' directories;
    // the others (keyword results from lists not scanned) through the directory pages.
    const known = chunkIds.map(listEntryOf);
    await directoryPagesOf(
      chunkIds.filter((_, i) => !known[i]),
      signal,
      hint,
    );
    const entries = chunkIds.map((id, i) => known[i] ?? entryOf(id));
    const found = entries.filter((e): e is DirectoryEntry => e !== undefined).map(checkedEntry);
    const at = pub;
    const bytes = await read(found.map(chunkPiece), signal, 'high', hint);
    if (at !== pub) throw changedError();
    const byId = new Map<number, ChunkRecord>();
    found.forEach((e, i) =>
      byId.set(
        e.id,
        decodeChunk(bytes[i]!, e, (what) => new WeftError('CORRUPT_RECORD', `${what} in the index at ${href}.`, { details: { url: href, id: e.id } })),
      ),
    );
    return chunkIds.map((id) => byId.get(id));
  };

  /** Version 5's centroids, every group read, with the codebook, checked against the manifest as version 4's. */
  const groupedCentroids = async () => {
    const at = pub;
    const { dim, nlist } = at.manifest;
    const { members, codebook } = await at.grouping.get();
    await readGroups(members.map((_, g) => g));
    if (at !== pub) throw changedError();
    const centroids = new Float32Array(nlist * dim);
    members.forEach((lists, g) => {
      const rows = at.groupCentroids.get(g)!;
      lists.forEach((l, i) => centroids.set(rows.subarray(i * dim, (i + 1) * dim), l * dim));
    });
    return checkedCentroids(place, at.manifest, { centroids, codebook });
  };

  /** Version 6's and 7's centroids, every place read, with the codebook, checked against the manifest as version 4's. */
  const placedCentroids = async () => {
    const at = pub;
    const { dim, nlist } = at.manifest;
    const { codebook } = await at.coded.get();
    await readPlaces(Array.from({ length: nlist }, (_, l) => l));
    if (at !== pub) throw changedError();
    const centroids = new Float32Array(nlist * dim);
    for (let l = 0; l < nlist; l++) centroids.set(at.placeCentroids.get(l)!, l * dim);
    return checkedCentroids(place, at.manifest, { centroids, codebook });
  };

  const store: RemoteStore = {
    dbName: href,
    url: source,
    indexName: name,
    get fileId() {
      return pub.header.fileId;
    },
    offline,
    stats: () => ({ requests, bytesFetched, localHits, localMisses, localBytes: local.bytes, localBudget: budget }),
    async listIndexes() {
      return [pub.manifest];
    },
    async manifest(n) {
      checkName(n);
      adopted = true;
      return pub.manifest;
    },
    async createIndex() {
      throw readOnly(href);
    },
    async deleteIndex() {
      throw readOnly(href);
    },
    async commit() {
      throw readOnly(href);
    },
    async writeWholeIndex() {
      throw readOnly(href);
    },
    async readVectors(n, ids, o) {
      checkIds(ids, 'readVectors');
      current(n);
      return readVectors(ids, o?.signal);
    },
    async readCoarseGroups(n) {
      current(n);
      const at = pub;
      if (!at.header.groups) return undefined;
      const { groups, codebook } = await at.grouping.get();
      if (at !== pub) throw changedError();
      return { groups, codebook };
    },
    async readGroupCentroids(n, gs, o) {
      current(n);
      const at = pub;
      const count = at.header.groups?.count ?? 0;
      const bad = gs.find((g) => !Number.isInteger(g) || g < 0 || g >= count);
      if (bad !== undefined) throw new WeftError('INVALID_INPUT', `Index '${name}' has groups 0..${count - 1}; got ${String(bad)}.`);
      await readGroups(gs, o?.signal);
      if (at !== pub) throw changedError();
      return gs.map((g) => at.groupCentroids.get(g)!);
    },
    async readCoarseCodes(n) {
      current(n);
      const at = pub;
      if (!at.header.coarse) return undefined;
      const { codes, codebook } = await at.coded.get();
      if (at !== pub) throw changedError();
      return { codes, codebook };
    },
    async readPlaces(n, lists, o) {
      current(n);
      const at = pub;
      checkListNumbers(place, at.manifest.nlist, lists);
      if (!at.header.coarse) throw new WeftError('INVALID_INPUT', `Index '${name}' has no coarse codes: its centroids are read with readCentroids.`);
      await readPlaces(lists, o?.signal);
      if (at !== pub) throw changedError();
      return lists.map((l) => at.placeCentroids.get(l)!);
    },
    async readCentroids(n) {
      current(n);
      if (pub.header.groups) return groupedCentroids();
      if (pub.header.coarse) return placedCentroids();
      const [vmin, scale, codebook] = [section(SECTION.vmin, 0), section(SECTION.scale, 0), section(SECTION.codebook, 0)];
      const optional = [vmin, scale, codebook].filter((x) => x !== undefined);
      const parts = await read([section(SECTION.centroids, 0)!, ...optional].map(pieceOf));
      const f32 = (b: Uint8Array) => new Float32Array(b.slice().buffer);
      const bytesOf = (x: typeof vmin) => (x ? parts[1 + optional.indexOf(x)]! : undefined);
      const [v, sc, cb] = [bytesOf(vmin), bytesOf(scale), bytesOf(codebook)];
      // Version 4 holds a 'pq' index's centroids and codebook as f16 where they are f16 values
      // (file-codes.ts; the head checked every section's length for its version and storage).
      const { dim, nlist, pq } = pub.manifest;
      const data = {
        centroids: floats(parts[0]!, nlist * dim),
        ...(v ? { vmin: f32(v) } : {}),
        ...(sc ? { scale: f32(sc) } : {}),
        ...(cb && pq ? { codebook: floats(cb, 2 ** pq.bits * dim) } : {}),
      };
      return checkedCentroids(place, pub.manifest, data);
    },
    async readLists(n, lists, o) {
      current(n);
      return readLists(lists, o?.signal);
    },
    async readChunks(n, chunkIds, o) {
      checkIds(chunkIds, 'readChunks');
      current(n);
      return readChunks(chunkIds, o?.signal);
    },
    async chunkIdsOfDocument(n, docId) {
      current(n);
      return (await pub.catalog.get()).chunks.filter((c) => c.docId === docId).map((c) => c.id);
    },
    async readCatalog(n, o) {
      current(n);
      return pub.catalog.get(o?.signal);
    },
    async readWholeIndex(n) {
      current(n);
      const { manifest } = pub;
      const all = Array.from({ length: manifest.nlist }, (_, l) => l);
      const lists = await readLists(all);
      const ids = lists.flatMap((r) => Array.from(r.ids).filter((id) => id !== 0xffffffff)).sort((a, b) => a - b);
      const chunks = (await readChunks(ids)).filter((c): c is ChunkRecord => c !== undefined);
      return { manifest, centroids: await store.readCentroids(n), lists, chunks };
    },
    async readTermBuckets(n, buckets, terms, o) {
      current(n);
      const { manifest } = pub;
      checkBuckets(name, manifest, buckets);
      const present = buckets.filter((b) => section(SECTION.terms, b));
      const bytes = await read(
        present.map((b) => pieceOf(section(SECTION.terms, b)!)),
        o?.signal,
        'low',
      );
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
      if (present.length)
        await read(
          present.map((b) => pieceOf(section(SECTION.terms, b)!)),
          undefined,
          'low',
          true,
        ).catch(() => undefined);
    },
    async warmChunks(n, ids) {
      if (n !== name || !adopted || !Array.isArray(ids)) return;
      const valid = ids.filter((id) => Number.isInteger(id) && id >= 0);
      if (valid.length) await readChunks(valid, undefined, true).catch(() => undefined);
    },
    async readAccessCounts(n) {
      checkName(n);
      return cachedAccess ? new Float64Array(cachedAccess) : new Float64Array(0);
    },
    async writeAccessCounts(n, counts) {
      checkName(n);
      cachedAccess = counts.slice().buffer;
      await cache.saveAccess(href, counts);
    },
    close() {
      closing.abort();
      cache.close();
    },
  };
  return store;
}
