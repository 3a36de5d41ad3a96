// The byte budget of a remote index's IndexedDB tier: which fetched sections are kept there and
// which go when it is full, decided by the same replacement policy as the GPU list cache (the
// sections are numbered for it). The section cache (section-cache.ts) stores; this decides.

import { createPolicy, type CachePolicy } from '../cache/policy.js';
import type { SectionCache } from './section-cache.js';

export interface LocalTier {
  /** Bytes of sections kept now, and the budget. */
  readonly bytes: number;
  readonly budget: number;
  /** Records one read of these sections (the policy's statistics); returns them as the set to keep. */
  touch(keys: readonly string[]): ReadonlySet<number>;
  /** Keeps fetched sections of publication `fileId`, then evicts down to the budget (`keep`, the read's own, last). */
  keep(fileId: string, got: readonly { key: string; bytes: Uint8Array }[], keep: ReadonlySet<number>): Promise<void>;
  /** Forgets what was kept (a new publication: the cache dropped the old sections itself). */
  reset(): void;
}

/** The tier of `url`, knowing what the cache already holds of publication `fileId`. */
export async function createLocalTier(cache: SectionCache, url: string, fileId: string, budget: number): Promise<LocalTier> {
  let policy: CachePolicy = createPolicy('hotness');
  const numbers = new Map<string, number>();
  const keyOf = new Map<number, string>();
  const numberOf = (key: string) => {
    let n = numbers.get(key);
    if (n === undefined) { n = numbers.size; numbers.set(key, n); keyOf.set(n, key); }
    return n;
  };
  const kept = new Map<number, number>();
  let bytes = 0;
  for (const e of await cache.entries(url, fileId).catch(() => [])) {
    const n = numberOf(e.key);
    kept.set(n, e.bytes);
    bytes += e.bytes;
    policy.admit(n);
  }
  return {
    get bytes() { return bytes; },
    budget,
    touch(keys) {
      const nums = keys.map(numberOf);
      policy.touch(nums);
      return new Set(nums);
    },
    async keep(from, got, keep) {
      const fresh = got.filter((g) => !kept.has(numberOf(g.key)) && g.bytes.byteLength <= budget);
      if (budget === 0 || fresh.length === 0) return;
      try {
        await cache.put(url, from, fresh.map((g) => ({ key: g.key, data: g.bytes })));
      } catch { return; /* a full disk only costs a later fetch */ }
      for (const g of fresh) {
        const n = numberOf(g.key);
        kept.set(n, g.bytes.byteLength);
        bytes += g.bytes.byteLength;
        policy.admit(n);
      }
      if (bytes <= budget) return;
      // Others first; then, for a read larger than the budget, its own coldest sections too.
      const out: string[] = [];
      for (const v of [...policy.victims(kept.keys(), keep), ...policy.victims([...keep].filter((k) => kept.has(k)), new Set())]) {
        if (bytes <= budget) break;
        if (!kept.has(v)) continue;
        bytes -= kept.get(v)!;
        kept.delete(v);
        policy.forget(v);
        out.push(keyOf.get(v)!);
      }
      await cache.delete(url, out).catch(() => undefined);
    },
    reset() {
      kept.clear();
      bytes = 0;
      policy = createPolicy('hotness');
    },
  };
}
