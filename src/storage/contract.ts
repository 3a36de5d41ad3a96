// The storage contract: what every backend of Weft's storage layer (IndexedDB, files, a published
// file read over HTTP ranges) offers the layers above it, and the record shapes it speaks in.
// A leaf module: the stored index, the runtime and the backends themselves import the contract
// from here, not from one of its implementations. The record formats, their checksums and
// checks are in records.ts and index-checks.ts.

import type { IndexPq, IndexStorage, ListRecord, Metric } from '../ivf/types.js';
import type { CentroidData, ChunkRecord, CommitChanges, Manifest, WholeIndex } from './records.js';
import type { CoarseGroups } from '../ivf/coarse-groups.js';
import type { CoarseCodes } from '../ivf/coarse-codes.js';
import type { TermBucket } from '../lexical/postings.js';

export type { CentroidData, ChunkRecord, CommitChanges, ListRecord, Manifest, TermBucket, WholeIndex };

/** What the catalog keeps of a chunk: enough to evaluate a filter and to know its IVF list. */
export interface CatalogEntry {
  id: number;
  /** The IVF list holding the chunk's vector. */
  list: number;
  docId: string;
  metadata?: Record<string, unknown>;
}

/** Every chunk of an index (each one a live vector), as of one generation. */
export interface ChunkCatalog {
  generation: number;
  chunks: CatalogEntry[];
}

/**
 * What a read takes: a signal that stops it (ABORTED). Stores over a slow tier (the remote store)
 * honour it within the read; local stores read fast and may ignore it.
 */
export interface ReadOptions {
  signal?: AbortSignal | undefined;
}

/**
 * The storage contract every backend meets (IndexedDB, files, HTTP ranges read-only): indexes'
 * manifests, centroids, list records, chunks and keyword buckets, read with checks and written as one
 * atomic commit per change.
 */
