// Runs the scan and merge kernels: a search session scans slices of probe ranks, turns each
// slice's per-workgroup top-k lists into one list per query with merge passes, and carries that
// running top-k (on the GPU) into the next slice. The same code serves the IVF lists, the flat
// index (one list, one probe) and the coarse step (centroids as one f32 list, k = nprobe).
// A session given an allow bitmap runs the filtered variant of the scan kernel: only allowed
// ids are candidates, so a selective filter still yields the k best allowed vectors.

import { WeftError } from '../errors.js';
import { gpuAwait, type GpuContext } from '../gpu/context.js';
import { bindGroup, compileKernel, kernel, kernelCompiled, readBack, storageBuffer, uniformU32, type Kernel } from '../gpu/kernels.js';
import scanWgsl from '../../shaders/scan.wgsl?raw';
import mergeWgsl from '../../shaders/merge.wgsl?raw';
import topkWgsl from '../../shaders/topk.wgsl?raw';
import type { Layout } from './codec.js';
import type { GpuLists } from './gpu-lists.js';
import { keyToDistance } from './reference.js';
import { MAX_K, NO_ID, type Metric, type SearchResult, type SearchSession, type StorageType } from './types.js';

const STORAGE_CODE = { f32: 0, f16: 1, int8: 2, pq: 3 } as const;

export interface ScanTarget {
  layout: Layout<StorageType | 'pq'>;
  /** Metric the results are reported in (cosine runs the inner-product kernel on normalised data). */
  metric: Metric;
  lists: GpuLists;
  /** int8: vmin then scale, queryUnits vec4 each. */
  sq?: GPUBuffer;
  /**
   * 'pq' storage: the codebook's shape and each query's table (pq.ts's pqTable: m x ksub floats
   * per query, in query order). The probes' keys are the coarse distances the scan adds.
   */
  pq?: { m: number; nbits: 4 | 8; tables: GPUBuffer };
}

/**
 * Workgroup shape for a given k: `sortN` candidate slots in workgroup memory (the best k plus
 * room for two chunks of `wg` appended candidates; also the merge's sort size, so ≥ 2k).
 * Throws DEVICE_LIMIT when the device's workgroup memory cannot hold them.
 */
export function sortSize(ctx: GpuContext, k: number): { sortN: number; wg: number } {
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  for (const wg of [ctx.scanWorkgroupSize, 32]) {
    const sortN = Math.max(4 * wg, nextPow2(Math.max(k + 2 * wg, 2 * k)));
    if (sortN * 8 + 64 <= limit) return { sortN, wg };
  }
  throw new WeftError('DEVICE_LIMIT', `k = ${k} needs more workgroup memory than this device's ${limit} bytes. Use k ≤ ${maxK(ctx)}.`, {
    details: { k, limit },
  });
}

/** The largest k this device's workgroup memory supports (at most MAX_K). */
export function maxK(ctx: GpuContext): number {
  const sortN = 2 ** Math.floor(Math.log2((ctx.limits.maxComputeWorkgroupStorageSize - 64) / 8));
  return Math.min(MAX_K, sortN / 2, sortN - 128);
}

function nextPow2(x: number): number {
  return x <= 1 ? 1 : 2 ** Math.ceil(Math.log2(x));
}

/** How a scan of `target` is cut into workgroups for a given k. */
export function scanGeometry(ctx: GpuContext, target: ScanTarget, k: number) {
  const { sortN, wg } = sortSize(ctx, k);
  // A tile is a whole list segment where it is small; big segments (the flat index) are cut in
  // tiles of at most 2048 vectors so that one query still spreads over many workgroups.
  const tileSize = Math.min(2048, Math.max(wg, Math.ceil(target.lists.maxSegment / wg) * wg));
  const tiles = Math.max(1, Math.ceil(target.lists.maxSegment / tileSize));
  return { sortN, wg, tileSize, tiles, numShards: target.lists.shards.length };
}

/** What specialises the scan kernel: the target's layout, metric and codebook shape (not its lists, nor the queries' tables). */
export type ScanShape = Pick<ScanTarget, 'layout' | 'metric'> & { pq?: { m: number; nbits: 4 | 8 } | undefined };

const SCAN_BINDINGS = ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'rw', 'read'] as const;
const MERGE_BINDINGS = ['uniform', 'read', 'read', 'rw'] as const;

