// Public types of the vector indexes.

/**
 * The distance: 'l2' (squared distance, smaller is nearer), 'ip' (inner product) or 'cosine'
 * (similarity; vectors normalised when added); larger is nearer for the last two.
 */
export type Metric = 'l2' | 'ip' | 'cosine';
/**
 * How stored vectors are encoded: 'f32', 'f16' or 'int8' (scalar-quantised with a per-dimension range
 * learned by train). Queries are always f32.
 */
export type StorageType = 'f32' | 'f16' | 'int8';

/** Every Metric. */
export const METRICS: readonly Metric[] = ['l2', 'ip', 'cosine'];
/** Every StorageType. */
export const STORAGE_TYPES: readonly StorageType[] = ['f32', 'f16', 'int8'];

/**
 * How a stored index keeps its vectors: a StorageType, or 'pq' (product-quantised residuals,
 * src/ivf/pq.ts, with each vector's full-precision copy kept as f16 beside its chunk for exact
 * re-ranking; `IndexPq` says how many sub-quantisers and bits).
 */
export type IndexStorage = StorageType | 'pq';
/** Every IndexStorage. */
export const INDEX_STORAGE_TYPES: readonly IndexStorage[] = [...STORAGE_TYPES, 'pq'];

/** A 'pq' index's codes: m sub-quantisers (m divides dim) of `bits` bits each (8: 256 sub-centroids, 4: 16). */
export interface IndexPq {
  m: number;
  bits: 4 | 8;
}

/** The id reported for an empty result slot (fewer than k vectors in the probed lists). */
export const NO_ID = 0xffffffff;
/** Largest k (and nprobe below nlist) a single search supports. */
export const MAX_K = 1024;

/** Options of an in-memory index's search: k, nprobe and an allow-list. */
export interface SearchOptions {
  /** Results per query (1..min(MAX_K, index size)). Default 10. */
  k?: number;
  /** IVF lists probed per query (1..nlist; values above MAX_K only as nlist itself). Default min(nlist, 8). */
  nprobe?: number;
  /**
   * An allow-list: only vectors whose id has its bit set are results (bit id % 32 of word
   * id / 32; ids past the end are not allowed). The k best allowed vectors in the probed lists
   * come back; fewer (NO_ID slots) only when the probed lists hold fewer allowed vectors.
   */
  allow?: Uint32Array;
}

/**
 * Row-major results, `numQueries x k`. Distances follow FAISS: squared L2 for 'l2', the inner
 * product for 'ip', the cosine similarity for 'cosine' (larger is closer for the latter two).
 * Empty slots have id NO_ID and distance +Infinity ('l2') or -Infinity.
 */
export interface SearchResult {
  ids: Uint32Array;
  distances: Float32Array;
  numQueries: number;
  k: number;
}

/** What one slice of a search session did. */
export interface SliceReport {
  /** Lists scanned, counted once per query (probe ranks x queries). */
  lists: number;
  /** Bytes of lists read from storage into GPU memory for this slice (0 for an in-memory index). */
  streamedBytes: number;
}

/**
 * A search cut into slices of a few IVF lists each (HedraRAG's cluster-sized sub-stages); the
 * carried top-k lives on the GPU. The in-memory and the stored index both return this type.
 */
export interface SearchSession {
  readonly numQueries: number;
  readonly k: number;
  readonly nprobe: number;
  /** Probe ranks scanned so far (0..nprobe). */
  readonly scanned: number;
  readonly done: boolean;
  /** Scan the next `lists` probe ranks for every query (default: all that remain) and merge them into the running top-k. */
  step(lists?: number): Promise<SliceReport>;
  /**
   * Stored indexes: reads (I/O, no GPU work) the lists the next `step(lists)` needs that are not
   * cached, so that the step only scans. A caller running steps in decode gaps calls it before
   * waiting for a gap: a read from IndexedDB or the network in a gap would hold up the next token.
   */
  prepare?(lists?: number): Promise<void>;
  /** The running top-k (the final result once `done`). */
  read(): Promise<SearchResult>;
  /** Releases the session's GPU buffers. Called by `read()` once done. */
  destroy(): void;
}

/**
 * One IVF list as the tiers hold it: its ids and its vectors encoded and interleaved in 32-vector
 * blocks (see codec.ts), the same bytes in an IndexedDB record and in a GPU cache slot.
 */
export interface ListRecord {
  list: number;
  count: number;
  ids: Uint32Array;
  codes: Uint32Array;
}
