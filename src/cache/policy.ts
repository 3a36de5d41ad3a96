// Which IVF lists stay in the GPU cache. Hotness (TeleRAG): on every probe request each cached
// list's hotness halves, each list the request probes gains +1024 (a list entering starts at
// 1024), and after the request the coldest lists are evicted until the cache is at most a set
// fraction of its budget. LRU is kept for comparison. Pure bookkeeping: the arena moves bytes.

export type CachePolicyName = 'hotness' | 'lru';

export interface CachePolicy {
  readonly name: CachePolicyName;
  /** Records one request's probed lists (in probe order) before they are looked up. */
  touch(lists: readonly number[]): void;
  /** A list entered the cache. */
  admit(list: number): void;
  /** A list left the cache. */
  forget(list: number): void;
  /** Cached lists, coldest first, never one of `keep`. */
  victims(cached: Iterable<number>, keep: ReadonlySet<number>): number[];
  /** Score used to rank lists for preloading (higher is hotter). */
  score(list: number): number;
}

export const HOTNESS_GAIN = 1024;

/**
 * `decay`: the factor every list's hotness is multiplied by per request (TeleRAG: 1/2). Hotness
 * is kept for lists after they leave the cache too, so a list that comes back is judged by its
 * history (on a Zipf stream this lifted the hit rate from 0.71-0.82 to 0.76-0.82 of Belady's).
 */
export function createHotnessPolicy(decay = 0.5): CachePolicy {
  const heat = new Map<number, number>();
  return {
    name: 'hotness',
    touch(lists) {
      for (const [l, h] of heat) heat.set(l, h * decay);
      for (const l of lists) heat.set(l, (heat.get(l) ?? 0) + HOTNESS_GAIN);
    },
    admit(list) { if (!heat.has(list)) heat.set(list, HOTNESS_GAIN); },
    forget() { /* history is kept: see above */ },
    victims(cached, keep) {
      return [...cached].filter((l) => !keep.has(l)).sort((a, b) => (heat.get(a) ?? 0) - (heat.get(b) ?? 0) || a - b);
    },
    score(list) { return heat.get(list) ?? 0; },
  };
}

export function createLruPolicy(): CachePolicy {
  const last = new Map<number, number>();
  let clock = 0;
  return {
    name: 'lru',
    touch(lists) { clock++; for (const l of lists) last.set(l, clock); },
    admit(list) { if (!last.has(list)) last.set(list, clock); },
    forget(list) { last.delete(list); },
    victims(cached, keep) {
      return [...cached].filter((l) => !keep.has(l)).sort((a, b) => (last.get(a) ?? 0) - (last.get(b) ?? 0) || a - b);
    },
    score(list) { return last.get(list) ?? 0; },
  };
}

export function createPolicy(name: CachePolicyName, hotnessDecay?: number): CachePolicy {
  return name === 'lru' ? createLruPolicy() : createHotnessPolicy(hotnessDecay);
}

/**
 * Replays a request stream (each request: the lists it probes) through a cache of `capacity`
 * bytes and returns the fraction of list lookups that hit. `evictTo` is the fraction of the
 * capacity the cache is trimmed to after each request (hotness's post-request eviction).
 */
export function simulateHitRate(requests: readonly (readonly number[])[], sizes: ArrayLike<number>, capacity: number,
  policy: CachePolicy, evictTo = 1): number {
  const cached = new Set<number>();
  let used = 0, hits = 0, total = 0;
  for (const req of requests) {
    policy.touch(req);
    const keep = new Set(req);
    for (const l of req) {
      total++;
      if (cached.has(l)) { hits++; continue; }
      const size = sizes[l]!;
      if (size > capacity) continue;
      while (used + size > capacity) {
        const v = policy.victims(cached, keep)[0];
        if (v === undefined) break;
        cached.delete(v); used -= sizes[v]!; policy.forget(v);
      }
      if (used + size <= capacity) { cached.add(l); used += size; policy.admit(l); }
    }
    while (used > capacity * evictTo) {
      const v = policy.victims(cached, new Set())[0];
      if (v === undefined) break;
      cached.delete(v); used -= sizes[v]!; policy.forget(v);
    }
  }
  return total === 0 ? 1 : hits / total;
}

/**
 * Belady's optimal offline policy on the same stream: on a miss that needs room, evict the
 * cached list whose next use is furthest in the future. (Optimal for equal sizes; with unequal
 * list sizes it is the standard furthest-next-use bound the benchmark compares against.)
 */
export function beladyHitRate(requests: readonly (readonly number[])[], sizes: ArrayLike<number>, capacity: number): number {
  const flat: number[] = [];
  const reqOf: number[] = [];
  requests.forEach((r, i) => { for (const l of r) { flat.push(l); reqOf.push(i); } });
  // next[i]: position of the next access to flat[i]'s list after i.
  const next = new Array<number>(flat.length);
  const seen = new Map<number, number>();
  for (let i = flat.length - 1; i >= 0; i--) { next[i] = seen.get(flat[i]!) ?? Infinity; seen.set(flat[i]!, i); }
  const nextUse = new Map<number, number>();
  const cached = new Set<number>();
  let used = 0, hits = 0;
  for (let i = 0; i < flat.length; i++) {
    const l = flat[i]!;
    if (cached.has(l)) { hits++; nextUse.set(l, next[i]!); continue; }
    const size = sizes[l]!;
    if (size > capacity) continue;
    // Bypass when this list is needed later than everything cached (optimal may refuse to cache).
    while (used + size > capacity) {
      let victim = -1, far = -1;
      for (const c of cached) {
        const u = nextUse.get(c) ?? Infinity;
        // Lists of the current request stay (they are being scanned).
        if (reqOf[i] !== undefined && u !== Infinity && reqOf[u] === reqOf[i]) continue;
        if (u > far) { far = u; victim = c; }
      }
      if (victim < 0 || far < next[i]!) break;
      cached.delete(victim); used -= sizes[victim]!;
    }
    if (used + size <= capacity) { cached.add(l); used += size; nextUse.set(l, next[i]!); }
  }
  return flat.length === 0 ? 1 : hits / flat.length;
}