/**
 * The floats of a 'pq' scan's table that the kernel copies into workgroup memory (its LUT_N), or
 * 0 to read it from storage: 4-bit codes (16 floats a sub-quantiser, so copying the table costs
 * less than scanning a list), where it fits beside the sortN candidates in the device's workgroup
 * memory, unless the context turns it off (`pqTablesInWorkgroup: false`). An 8-bit table (256
 * floats a sub-quantiser, 48 KiB at m 48) is bigger than most devices' workgroup memory.
 */
export function pqTableFloats(ctx: GpuContext, pq: ScanShape['pq'], sortN: number): number {
  if (pq?.nbits !== 4 || !ctx.pqTablesInWorkgroup) return 0;
  const floats = pq.m << pq.nbits;
  return sortN * 8 + 64 + floats * 4 <= ctx.limits.maxComputeWorkgroupStorageSize ? floats : 0;
}

function scanConstants(ctx: GpuContext, t: ScanShape, sortN: number, wg: number, filtered: boolean): Record<string, number> {
  const lut = pqTableFloats(ctx, t.pq, sortN);
  return {
    WG: wg,
    SORT_N: sortN,
    STORAGE: STORAGE_CODE[t.layout.storage],
    METRIC: t.metric === 'l2' ? 0 : 1,
    UNITS: t.layout.units,
    FILTERED: filtered ? 1 : 0,
    ...(t.pq ? { PQ_M: t.pq.m, PQ_BITS: t.pq.nbits } : {}),
    ...(lut > 0 ? { PQ_LUT: 1, LUT_N: lut } : {}),
  };
}

function scanKernel(ctx: GpuContext, t: ScanShape, sortN: number, wg: number, filtered: boolean): Kernel {
  return kernel(ctx, 'scan', topkWgsl + scanWgsl, SCAN_BINDINGS, scanConstants(ctx, t, sortN, wg, filtered));
}

function mergeKernel(ctx: GpuContext, sortN: number, wg: number): Kernel {
  return kernel(ctx, 'merge', topkWgsl + mergeWgsl, MERGE_BINDINGS, { WG: wg, SORT_N: sortN });
}

/**
 * Compiles, in the GPU process, the two pipelines a session over targets shaped like `t` uses
 * for this k (the scan kernel, unfiltered or `filtered`, and the merge), so that its first
 * submission does not wait for them (on SwiftShader that compile was 400-600 ms of a first
 * search). The constants depend on k only through sortSize: one k stands for every k with the
 * same sortN (k ≤ 2 x the scan workgroup size for the smallest). Resolves once both are cached.
 */
export async function compileScan(ctx: GpuContext, t: ScanShape, k: number, filtered = false): Promise<void> {
  const { sortN, wg } = sortSize(ctx, k);
  await Promise.all([
    compileKernel(ctx, 'scan', topkWgsl + scanWgsl, SCAN_BINDINGS, scanConstants(ctx, t, sortN, wg, filtered)),
    compileKernel(ctx, 'merge', topkWgsl + mergeWgsl, MERGE_BINDINGS, { WG: wg, SORT_N: sortN }),
  ]);
}

/** Whether compileScan's pipelines for these arguments are compiled already (a session's first submission would not wait). */
export function scanCompiled(ctx: GpuContext, t: ScanShape, k: number, filtered = false): boolean {
  const { sortN, wg } = sortSize(ctx, k);
  return kernelCompiled(ctx, 'scan', scanConstants(ctx, t, sortN, wg, filtered)) && kernelCompiled(ctx, 'merge', { WG: wg, SORT_N: sortN });
}

/** Bytes of per-workgroup output one probe rank produces for `numQueries` queries. */
export function bytesPerRank(ctx: GpuContext, t: ScanTarget, k: number, numQueries: number): number {
  const g = scanGeometry(ctx, t, k);
  // Every shard planned (a cache creates its shards as it fills, after a session opened on it).
  return numQueries * Math.max(g.numShards, t.lists.segStride) * g.tiles * k * 8;
}

export interface SessionInit {
  target: ScanTarget;
  /** Padded queries, `queryUnits` vec4 per row (the main storage's padding, also for the coarse step). */
  queries: GPUBuffer;
  queryUnits: number;
  numQueries: number;
  k: number;
  /** (key bits, list id) per query and rank, best first. */
  probes: GPUBuffer;
  /** Entries per query in `probes` (0: one shared list). */
  probeStride: number;
  nprobe: number;
  /**
   * Only vectors whose id has its bit set here are candidates (bit id % 32 of u32 word id / 32;
   * ids past the end are not allowed). Not destroyed by the session unless also in `owned`.
   */
  allow?: GPUBuffer;
  /** Buffers the session destroys when it ends. */
  owned: GPUBuffer[];
}

