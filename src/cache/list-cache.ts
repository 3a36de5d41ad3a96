// The GPU list cache of a stored index (TeleRAG): an arena of whole IVF lists under a byte
// budget, a replacement policy (hotness or LRU), pins that keep the lists a search is using in
// place until its scan is submitted, and the hit/miss/streaming counters. Searches take a
// lease: cached lists are pinned (hits), missing ones are reported (misses), streamed records
// are admitted pinned where they fit, and the lease gives every pin back when released.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { BLOCK, type Layout } from '../ivf/codec.js';
import type { ListRecord } from '../ivf/types.js';
import { createListArena, type ListArena } from './arena.js';
import { createPolicy, type CachePolicy, type CachePolicyName } from './policy.js';

export interface CacheStats {
  budget: number; used: number; resident: number;
  hits: number; misses: number; streamedBytes: number; scratchLists: number;
}

export interface CacheLease {
  /** Pins the cached lists among `lists` (a hit each); returns the missing ones (a miss each), sorted. */
  pinCached(lists: Iterable<number>): number[];
  /** Puts streamed records into the cache, pinned, where they fit (evicting lists not in `keep`); returns the ones that do not fit. */
  admit(records: readonly ListRecord[], keep: ReadonlySet<number>): ListRecord[];
  /** Unpins everything this lease pinned and trims the cache to its fill level. */
  release(): void;
}

export interface ListCache {
  /** The arena as the scan kernel binds it. */
  readonly lists: ListArena;
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
  stats(): CacheStats;
  destroy(): void;
}

export interface ListCacheOptions {
  layout: Layout;
  nlist: number;
  budgetBytes: number;
  policy: CachePolicyName;
  hotnessDecay: number;
  fill: number;
}

export function createListCache(ctx: GpuContext, label: string, o: ListCacheOptions): ListCache {
  const arena = createListArena(ctx, label, { layout: o.layout, nlist: o.nlist, budgetBytes: o.budgetBytes });
  let policy: CachePolicy = createPolicy(o.policy, o.hotnessDecay);
  const counters = { hits: 0, misses: 0, streamedBytes: 0, scratchLists: 0 };

  const evict = (list: number) => { arena.evict(list); policy.forget(list); };
  const coldest = (keep: ReadonlySet<number>) => policy.victims(arena.resident(), keep).find((l) => !arena.isPinned(l));

  const insert = (record: ListRecord, keep: ReadonlySet<number> = new Set()): boolean => {
    if (!arena.fitsAtAll(record.count)) return false;
    while (!arena.tryInsert(record)) {
      const victim = coldest(keep);
      if (victim === undefined) return false;
      evict(victim);
    }
    policy.admit(record.list);
    return true;
  };

  const trim = () => {
    while (arena.used > o.fill * arena.budget) {
      const victim = coldest(new Set());
      if (victim === undefined) break;
      evict(victim);
    }
  };

  return {
    lists: arena,
    get budget() { return arena.budget; },
    get used() { return arena.used; },
    fill: o.fill,
    has: (list) => arena.has(list),
    resident: () => arena.resident(),
    bytesFor: (count) => arena.bytesFor(count),
    touch: (lists) => policy.touch(lists),
    insert,

    lease() {
      const pinned = new Set<number>();
      const pin = (l: number) => { arena.pin([l]); pinned.add(l); };
      return {
        pinCached(lists) {
          const missing: number[] = [];
          for (const l of lists) {
            if (arena.has(l)) { counters.hits++; pin(l); } else { counters.misses++; missing.push(l); }
          }
          return missing.sort((a, b) => a - b);
        },
        admit(records, keep) {
          const left: ListRecord[] = [];
          for (const r of records) if (insert(r, keep)) pin(r.list); else left.push(r);
          return left;
        },
        release() {
          arena.unpin(pinned);
          pinned.clear();
          trim();
        },
      };
    },

    noteStreamed(records) {
      for (const r of records) counters.streamedBytes += r.codes.byteLength + r.ids.byteLength;
    },

    scratch(scratchLabel, records) {
      counters.scratchLists += records.length;
      const bytes = records.reduce((a, r) => a + arena.bytesFor(r.count), 0);
      const scratch = createListArena(ctx, scratchLabel, { layout: o.layout, nlist: o.nlist, budgetBytes: bytes + arena.bytesFor(BLOCK) * 2 });
      for (const r of records) {
        if (!scratch.tryInsert(r)) {
          scratch.destroy();
          throw new WeftError('DEVICE_LIMIT', `List ${r.list} (${r.count} vectors) does not fit one storage buffer on this device.`);
        }
      }
      return scratch;
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

    stats: () => ({ budget: arena.budget, used: arena.used, resident: arena.resident().length, ...counters }),
    destroy: () => arena.destroy(),
  };
}
