// The record formats of the IndexedDB tier and their checksums: what a manifest, a chunk, the
// centroids and a whole index hold, and how a stored manifest or chunk is sealed (checksum added)
// when written and checked when read. A record that fails its checksum is CORRUPT_RECORD; a
// record from an older format is recognised so that the store can migrate it.

import { WeftError } from '../errors.js';
import type { IndexPq, IndexStorage, ListRecord, Metric } from '../ivf/types.js';
import { halfValues } from '../ivf/half-text.js';
import { crc32, valueChecksum } from './checksum.js';
import { encodeBucket } from '../lexical/postings.js';

/**
 * Version of the record formats below (bumped when a stored shape changes). 2: manifests and chunk
 * records carry checksums. 3: the lexical index (term buckets, `Manifest.lexical`). Indexes of
 * formats 1 and 2 are migrated in place when first used (checksums added, postings built from
 * the chunks, in one transaction).
 */
export const FORMAT_VERSION = 3;

/** The lexical (BM25) index of a stored index: its analyzer and totals, and its term buckets' checksums. */
export interface LexicalManifest {
  /** The analyzer's language (src/lexical/analyzer.ts): its stemmer, or none. */
  language: string;
  /** Number of term buckets (terms hash to one of them). */
  buckets: number;
  /** Chunks with at least one term (BM25's N). */
  chunks: number;
  /** Terms in those chunks, in all (BM25's average length is tokens / chunks). */
  tokens: number;
  /** CRC-32 of each term bucket's record (an absent record is an empty bucket). */
  checksums: number[];
}

/** An index's manifest: its format, dimension, metric, storage type, nlist, embedding model, counts and checksums. */
export interface Manifest {
  name: string;
  formatVersion: number;
  dim: number;
  metric: Metric;
  storage: IndexStorage;
  /** 'pq' storage: its sub-quantisers and bits (the codebook is stored with the centroids). */
  pq?: IndexPq;
  /**
   * 'pq' storage: candidates per result its searches re-rank until they have learnt their own
   * (rerank-tuner.ts), as measured where the index was published (exportIndex's `rerank`).
   */
  rerank?: number;
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
  /** The next automatically assigned vector id (above every stored id; a commit that puts a chunk past it moves it). */
  nextId: number;
  centroidsChecksum: number;
  createdAt: number;
  updatedAt: number;
  /** Incremented by every commit; a commit based on an older generation is refused (CONFLICT). */
  generation: number;
  /** The lexical index (format 3 on; an import or migration builds it from the chunks). */
  lexical?: LexicalManifest;
  /**
   * Created for a first add whose commit has not landed yet (createIndex's `pending`): the index
   * exists for no one listing indexes until then, and the first commit clears it. A first ingest
   * cut off in between (the page closed: no cleanup can run) so leaves no empty index behind, and
   * the next ingest into that name takes it over (see src/runtime/ingest.ts). One transaction for
   * the creation and the first commit would say the same, but the first add needs the index
   * opened (its centroids, lists and cache) to plan its commit.
   */
  pending?: true;
}

/** What is kept per vector besides the vector: its list, and the passage it embeds (if any). */
export interface ChunkRecord {
  id: number;
  /** The IVF list holding the vector (how a delete finds it). */
  list: number;
  docId: string;
  text: string;
  metadata?: Record<string, unknown>;
  /** 'pq' storage: the vector as stored (normalised for cosine) at f16 precision, as text (src/ivf/half-text.ts), for exact re-ranking. */
  vector?: string;
}

/** An index's trained quantisers: the list centroids, int8's range, and 'pq' storage's codebook. */
export interface CentroidData {
  centroids: Float32Array;
  vmin?: Float32Array;
  scale?: Float32Array;
  /** 'pq' storage: m x 2^bits x (dim / m) sub-centroids (src/ivf/pq.ts's PqCodebook.centroids). */
  codebook?: Float32Array;
}

export interface WholeIndex {
  manifest: Manifest;
  centroids: CentroidData;
  lists: ListRecord[];
  chunks: ChunkRecord[];
}

/** `manifestChecksum` (format 2 on) covers every other field. */
export interface StoredManifest extends Manifest {
  manifestChecksum?: number;
}
/** `checksum` (format 2 on) covers id, list, docId, text and metadata. */
export interface StoredChunk extends ChunkRecord {
  index: string;
  checksum?: number;
}

/**
 * One commit. The lexical postings are not part of it: the store derives them from `putChunks`
 * and `deleteChunks` (reading the stored texts of the chunks deleted or overwritten) inside the
 * same transaction, so no writer can commit chunks whose postings disagree with them.
 */
export interface CommitChanges {
  /** Whole new records for the lists that changed. */
  lists?: ListRecord[];
  putChunks?: ChunkRecord[];
  deleteChunks?: number[];
  /** Change in live vectors and tombstones. */
  countDelta?: number;
  tombstoneDelta?: number;
  nextId?: number;
  /**
   * A new centroid table (a list split: some centroids moved, lists appended), nlist' x dim with
   * nlist' >= the index's nlist; the int8 range must stay the stored one (the lists' codes follow
   * it). The lists past the old nlist start empty unless `lists` holds their records.
   */
  centroids?: CentroidData;
  /** Stored chunks whose vector moved to another list (a split or a reassignment): only `list` changes. */
  moveChunks?: { id: number; list: number }[];
}