export interface InternalSession extends SearchSession {
  /** step() without waiting for the GPU: later submissions (a read, the next session) queue behind it. */
  submit(lists?: number): void;
  /** Hands over the GPU buffer with the running top-k (numQueries x k of (key bits, id)) and ends the session. */
  takeResult(): GPUBuffer;
}

/**
 * Benchmark hook: encodes `reps` scans of every probe rank of `init` (scan kernel only, no
 * merge) into one submission and returns the wall time in ms, so submission latency is
 * amortised the same way as for a copy loop timed alongside it.
 */
export async function timeScanKernel(ctx: GpuContext, init: SessionInit, reps: number): Promise<number> {
  const { target, numQueries: nq, k, nprobe } = init;
  const { sortN, wg, tileSize, tiles, numShards } = scanGeometry(ctx, target, k);
  const scan = scanKernel(ctx, target, sortN, wg, init.allow !== undefined);
  const partial = storageBuffer(ctx, 'weft.bench.partial', nq * nprobe * numShards * tiles * k * 8);
  const dummy = storageBuffer(ctx, 'weft.bench.dummy', 16);
  const params = target.lists.shards.map((_, s) =>
    uniformU32(ctx, 'weft.bench.scanParams', [k, 0, init.probeStride, 0, nprobe, s, numShards, tiles, init.queryUnits, tileSize, target.lists.segStride]),
  );
  try {
    const binds = target.lists.shards.map((shard, s) =>
      bindGroup(ctx, scan, 'weft.bench.scanBind', [
        params[s]!,
        shard.codes,
        shard.ids,
        target.lists.segs,
        init.probes,
        init.queries,
        target.pq?.tables ?? target.sq ?? dummy,
        partial,
        init.allow ?? dummy,
      ]),
    );
    const encoder = ctx.device.createCommandEncoder({ label: 'weft.bench.scan' });
    const pass = encoder.beginComputePass({ label: 'weft.bench.scan' });
    pass.setPipeline(scan.pipeline);
    for (let r = 0; r < reps; r++) {
      for (let s = 0; s < numShards; s++) {
        pass.setBindGroup(0, binds[s]!);
        pass.dispatchWorkgroups(tiles, nprobe, nq);
      }
    }
    pass.end();
    await ctx.device.queue.onSubmittedWorkDone();
    const t0 = performance.now();
    ctx.device.queue.submit([encoder.finish()]);
    await ctx.device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  } finally {
    for (const b of [partial, dummy, ...params]) ctx.destroyBuffer(b);
  }
}