export interface WeftStore {
  readonly dbName: string;
  listIndexes(): Promise<Manifest[]>;
  manifest(name: string): Promise<Manifest>;
  /** `language`: the lexical index's analyzer (default 'english'); `termBuckets`: its bucket count (default 1024). */
  /**
   * `pending`: the index is not to exist for anyone until its first commit lands (Manifest.pending):
   * listIndexes leaves it out until then, so that a creator cut off before that commit (a page
   * closed) leaves no empty index behind.
   */
  createIndex(
    init: {
      name: string;
      dim: number;
      metric: Metric;
      storage: IndexStorage;
      /** 'pq' storage: its codes (the codebook comes in CentroidData's `codebook`). */
      pq?: IndexPq;
      nlist: number;
      modelId?: string;
      language?: string;
      termBuckets?: number;
      pending?: boolean;
    } & CentroidData,
  ): Promise<Manifest>;
  /** `onlyPending`: delete it only while no commit has landed in it (Manifest.pending), in the same transaction as the check; otherwise leave it. */
  deleteIndex(name: string, options?: { onlyPending?: boolean }): Promise<void>;
  readCentroids(name: string): Promise<CentroidData>;
  /**
   * A published file's lists grouped under super-centroids (layout 5, src/ivf/coarse-groups.ts),
   * with its codebook: a reader in place then fetches a group's centroids when a query reaches it
   * (readGroupCentroids) rather than all of them. Undefined where the lists are not grouped;
   * stores that hold every centroid anyway leave both methods out.
   */
  readCoarseGroups?(name: string): Promise<{ groups: CoarseGroups; codebook: Float32Array } | undefined>;
  /** The centroids of these groups' lists: per group, a row per list in increasing list order. */
  readGroupCentroids?(name: string, groups: readonly number[], options?: ReadOptions): Promise<Float32Array[]>;
  /**
   * A published file's coarse codes (layout 6, src/ivf/coarse-codes.ts), with its codebook: a
   * reader in place ranks the lists by them and fetches the exact centroids of the few it ranks
   * exactly (readPlaces) rather than all of them. Undefined where the file has none; stores that
   * hold every centroid anyway leave both methods out.
   */
  readCoarseCodes?(name: string): Promise<{ codes: CoarseCodes; codebook: Float32Array } | undefined>;
  /** The exact centroids of these lists, a row each in the order asked (their places: the lists' sections are then known too). */
  readPlaces?(name: string, lists: readonly number[], options?: ReadOptions): Promise<Float32Array[]>;
  /** Reads list records, verifying each checksum (CORRUPT_RECORD names the list). */
  readLists(name: string, lists: readonly number[], options?: ReadOptions): Promise<ListRecord[]>;
  /**
   * Applies all changes in one transaction, only if the index is still at `generation`.
   * `onProgress`: records written so far of the commit's total (a large commit takes a while).
   */
  commit(name: string, generation: number, changes: CommitChanges, signal?: AbortSignal, onProgress?: (done: number, total: number) => void): Promise<Manifest>;
  /** Chunks by id (undefined where there is none), each checked (CORRUPT_RECORD names the chunk). Ids are integers in [0, 2^32 - 2] (INVALID_ID). */
  readChunks(name: string, ids: readonly number[], options?: ReadOptions): Promise<(ChunkRecord | undefined)[]>;
  /**
   * A 'pq' index's full-precision vectors (dim values each, f16 precision) of these ids, for
   * exact re-ranking: undefined where there is no chunk; CORRUPT_RECORD when one fails its
   * checksum or lacks its vector. Stores that keep them with the chunks read those; a published
   * file keeps them apart from the texts, so re-ranking fetches vectors only.
   */
  readVectors(name: string, ids: readonly number[], options?: ReadOptions): Promise<(Float32Array | undefined)[]>;
  /** Ids of the chunks of one document (their records checked). */
  chunkIdsOfDocument(name: string, docId: string): Promise<number[]>;
  /**
   * Every chunk's id, list, document and metadata (not its text), each record checked, with the
   * generation they belong to (read in one transaction): what a filtered search's allow-list is built from.
   */
  readCatalog(name: string, options?: ReadOptions): Promise<ChunkCatalog>;
  /** Every record of an index, checked, read in one transaction (for export and rebuilds). */
  readWholeIndex(name: string): Promise<WholeIndex>;
  /**
   * Writes a whole index (an import, a rebuild) in one transaction, after checking it is consistent
   * (INVALID_INPUT otherwise). Refuses an existing name unless `replace`; with `expectGeneration`
   * it replaces the index only if that is still its generation (CONFLICT otherwise, UNKNOWN_INDEX
   * if it is gone). The new generation is the replaced one's + 1, and nextId never goes below the
   * replaced one's.
   */
  writeWholeIndex(whole: WholeIndex, options?: WriteWholeOptions): Promise<Manifest>;
  /**
   * Term buckets of the lexical index, each checked (CORRUPT_RECORD names the bucket), with the
   * manifest they belong to (read with them: its lexical totals are the ones to score with).
   */
  readTermBuckets(
    name: string,
    buckets: readonly number[],
    terms?: readonly string[],
    options?: ReadOptions,
  ): Promise<{ manifest: Manifest; buckets: TermBucket[] }>;
  /**
   * A hint, optional: a keyword search is about to read these buckets, step by step. A store over
   * a slow tier (the remote store) starts fetching them all now, so the steps do not each wait a
   * round trip; stores that read fast ignore it. Resolves once they have arrived (never rejects;
   * callers need not wait).
   */
  warmTermBuckets?(name: string, buckets: readonly number[]): Promise<void>;
  /**
   * A hint, optional: these chunks are likely to be read soon (the best keyword hits while the
   * vector side still searches). The remote store starts fetching them; others ignore it.
   * Never rejects.
   */
  warmChunks?(name: string, ids: readonly number[]): Promise<void>;
  readAccessCounts(name: string): Promise<Float64Array>;
  writeAccessCounts(name: string, counts: Float64Array): Promise<void>;
  close(): void;
}

export interface WriteWholeOptions {
  /** Replace an index of the same name. Default false (INDEX_EXISTS). */
  replace?: boolean;
  /** Replace only if the stored index is still at this generation (implies `replace`). */
  expectGeneration?: number;
}
