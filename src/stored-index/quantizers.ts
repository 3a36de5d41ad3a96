// A stored index's quantisers, for every storage type: training them (list centroids, int8's
// range, 'pq''s codebook) and turning vectors into list rows and back. The flat types encode a
// vector on its own (codec.ts) and decode their rows back to it. 'pq' encodes a vector's residual
// from its list's centroid (pq.ts), so its rows depend on the list and do not decode: a vector is
// read back from the f16 copy its chunk keeps (half-text.ts), and re-encoded when it moves to
// another list. Creation, writes (writes.ts), splits (rebalance.ts) and rebuilds go through
// here, so each has one path whatever the storage.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { decodeRows, encodeRows, isFlat, type Layout } from '../ivf/codec.js';
import { halfText } from '../ivf/half-text.js';
import { encodePqRows, trainCodebook, type PqCodebook } from '../ivf/pq.js';
import { kernelMetric } from '../ivf/probe.js';
import { trainIvf, type TrainProgress } from '../ivf/train.js';
import type { IndexPq, Metric } from '../ivf/types.js';
import type { CentroidData, ChunkRecord, WeftStore } from '../storage/contract.js';
import { chunkVector } from '../storage/records.js';
import type { TrainedState } from './snapshot.js';

/** What training an index's quantisers takes. */
export interface QuantizerTraining {
  nlist: number;
  metric: Metric;
  layout: Layout;
  /** 'pq' storage: its codes. */
  pq?: IndexPq | undefined;
  seed: number;
  niter: number;
  maxTrainPointsPerCentroid: number;
  signal?: AbortSignal | undefined;
  /** k-means iterations of the centroids, then (a second pass) the codebook's sub-spaces trained. */
  onProgress?: ((p: TrainProgress) => void) | undefined;
}

/**
 * Learns the quantisers of an index from `prepared` rows (normalised for cosine): the list
 * centroids, and int8's range or 'pq''s codebook (on the residuals from those centroids).
 */
export async function trainQuantizers(ctx: GpuContext | undefined, prepared: Float32Array, o: QuantizerTraining): Promise<CentroidData> {
  const { layout } = o;
  const t = await trainIvf(ctx, prepared, { ...o, layout });
  const out: CentroidData = { centroids: t.centroids, ...(t.quantizer ? { vmin: t.quantizer.vmin, scale: t.quantizer.scale } : {}) };
  if (layout.storage !== 'pq') return out;
  const pq = o.pq!;
  const book = await trainCodebook(ctx, prepared, t.centroids, layout.dim, o.metric, {
    m: pq.m,
    nbits: pq.bits,
    niter: o.niter,
    seed: o.seed,
    signal: o.signal,
    maxTrainPointsPerCentroid: o.maxTrainPointsPerCentroid,
    onProgress: (done, total) => o.onProgress?.({ status: 'train', done, total }),
  });
  return { ...out, codebook: book.centroids };
}

/** An index's rows for its storage type: encode vectors into lists, and get vectors back. */
export interface RowCodec {
  /** Row-major rows of `prepared` vectors placed in the lists `labels` of `centroids`. */
  encode(prepared: Float32Array, labels: ArrayLike<number>, centroids: Float32Array): Uint32Array;
  /**
   * Rows of vectors that moved to the lists `labels` of `centroids`: the same rows for the flat
   * types (a row does not depend on its list), re-encoded from `prepared` for 'pq'.
   */
  moved(rows: Uint32Array, prepared: () => Promise<Float32Array>, labels: ArrayLike<number>, centroids: Float32Array): Promise<Uint32Array>;
  /**
   * The vectors (n x dim, as stored: normalise them for cosine) of live rows `rows` with `ids`:
   * decoded, or for 'pq' read from their chunks (`pending`: chunks this commit puts, which are
   * not stored yet).
   */
  vectors(rows: Uint32Array, ids: Uint32Array, pending?: readonly ChunkRecord[]): Promise<Float32Array>;
  /** What the chunk of prepared vector `i` carries besides its text ('pq': the vector as f16 text). */
  chunkVector(prepared: Float32Array, i: number): { vector?: string };
}

/** The row codec of an index in `store` with these quantisers. */
export function rowCodec(
  env: { store: WeftStore; name: string; layout: Layout; metric: Metric },
  trained: Pick<TrainedState, 'quantizer' | 'codebook'>,
): RowCodec {
  const { layout } = env;
  const { dim } = layout;
  if (isFlat(layout)) {
    return {
      encode: (prepared) => encodeRows(prepared, layout, trained.quantizer),
      moved: async (rows) => rows,
      vectors: async (rows) => decodeRows(rows, layout, trained.quantizer),
      chunkVector: () => ({}),
    };
  }
  const book: PqCodebook = trained.codebook!;
  const pqLayout = layout as Layout<'pq'>;
  const encode = (prepared: Float32Array, labels: ArrayLike<number>, centroids: Float32Array) =>
    encodePqRows(book, prepared, labels, centroids, pqLayout, kernelMetric(env.metric));
  return {
    encode,
    moved: async (_rows, prepared, labels, centroids) => encode(await prepared(), labels, centroids),
    async vectors(_rows, ids, pending = []) {
      const known = new Map(pending.map((c) => [c.id, chunkVector(env.name, c, dim)]));
      const unknown = Array.from(ids).filter((id) => !known.has(id));
      const read = unknown.length ? await env.store.readVectors(env.name, unknown) : [];
      read.forEach((v, i) => known.set(unknown[i]!, v ?? missingVector(env.name, unknown[i]!)));
      const out = new Float32Array(ids.length * dim);
      ids.forEach((id, i) => out.set(known.get(id)!, i * dim));
      return out;
    },
    chunkVector: (prepared, i) => ({ vector: halfText(prepared, i * dim, dim) }),
  };
}

/** CORRUPT_RECORD for a live vector of a 'pq' index without a chunk (so without its full-precision copy). */
export function missingVector(name: string, id: number): never {
  throw new WeftError(
    'CORRUPT_RECORD',
    `Index '${name}': vector ${id} is in a list but has no chunk, where a pq index keeps its full-precision copy for re-ranking. Re-import or rebuild the index.`,
    { details: { name, chunk: id } },
  );
}
