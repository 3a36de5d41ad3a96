// k-means on the GPU (without a context, the same two kernels on the CPU: cpu-kmeans.ts): the
// assignment kernel labels every point with its nearest centroid, the host counting-sorts the
// labels, the update kernel sums each centroid's members in a fixed order, and the host divides,
// re-seeds empty clusters by splitting a large one (as FAISS does) and, for spherical k-means,
// renormalises. Points larger than one storage binding are processed in chunks. Deterministic for a given seed.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { bindGroup, bufferFrom, grid2d, kernel, readBack, storageBuffer, uniformU32 } from '../gpu/kernels.js';
import { createRng, sampleIndices } from '../random.js';
import assignWgsl from '../../shaders/kmeans_assign.wgsl?raw';
import updateWgsl from '../../shaders/kmeans_update.wgsl?raw';
import { cpuAssign, cpuMemberSums } from './cpu-kmeans.js';

export interface KmeansOptions {
  dim: number;
  k: number;
  /** 'l2': nearest centroid; 'ip': largest inner product. */
  metric: 'l2' | 'ip';
  /** Normalise centroids after each update (cosine). */
  spherical: boolean;
  niter: number;
  seed: number;
  /** Checked before every iteration: an abort rejects with ABORTED. */
  signal?: AbortSignal | undefined;
  /** Called after every iteration with the iterations done and the total. */
  onIteration?: ((done: number, total: number) => void) | undefined;
}

const ASSIGN_WG = 64;
const UPDATE_WG = 64;

/** Points uploaded once, in chunks that each fit one storage binding. */
export interface PointChunks {
  chunks: { buffer: GPUBuffer; first: number; count: number }[];
  n: number;
  dim4: number;
  destroy(): void;
}

export function uploadPoints(ctx: GpuContext, label: string, points: Float32Array, dim: number): PointChunks {
  const dim4 = Math.ceil(dim / 4);
  const n = points.length / dim;
  const rowBytes = dim4 * 16;
  const perChunk = Math.floor(ctx.maxShardBytes / rowBytes);
  if (perChunk < 1) throw new WeftError('DEVICE_LIMIT', `A vector of dimension ${dim} does not fit one storage buffer on this device.`);
  const chunks: PointChunks['chunks'] = [];
  for (let first = 0; first < n; first += perChunk) {
    const count = Math.min(perChunk, n - first);
    const padded = new Float32Array(count * dim4 * 4);
    for (let i = 0; i < count; i++) padded.set(points.subarray((first + i) * dim, (first + i + 1) * dim), i * dim4 * 4);
    chunks.push({ buffer: bufferFrom(ctx, `${label}[${chunks.length}]`, padded), first, count });
  }
  return {
    chunks,
    n,
    dim4,
    destroy() {
      for (const c of chunks) ctx.destroyBuffer(c.buffer);
    },
  };
}

function centroidBuffer(ctx: GpuContext, centroids: Float32Array, dim: number, dim4: number): GPUBuffer {
  const k = centroids.length / dim;
  if (k * dim4 * 16 > ctx.maxShardBytes) {
    throw new WeftError(
      'DEVICE_LIMIT',
      `${k} centroids of dimension ${dim} exceed this device's storage buffer limit (${ctx.maxShardBytes} bytes). Use a smaller nlist.`,
    );
  }
  const padded = new Float32Array(k * dim4 * 4);
  for (let c = 0; c < k; c++) padded.set(centroids.subarray(c * dim, (c + 1) * dim), c * dim4 * 4);
  return bufferFrom(ctx, 'weft.kmeans.centroids', padded);
}

