// The byte budget of a remote index's IndexedDB tier: which fetched sections are kept there and
// which go when it is full, decided by the same replacement policy as the GPU list cache
// ('frequency': counts with aging, size-aware eviction, and admission only for a section worth
// the ones it would push out — every miss here is a network round trip). The sections are
// numbered for the policy. The section cache (section-cache.ts) stores; this decides.

import { createPolicy, planAdmission, type CachePolicy } from '../../util/cache-policy.js';
import type { SectionCache } from './section-cache.js';

export interface LocalTier {
  /** Bytes of sections kept now, and the budget. */
  readonly bytes: number;
  readonly budget: number;
  /** Records one read of these sections (the policy's statistics); returns them as the set to keep. */
  touch(keys: readonly string[]): ReadonlySet<number>;
  /** Keeps the fetched sections of publication `fileId` the policy admits, evicting what makes room (never `keep`, the read's own). */
  keep(fileId: string, got: readonly { key: string; bytes: Uint8Array }[], keep: ReadonlySet<number>): Promise<void>;
  /** Forgets what was kept (a new publication: the cache dropped the old sections itself). */
  reset(): void;
}

/** The tier of `url`, knowing what the cache already holds of publication `fileId`. */
export async function createLocalTier(cache: SectionCache, url: string, fileId: string, budget: number): Promise<LocalTier> {
  let policy: CachePolicy = createPolicy('frequency');
  const numbers = new Map<string, number>();
  const keyOf = new Map<number, string>();
  const numberOf = (key: string) => {
    let n = numbers.get(key);
    if (n === undefined) {
      n = numbers.size;
      numbers.set(key, n);
      keyOf.set(n, key);
    }
    return n;
  };
  const kept = new Map<number, number>();
  let bytes = 0;
  for (const e of await cache.entries(url, fileId).catch(() => [])) {
    const n = numberOf(e.key);
    kept.set(n, e.bytes);
    bytes += e.bytes;
    policy.admit(n, e.bytes);
  }
  return {
    get bytes() {
      return bytes;
    },
    budget,
    touch(keys) {
      const nums = keys.map(numberOf);
      policy.touch(nums);
      return new Set(nums);
    },
    async keep(from, got, keep) {
      if (budget === 0) return;
      // Per fresh section: the victims that make room for it, or none at all (not admitted).
      const admitted: { key: string; bytes: Uint8Array }[] = [];
      const evicted: string[] = [];
      for (const g of got) {
        const n = numberOf(g.key),
          size = g.bytes.byteLength;
        if (kept.has(n) || size > budget) continue;
        const victims = planAdmission(policy, n, kept.keys(), keep, (k) => kept.get(k)!, bytes, size, budget);
        if (!victims) continue;
        for (const v of victims) {
          bytes -= kept.get(v)!;
          kept.delete(v);
          policy.forget(v);
          evicted.push(keyOf.get(v)!);
        }
        kept.set(n, size);
        bytes += size;
        policy.admit(n, size);
        admitted.push(g);
      }
      // Deletes first: the tier never holds more than its budget, even for a moment.
      if (evicted.length) await cache.delete(url, evicted).catch(() => undefined);
      if (admitted.length === 0) return;
      try {
        await cache.put(
          url,
          from,
          admitted.map((g) => ({ key: g.key, data: g.bytes })),
        );
      } catch {
        // A full disk only costs a later fetch: forget what was not stored.
        for (const g of admitted) {
          const n = numberOf(g.key);
          bytes -= kept.get(n) ?? 0;
          kept.delete(n);
          policy.forget(n);
        }
      }
    },
    reset() {
      kept.clear();
      bytes = 0;
      policy = createPolicy('frequency');
    },
  };
}
