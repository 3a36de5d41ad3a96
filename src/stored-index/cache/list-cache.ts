// The GPU list cache of a stored index (TeleRAG): an arena of whole IVF lists under a byte
// budget, a replacement policy (util/cache-policy.ts: frequency by default, hotness or LRU), pins that keep the lists a search is using in
// place until its scan is submitted, and the hit/miss/streaming counters. Searches take a
// lease: cached lists are pinned (hits), missing ones are reported (misses), streamed records
// are admitted pinned where they fit and where the policy's admission control finds them worth
// their victims (a refused list is scanned from a scratch arena), and the lease gives every pin
// back when released. insert() (prefetch, preload) places a list unconditionally: it is a
// prediction for a search about to run. Where the free blocks are in pieces, a list evicts the
// run of lists that makes room with the least heat (arena.holeFor), not the coldest lists one by
// one (bench tiers, 10% cache: 0.94 → 0.98 of Belady).

import type { GpuContext } from '../../gpu/context.js';
import type { Layout } from '../../ivf/codec.js';
import type { ListRecord } from '../../ivf/types.js';
import { createListArena, scratchArena, type ListArena } from './arena.js';
import { createPolicy, planAdmission, type CachePolicy, type CachePolicyName } from '../../util/cache-policy.js';

/**
 * A stored index's list cache: budget and bytes used, lists resident, hits, misses, bytes streamed and
 * lists scanned from scratch space.
 */
export interface CacheStats {
  budget: number;
  used: number;
  resident: number;
  hits: number;
  misses: number;
  streamedBytes: number;
  scratchLists: number;
}

export interface CacheLease {
  /** Pins the cached lists among `lists` (a hit each); returns the missing ones (a miss each), sorted. */
  pinCached(lists: Iterable<number>): number[];
  /** Puts streamed records into the cache, pinned, where they fit and the policy admits them (evicting lists not in `keep`); returns the ones left out. */
  admit(records: readonly ListRecord[], keep: ReadonlySet<number>): ListRecord[];
  /** Unpins everything this lease pinned and trims the cache to its fill level. */
  release(): void;
}

/** What every list cache tells (the GPU one here, the CPU backend's in cpu-list-cache.ts). */
export interface CachedLists {
  readonly budget: number;
  readonly used: number;
  /** Target fill after each search, as a fraction of the budget. */
  readonly fill: number;
  has(list: number): boolean;
  resident(): number[];
  /** Bytes a list of `count` vectors takes in the cache. */
  bytesFor(count: number): number;
  /** A search's probed lists, best first (feeds the policy). */
  touch(lists: readonly number[]): void;
}

export interface ListCache extends CachedLists {
  /** The arena as the scan kernel binds it. */
  readonly lists: ListArena;
  lease(): CacheLease;
  /** Inserts a record (not pinned), evicting the coldest lists not in `keep`; false if it cannot fit now. */
  insert(record: ListRecord, keep?: ReadonlySet<number>): boolean;
  /** Counts bytes read from storage for the cache statistics. */
  noteStreamed(records: readonly ListRecord[]): void;
  /** A throwaway arena holding lists a search needs but the cache cannot (counted as scratch lists). */
  scratch(label: string, records: readonly ListRecord[]): ListArena;
  /** This index's own commit rewrote `records`: cached copies are replaced by the new ones. */
  replace(records: readonly ListRecord[]): void;
  /** Drops the (unpinned) cached copies of `lists`, e.g. changed by another tab's commit. */
  invalidate(lists: Iterable<number>): void;
  /** Every cached list is stale (new centroids): drop them all and start the policy afresh. */
  clear(): void;
  /** The index now has `nlist` lists (a split added some): the residency table makes room. */
  ensureLists(nlist: number): void;
  stats(): CacheStats;
  destroy(): void;
}

export interface ListCacheOptions {
  layout: Layout;
  nlist: number;
  /** The most the cache takes (it grows back to this when GPU memory is free). */
  budgetBytes: number;
  /** What it takes at first (default budgetBytes): less when the memory budget leaves less now. */
  startBytes?: number;
  policy: CachePolicyName;
  hotnessDecay: number;
  fill: number;
}

