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
import { codedLists, type CoarseCodes } from '../ivf/coarse-codes.js';

export interface TrainedState {
  /** nlist x dim, as stored (normalised for cosine). */
  readonly centroids: Float32Array;
  readonly quantizer: ScalarQuantizer | undefined;
  /** 'pq' storage: the codebook (host side: each query's table is made on the CPU). */
  readonly codebook: PqCodebook | undefined;
  /** The manifest's centroidsChecksum these came with: a different one means retrained elsewhere. */
  readonly checksum: number;
  /**
   * A coarse step on the host, for a published file read in place whose centroids are read as
   * queries reach them (host-rank.ts): lists grouped under super-centroids (layout 5,
   * coarse-groups.ts) or coarse codes (layout 6, coarse-codes.ts). Rows of `centroids` are filled
   * when first read (`loaded`); they are a fixed function of the file, so filling them changes
   * nothing a search has seen.
   */
  readonly onHost: HostCoarse | undefined;
  /** The GPU side (undefined on the CPU backend). */
  readonly gpu: GpuTrained | undefined;
  /** Takes a reference (a search that must outlive a swap); release() gives it back. */
  retain(): TrainedState;
  release(): void;
}

/** The coarse step of an index whose reader does not hold every centroid (TrainedState.onHost). */
export type HostCoarse = GroupedCoarse | CodedCoarse;

/** A grouped index's coarse quantiser. */
export interface GroupedCoarse {
  readonly kind: 'groups';
  readonly groups: CoarseGroups;
  /** Each group's lists, in increasing order. */
  readonly members: readonly Uint32Array[];
  /** 1 for each group whose lists' centroids are in `centroids`. */
  readonly loaded: Uint8Array;
}

/** An index's coarse codes. */
export interface CodedCoarse {
  readonly kind: 'codes';
  readonly codes: CoarseCodes;
  /** 1 for each list whose centroid is in `centroids`. */
  readonly loaded: Uint8Array;
}

export interface GpuTrained {
  /** The centroids as the scan kernel ranks them (not where the coarse step runs on the host: TrainedState.onHost). */
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
 * An index's stored quantisers: its centroid data, or for a published file with coarse codes
 * (readCoarseCodes) or grouped lists (readCoarseGroups), the codebook with centroids yet to be
 * read (zeros) and the codes or groups (`host`).
 */
export async function readQuantizers(store: WeftStore, name: string, m: Manifest): Promise<{ data: CentroidData; host?: CoarseGroups | CoarseCodes }> {
  const unread = () => new Float32Array(m.nlist * m.dim);
  const coded = await store.readCoarseCodes?.(name);
  if (coded) return { data: { centroids: unread(), codebook: coded.codebook }, host: coded.codes };
  const grouped = await store.readCoarseGroups?.(name);
  if (grouped) return { data: { centroids: unread(), codebook: grouped.codebook }, host: grouped.groups };
  return { data: await store.readCentroids(name) };
}

/** The coarse step of a snapshot's centroids on the GPU (the caller checked it does not run on the host). */
export function gpuCoarse(trained: TrainedState): GpuLists {
  const { coarse } = onGpu(trained);
  if (!coarse) throw new WeftError('INVALID_INPUT', "This index's coarse step runs on the host (host-rank.ts).");
  return coarse;
}

/** The host coarse step of coarse codes or groups: nothing of either read yet. */
function hostCoarse(host: CoarseGroups | CoarseCodes, dim: number): HostCoarse {
  if ('codes' in host) return { kind: 'codes', codes: host, loaded: new Uint8Array(codedLists(host)) };
  const count = groupCount(host, dim);
  return { kind: 'groups', groups: host, members: groupMembers(host.listGroup, count), loaded: new Uint8Array(count) };
}

/**
 * Uploads stored centroids (and range) for searching (no upload without a context, and no
 * centroids where the coarse step runs on the host, `host`); the caller holds the first reference.
 */
export function uploadTrained(
  ctx: GpuContext | undefined,
  label: string,
  data: CentroidData,
  checksum: number,
  layout: Layout,
  pq?: IndexPq,
  host?: CoarseGroups | CoarseCodes,
): TrainedState {
  const { quantizer, codebook } = quantizersOf(data, layout.dim, pq);
  const onHost = host ? hostCoarse(host, layout.dim) : undefined;
  if (!ctx) {
    const host: TrainedState = {
      centroids: data.centroids,
      quantizer,
      codebook,
      checksum,
      onHost,
      gpu: undefined,
      retain: () => host,
      release() {
        /* nothing on a GPU */
      },
    };
    return host;
  }
  const coarse = onHost ? undefined : uploadCentroids(ctx, `${label}.centroids`, data.centroids, layout.dim);
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
    onHost,
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
