// The remote tier against real HTTP (scripts/range-server.mjs behind Vitest's server): an index
// exported from IndexedDB and served with range requests searches exactly as the local one, fetches
// only what it probes, keeps what it fetched in IndexedDB for offline use, never mixes a
// republished file with cached sections, and turns every misbehaviour of a host into a coded
// error that leaves the cache as it was.
import { afterEach, describe, expect } from 'vitest';
import { gaussianMixture, type GpuContext } from '../../src/weft.js';
import { createStoredIndex } from '../../src/stored-index/stored-index.js';
import { exportIndex } from '../../src/storage/portable.js';
import { openRemoteIndex, type RemoteIndex } from '../../src/stored-index/remote-index.js';
import { clearRemoteCache, openSectionCache } from '../../src/storage/remote/section-cache.js';
import { openStore, deleteStore } from '../../src/storage/idb-store.js';
import { exportVersion1 } from '../support/index-file-v1.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';

const dim = 16,
  nlist = 16,
  n = 640;
const cacheDbName = 'weft-remote-test';
const host = (name: string) => `/__weft-range/files/${name}`;
const put = async (name: string, file: Blob) => {
  await fetch(host(name), { method: 'PUT', body: file });
};
const fault = async (name: string, kind: string, times?: number) => {
  await fetch(`/__weft-range/fault/${name}?kind=${kind}${times === undefined ? '' : `&times=${times}`}`, { method: 'POST' });
};
const log = async (name: string, clear = false) =>
  (await (await fetch(`/__weft-range/log/${name}`, clear ? { method: 'DELETE' } : {})).json()) as { start: number; end: number }[];

const words = ['river', 'engine', 'cobalt', 'meadow', 'lantern', 'quartz', 'harbor', 'falcon'];

// Indexes and stores a test opened are closed at the end of its body (before the harness counts
// leaked GPU bytes); the databases go after it.
const opened: { close(): unknown }[] = [];
const dbs: string[] = [];
const closeAll = async () => {
  for (const x of opened.splice(0).reverse()) await x.close();
};
afterEach(async () => {
  await closeAll();
  for (const d of dbs.splice(0)) await deleteStore(d);
  await clearRemoteCache(undefined, cacheDbName);
});
const body = (fn: (ctx: GpuContext) => Promise<void>) => async (ctx: GpuContext) => {
  try {
    await fn(ctx);
  } finally {
    await closeAll();
  }
};

/** A local index of `n` vectors with chunks, and its export served under a fresh name. */
async function published(ctx: GpuContext, storage: 'f32' | 'f16' | 'int8' = 'f32', seed = freshSeed()) {
  const dbName = `weft-remote-src-${crypto.randomUUID()}`;
  dbs.push(dbName);
  const store = await openStore({ dbName });
  opened.push(store);
  const data = gaussianMixture(n, dim, { centers: nlist, seed });
  const built = await createStoredIndex(data, { splitLists: 'oversized', gpu: ctx, store, name: 'docs', dim, nlist, storage, seed, niter: 4 });
  opened.push(built);
  await built.add(data, {
    chunks: Array.from({ length: n }, (_, i) => ({
      docId: `doc-${i % 7}`,
      text: `passage ${i} about the ${words[i % 8]} and the ${words[(i * 3) % 8]}`,
      metadata: { group: i % 4 },
    })),
  });
  const name = `idx-${crypto.randomUUID()}.weft`;
  await put(name, await exportIndex(store, 'docs'));
  return { store, local: built, data, name };
}

const remote = async (name: string, ctx: GpuContext, options: Parameters<typeof openRemoteIndex>[1] = {}): Promise<RemoteIndex> => {
  const r = await openRemoteIndex(host(name), { gpu: ctx, cacheDbName, retryDelayMs: 5, preload: false, ...options });
  opened.push(r);
  return r;
};

const queriesOf = (data: Float32Array, count: number) => data.slice(0, count * dim).map((x, i) => x + 0.01 * Math.sin(i));