export function createListCache(ctx: GpuContext, label: string, o: ListCacheOptions): ListCache {
  // The cache fills as searches run: its size is held in the device's memory budget from the
  // start (DEVICE_LIMIT here, before any buffer, if it does not fit; never mid-search). The hold
  // is elastic: a load that needs memory takes shards back from the cache (their lists evicted),
  // and the cache grows back, shard by shard, up to budgetBytes once memory is free.
  const elastic = { min: 0, want: o.budgetBytes, resize: (bytes: number) => resize(bytes) };
  const hold = ctx.hold(label, o.startBytes ?? o.budgetBytes, `The list cache of '${label}'`, elastic);
  let arena: ReturnType<typeof createListArena>;
  try {
    arena = createListArena(ctx, label, { layout: o.layout, nlist: o.nlist, budgetBytes: o.budgetBytes, startBytes: hold.bytes });
  } catch (e) {
    hold.release();
    throw e;
  }
  elastic.min = arena.minBytes;
  elastic.want = arena.capacity;
  try {
    hold.resize(arena.limitTo(hold.bytes), `The list cache of '${label}'`);
  } catch (e) {
    arena.destroy();
    hold.release();
    throw e;
  }
  let policy: CachePolicy = createPolicy(o.policy, o.hotnessDecay);
  const counters = { hits: 0, misses: 0, streamedBytes: 0, scratchLists: 0 };

  const evict = (list: number) => {
    arena.evict(list);
    policy.forget(list);
  };
  const coldest = (keep: ReadonlySet<number>) => policy.victims(arena.resident(), keep).find((l) => !arena.isPinned(l));

  /** With `admission`, a list that needs room goes in only if the policy finds it worth its victims (judged at the fill level: see planAdmission). */
  const place = (record: ListRecord, keep: ReadonlySet<number>, admission: boolean): boolean => {
    if (!arena.fitsAtAll(record.count)) return false;
    const bytes = arena.bytesFor(record.count);
    if (admission && policy.shouldAdmit && !arena.has(record.list)) {
      const evictable = arena.resident().filter((l) => !arena.isPinned(l));
      const victims = planAdmission(policy, record.list, evictable, keep, (l) => arena.residency(l)?.bytes ?? 0, arena.used, bytes, arena.budget, o.fill);
      if (!victims) return false;
      for (const v of victims) evict(v);
    }
    if (!arena.tryInsert(record)) {
      // The freed bytes are in pieces: evict the run of lists that makes room with the least heat.
      const order = policy.victims(arena.resident(), keep);
      const rank = new Map(order.map((l, i) => [l, i]));
      const hole = arena.holeFor(record.count, (l) => rank.get(l));
      if (!hole) return false;
      if (admission && hole.length > 0 && policy.shouldAdmit && !policy.shouldAdmit(record.list, hole)) return false;
      for (const v of hole) evict(v);
      if (!arena.tryInsert(record)) return false;
    }
    policy.admit(record.list, bytes);
    return true;
  };
  const insert = (record: ListRecord, keep: ReadonlySet<number> = new Set()) => place(record, keep, false);

  /** Lists in shards the cache gave back are evicted (a pinned one when its search releases it), and the empty shards freed. */
  const retire = () => {
    for (const l of arena.retiring()) if (!arena.isPinned(l)) evict(l);
    arena.prune();
  };
  /** The elastic hold's resize: the cache keeps as many shards as fit `bytes`. */
  function resize(bytes: number): number {
    const size = arena.limitTo(bytes);
    retire();
    return size;
  }

  const trim = () => {
    while (arena.used > o.fill * arena.budget) {
      const victim = coldest(new Set());
      if (victim === undefined) break;
      evict(victim);
    }
  };

  return {
    lists: arena,
    get budget() {
      return arena.budget;
    },
    get used() {
      return arena.used;
    },
    fill: o.fill,
    has: (list) => arena.has(list),
    resident: () => arena.resident(),
    bytesFor: (count) => arena.bytesFor(count),
    touch: (lists) => policy.touch(lists),
    insert,

    lease() {
      const pinned = new Set<number>();
      const pin = (l: number) => {
        arena.pin([l]);
        pinned.add(l);
      };
      return {
        pinCached(lists) {
          const missing: number[] = [];
          for (const l of lists) {
            if (arena.has(l)) {
              counters.hits++;
              pin(l);
            } else {
              counters.misses++;
              missing.push(l);
            }
          }
          return missing.sort((a, b) => a - b);
        },
        admit(records, keep) {
          const left: ListRecord[] = [];
          for (const r of records)
            if (place(r, keep, true)) pin(r.list);
            else left.push(r);
          return left;
        },
        release() {
          arena.unpin(pinned);
          pinned.clear();
          retire();
          trim();
        },
      };
    },

    noteStreamed(records) {
      for (const r of records) counters.streamedBytes += r.codes.byteLength + r.ids.byteLength;
    },

    scratch(scratchLabel, records) {
      counters.scratchLists += records.length;
      return scratchArena(ctx, scratchLabel, o.layout, arena.numLists, records);
    },

    replace(records) {
      for (const r of records) {
        if (!arena.has(r.list) || arena.isPinned(r.list)) continue;
        arena.evict(r.list);
        if (!arena.tryInsert(r)) policy.forget(r.list);
      }
    },

    invalidate(lists) {
      for (const l of lists) if (arena.has(l) && !arena.isPinned(l)) evict(l);
    },

    clear() {
      for (const l of arena.resident()) if (!arena.isPinned(l)) arena.evict(l);
      policy = createPolicy(policy.name, o.hotnessDecay);
    },

    ensureLists: (nlist) => arena.ensureLists(nlist),

    stats: () => ({ budget: arena.budget, used: arena.used, resident: arena.resident().length, ...counters }),
    destroy: () => {
      arena.destroy();
      hold.release();
    },
  };
}
