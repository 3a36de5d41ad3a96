// The KV tier's IndexedDB side in real IndexedDB, without a model: two tiers on one database (as
// two tabs) writing at once stay within the byte budget with records and their metadata agreeing;
// one reads what the other wrote; a record whose checksum fails is deleted and reported; deleting
// the database from elsewhere is not blocked by an open tier, which goes on afterwards.
import { describe, expect, test } from 'vitest';
import { deleteDB } from 'idb';
import { createKvTier, openKvDatabase, type KvBytes } from '../../src/rerank/kv-tier.js';

interface Snap {
  tokens: number[];
  data: Uint8Array;
}
const codec = {
  bytes: (s: Snap) => s.data.byteLength,
  toBytes: async (s: Snap): Promise<KvBytes> => ({ tokens: s.tokens.slice(), data: s.data.slice().buffer }),
  fromBytes: (b: KvBytes): Snap => ({ tokens: b.tokens.slice(), data: new Uint8Array(b.data) }),
  release: () => undefined,
};
const snap = (i: number, size = 1000): Snap => ({ tokens: [i, i + 1], data: Uint8Array.from({ length: size }, (_, j) => (i * 31 + j) & 255) });

describe('KV tier in IndexedDB', () => {
  test('two tiers on one database writing at once keep its byte budget; each reads what the other wrote; a tampered record is deleted and reported', async () => {
    const name = `weft-kv-tier-test-${Date.now()}`;
    const opts = { database: name, gpuBytes: 0, idbBytes: 5000 };
    const a = createKvTier(codec, opts),
      b = createKvTier(codec, opts);
    try {
      for (let i = 0; i < 10; i++) {
        a.put(`a${i}`, snap(i));
        b.put(`b${i}`, snap(100 + i));
      }
      await Promise.all([a.flush(), b.flush()]);
      const db = await openKvDatabase(name);
      const metas = await db.getAll('meta');
      expect(metas.reduce((s, m) => s + m.bytes, 0)).toBeLessThanOrEqual(5000);
      expect(metas.length).toBe(5);
      expect((await db.getAllKeys('kv')).sort()).toEqual(metas.map((m) => m.key).sort());
      expect(a.stats().idbEvictions + b.stats().idbEvictions).toBe(15);
      // The newest writes survive; a tier reads the other's records, byte for byte.
      const kept = metas.map((m) => m.key);
      const fromA = kept.find((k) => k.startsWith('a')),
        fromB = kept.find((k) => k.startsWith('b'));
      for (const [tier, key] of [
        [b, fromA],
        [a, fromB],
      ] as const) {
        if (!key) continue;
        const i = Number(key.slice(1)) + (key.startsWith('b') ? 100 : 0);
        const got = await tier.get(key);
        expect(got?.snapshot.tokens).toEqual([i, i + 1]);
        expect(got?.snapshot.data).toEqual(snap(i).data);
      }
      // One byte of a record flipped: a miss, counted, and the record gone.
      const victim = kept[0]!;
      const rec = (await db.get('kv', victim))!;
      new Uint8Array(rec.data)[3]! ^= 1;
      await db.put('kv', rec);
      const c = createKvTier(codec, opts);
      expect(await c.get(victim)).toBeUndefined();
      await c.flush();
      expect(c.stats()).toMatchObject({ corrupt: 1, misses: 1 });
      expect(await db.get('kv', victim)).toBeUndefined();
      expect(await db.get('meta', victim)).toBeUndefined();
      await c.close();
      db.close();
    } finally {
      await a.close();
      await b.close();
    }
    // An open tier does not block deleting its database; it goes on (recreating it) afterwards.
    const d = createKvTier(codec, opts);
    d.put('x', snap(7));
    await d.flush();
    await deleteDB(name);
    expect(await d.get('x')).toBeUndefined();
    d.put('x', snap(7));
    await d.flush();
    expect(d.stats().idbWrites).toBe(2);
    await d.close();
    await deleteDB(name);
  });
});
