// The GPU side of the cluster cache: a fixed byte budget of storage-buffer shards (each under
// the binding limit) holding whole IVF lists in the interleaved block layout, a residency table
// (list → shard, first slot, count) mirrored in the `segs` buffer that the scan kernel reads,
// and a first-fit block allocator per shard. Lists a search is using are pinned: nothing else
// (a prefetch, another search) may evict them until the search has submitted its scan.

import { WeftError } from '../../errors.js';
import { MAX_NLIST } from '../../ivf/validate.js';
import type { GpuContext } from '../../gpu/context.js';
import { storageBuffer } from '../../gpu/kernels.js';
import { BLOCK, type Layout } from '../../ivf/codec.js';
import type { GpuLists } from '../../ivf/gpu-lists.js';
import type { ListRecord } from '../../ivf/types.js';

export interface Residency {
  shard: number;
  slot: number;
  count: number;
  bytes: number;
}

export interface ListArena extends GpuLists {
  /** Bytes of the shards in use (the cache's size now: see limitTo). */
  readonly budget: number;
  /** Bytes of every shard planned (what the cache may grow back to). */
  readonly capacity: number;
  /** Bytes of the first shard (the least the cache can shrink to). */
  readonly minBytes: number;
  readonly used: number;
  /**
   * Uses as many shards (first to last) as fit `bytes`, at least one; returns the new size.
   * Shards past the limit take no new lists; the caller evicts their lists (retiring()) and
   * prune() frees them once empty. A shard with a pinned list lives until it is unpinned and evicted.
   */
  limitTo(bytes: number): number;
  /** Resident lists in shards past the limit. */
  retiring(): number[];
  /** Frees the empty shards past the limit (from the last one down). */
  prune(): void;
  has(list: number): boolean;
  resident(): number[];
  residency(list: number): Residency | undefined;
  /** Bytes a list of `count` vectors takes in the arena (codes + ids, whole blocks). */
  bytesFor(count: number): number;
  /** Whether a list of `count` vectors could ever fit one shard. */
  fitsAtAll(count: number): boolean;
  /** Places and uploads a record if there is room now; false if not (the caller evicts and retries). */
  tryInsert(record: ListRecord): boolean;
  /** Makes the residency table hold lists 0..nlist-1 (an index that split lists has more). */
  ensureLists(nlist: number): void;
  /**
   * The resident lists whose eviction leaves one contiguous run for a list of `count` vectors
   * (first fit leaves free blocks in pieces: evicting the coldest lists one by one until one
   * fits can empty much of the cache). `rank(list)`: how hot a list is (0 the coldest), or
   * undefined if it must stay; the run chosen spares the hottest lists (smallest highest rank,
   * then smallest sum). [] if a run is free now; undefined if none can be made.
   */
  holeFor(count: number, rank: (list: number) => number | undefined): number[] | undefined;
  evict(list: number): void;
  pin(lists: Iterable<number>): void;
  unpin(lists: Iterable<number>): void;
  isPinned(list: number): boolean;
}

interface Shard {
  codes: GPUBuffer;
  ids: GPUBuffer;
  slots: number;
  free: { block: number; blocks: number }[];
}

/** Blocks of `layout` that one shard (one storage binding) holds on this device. */
function shardBlocksMax(ctx: GpuContext, layout: Layout): number {
  const max = Math.floor(ctx.maxShardBytes / (BLOCK * layout.bytesPerVector));
  if (max < 1) {
    throw new WeftError('DEVICE_LIMIT', `One block of ${BLOCK} vectors (${BLOCK * layout.bytesPerVector} bytes) exceeds this device's storage buffer limit.`);
  }
  return max;
}

/**
 * An arena of `budgetBytes`, or of exactly the shards in `shardBlocks` (blocks each; a scratch
 * arena packed for the lists it will hold, see scratchArena).
 */
