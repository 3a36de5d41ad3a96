// Training an IVF quantiser, and routing vectors to its lists: the one place both index kinds
// (in memory and stored) learn centroids and the int8 range, and label vectors with their list.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { createRng, sampleIndices, type Rng } from '../random.js';
import { halfRounded, trainScalarQuantizer, type Layout, type ScalarQuantizer } from './codec.js';
import { cpuAssign } from './cpu-kmeans.js';
import { assignNearest, trainKmeans, uploadPoints } from './kmeans.js';
import { kernelMetric } from './probe.js';
import type { Metric } from './types.js';

export interface TrainOptions {
  nlist: number;
  metric: Metric;
  layout: Layout;
  /** k-means seed; training is deterministic for a given seed. */
  seed: number;
  niter: number;
  /** Training uses at most this many points per centroid (FAISS: 256). */
  maxTrainPointsPerCentroid: number;
  /** Stops training between k-means iterations (ABORTED). */
  signal?: AbortSignal | undefined;
  /** Progress after each k-means iteration. */
  onProgress?: ((p: TrainProgress) => void) | undefined;
}

/** Progress of k-means training: iterations done of the total. */
export interface TrainProgress {
  status: 'train';
  done: number;
  total: number;
}

export interface Trained {
  /** nlist x dim (normalised for cosine). */
  centroids: Float32Array;
  /** int8 storage: the per-dimension range. */
  quantizer: ScalarQuantizer | undefined;
}

/** At most `max` of the rows (`dim` each), picked by `rng`; the rows themselves when there are no more. */
export function sampleRows(rows: Float32Array, dim: number, max: number, rng: Rng): Float32Array {
  const n = rows.length / dim;
  if (n <= max) return rows;
  const pick = sampleIndices(n, max, rng);
  const sample = new Float32Array(max * dim);
  for (let i = 0; i < max; i++) sample.set(rows.subarray(pick[i]! * dim, (pick[i]! + 1) * dim), i * dim);
  return sample;
}

/**
 * Learns the centroids (k-means on the GPU over a sample of at most nlist x
 * maxTrainPointsPerCentroid points) and, for int8, the range. `prepared`: rows already
 * normalised for cosine. Without a context the k-means kernels run on the CPU.
 */
export async function trainIvf(ctx: GpuContext | undefined, prepared: Float32Array, o: TrainOptions): Promise<Trained> {
  const { dim } = o.layout;
  const n = prepared.length / dim;
  if (n < o.nlist) {
    throw new WeftError(
      'TOO_FEW_TRAINING_VECTORS',
      `Training needs at least nlist = ${o.nlist} vectors; got ${n}. Pass more vectors or lower nlist (about √n is a good start).`,
      { details: { n, nlist: o.nlist } },
    );
  }
  const sample = sampleRows(prepared, dim, o.nlist * o.maxTrainPointsPerCentroid, createRng(o.seed ^ 0x5bd1e995));
  const centroids = await trainKmeans(ctx, sample, {
    dim,
    k: o.nlist,
    metric: kernelMetric(o.metric),
    spherical: o.metric === 'cosine',
    niter: o.niter,
    seed: o.seed,
    signal: o.signal,
    onIteration: (done, total) => o.onProgress?.({ status: 'train', done, total }),
  });
  const quantizer = o.layout.storage === 'int8' ? trainScalarQuantizer(sample, dim, o.layout.dimPad) : undefined;
  // 'pq' codes are residuals from these centroids: rounded to f16 first, the published file holds them in half the bytes (codec.ts).
  return { centroids: o.layout.storage === 'pq' ? halfRounded(centroids) : centroids, quantizer };
}

/** The list of each row of `prepared` (its nearest centroid by the metric), computed on the GPU (on the CPU without a context). */
export async function assignLists(
  ctx: GpuContext | undefined,
  prepared: Float32Array,
  centroids: Float32Array,
  dim: number,
  metric: Metric,
): Promise<Uint32Array> {
  if (!ctx) return cpuAssign(prepared, centroids, dim, kernelMetric(metric) === 'ip');
  const points = uploadPoints(ctx, 'weft.assign.points', prepared, dim);
  try {
    return await assignNearest(ctx, points, centroids, dim, kernelMetric(metric));
  } finally {
    points.destroy();
  }
}
