// The RAG runtime over a published index: a site ingests its documents, exports the index and
// serves the file; a reader's runtime — createRag on a RemoteStore, or the engine worker with
// `remote` — answers searches exactly as the site's own runtime does, fetching lists, chunk texts
// and term buckets by range requests, and refuses to ingest into it (READ_ONLY).
import { afterAll, describe, expect, test } from 'vitest';
import type { Passage, TraceStage } from '../../src/runtime/types.js';
import { createRag } from '../../src/runtime/rag.js';
import { createOnnxEmbedder } from '../../src/embed/onnx-embedder.js';
import { createGpuContext } from '../../src/gpu/context.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
import { exportIndex } from '../../src/storage/portable.js';
import { openRemoteStore, type RemoteStore } from '../../src/storage/remote/remote-store.js';
import { clearRemoteCache } from '../../src/storage/remote/section-cache.js';
import { cranfieldAbstracts, embeddingGraph, openLocalRag, openWorkerRag, workerOptions } from '../support/rag-runtimes.js';

const cacheDbName = 'weft-remote-rag-test';
const dbName = `weft-remote-rag-${crypto.randomUUID()}`;
const file = `papers-${crypto.randomUUID()}.weft`;
const url = new URL(`/__weft-range/files/${file}`, location.href).href;
const questions = ['boundary layer transition on a flat plate', 'supersonic flow over a cone', 'heat transfer in hypersonic flow'];
const shape = (ps: readonly Passage[]) => ps.map((p) => ({ id: p.id, score: p.score, docId: p.docId, text: p.text, metadata: p.metadata }));
const expected = new Map<string, ReturnType<typeof shape>>();

afterAll(async () => {
  await deleteStore(dbName);
  await clearRemoteCache(undefined, cacheDbName);
});

/** createRag on `store` (a RemoteStore, or one wrapping it) with the site's embedder; dispose() releases all of it. */
async function readerOn(store: RemoteStore, indexName: string) {
  const gpu = await createGpuContext();
  const w = await workerOptions(dbName);
  const embedder = await createOnnxEmbedder({
    ...w.embedder,
    model: embeddingGraph(),
    tokenizer: w.embedder.tokenizer as object,
    tokenizerConfig: w.embedder.tokenizerConfig as object,
    cache: false,
  });
  const rag = await createRag({ store, indexName, embedder, gpu, create: false });
  return {
    rag,
    dispose: async () => {
      await rag.close();
      await embedder.destroy();
      gpu.destroy();
    },
  };
}