export function createListArena(
  ctx: GpuContext,
  label: string,
  opts: { layout: Layout; nlist: number; budgetBytes: number; startBytes?: number; shardBlocks?: number[] },
): ListArena {
  const { layout, nlist } = opts;
  const blockBytes = BLOCK * (layout.bytesPerVector + 4);
  const maxBlocks = shardBlocksMax(ctx, layout);
  const totalBlocks = Math.max(1, Math.floor(opts.budgetBytes / blockBytes));
  // Shards are planned up front (so the residency table has a fixed shape) but created only when
  // the cache first needs them, growing from 8 MiB: opening an index does not pay for a cache
  // it has not filled yet.
  // The first shard is no larger than what the cache starts with (a budget that leaves it less
  // than 8 MiB); doubling stops at 64 MiB or a sixteenth of the budget, whichever is larger: a
  // cache gives memory back a shard at a time (limitTo), so no shard is more than about 1/16 of it.
  const plan: number[] = opts.shardBlocks ? [...opts.shardBlocks] : [];
  const capBlocks = Math.max(Math.floor((64 * 2 ** 20) / blockBytes), Math.ceil(totalBlocks / 16));
  const firstBlocks = Math.max(1, Math.floor(Math.min(8 * 2 ** 20, opts.startBytes ?? Number.POSITIVE_INFINITY) / blockBytes));
  for (let left = opts.shardBlocks ? 0 : totalBlocks, want = firstBlocks; left > 0; want *= 2) {
    const blocks = Math.min(left, maxBlocks, want, capBlocks);
    plan.push(blocks);
    left -= blocks;
  }
  // Shards 0..active-1 take lists; the rest are retired (or not yet allowed back).
  let active = plan.length;
  // Bytes of the first n shards, for every n.
  const sizes = [0];
  for (const blocks of plan) sizes.push(sizes[sizes.length - 1]! + blocks * blockBytes);
  const sizeOf = (n: number) => sizes[n]!;
  const shards: Shard[] = [];
  const free: { block: number; blocks: number }[][] = plan.map((blocks) => [{ block: 0, blocks }]);
  const shard = (s: number): Shard => {
    while (shards.length <= s) {
      const i = shards.length;
      const blocks = plan[i]!;
      shards.push({
        codes: storageBuffer(ctx, `${label}.codes[${i}]`, blocks * BLOCK * layout.bytesPerVector),
        ids: storageBuffer(ctx, `${label}.ids[${i}]`, blocks * BLOCK * 4),
        slots: blocks * BLOCK,
        free: free[i]!,
      });
    }
    return shards[s]!;
  };
  const numShards = plan.length;
  shard(0); // a scan binds at least one shard
  // The residency table: (list, shard) -> (first slot, count); it grows when the index gains lists.
  let lists = nlist;
  let segs = storageBuffer(ctx, `${label}.segments`, Math.max(1, lists * numShards) * 8);
  const table = new Map<number, Residency>();
  const pins = new Map<number, number>();
  let used = 0;

  const setSeg = (list: number, shard: number, slot: number, count: number) => {
    ctx.device.queue.writeBuffer(segs, (list * numShards + shard) * 8, new Uint32Array([slot, count]));
  };

  const arena: ListArena = {
    shards,
    segStride: numShards,
    get segs() {
      return segs;
    },
    get numLists() {
      return lists;
    },
    ensureLists(n) {
      if (n <= lists) return;
      // Twice as many as needed (a growing index splits often), copied on the queue: scans
      // submitted from now on bind the new table, those submitted before keep the old one alive.
      const next = Math.max(n, Math.min(2 * lists, MAX_NLIST));
      const grown = storageBuffer(ctx, `${label}.segments`, next * numShards * 8);
      const encoder = ctx.device.createCommandEncoder({ label: `${label}.segments.grow` });
      encoder.copyBufferToBuffer(segs, 0, grown, 0, Math.max(1, lists * numShards) * 8);
      ctx.device.queue.submit([encoder.finish()]);
      ctx.destroyBuffer(segs);
      segs = grown;
      lists = next;
    },
    get maxSegment() {
      let m = 0;
      for (const r of table.values()) m = Math.max(m, r.count);
      return m;
    },
    get bytes() {
      return shards.reduce((a, s) => a + s.codes.size + s.ids.size, segs.size);
    },
    get budget() {
      return sizeOf(active);
    },
    capacity: sizeOf(plan.length),
    minBytes: sizeOf(1),
    limitTo(bytes) {
      let n = 1;
      while (n < plan.length && sizeOf(n + 1) <= bytes) n++;
      if (n < active) {
        for (let s = n; s < active; s++) free[s]!.length = 0;
      } else {
        for (let s = active; s < n; s++) {
          // A shard coming back: free wherever none of its (still pinned) lists sits.
          const taken = [...table.values()].filter((r) => r.shard === s && r.count > 0).sort((a, b) => a.slot - b.slot);
          const ranges: { block: number; blocks: number }[] = [];
          let at = 0;
          for (const r of taken) {
            if (r.slot / BLOCK > at) ranges.push({ block: at, blocks: r.slot / BLOCK - at });
            at = r.slot / BLOCK + r.bytes / blockBytes;
          }
          if (at < plan[s]!) ranges.push({ block: at, blocks: plan[s]! - at });
          free[s]!.splice(0, free[s]!.length, ...ranges);
        }
      }
      active = n;
      arena.prune();
      return sizeOf(active);
    },
    // Lists past the limit exist only while shards past it do: nothing to look for otherwise (every lease release asks).
    retiring: () => (shards.length <= active ? [] : [...table].filter(([, r]) => r.shard >= active && r.count > 0).map(([l]) => l)),
    prune() {
      while (shards.length > active && ![...table.values()].some((r) => r.shard === shards.length - 1 && r.count > 0)) {
        const sh = shards.pop()!;
        ctx.destroyBuffer(sh.codes);
        ctx.destroyBuffer(sh.ids);
      }
    },
    get used() {
      return used;
    },
    has: (list) => table.has(list),
    resident: () => [...table.keys()],
    residency: (list) => table.get(list),
    bytesFor: (count) => Math.ceil(count / BLOCK) * blockBytes,
    fitsAtAll: (count) => Math.ceil(count / BLOCK) <= Math.max(...plan.slice(0, active)),

    tryInsert(record) {
      if (table.has(record.list)) return true;
      const blocks = Math.ceil(record.count / BLOCK);
      if (blocks === 0) {
        table.set(record.list, { shard: 0, slot: 0, count: 0, bytes: 0 });
        return true;
      }
      for (let s = 0; s < active; s++) {
        const i = free[s]!.findIndex((f) => f.blocks >= blocks);
        if (i < 0) continue;
        const sh = shard(s);
        const f = sh.free[i]!;
        const block = f.block;
        if (f.blocks === blocks) sh.free.splice(i, 1);
        else {
          f.block += blocks;
          f.blocks -= blocks;
        }
        const slot = block * BLOCK;
        const codeBytes = blocks * BLOCK * layout.bytesPerVector;
        ctx.device.queue.writeBuffer(
          sh.codes,
          slot * layout.bytesPerVector,
          record.codes.buffer,
          record.codes.byteOffset,
          Math.min(codeBytes, record.codes.byteLength),
        );
        ctx.device.queue.writeBuffer(sh.ids, slot * 4, record.ids.buffer, record.ids.byteOffset, record.count * 4);
        setSeg(record.list, s, slot, record.count);
        const bytes = blocks * blockBytes;
        table.set(record.list, { shard: s, slot, count: record.count, bytes });
        used += bytes;
        return true;
      }
      return false;
    },

    holeFor(count, rank) {
      const blocks = Math.ceil(count / BLOCK);
      let best: number[] | undefined;
      let bestMax = Infinity,
        bestSum = Infinity;
      for (let s = 0; s < active; s++) {
        const segments: { block: number; blocks: number; list?: number }[] = free[s]!.map((f) => ({ ...f }));
        for (const [list, r] of table) if (r.shard === s && r.count > 0) segments.push({ block: r.slot / BLOCK, blocks: r.bytes / blockBytes, list });
        segments.sort((a, b) => a.block - b.block);
        for (let i = 0; i < segments.length; i++) {
          const lists: number[] = [];
          let got = 0,
            max = -1,
            sum = 0;
          for (let j = i; j < segments.length && got < blocks; j++) {
            const g = segments[j]!;
            if (g.list !== undefined) {
              const r = pins.has(g.list) ? undefined : rank(g.list);
              if (r === undefined) break;
              lists.push(g.list);
              max = Math.max(max, r);
              sum += r;
            }
            got += g.blocks;
          }
          if (got >= blocks && (max < bestMax || (max === bestMax && sum < bestSum))) {
            best = lists;
            bestMax = max;
            bestSum = sum;
          }
        }
      }
      return best;
    },

    evict(list) {
      const r = table.get(list);
      if (!r) return;
      if (pins.has(list)) throw new Error(`list ${list} is pinned`);
      table.delete(list);
      if (r.count === 0) return;
      setSeg(list, r.shard, 0, 0);
      const ranges = free[r.shard]!;
      ranges.push({ block: r.slot / BLOCK, blocks: r.bytes / blockBytes });
      ranges.sort((a, b) => a.block - b.block);
      // Coalesce neighbours.
      for (let i = ranges.length - 2; i >= 0; i--) {
        const a = ranges[i]!,
          b = ranges[i + 1]!;
        if (a.block + a.blocks === b.block) {
          a.blocks += b.blocks;
          ranges.splice(i + 1, 1);
        }
      }
      used -= r.bytes;
    },

    pin(lists) {
      for (const l of lists) pins.set(l, (pins.get(l) ?? 0) + 1);
    },
    unpin(lists) {
      for (const l of lists) {
        const n = (pins.get(l) ?? 0) - 1;
        if (n <= 0) pins.delete(l);
        else pins.set(l, n);
      }
    },
    isPinned: (list) => pins.has(list),

    destroy() {
      for (const s of shards) {
        ctx.destroyBuffer(s.codes);
        ctx.destroyBuffer(s.ids);
      }
      ctx.destroyBuffer(segs);
      table.clear();
      used = 0;
    },
  };
  return arena;
}