export function listChecksum(r: ListRecord): number {
  return crc32(new Uint32Array([r.list, r.count]), r.ids, r.codes);
}

export function centroidChecksum(c: CentroidData): number {
  const none = new Uint8Array(0);
  return crc32(c.centroids, c.vmin ?? none, c.scale ?? none, c.codebook ?? none);
}

/** CRC-32 of a term bucket's record: its number, then its bytes (postings.ts). */
export function bucketChecksum(bucket: number, bytes: Uint8Array): number {
  return crc32(new Uint32Array([bucket]), bytes);
}

const EMPTY_BUCKET = encodeBucket({ bucket: 0, terms: new Map() });
/** The checksum of bucket `b` while it holds no term (no record is stored for it). */
export function emptyBucketChecksum(b: number): number {
  return bucketChecksum(b, EMPTY_BUCKET);
}

/** Covers id, list, docId, text, metadata and (where there is one) the vector. */
export function chunkChecksum(c: ChunkRecord): number {
  return valueChecksum(c.vector === undefined ? [c.id, c.list, c.docId, c.text, c.metadata] : [c.id, c.list, c.docId, c.text, c.metadata, c.vector]);
}

/** A chunk's own fields (what its checksum covers), without whatever else a stored record carries. */
export function chunkFields(c: ChunkRecord): ChunkRecord {
  return {
    id: c.id,
    list: c.list,
    docId: c.docId,
    text: c.text,
    ...(c.metadata !== undefined ? { metadata: c.metadata } : {}),
    ...(c.vector !== undefined ? { vector: c.vector } : {}),
  };
}

export function manifestChecksum(m: StoredManifest): number {
  const { manifestChecksum: _, ...fields } = m;
  return valueChecksum(fields);
}

/** Thrown inside a read of an index still in an older record format: the caller migrates it and reads again. */
export class Outdated extends WeftError {
  constructor(name: string) {
    super('UNSUPPORTED_FORMAT', `Index '${name}' is stored in an older format and is migrated when it is used; try again.`, { details: { name } });
  }
}

export function unknownIndex(name: string): WeftError {
  return new WeftError(
    'UNKNOWN_INDEX',
    `There is no index named '${name}' in this site's storage. Create it first, or list the existing ones with listIndexes().`,
    { details: { name } },
  );
}

export function publicManifest(r: StoredManifest): Manifest {
  const { manifestChecksum: _, ...m } = r;
  return m;
}

export function sealedManifest(m: Manifest): StoredManifest {
  const fields = publicManifest(m);
  return { ...fields, manifestChecksum: manifestChecksum(fields) };
}

/** A stored manifest, checked: newer formats are refused, older ones need migrating, damage is CORRUPT_RECORD. */
export function checkedManifest(name: string, r: StoredManifest): Manifest {
  if (r.formatVersion > FORMAT_VERSION) {
    throw new WeftError(
      'UNSUPPORTED_FORMAT',
      `Index '${name}' was written by a newer Weft (format ${r.formatVersion}; this one reads ${FORMAT_VERSION}). Update Weft.`,
      { details: { name } },
    );
  }
  // A format-1 record has no checksum; a damaged format-2 one whose version reads 1 still has one.
  if (r.formatVersion < FORMAT_VERSION && r.manifestChecksum === undefined) throw new Outdated(name);
  if (r.manifestChecksum !== manifestChecksum(r)) {
    throw new WeftError(
      'CORRUPT_RECORD',
      `The manifest of index '${name}' fails its checksum: the record is damaged, so its counts cannot be trusted. Delete the index (deleteIndex) and re-import or rebuild it.`,
      { details: { name, record: 'manifest' } },
    );
  }
  // Format 2, intact: it lacks the lexical index, which the migration builds.
  if (r.formatVersion < FORMAT_VERSION) throw new Outdated(name);
  if (!r.lexical) {
    throw new WeftError(
      'CORRUPT_RECORD',
      `The manifest of index '${name}' has no lexical index although its format (${r.formatVersion}) has one. Delete the index (deleteIndex) and re-import or rebuild it.`,
      { details: { name, record: 'manifest' } },
    );
  }
  return publicManifest(r);
}

export function storedChunk(name: string, c: ChunkRecord): StoredChunk {
  const chunk = chunkFields(c);
  return { ...chunk, index: name, checksum: chunkChecksum(chunk) };
}

/** The full-precision vector a 'pq' index's chunk keeps (CORRUPT_RECORD when it has none: every chunk of such an index has one). */
export function chunkVector(name: string, chunk: ChunkRecord, dim: number): Float32Array {
  const v = halfValues(chunk.vector, dim);
  if (!v) {
    throw new WeftError(
      'CORRUPT_RECORD',
      `Index '${name}': chunk ${chunk.id} has no full-precision vector, which a pq index keeps for re-ranking. Delete that id and add its passage again, or re-import the index.`,
      { details: { name, chunk: chunk.id } },
    );
  }
  return v;
}

export function checkedChunk(name: string, r: StoredChunk): ChunkRecord {
  const { index: _index, checksum, ...chunk } = r;
  if (checksum === undefined || checksum !== chunkChecksum(chunk)) {
    throw new WeftError(
      'CORRUPT_RECORD',
      `Index '${name}': chunk ${chunk.id} fails its checksum (its text, document, metadata or vector is damaged). Delete that id and add its passage again, or re-import the index; the other chunks are unaffected.`,
      { details: { name, chunk: chunk.id } },
    );
  }
  return chunk;
}