describe('an index served over HTTP range requests', () => {
  gpuTest(
    'searches bit for bit as the local index (f32, f16, int8): vectors, filters, keywords, chunks',
    body(async (ctx) => {
      for (const storage of ['f32', 'f16', 'int8'] as const) {
        const { local, data, name } = await published(ctx, storage);
        const r = await remote(name, ctx);
        const q = queriesOf(data, 8);
        for (const nprobe of [1, 4, nlist]) {
          expect(await r.search(q, { k: 10, nprobe })).toEqual(await local.search(q, { k: 10, nprobe }));
        }
        const filter = { metadata: { group: 2 } };
        expect(await r.search(q, { k: 5, nprobe: 2, filter })).toEqual(await local.search(q, { k: 5, nprobe: 2, filter }));
        expect(await r.lexicalSearch('cobalt harbor', { k: 10 })).toEqual(await local.lexicalSearch('cobalt harbor', { k: 10 }));
        expect(await r.chunks([0, 17, 639, 5000])).toEqual(await local.chunks([0, 17, 639, 5000]));
        expect(r.manifest).toMatchObject({ name: 'docs', count: n, dim, storage });
      }
    }),
    { timeout: 240_000 },
  );

  gpuTest(
    'fetches only the lists a search probes, once: later searches of them read IndexedDB or the GPU cache',
    body(async (ctx) => {
      const { data, name } = await published(ctx);
      let probed: number[] = [];
      const r = await remote(name, ctx, {
        onProbe: (l) => {
          probed = l;
        },
      });
      const sections = listRanges(new Uint8Array(await (await fetch(host(name))).arrayBuffer()));
      await log(name, true);
      const q = data.slice(0, dim);
      await r.search(q, { k: 5, nprobe: 3 });
      const requests = await log(name);
      expect(probed).toHaveLength(3);
      // Each probed list's ids and codes are one range; nothing else was read.
      expect(requests.length).toBeLessThanOrEqual(3);
      for (const l of probed)
        expect(
          requests.some((q) => q.start <= sections[l]!.start && q.end >= sections[l]!.end),
          `list ${l} fetched`,
        ).toBe(true);
      const wanted = probed.reduce((a, l) => a + sections[l]!.end - sections[l]!.start, 0);
      expect(requests.reduce((a, q) => a + q.end - q.start, 0)).toBeLessThan(wanted + 3 * 16 * 1024);
      await r.search(q, { k: 5, nprobe: 3 });
      expect(await log(name)).toHaveLength(requests.length);
      // A new page (a new stored index on the same URL, fresh GPU cache) reads them from IndexedDB.
      await r.close();
      const again = await remote(name, ctx);
      await log(name, true);
      await again.search(q, { k: 5, nprobe: 3 });
      expect((await log(name)).filter((x) => x.start > 0)).toEqual([]);
      expect(again.remote.stats().localHits).toBeGreaterThanOrEqual(6);
    }),
  );

  gpuTest(
    "the texts of a vector search's results are one round trip: their records, found through the lists' directories",
    body(async (ctx) => {
      const { local, data, name } = await published(ctx);
      let probed: number[] = [];
      const r = await remote(name, ctx, {
        onProbe: (l) => {
          probed = l;
        },
      });
      const toc = tocOf(new Uint8Array(await (await fetch(host(name))).arrayBuffer()));
      const found = await r.search(data.slice(0, dim), { k: 5, nprobe: 3 });
      const ids = Array.from(found.ids);
      await log(name, true);
      expect(await r.chunks(ids)).toEqual(await local.chunks(ids));
      const requests = await log(name);
      const texts = toc.filter((s) => s.kind === 5);
      expect(requests.length).toBeGreaterThan(0);
      // Every request lies inside a list's chunk texts: no directory page was read first.
      for (const q of requests)
        expect(
          texts.some((s) => q.start >= s.start && q.end <= s.end),
          `request ${q.start}-${q.end} reads chunk texts only`,
        ).toBe(true);
      // A chunk of a list not read (a keyword result, say) comes through its directory page.
      const other = (await local.chunks(Array.from({ length: n }, (_, i) => i))).find((c) => c && !probed.includes(c.list))!.id;
      await log(name, true);
      expect(await r.chunks([other])).toEqual(await local.chunks([other]));
      const pages = toc.filter((s) => s.kind === 6);
      expect((await log(name)).some((x) => pages.some((p) => x.start <= p.start && x.end >= p.end))).toBe(true);
    }),
  );

  gpuTest(
    "a file in layout 2 (before the lists' directories) reads bit for bit too, its texts through the directory pages",
    body(async (ctx) => {
      const { store, local, data, name } = await published(ctx);
      const old = `v2-${name}`;
      await put(old, await exportIndex(store, 'docs', { layout: 2 }));
      const bytes = new Uint8Array(await (await fetch(host(old))).arrayBuffer());
      expect(new DataView(bytes.buffer).getUint32(8, true)).toBe(2);
      expect(tocOf(bytes).some((s) => s.kind === 9)).toBe(false);
      const r = await remote(old, ctx);
      const q = queriesOf(data, 4);
      expect(await r.search(q, { k: 10, nprobe: 4 })).toEqual(await local.search(q, { k: 10, nprobe: 4 }));
      const ids = Array.from((await r.search(q.slice(0, dim), { k: 5, nprobe: 3 })).ids);
      await log(old, true);
      expect(await r.chunks(ids)).toEqual(await local.chunks(ids));
      const pages = tocOf(bytes).filter((s) => s.kind === 6);
      expect((await log(old)).some((x) => pages.some((p) => x.start <= p.start && x.end >= p.end))).toBe(true);
      await expect(exportIndex(store, 'docs', { layout: 4 as 3 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    }),
  );

  gpuTest(
    "a search session reads a slice's lists in prepare(), so that its step (run in a decode gap) sends no request",
    body(async (ctx) => {
      const { local, data, name } = await published(ctx);
      const r = await remote(name, ctx);
      const q = data.slice(0, dim);
      const session = await r.searchSession(q, { k: 5, nprobe: 6 });
      await log(name, true);
      for (let i = 0; i < 3; i++) {
        await session.prepare!(2);
        const read = (await log(name)).length;
        expect(read, `slice ${i}: prepare fetched its lists`).toBeGreaterThan(0);
        await log(name, true);
        const step = await session.step(2);
        expect(await log(name), `slice ${i}: the step sent no request`).toEqual([]);
        expect(step.streamedBytes).toBeGreaterThan(0);
      }
      expect(await session.read()).toEqual(await local.search(q, { k: 5, nprobe: 6 }));
    }),
  );

  gpuTest(
    'a keyword session fetches its term buckets at once, so its steps wait for no round trip',
    body(async (ctx) => {
      const { local, name } = await published(ctx);
      const r = await remote(name, ctx);
      const query = 'cobalt harbor meadow river lantern';
      const warmed: Promise<void>[] = [];
      const warm = r.remote.warmTermBuckets!.bind(r.remote);
      r.remote.warmTermBuckets = (n, b) => {
        const p = warm(n, b);
        warmed.push(p);
        return p;
      };
      await log(name, true);
      const session = await r.lexicalSession(query, { k: 10 });
      expect(warmed).toHaveLength(1);
      await warmed[0];
      expect((await log(name)).length).toBeGreaterThan(0);
      await log(name, true);
      while (!session.done) await session.step(1);
      expect(await log(name)).toEqual([]);
      expect(await session.read()).toEqual(await local.lexicalSearch(query, { k: 10 }));
    }),
  );

  gpuTest(
    'the IndexedDB tier keeps to its byte budget, evicting by the cache policy',
    body(async (ctx) => {
      const { data, name } = await published(ctx);
      const budget = 20_000; // a few of the 16 lists
      const r = await remote(name, ctx, { localBytes: budget });
      await r.search(queriesOf(data, 8), { k: 5, nprobe: nlist });
      const s = r.remote.stats();
      expect(s.localBytes).toBeGreaterThan(0);
      expect(s.localBytes).toBeLessThanOrEqual(budget);
      const cache = await openSectionCache(cacheDbName);
      const kept = await cache.entries(new URL(host(name), location.href).href, r.remote.fileId);
      cache.close();
      expect(kept.reduce((a, e) => a + e.bytes, 0)).toBe(s.localBytes);
    }),
  );

  gpuTest(
    'offline after a first visit: what was cached answers, the rest is REMOTE_UNAVAILABLE naming it',
    body(async (ctx) => {
      const { local, data, name } = await published(ctx);
      const q = data.slice(0, dim);
      const first = await remote(name, ctx);
      const answer = await first.search(q, { k: 5, nprobe: 2 });
      const texts = await first.chunks(Array.from(answer.ids).slice(0, 3));
      await first.close();
      await fault(name, 'down');
      const off = await remote(name, ctx);
      expect(off.remote.offline).toBe(true);
      expect(await off.search(q, { k: 5, nprobe: 2 })).toEqual(answer);
      expect(await off.chunks(Array.from(answer.ids).slice(0, 3))).toEqual(texts);
      const err = await off.search(q, { k: 5, nprobe: nlist }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'REMOTE_UNAVAILABLE', message: expect.stringMatching(/list \d+.*not cached/) });
      // Back online, the same search completes and equals the local one.
      await fault(name, 'none');
      expect(await off.search(q, { k: 5, nprobe: nlist })).toEqual(await local.search(q, { k: 5, nprobe: nlist }));
    }),
  );

  gpuTest(
    'a republished file is never mixed with cached sections: the call that notices is REMOTE_CHANGED, the next reads the new file',
    body(async (ctx) => {
      const a = await published(ctx);
      const r = await remote(a.name, ctx);
      const q = a.data.slice(0, dim);
      await r.search(q, { k: 5, nprobe: 2 });
      // The same URL now holds another index (other vectors, other chunks).
      const b = await published(ctx, 'f32', freshSeed() + 1);
      await put(a.name, await exportIndex(b.store, 'docs'));
      const oldFile = r.remote.fileId;
      const err = await r.search(q, { k: 5, nprobe: nlist }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'REMOTE_CHANGED' });
      expect(r.remote.fileId).not.toBe(oldFile);
      // The old publication's sections are gone from IndexedDB.
      const cache = await openSectionCache(cacheDbName);
      const url = new URL(host(a.name), location.href).href;
      expect((await cache.file(url))?.fileId).toBe(r.remote.fileId);
      expect(await cache.entries(url, oldFile)).toEqual([]);
      cache.close();
      // The same open index now answers from the new file (its GPU cache and centroids adopted), as a fresh open does.
      const expected = await b.local.search(q, { k: 5, nprobe: nlist });
      expect(await r.search(q, { k: 5, nprobe: nlist })).toEqual(expected);
      expect(await r.chunks(Array.from(expected.ids))).toEqual(await b.local.chunks(Array.from(expected.ids)));
      expect(await (await remote(a.name, ctx)).search(q, { k: 5, nprobe: nlist })).toEqual(expected);
    }),
  );

  gpuTest(
    'a host that drops connections, cuts bodies short, ignores Range or flips bytes: retried or coded, nothing bad cached',
    body(async (ctx) => {
      const { local, data, name } = await published(ctx);
      const q = data.slice(0, dim);
      const expected = await local.search(q, { k: 5, nprobe: nlist });
      const r = await remote(name, ctx);
      // Once: retried, and the answer is right.
      await fault(name, 'drop', 1);
      await log(name, true);
      expect(await r.search(q, { k: 5, nprobe: 1 })).toEqual(await local.search(q, { k: 5, nprobe: 1 }));
      expect((await log(name)).length).toBeGreaterThanOrEqual(2);
      // Always: coded errors, each time nothing cached for those lists.
      for (const [kind, code] of [
        ['drop', 'REMOTE_UNAVAILABLE'],
        ['short', 'REMOTE_UNAVAILABLE'],
        ['full', 'RANGE_UNSUPPORTED'],
        ['tamper', 'CORRUPT_RECORD'],
      ] as const) {
        await fault(name, kind);
        const err = await r.search(q, { k: 5, nprobe: nlist }).catch((e: unknown) => e);
        expect(err, kind).toMatchObject({ name: 'WeftError', code });
      }
      await fault(name, 'none');
      expect(await r.search(q, { k: 5, nprobe: nlist })).toEqual(expected);
      // What IndexedDB holds is exactly the file's bytes: a new page reads it all offline and agrees.
      await r.close();
      await fault(name, 'down');
      const off = await remote(name, ctx);
      expect(await off.search(q, { k: 5, nprobe: nlist })).toEqual(expected);
    }),
  );

  gpuTest(
    'a file in the first layout is refused with UNSUPPORTED_FORMAT (it still imports)',
    body(async (ctx) => {
      const { store } = await published(ctx);
      const name = `v1-${crypto.randomUUID()}.weft`;
      await put(name, await exportVersion1(store, 'docs'));
      await expect(openRemoteIndex(host(name), { gpu: ctx, cacheDbName })).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
      await expect(openRemoteIndex(host('missing.weft'), { gpu: ctx, cacheDbName })).rejects.toMatchObject({
        code: 'REMOTE_UNAVAILABLE',
        message: expect.stringMatching(/404/),
      });
    }),
  );

  gpuTest(
    'writes are refused with READ_ONLY',
    body(async (ctx) => {
      const { data, name } = await published(ctx);
      const r = await remote(name, ctx);
      await expect(r.add(data.slice(0, dim))).rejects.toMatchObject({ code: 'READ_ONLY' });
      await expect(r.deleteDocument('doc-1')).rejects.toMatchObject({ code: 'READ_ONLY' });
    }),
  );
});

/** Where each list's ids and codes (and directory, in layout 3) lie in the file, and the file's sections by kind (from its toc). */
function listRanges(file: Uint8Array): { start: number; end: number }[] {
  return tocOf(file)
    .filter((s) => s.kind === 3)
    .map((ids) => ({
      start: ids.start,
      end: Math.max(
        ...tocOf(file)
          .filter((s) => (s.kind === 4 || s.kind === 9) && s.key === ids.key)
          .map((s) => s.end),
      ),
    }));
}

function tocOf(file: Uint8Array): { kind: number; key: number; start: number; end: number }[] {
  const view = new DataView(file.buffer);
  const headerLength = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(20, 20 + headerLength))) as { toc: { length: number } };
  const body = 20 + headerLength + ((4 - (headerLength % 4)) % 4);
  const toc = new Uint32Array(file.slice(body, body + header.toc.length).buffer);
  const out: { kind: number; key: number; start: number; end: number }[] = [];
  for (let i = 0; i < toc.length; i += 6) {
    const [kind, key, lo, hi, length] = [toc[i]!, toc[i + 1]!, toc[i + 2]!, toc[i + 3]!, toc[i + 4]!];
    const start = body + lo + hi * 2 ** 32;
    out.push({ kind, key, start, end: start + length });
  }
  return out;
}