/** Labels each point with the index of its nearest centroid (ties: lowest index). */
export async function assignNearest(ctx: GpuContext, points: PointChunks, centroids: Float32Array, dim: number, metric: 'l2' | 'ip'): Promise<Uint32Array> {
  const nlist = centroids.length / dim;
  const dim4 = points.dim4;
  if (dim4 * 16 > ctx.limits.maxComputeWorkgroupStorageSize) {
    throw new WeftError(
      'DEVICE_LIMIT',
      `Dimension ${dim} is too large for this device's workgroup memory (${ctx.limits.maxComputeWorkgroupStorageSize} bytes).`,
    );
  }
  const tileC = Math.max(1, Math.min(nlist, Math.floor(ctx.limits.maxComputeWorkgroupStorageSize / 2 / (dim4 * 16))));
  const k = kernel(ctx, 'kmeans_assign', assignWgsl, ['uniform', 'read', 'read', 'rw'], {
    WG: ASSIGN_WG,
    METRIC: metric === 'l2' ? 0 : 1,
    DIM4: dim4,
    TILE_C: tileC,
  });
  const cbuf = centroidBuffer(ctx, centroids, dim, dim4);
  const labels = storageBuffer(ctx, 'weft.kmeans.labels', points.n * 4);
  const temps: GPUBuffer[] = [];
  try {
    const encoder = ctx.device.createCommandEncoder({ label: 'weft.kmeans.assign' });
    for (const chunk of points.chunks) {
      // Labels of this chunk go to a chunk-sized buffer, copied into place.
      const out = storageBuffer(ctx, 'weft.kmeans.chunkLabels', chunk.count * 4);
      const params = uniformU32(ctx, 'weft.kmeans.assignParams', [chunk.count, nlist]);
      temps.push(out, params);
      const pass = encoder.beginComputePass({ label: 'weft.kmeans.assign' });
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, bindGroup(ctx, k, 'weft.kmeans.assignBind', [params, chunk.buffer, cbuf, out]));
      const [x, y] = grid2d(ctx, Math.ceil(chunk.count / ASSIGN_WG));
      pass.dispatchWorkgroups(x, y);
      pass.end();
      encoder.copyBufferToBuffer(out, 0, labels, chunk.first * 4, chunk.count * 4);
    }
    return new Uint32Array(await readBack(ctx, labels, points.n * 4, encoder));
  } finally {
    for (const b of temps) ctx.destroyBuffer(b);
    ctx.destroyBuffer(cbuf);
    ctx.destroyBuffer(labels);
  }
}

/** Sums of each centroid's members (nlist x dim4*4), computed on the GPU in a fixed order. */
async function memberSums(ctx: GpuContext, points: PointChunks, labels: Uint32Array, nlist: number): Promise<{ sums: Float32Array; counts: Uint32Array }> {
  const dimPad = points.dim4 * 4;
  const k = kernel(ctx, 'kmeans_update', updateWgsl, ['uniform', 'read', 'read', 'read', 'rw'], { WG: UPDATE_WG });
  const sums = storageBuffer(ctx, 'weft.kmeans.sums', nlist * dimPad * 4);
  const counts = new Uint32Array(nlist);
  const temps: GPUBuffer[] = [];
  try {
    const encoder = ctx.device.createCommandEncoder({ label: 'weft.kmeans.update' });
    points.chunks.forEach((chunk, ci) => {
      // Counting sort of this chunk's labels: members grouped by centroid, in point order.
      const offsets = new Uint32Array(nlist + 1);
      for (let i = 0; i < chunk.count; i++) offsets[labels[chunk.first + i]! + 1]!++;
      for (let c = 0; c < nlist; c++) {
        offsets[c + 1]! += offsets[c]!;
        counts[c]! += offsets[c + 1]! - offsets[c]!;
      }
      const cursor = offsets.slice(0, nlist);
      const members = new Uint32Array(chunk.count);
      for (let i = 0; i < chunk.count; i++) members[cursor[labels[chunk.first + i]!]!++] = i;
      const mb = bufferFrom(ctx, 'weft.kmeans.members', members);
      const ob = bufferFrom(ctx, 'weft.kmeans.offsets', offsets);
      const params = uniformU32(ctx, 'weft.kmeans.updateParams', [dimPad, nlist, ci === 0 ? 1 : 0]);
      temps.push(mb, ob, params);
      const pass = encoder.beginComputePass({ label: 'weft.kmeans.update' });
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, bindGroup(ctx, k, 'weft.kmeans.updateBind', [params, chunk.buffer, mb, ob, sums]));
      const [x, y] = grid2d(ctx, nlist);
      pass.dispatchWorkgroups(x, y);
      pass.end();
    });
    const out = new Float32Array(await readBack(ctx, sums, nlist * dimPad * 4, encoder));
    return { sums: out, counts };
  } finally {
    for (const b of temps) ctx.destroyBuffer(b);
    ctx.destroyBuffer(sums);
  }
}