describe('a published index through the runtime', () => {
  test('the site ingests, exports and serves its index', async () => {
    const site = await openLocalRag(dbName);
    try {
      const docs = (await cranfieldAbstracts()).slice(0, 150).map((text, i) => ({ id: `cran-${i}`, text, metadata: { group: i % 3 } }));
      await site.rag.ingest(docs);
      for (const q of questions) {
        for (const mode of ['hybrid', 'vector', 'lexical'] as const) expected.set(`${q}/${mode}`, shape(await site.rag.search(q, { k: 5, mode })));
      }
      expected.set('filtered', shape(await site.rag.search(questions[0]!, { k: 5, filter: { metadata: { group: 2 } } })));
    } finally {
      await site.dispose();
    }
    const store = await openStore({ dbName });
    try {
      await fetch(`/__weft-range/files/${file}`, { method: 'PUT', body: await exportIndex(store, 'papers') });
    } finally {
      store.close();
    }
  });

  test('createRag on a RemoteStore searches as the site does; ingest is READ_ONLY', async () => {
    const store = await openRemoteStore(url, { cacheDbName });
    const { rag, dispose } = await readerOn(store, store.indexName);
    try {
      for (const q of questions) {
        for (const mode of ['hybrid', 'vector', 'lexical'] as const)
          expect(shape(await rag.search(q, { k: 5, mode })), `${q}/${mode}`).toEqual(expected.get(`${q}/${mode}`));
      }
      expect(shape(await rag.search(questions[0]!, { k: 5, filter: { metadata: { group: 2 } } }))).toEqual(expected.get('filtered'));
      await expect(rag.ingest([{ id: 'new', text: 'A new note.' }])).rejects.toMatchObject({ code: 'READ_ONLY' });
      expect(store.stats().requests).toBeGreaterThan(1);
    } finally {
      await dispose();
      store.close();
    }
  });

  test("a hybrid search asks for its best keyword hits' texts before the vector side ends, so they travel meanwhile", async () => {
    const remote = await openRemoteStore(url, { cacheDbName });
    const calls: string[] = [];
    const store = Object.create(remote, {
      warmChunks: {
        value: async (n: string, ids: readonly number[]) => {
          calls.push(`warm ${ids.join(',')}`);
          return remote.warmChunks(n, ids);
        },
      },
      readChunks: {
        value: async (n: string, ids: readonly number[]) => {
          calls.push(`read ${ids.join(',')}`);
          return remote.readChunks(n, ids);
        },
      },
    }) as typeof remote;
    const { rag, dispose } = await readerOn(store, remote.indexName);
    try {
      const q = questions[1]!;
      expect(shape(await rag.search(q, { k: 5, mode: 'hybrid' }))).toEqual(expected.get(`${q}/hybrid`));
      const words = expected.get(`${q}/lexical`)!.map((p) => p.id);
      expect(calls[0]).toBe(`warm ${words.join(',')}`);
      expect(calls[1]).toMatch(/^read /);
    } finally {
      await dispose();
      remote.close();
    }
  });

  test('a host that stalls: a search whose signal aborts ends at once (each mode), the next one answers, and close() never waits', async () => {
    const fault = (kind: string) => fetch(`/__weft-range/fault/${file}?kind=${kind}&from=1`, { method: 'POST' });
    const settle = async (p: Promise<unknown>) => {
      const t0 = performance.now();
      try {
        await p;
        return { ms: performance.now() - t0, code: 'none' };
      } catch (e) {
        return { ms: performance.now() - t0, code: (e as { code?: string }).code };
      }
    };
    const afterMs = (ms: number) => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), ms);
      return ac.signal;
    };
    // Nothing cached (a database of its own), and a stall timeout far past the test: only the signal can end the wait.
    const cacheDb = `${cacheDbName}-stall-${crypto.randomUUID()}`;
    const store = await openRemoteStore(url, { cacheDbName: cacheDb, stallMs: 120_000, localBytes: 0 });
    const { rag, dispose } = await readerOn(store, store.indexName);
    try {
      await fault('stall-body');
      for (const mode of ['hybrid', 'vector', 'lexical'] as const) {
        const r = await settle(rag.search(questions[0]!, { k: 5, mode, signal: afterMs(300) }));
        expect(r, mode).toMatchObject({ code: 'ABORTED' });
        expect(r.ms, mode).toBeLessThan(300 + 1500);
      }
      await fault('none');
      expect(shape(await rag.search(questions[0]!, { k: 5 }))).toEqual(expected.get(`${questions[0]}/hybrid`));
      // A search in flight on a stalled host, then close: it ends ABORTED, close returns.
      await fault('stall-body');
      const pending = settle(rag.search(questions[2]!, { k: 5, mode: 'vector' }));
      await new Promise((r) => setTimeout(r, 300));
      const closed = await settle(rag.close());
      expect(closed).toMatchObject({ code: 'none' });
      expect(closed.ms).toBeLessThan(1500);
      expect((await pending).code).toBe('ABORTED');
    } finally {
      await fault('none');
      await dispose();
      store.close();
      await clearRemoteCache(undefined, cacheDb);
    }
  });

  test('a host that stalls, through the engine worker: an answer whose signal aborts ends at once, and the next one answers', async () => {
    const fault = (kind: string) => fetch(`/__weft-range/fault/${file}?kind=${kind}&from=1`, { method: 'POST' });
    const cacheDb = `${cacheDbName}-stall-worker-${crypto.randomUUID()}`;
    const reader = await openWorkerRag(`unused-${crypto.randomUUID()}`, {
      options: { remote: { url, cacheDbName: cacheDb, stallMs: 120_000, localBytes: 0 }, indexName: 'anything' },
    });
    try {
      await fault('stall-body');
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 300);
      const t0 = performance.now();
      let ended: string;
      try {
        for await (const e of reader.rag.generate('shock waves in a nozzle', { k: 3, maxTokens: 2, signal: ac.signal }))
          if (e.type === 'done') ended = e.finishReason;
        ended ??= 'no done event';
      } catch (e) {
        ended = (e as { code?: string }).code ?? String(e);
      }
      expect(['ABORTED', 'abort']).toContain(ended);
      expect(performance.now() - t0).toBeLessThan(300 + 2000);
      await fault('none');
      expect(shape(await reader.rag.search(questions[1]!, { k: 5 }))).toEqual(expected.get(`${questions[1]}/hybrid`));
    } finally {
      await fault('none');
      await reader.dispose();
      await clearRemoteCache(undefined, cacheDb);
    }
  });

  test('the engine worker with `remote` searches as the site does', async () => {
    const reader = await openWorkerRag(`unused-${crypto.randomUUID()}`, { options: { remote: { url, cacheDbName }, indexName: 'anything' } });
    try {
      for (const q of questions) expect(shape(await reader.rag.search(q, { k: 5 })), q).toEqual(expected.get(`${q}/hybrid`));
      expect((await reader.rag.info()).indexName).toBe('papers');
      // An answer: the question is embedded and its lists start downloading before the keyword
      // search's term buckets are read, not after (TeleRAG's lookahead over the slowest tier).
      let stages: TraceStage[] = [];
      for await (const e of reader.rag.generate('shock waves in a nozzle', { k: 3, maxTokens: 2 })) if (e.type === 'trace') stages = e.stages;
      const embed = stages.find((st) => st.kind === 'embed')!;
      const lexical = stages.filter((st) => st.kind === 'lexical');
      expect(lexical.length).toBeGreaterThan(0);
      expect(embed.start).toBeLessThanOrEqual(Math.min(...lexical.map((st) => st.start)));
      expect(stages.some((st) => st.kind === 'prefetch')).toBe(true);
    } finally {
      await reader.dispose();
    }
  });
});
