// The rerankers' shared bookkeeping in Node: sessions (batches claimed once, in any order of
// calls; a failed batch retried; abort), rerank()'s ordering, and the KV tier's first tier (byte
// budget, eviction by hotness, releases) with no IndexedDB.
import { describe, expect, test } from 'vitest';
import { createBatchedSession, rerank, type Reranker } from '../../src/rerank/types.js';
import { createKvTier } from '../../src/rerank/kv-tier.js';

describe('rerank sessions', () => {
  test('overlapping steps claim distinct batches; every passage is scored once; a failed batch is retried', async () => {
    const calls: [number, number][] = [];
    let fail = true;
    const s = createBatchedSession(
      7,
      3,
      async (from, to) => {
        calls.push([from, to]);
        await new Promise((r) => setTimeout(r, 5 * (3 - from / 3)));
        if (from === 3 && fail) {
          fail = false;
          throw new Error('lost device');
        }
        return Array.from({ length: to - from }, (_, i) => (from + i) * 10);
      },
      () => undefined,
      {},
    );
    const results = await Promise.allSettled([s.step(), s.step(), s.step(), s.step()]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(s.done).toBe(false);
    expect(Number.isNaN(s.read()[4]!)).toBe(true);
    expect(await s.step()).toEqual({ scored: 3, done: true });
    expect(Array.from(s.read())).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(calls.map((c) => c[0]).sort()).toEqual([0, 3, 3, 6]);
    expect(await s.step()).toEqual({ scored: 0, done: true });
  });

  test('an aborted session refuses its next step with ABORTED; rerank() sorts by score, ties in the given order', async () => {
    const ac = new AbortController();
    const s = createBatchedSession(
      2,
      1,
      async () => [1],
      () => undefined,
      { signal: ac.signal },
    );
    await s.step();
    ac.abort();
    await expect(s.step()).rejects.toMatchObject({ code: 'ABORTED' });
    const scores = [0.5, 2, 0.5, -1];
    const fake: Reranker = {
      id: 'fake',
      kind: 'decoder',
      close: async () => undefined,
      session: (_q, passages, o) =>
        createBatchedSession(
          passages.length,
          2,
          async (from, to) => scores.slice(from, to),
          () => undefined,
          o ?? {},
        ),
    };
    const ranked = await rerank(fake, 'q', [
      { id: 7, text: 'a' },
      { id: 8, text: 'b' },
      { id: 9, text: 'c' },
      { id: 10, text: 'd' },
    ]);
    expect(ranked).toEqual([
      { id: 8, score: 2 },
      { id: 7, score: 0.5 },
      { id: 9, score: 0.5 },
      { id: 10, score: -1 },
    ]);
  });
});

describe('KV tier (first tier only)', () => {
  const codec = () => {
    const released: string[] = [];
    return {
      released,
      codec: {
        bytes: (s: { name: string; size: number }) => s.size,
        toBytes: async (s: { name: string; size: number }) => ({ tokens: [s.size], data: new ArrayBuffer(s.size) }),
        fromBytes: (b: { tokens: number[] }) => ({ name: 'from-bytes', size: b.tokens[0]! }),
        release: (s: { name: string; size: number }) => {
          released.push(s.name);
        },
      },
    };
  };

  test('holds at most its byte budget, evicts the coldest (hotness) and releases exactly what it evicts; close releases the rest', async () => {
    const { codec: c, released } = codec();
    const tier = createKvTier(c, { gpuBytes: 300, database: false });
    const snap = (name: string, size = 100) => ({ name, size });
    expect(await tier.get('a')).toBeUndefined();
    expect(tier.put('a', snap('a'))).toBe(true);
    tier.put('b', snap('b'));
    tier.put('c', snap('c'));
    // 'a' is asked for often, 'b' once: 'b' goes when 'd' comes.
    for (let i = 0; i < 3; i++) {
      tier.touch(['a']);
      expect((await tier.get('a', { touch: false }))?.snapshot.name).toBe('a');
    }
    tier.touch(['d']);
    expect(await tier.get('d', { touch: false })).toBeUndefined();
    expect(tier.put('d', snap('d'))).toBe(true);
    expect(released).toEqual(['b']);
    expect(tier.stats()).toMatchObject({ gpuEntries: 3, gpuBytes: 300, gpuEvictions: 1, gpuHits: 3, misses: 2 });
    expect(tier.put('huge', snap('huge', 301))).toBe(false); // over the whole budget: the caller keeps it
    expect(tier.stats().gpuEntries).toBe(3);
    await tier.close();
    expect(released.sort()).toEqual(['a', 'b', 'c', 'd']);
    await expect(tier.get('a')).rejects.toMatchObject({ code: 'DESTROYED' });
    expect(() => createKvTier(c, { gpuBytes: -1, database: false })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});
