// The two k-means kernels on the CPU, for browsers without WebGPU: assignment
// (shaders/kmeans_assign.wgsl: nearest centroid by the scan kernel's float32 arithmetic, ties to
// the lower index) and the member sums (shaders/kmeans_update.wgsl: each centroid's members
// added dimension by dimension in point order, in float32). kmeans.ts runs the same host steps
// around either, so a CPU-trained index has the centroids a GPU would have trained.

import { layoutFor, padRows } from './codec.js';
import { quadKeys } from './cpu-search.js';
import { createQuadScanner, toQuads } from './cpu-simd.js';
import { createYielder } from './cpu-yield.js';

/** The index of each point's nearest centroid (`ip`: largest inner product); ties to the lower index. Yields to the page between slices. */
export async function cpuAssign(points: Float32Array, centroids: Float32Array, dim: number, ip: boolean): Promise<Uint32Array> {
  const pause = createYielder();
  const pad = layoutFor(dim, 'f32').dimPad;
  const n = points.length / dim,
    nlist = centroids.length / dim;
  const p = padRows(points, dim, pad),
    c = toQuads(padRows(centroids, dim, pad), nlist, pad);
  const scanner = createQuadScanner();
  scanner?.load(c, pad);
  const labels = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const keys = quadKeys(scanner, ip, p, i * pad, c, nlist, pad);
    let best = 0,
      bestKey = keys[0]!;
    for (let l = 1; l < nlist; l++) {
      if (keys[l]! < bestKey) {
        bestKey = keys[l]!;
        best = l;
      }
    }
    labels[i] = best;
    const wait = pause();
    if (wait) await wait;
  }
  return labels;
}

/** Sums of each centroid's members (nlist x dimPad, dimPad = dim rounded up to 4) and their counts. */
export function cpuMemberSums(points: Float32Array, labels: Uint32Array, dim: number, nlist: number): { sums: Float32Array; counts: Uint32Array } {
  const pad = layoutFor(dim, 'f32').dimPad;
  const n = points.length / dim;
  const sums = new Float32Array(nlist * pad);
  const counts = new Uint32Array(nlist);
  // Point order within each centroid, as the counting sort on the GPU path lists them.
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    counts[c]!++;
    for (let j = 0; j < dim; j++) sums[c * pad + j] = Math.fround(sums[c * pad + j]! + points[i * dim + j]!);
  }
  return { sums, counts };
}
