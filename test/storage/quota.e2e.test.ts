// Storage behaviour that needs real pages: Chromium's real quota (set through the DevTools
// protocol on a fresh origin, before its first IndexedDB use, which is when Chromium applies it).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startFixture, type Fixture } from '../support/fixture-server.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await startFixture();
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

test('a commit beyond the storage quota fails with STORAGE_FULL and loses nothing stored before', async () => {
  const context = await fx.browser.newContext();
  const blank = await context.newPage();
  const cdp = await context.newCDPSession(blank);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(fx.url).origin, quotaSize: 4 * 1024 * 1024 });
  const page = await fx.page(context);
  const result = await page.evaluate(async () => {
    const { store } = (window as unknown as { weft: { store: typeof import('../../src/storage/idb-store.js') } }).weft;
    const words = (n: number) => {
      const a = new Uint32Array(n);
      for (let i = 0; i < n; i += 16384) crypto.getRandomValues(a.subarray(i, i + 16384));
      return a;
    };
    const list = (l: number, count: number) => ({ list: l, count, ids: words(count).map((x) => x >>> 1), codes: words(count * 8) });
    const s = await store.openStore({ dbName: 'quota' });
    const m0 = await s.createIndex({ name: 'idx', dim: 8, metric: 'l2', storage: 'f32', nlist: 4, centroids: new Float32Array(32).fill(0.5) });
    const kept = list(0, 3000); // ~100 KB: fits
    const m1 = await s.commit('idx', m0.generation, { lists: [kept], countDelta: 3000, putChunks: [{ id: 1, list: 0, docId: 'd', text: 'kept' }] });
    let error: { code?: string | undefined; message?: string } | undefined;
    try {
      await s.commit('idx', m1.generation, { lists: [1, 2, 3].map((l) => list(l, 64 * 1024)), countDelta: 3 * 64 * 1024 }); // 3 x 2.25 MB
    } catch (e) {
      error = { code: (e as { code?: string }).code, message: (e as Error).message };
    }
    const after = await s.manifest('idx');
    const [back] = await s.readLists('idx', [0]);
    const same = back!.count === kept.count && back!.ids.every((v, i) => v === kept.ids[i]) && back!.codes.every((v, i) => v === kept.codes[i]);
    const chunk = (await s.readChunks('idx', [1]))[0];
    const [l1] = await s.readLists('idx', [1]);
    s.close();
    return { error, count: after.count, generation: after.generation, expectedGeneration: m1.generation, same, chunk: chunk?.text, l1: l1!.count };
  });
  expect(result.error?.code).toBe('STORAGE_FULL');
  expect(result.error?.message).toMatch(/quota/);
  expect(result).toMatchObject({ count: 3000, generation: result.expectedGeneration, same: true, chunk: 'kept', l1: 0 });
  await context.close();
}, 120_000);
