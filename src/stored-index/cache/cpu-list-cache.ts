// The list cache of a stored index on the CPU backend: whole IVF lists kept decoded in JS memory
// (the float32 rows the CPU scan reads, cpu-search.ts) under a byte budget, with the same
// replacement policies as the GPU cache (util/cache-policy.ts), used the same way: a list a search
// streams in is admitted only where the policy finds it worth its victims (planAdmission), while
// prefetch and preload place lists unconditionally; and the same counters. No pins: a search
// holds the decoded lists it uses by reference, so an eviction never pulls one from under it.

import type { CachedLists, CacheStats } from './list-cache.js';
import { createPolicy, planAdmission, type CachePolicy, type CachePolicyName } from '../../util/cache-policy.js';
import type { Layout, ScalarQuantizer } from '../../ivf/codec.js';
import { decodedBytes, decodeList, type DecodedList } from '../../ivf/cpu-search.js';
import type { ListRecord } from '../../ivf/types.js';

export interface CpuListCacheOptions {
  layout: Layout;
  budgetBytes: number;
  policy: CachePolicyName;
  hotnessDecay: number;
  fill: number;
  /** The int8 range lists are decoded with now (it changes with a retrain, which clears the cache). */
  quantizer: () => ScalarQuantizer | undefined;
}

export interface CpuListCache extends CachedLists {
  /** The decoded list if cached (a hit), else undefined (a miss). */
  get(list: number): DecodedList | undefined;
  /** Decodes a record for a search; it is cached too where the policy admits it (evicting lists not in `keep`), else counted as a scratch list. */
  take(record: ListRecord, keep: ReadonlySet<number>): DecodedList;
  /** Caches a record (prefetch, preload), evicting lists not in `keep`; false if it does not fit. */
  insert(record: ListRecord, keep?: ReadonlySet<number>): boolean;
  noteStreamed(records: readonly ListRecord[]): void;
  /** Trims the cache to its fill level (after each search). */
  trim(): void;
  replace(records: readonly ListRecord[]): void;
  invalidate(lists: Iterable<number>): void;
  clear(): void;
  /** Nothing to grow: lists are kept by number, whatever nlist is. */
  ensureLists(nlist: number): void;
  stats(): CacheStats;
  destroy(): void;
}

export function createCpuListCache(o: CpuListCacheOptions): CpuListCache {
  const lists = new Map<number, DecodedList>();
  let policy: CachePolicy = createPolicy(o.policy, o.hotnessDecay);
  let used = 0;
  const counters = { hits: 0, misses: 0, streamedBytes: 0, scratchLists: 0 };
  const bytesFor = (count: number) => decodedBytes(count, o.layout);
  const sizeOf = (d: DecodedList) => bytesFor(d.ids.length);

  const evict = (list: number) => {
    const d = lists.get(list);
    if (!d) return;
    lists.delete(list);
    used -= sizeOf(d);
    policy.forget(list);
  };

  const put = (d: DecodedList, keep: ReadonlySet<number>): boolean => {
    const size = sizeOf(d);
    if (size > o.budgetBytes) return false;
    evict(d.list);
    while (used + size > o.budgetBytes) {
      const victim = policy.victims(lists.keys(), keep)[0];
      if (victim === undefined) return false;
      evict(victim);
    }
    lists.set(d.list, d);
    used += size;
    policy.admit(d.list, size);
    return true;
  };

  /** put() for a list a search streamed in: only if the policy admits it over the victims it would take. */
  const admit = (d: DecodedList, keep: ReadonlySet<number>): boolean => {
    if (lists.has(d.list)) return put(d, keep);
    const victims = planAdmission(policy, d.list, lists.keys(), keep, (l) => sizeOf(lists.get(l)!), used, sizeOf(d), o.budgetBytes, o.fill);
    if (!victims) return false;
    for (const v of victims) evict(v);
    return put(d, keep);
  };

  const decode = (r: ListRecord) => decodeList(r, o.layout, o.quantizer());

  return {
    budget: o.budgetBytes,
    get used() {
      return used;
    },
    fill: o.fill,
    has: (list) => lists.has(list),
    resident: () => [...lists.keys()].sort((a, b) => a - b),
    bytesFor,
    touch: (l) => policy.touch(l),

    get(list) {
      const d = lists.get(list);
      if (d) counters.hits++;
      else counters.misses++;
      return d;
    },

    take(record, keep) {
      const d = decode(record);
      if (!admit(d, keep)) counters.scratchLists++;
      return d;
    },

    insert(record, keep = new Set()) {
      if (bytesFor(record.count) > o.budgetBytes) return false;
      return put(decode(record), keep);
    },

    noteStreamed(records) {
      for (const r of records) counters.streamedBytes += r.codes.byteLength + r.ids.byteLength;
    },

    trim() {
      while (used > o.fill * o.budgetBytes) {
        const victim = policy.victims(lists.keys(), new Set())[0];
        if (victim === undefined) break;
        evict(victim);
      }
    },

    replace(records) {
      for (const r of records) {
        const old = lists.get(r.list);
        if (!old) continue;
        // The list keeps its place in the policy's history: only its contents changed.
        lists.delete(r.list);
        used -= sizeOf(old);
        if (!put(decode(r), new Set())) policy.forget(r.list);
      }
    },

    invalidate(ls) {
      for (const l of ls) evict(l);
    },

    clear() {
      lists.clear();
      used = 0;
      policy = createPolicy(policy.name, o.hotnessDecay);
    },

    ensureLists() {
      /* a Map of lists: any number fits */
    },

    stats: () => ({ budget: o.budgetBytes, used, resident: lists.size, ...counters }),
    destroy() {
      lists.clear();
      used = 0;
    },
  };
}