export function openSession(ctx: GpuContext, init: SessionInit): InternalSession {
  const { target, numQueries: nq, k, nprobe } = init;
  const { sortN, wg, tileSize, tiles } = scanGeometry(ctx, target, k);
  const scan = scanKernel(ctx, target, sortN, wg, init.allow !== undefined);
  const merge = mergeKernel(ctx, sortN, wg);
  const perRank = bytesPerRank(ctx, target, k, nq);
  if (perRank > ctx.maxShardBytes || nq > ctx.limits.maxComputeWorkgroupsPerDimension || tiles > ctx.limits.maxComputeWorkgroupsPerDimension) {
    throw new WeftError(
      'DEVICE_LIMIT',
      `A search of ${nq} queries with k = ${k} over lists of up to ${target.lists.maxSegment} vectors needs ${perRank} bytes of intermediate results per probed list, above this device's ${ctx.maxShardBytes}-byte buffer limit. Search fewer queries per call.`,
      { details: { perRank, numQueries: nq, k } },
    );
  }
  const ranksPerPass = Math.max(1, Math.min(ctx.limits.maxComputeWorkgroupsPerDimension, Math.floor(ctx.maxShardBytes / perRank)));
  const dummy = storageBuffer(ctx, 'weft.search.dummy', 16);
  let carry: GPUBuffer | undefined;
  let scanned = 0;
  let closed = false;

  const alive = () => {
    ctx.check();
    if (closed) throw new WeftError('SEARCH_FINISHED', 'This search session was already read and released; start a new search.');
  };

  const session: InternalSession = {
    numQueries: nq,
    k,
    nprobe,
    get scanned() {
      return scanned;
    },
    get done() {
      return scanned >= nprobe;
    },

    async step(count?: number) {
      const before = scanned;
      session.submit(count);
      await gpuAwait(ctx, ctx.device.queue.onSubmittedWorkDone(), 'Searching');
      return { lists: (scanned - before) * nq, streamedBytes: 0 };
    },

    submit(count?: number) {
      alive();
      if (scanned >= nprobe) throw new WeftError('SEARCH_FINISHED', `All ${nprobe} probed lists were already scanned; call read().`);
      const want = count ?? nprobe - scanned;
      if (!Number.isInteger(want) || want < 1) throw new WeftError('INVALID_OPTION', `step() takes a positive whole number of lists; got ${String(count)}.`);
      const end = Math.min(nprobe, scanned + want);
      // The shards there are now: a list cache creates shards as it fills, so a sliced session's
      // later steps may find lists in shards that did not exist when it opened.
      const numShards = target.lists.shards.length;
      const encoder = ctx.device.createCommandEncoder({ label: 'weft.search.step' });
      const temps: GPUBuffer[] = [];
      for (let r0 = scanned; r0 < end; r0 += ranksPerPass) {
        const rc = Math.min(ranksPerPass, end - r0);
        let lists = rc * numShards * tiles;
        const partial = storageBuffer(ctx, 'weft.search.partial', nq * lists * k * 8);
        temps.push(partial);
        const pass = encoder.beginComputePass({ label: 'weft.search.scan' });
        pass.setPipeline(scan.pipeline);
        for (let s = 0; s < numShards; s++) {
          const params = uniformU32(ctx, 'weft.search.scanParams', [
            k,
            0,
            init.probeStride,
            r0,
            rc,
            s,
            numShards,
            tiles,
            init.queryUnits,
            tileSize,
            target.lists.segStride,
          ]);
          temps.push(params);
          const shard = target.lists.shards[s]!;
          pass.setBindGroup(
            0,
            bindGroup(ctx, scan, 'weft.search.scanBind', [
              params,
              shard.codes,
              shard.ids,
              target.lists.segs,
              init.probes,
              init.queries,
              target.pq?.tables ?? target.sq ?? dummy,
              partial,
              init.allow ?? dummy,
            ]),
          );
          pass.dispatchWorkgroups(tiles, rc, nq);
        }
        pass.end();
        // Merge passes, folding in the carried top-k on the first one.
        let input = partial;
        let hasCarry = carry ? 1 : 0;
        const group = Math.floor(sortN / k);
        for (;;) {
          const groups = Math.ceil((lists + hasCarry) / group);
          const out = storageBuffer(ctx, 'weft.search.topk', nq * groups * k * 8);
          const params = uniformU32(ctx, 'weft.search.mergeParams', [k, lists, group, hasCarry, groups]);
          temps.push(params);
          const mp = encoder.beginComputePass({ label: 'weft.search.merge' });
          mp.setPipeline(merge.pipeline);
          mp.setBindGroup(0, bindGroup(ctx, merge, 'weft.search.mergeBind', [params, input, carry ?? dummy, out]));
          mp.dispatchWorkgroups(groups, nq);
          mp.end();
          if (input !== partial) temps.push(input);
          if (hasCarry && carry) {
            temps.push(carry);
            carry = undefined;
          }
          input = out;
          lists = groups;
          hasCarry = 0;
          if (groups === 1) break;
        }
        carry = input;
      }
      ctx.device.queue.submit([encoder.finish()]);
      for (const b of temps) ctx.destroyBuffer(b);
      scanned = end;
    },

    async read(): Promise<SearchResult> {
      alive();
      const ids = new Uint32Array(nq * k).fill(NO_ID);
      const distances = new Float32Array(nq * k).fill(target.metric === 'l2' ? Infinity : -Infinity);
      if (carry) {
        const raw = new Uint32Array(await readBack(ctx, carry, nq * k * 8));
        const keys = new Float32Array(raw.buffer);
        for (let i = 0; i < nq * k; i++) {
          const id = raw[2 * i + 1]!;
          if (id === NO_ID) continue;
          ids[i] = id;
          distances[i] = keyToDistance(target.metric, keys[2 * i]!);
        }
      }
      if (scanned >= nprobe) session.destroy();
      return { ids, distances, numQueries: nq, k };
    },

    takeResult() {
      alive();
      if (!carry) throw new WeftError('SEARCH_FINISHED', 'Nothing was scanned yet.');
      const out = carry;
      carry = undefined;
      session.destroy();
      return out;
    },

    destroy() {
      if (closed) return;
      closed = true;
      ctx.destroyBuffer(carry);
      ctx.destroyBuffer(dummy);
      for (const b of init.owned) ctx.destroyBuffer(b);
      carry = undefined;
    },
  };
  return session;
}
