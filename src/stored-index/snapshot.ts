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
import { groupCount, groupMembers, type CoarseGroups } from '../ivf/coarse-groups.js';

export interface TrainedState {
  /** nlist x dim, as stored (normalised for cosine). */
  readonly centroids: Float32Array;
  readonly quantizer: ScalarQuantizer | undefined;
  /** 'pq' storage: the codebook (host side: each query's table is made on the CPU). */
  readonly codebook: PqCodebook | undefined;
  /** The manifest's centroidsChecksum these came with: a different one means retrained elsewhere. */
  readonly checksum: number;
  /**
   * Lists grouped under super-centroids (a published file of layout 5 read in place,
   * coarse-groups.ts): the coarse step ranks the lists of the groups a query takes (grouped-rank.ts),
   * and a group's rows of `centroids` are filled when it is first read (`loaded`); they are a
   * fixed function of the file, so filling them changes nothing a search has seen.
   */
  readonly grouped: GroupedCoarse | undefined;
  /** The GPU side (undefined on the CPU backend). */
  readonly gpu: GpuTrained | undefined;
  /** Takes a reference (a search that must outlive a swap); release() gives it back. */
  retain(): TrainedState;
  release(): void;
}

/** A grouped index's coarse quantiser (TrainedState.grouped). */
export interface GroupedCoarse {
  readonly groups: CoarseGroups;
  /** Each group's lists, in increasing order. */
  readonly members: readonly Uint32Array[];
  /** 1 for each group whose lists' centroids are in `centroids`. */
  readonly loaded: Uint8Array;
}

export interface GpuTrained {
  /** The centroids as the scan kernel ranks them (not for a grouped index: its coarse step runs on the host). */
  readonly coarse: GpuLists | undefined;
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

/**
 * An index's stored quantisers: its centroid data, or for lists grouped in a published file
 * (readCoarseGroups), the codebook with centroids yet to be read (zeros) and the groups.
 */
export async function readQuantizers(store: WeftStore, name: string, m: Manifest): Promise<{ data: CentroidData; groups?: CoarseGroups }> {
  const grouped = await store.readCoarseGroups?.(name);
  if (!grouped) return { data: await store.readCentroids(name) };
  return { data: { centroids: new Float32Array(m.nlist * m.dim), codebook: grouped.codebook }, groups: grouped.groups };
}

/** The coarse step of a snapshot's centroids on the GPU (the caller checked the index is not grouped). */
export function gpuCoarse(trained: TrainedState): GpuLists {
  const { coarse } = onGpu(trained);
  if (!coarse) throw new WeftError('INVALID_INPUT', 'This index groups its lists: its coarse step runs on the host (grouped-rank.ts).');
  return coarse;
}

/**
 * Uploads stored centroids (and range) for searching (no upload without a context, and no
 * centroids for grouped lists, `groups`); the caller holds the first reference.
 */
export function uploadTrained(
  ctx: GpuContext | undefined,
  label: string,
  data: CentroidData,
  checksum: number,
  layout: Layout,
  pq?: IndexPq,
  groups?: CoarseGroups,
): TrainedState {
  const { quantizer, codebook } = quantizersOf(data, layout.dim, pq);
  const grouped = groups
    ? { groups, members: groupMembers(groups.listGroup, groupCount(groups, layout.dim)), loaded: new Uint8Array(groupCount(groups, layout.dim)) }
    : undefined;
  if (!ctx) {
    const host: TrainedState = {
      centroids: data.centroids,
      quantizer,
      codebook,
      checksum,
      grouped,
      gpu: undefined,
      retain: () => host,
      release() {
        /* nothing on a GPU */
      },
    };
    return host;
  }
  const coarse = grouped ? undefined : uploadCentroids(ctx, `${label}.centroids`, data.centroids, layout.dim);
  let sq: GPUBuffer | undefined;
  try {
    sq = quantizer ? uploadQuantizer(ctx, `${label}.sq`, quantizer, layout.dimPad) : undefined;
  } catch (e) {
    coarse?.destroy();
    throw e;
  }
  let refs = 1;
  const state: TrainedState = {
    centroids: data.centroids,
    quantizer,
    codebook,
    checksum,
    grouped,
    gpu: { coarse, sq },
    retain() {
      refs++;
      return state;
    },
    release() {
      if (--refs > 0) return;
      coarse?.destroy();
      ctx.destroyBuffer(sq);
    },
  };
  return state;
}
