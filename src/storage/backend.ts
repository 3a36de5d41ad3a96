// What a storage backend is to the storage core (store-core.ts): a place that reads an index's
// records as they are kept and writes a change to them as one atomic commit — nothing more. The
// rules every store follows (argument checks, checksums, migrations, the manifest a write
// produces, the error messages) are the core's, written once; a backend adds only how its medium
// keeps records and makes a write atomic:
//   - IndexedDB (idb-store.ts): one transaction per read or write;
//   - files (file-store.ts): immutable record files named by a head, published by a hard link;
//   - HTTP ranges (remote/remote-store.ts) are read-only and read a published file's own layout
//     (sections, cached and coalesced ranges); they share the read rules (read-checks.ts).
// Records cross this interface unchecked: the core checks each one when it is read.

import type { WeftError } from '../errors.js';
import type { ListRecord } from '../ivf/types.js';
import type { EncodedBucket } from './lexical-records.js';
import type { CentroidData, StoredChunk, StoredManifest } from './records.js';

/** A record with the CRC-32 kept beside it by the backend (undefined where the backend keeps none). */
export interface KeptRecord<T> {
  value: T;
  checksum: number | undefined;
}

/** Reads of one index, all from one committed state (one transaction, one head). */
export interface RecordReader {
  /**
   * The stored manifest as kept; undefined when there is no such index (or it was deleted).
   * CORRUPT_RECORD when the backend's own envelope of it is unreadable (a damaged head file).
   */
  manifest(): Promise<StoredManifest | undefined>;
  /** The centroids (undefined if the record is missing or not one). */
  centroids(): Promise<KeptRecord<CentroidData> | undefined>;
  /** Lists by number, in order (undefined where a record is missing or not one). */
  lists(lists: readonly number[]): Promise<(KeptRecord<ListRecord> | undefined)[]>;
  /** Chunks by id, in order (undefined where there is none). */
  chunks(ids: readonly number[]): Promise<(StoredChunk | undefined)[]>;
  /** The chunks filed under a document. */
  chunksOfDocument(docId: string): Promise<StoredChunk[]>;
  /** Every chunk, in id order, a page at a time (so a caller that keeps less than the texts lets them go). */
  eachChunk(visit: (page: readonly StoredChunk[]) => void): Promise<void>;
  /** Term buckets' bytes by number, in order (undefined for an empty bucket, which has no record). */
  buckets(buckets: readonly number[]): Promise<(KeptRecord<Uint8Array> | undefined)[]>;
}

/**
 * One atomic write to one index: reads see the state it was planned on (and its own writes);
 * nothing is visible to anyone until the work function returns and the backend commits it all.
 */
export interface RecordWriter extends RecordReader {
  putManifest(m: StoredManifest): Promise<void>;
  putCentroids(c: CentroidData, checksum: number): Promise<void>;
  /** Writes a list record (an empty one may be kept as no record at all). */
  putList(rec: ListRecord, checksum: number): Promise<void>;
  putChunk(r: StoredChunk): Promise<void>;
  deleteChunk(id: number): Promise<void>;
  /** Writes a term bucket (an empty one, `bytes.length <= 1`, removes its record). */
  putBucket(b: EncodedBucket): Promise<void>;
  /** Removes every term bucket record (postings about to be built anew: a migration). */
  clearBuckets(): Promise<void>;
  /** Removes every list, chunk and bucket record (a whole index about to be written over it). */
  clearRecords(): Promise<void>;
  /** Access counts, reset with a new or rewritten index (a backend may write them after the commit, best effort). */
  resetAccessCounts(nlist: number): Promise<void>;
  /** Removes the index and everything it holds. */
  deleteIndex(): Promise<void>;
}

/** What a write is for: how a backend treats an index that is not there yet, and a cancelled write. */
export interface WriteOptions {
  /** The write may create the index (createIndex, a whole-index write). */
  creates?: boolean;
  /** Stops the write before it commits (ABORTED, nothing written). */
  signal?: AbortSignal | undefined;
}

/**
 * Thrown by a backend whose write lost the race for its commit to another writer's (the file
 * store's compare-and-swap); nothing of it was written. The core says what that means for the
 * operation (CONFLICT, INDEX_EXISTS, UNKNOWN_INDEX, or nothing for a migration someone else did).
 * A backend whose writes are serialised (IndexedDB) never throws it.
 */
export class LostRace extends Error {}

/** A medium that keeps Weft's records: what createStore (store-core.ts) needs of it. */
export interface StorageBackend {
  /** The store's location (WeftStore.dbName): a database name, a directory. */
  readonly location: string;
  /**
   * The oldest record format this backend ever wrote: an index claiming an older one was damaged,
   * not written by an older Weft (the file store began at format 2).
   */
  readonly oldestFormat: number;
  /** Why an index name cannot be kept here, if it cannot (e.g. too long for a directory name). */
  nameProblem(name: unknown): string | undefined;
  /** The names of the indexes kept (those deleted excluded). */
  names(): Promise<string[]>;
  /** Runs `work` over one committed state of index `name`. A backend may run it again (it must only read). */
  read<T>(name: string, work: (r: RecordReader) => Promise<T>): Promise<T>;
  /**
   * Runs `work` and commits what it wrote, atomically, or nothing (LostRace when another writer
   * committed first; ABORTED through the signal). `work` must await nothing but the writer's calls.
   */
  write<T>(name: string, work: (w: RecordWriter) => Promise<T>, options?: WriteOptions): Promise<T>;
  readAccessCounts(name: string): Promise<Float64Array>;
  writeAccessCounts(name: string, counts: Float64Array): Promise<void>;
  /** What a failure of the medium becomes (STORAGE_FULL, ABORTED, STORAGE_ERROR); WeftErrors pass through. */
  failure(e: unknown, what: string): WeftError;
  close(): void;
}