const SPLIT_EPS = 1 / 1024;

/**
 * Trains k centroids on `points` (n x dim, already normalised for spherical k-means); without a
 * context (`undefined`) the two kernels run on the CPU (cpu-kmeans.ts), with the same arithmetic.
 */
export async function trainKmeans(ctx: GpuContext | undefined, points: Float32Array, opts: KmeansOptions): Promise<Float32Array> {
  const { dim, k } = opts;
  const n = points.length / dim;
  const rng = createRng(opts.seed);
  const centroids = new Float32Array(k * dim);
  const init = sampleIndices(n, k, rng);
  for (let c = 0; c < k; c++) centroids.set(points.subarray(init[c]! * dim, (init[c]! + 1) * dim), c * dim);
  const chunks = ctx ? uploadPoints(ctx, 'weft.kmeans.points', points, dim) : undefined;
  const dimPad = Math.ceil(dim / 4) * 4;
  try {
    for (let it = 0; it < opts.niter; it++) {
      if (opts.signal?.aborted) throw new WeftError('ABORTED', `k-means training was aborted after ${it} of ${opts.niter} iterations; nothing was changed.`);
      let sums: Float32Array, counts: Uint32Array;
      if (ctx && chunks) {
        const labels = await assignNearest(ctx, chunks, centroids, dim, opts.metric);
        ({ sums, counts } = await memberSums(ctx, chunks, labels, k));
      } else {
        ({ sums, counts } = cpuMemberSums(points, await cpuAssign(points, centroids, dim, opts.metric === 'ip'), dim, k));
      }
      for (let c = 0; c < k; c++) {
        if (counts[c] === 0) continue;
        for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dimPad + j]! / counts[c]!;
      }
      splitEmptyClusters(centroids, counts, dim, n, rng);
      if (opts.spherical) normalizeInPlace(centroids, dim);
      opts.onIteration?.(it + 1, opts.niter);
    }
  } finally {
    chunks?.destroy();
  }
  return centroids;
}

/** FAISS's fix for empty clusters: copy a cluster chosen with probability ∝ its size and nudge both apart. */
function splitEmptyClusters(centroids: Float32Array, counts: Uint32Array, dim: number, n: number, rng: ReturnType<typeof createRng>): void {
  const k = counts.length;
  for (let ci = 0; ci < k; ci++) {
    if (counts[ci] !== 0) continue;
    let cj = 0;
    for (;;) {
      const p = rng.next() * (n - k);
      let acc = 0;
      for (cj = 0; cj < k; cj++) {
        acc += Math.max(0, counts[cj]! - 1);
        if (acc > p) break;
      }
      if (cj < k && counts[cj]! > 1) break;
    }
    for (let j = 0; j < dim; j++) {
      const v = centroids[cj * dim + j]!;
      if (j % 2 === 0) {
        centroids[ci * dim + j] = v * (1 + SPLIT_EPS);
        centroids[cj * dim + j] = v * (1 - SPLIT_EPS);
      } else {
        centroids[ci * dim + j] = v * (1 - SPLIT_EPS);
        centroids[cj * dim + j] = v * (1 + SPLIT_EPS);
      }
    }
    const half = Math.floor(counts[cj]! / 2);
    counts[ci] = half;
    counts[cj]! -= half;
  }
}

function normalizeInPlace(v: Float32Array, dim: number): void {
  for (let i = 0; i < v.length / dim; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[i * dim + j]! ** 2;
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dim; j++) v[i * dim + j]! *= inv;
  }
}
