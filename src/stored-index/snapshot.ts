// What a stored index's searches and writes read, made explicit: the manifest they started from
// and the trained quantisers (centroids, int8 range or PQ codebook, on the CPU and the GPU). The trained part
// is immutable: a rebuild in this tab, or another tab's rebuild or import, makes a new one and the
// old one's GPU buffers go once the last search holding it ends. Nothing is reassigned behind a
// reader's back: each operation takes the snapshot current when it starts. An index on the CPU
// backend (no context) keeps only the host side.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import type { Layout, ScalarQuantizer } from '../ivf/codec.js';
import type { GpuLists } from '../ivf/gpu-lists.js';
import { storedCodebook, type PqCodebook } from '../ivf/pq.js';
import { uploadCentroids, uploadQuantizer } from '../ivf/probe.js';
import type { IndexPq, Metric } from '../ivf/types.js';
import type { CentroidData, Manifest, WeftStore } from '../storage/contract.js';

export interface TrainedState {
  /** nlist x dim, as stored (normalised for cosine). */
  readonly centroids: Float32Array;
  readonly quantizer: ScalarQuantizer | undefined;
  /** 'pq' storage: the codebook (host side: each query's table is made on the CPU). */
  readonly codebook: PqCodebook | undefined;
  /** The manifest's centroidsChecksum these came with: a different one means retrained elsewhere. */
  readonly checksum: number;
  /** The GPU side (undefined on the CPU backend). */
  readonly gpu: GpuTrained | undefined;
  /** Takes a reference (a search that must outlive a swap); release() gives it back. */
  retain(): TrainedState;
  release(): void;
}

export interface GpuTrained {
  /** The centroids as the scan kernel ranks them. */
  readonly coarse: GpuLists;
  /** int8: the range as the scan kernel reads it. */
  readonly sq: GPUBuffer | undefined;
}

/** The GPU side of a trained state, which every GPU search has (uploadTrained with a context). */
export function onGpu(trained: TrainedState): GpuTrained {
  if (!trained.gpu) throw new WeftError('INVALID_INPUT', 'This index runs on the CPU backend: its centroids are not on a GPU.');
  return trained.gpu;
}

/** Where an open stored index lives; every part of it takes this. */
export interface IndexEnv {
  /** The GPU context; undefined on the CPU backend. */
  ctx: GpuContext | undefined;
  store: WeftStore;
  name: string;
  layout: Layout;
  metric: Metric;
  /** 'pq' storage: its codes' shape (the manifest's `pq`). */
  pq?: IndexPq | undefined;
}

export interface IndexSnapshot {
  readonly manifest: Manifest;
  readonly trained: TrainedState;
}

/** The host-side quantisers of stored centroid data: int8's range, 'pq''s codebook (with `pq`, its shape). */
export function quantizersOf(data: CentroidData, dim: number, pq: IndexPq | undefined): Pick<TrainedState, 'quantizer' | 'codebook'> {
  return {
    quantizer: data.vmin && data.scale ? { vmin: data.vmin, scale: data.scale } : undefined,
    codebook: pq && data.codebook ? storedCodebook(dim, pq, data.codebook) : undefined,
  };
}

/** Uploads stored centroids (and range) for searching (no upload without a context); the caller holds the first reference. */
export function uploadTrained(ctx: GpuContext | undefined, label: string, data: CentroidData, checksum: number, layout: Layout, pq?: IndexPq): TrainedState {
  const { quantizer, codebook } = quantizersOf(data, layout.dim, pq);
  if (!ctx) {
    const host: TrainedState = {
      centroids: data.centroids,
      quantizer,
      codebook,
      checksum,
      gpu: undefined,
      retain: () => host,
      release() {
        /* nothing on a GPU */
      },
    };
    return host;
  }
  const coarse = uploadCentroids(ctx, `${label}.centroids`, data.centroids, layout.dim);
  let sq: GPUBuffer | undefined;
  try {
    sq = quantizer ? uploadQuantizer(ctx, `${label}.sq`, quantizer, layout.dimPad) : undefined;
  } catch (e) {
    coarse.destroy();
    throw e;
  }
  let refs = 1;
  const state: TrainedState = {
    centroids: data.centroids,
    quantizer,
    codebook,
    checksum,
    gpu: { coarse, sq },
    retain() {
      refs++;
      return state;
    },
    release() {
      if (--refs > 0) return;
      coarse.destroy();
      ctx.destroyBuffer(sq);
    },
  };
  return state;
}