/**
 * A throwaway arena holding exactly `records` (a search's lists the cache cannot hold, the CPU's
 * candidates): a list never straddles shards, so the shards are packed first-fit by decreasing
 * size and the records inserted in that order land where the packing put them. DEVICE_LIMIT
 * for a list larger than one storage binding.
 */
export function scratchArena(ctx: GpuContext, label: string, layout: Layout, nlist: number, records: readonly ListRecord[]): ListArena {
  const maxBlocks = shardBlocksMax(ctx, layout);
  const order = [...records].sort((a, b) => b.count - a.count);
  const bins: number[] = [];
  for (const r of order) {
    const blocks = Math.ceil(r.count / BLOCK);
    if (blocks > maxBlocks) {
      throw new WeftError('DEVICE_LIMIT', `List ${r.list} (${r.count} vectors) does not fit one storage buffer on this device.`, {
        details: { list: r.list, count: r.count, maxVectors: maxBlocks * BLOCK },
      });
    }
    const bin = bins.findIndex((used) => used + blocks <= maxBlocks);
    if (bin >= 0) bins[bin]! += blocks;
    else bins.push(blocks);
  }
  const arena = createListArena(ctx, label, { layout, nlist, budgetBytes: 0, shardBlocks: bins.length ? bins.map((b) => Math.max(1, b)) : [1] });
  for (const r of order) {
    if (!arena.tryInsert(r)) {
      arena.destroy();
      throw new Error(`scratch arena: list ${r.list} did not land where it was packed`);
    }
  }
  return arena;
}
