// The RAG runtime over a published index: a site ingests its documents, exports the index and
// serves the file; a reader's runtime — createRag on a RemoteStore, or the engine worker with
// `remote` — answers searches exactly as the site's own runtime does, fetching lists, chunk texts
// and term buckets by range requests, and refuses to ingest into it (READ_ONLY).
import { afterAll, describe, expect, test } from 'vitest';
import type { Passage, TraceStage } from '../../src/runtime/types.js';
import { createRag } from '../../src/runtime/rag.js';
import { createOnnxEmbedder } from '../../src/embed/onnx-embedder.js';
import { createGpuContext } from '../../src/gpu/context.js';
import { deleteStore, openStore } from '../../src/store/idb-store.js';
import { exportIndex } from '../../src/store/portable.js';
import { openRemoteStore, type RemoteStore } from '../../src/remote/remote-store.js';
import { clearRemoteCache } from '../../src/remote/section-cache.js';
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
  const embedder = await createOnnxEmbedder({ ...w.embedder, model: embeddingGraph(), tokenizer: w.embedder.tokenizer as object, tokenizerConfig: w.embedder.tokenizerConfig as object, cache: false });
  const rag = await createRag({ store, indexName, embedder, gpu, create: false });
  return { rag, dispose: async () => { await rag.close(); await embedder.destroy(); gpu.destroy(); } };
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
        for (const mode of ['hybrid', 'vector', 'lexical'] as const) expect(shape(await rag.search(q, { k: 5, mode })), `${q}/${mode}`).toEqual(expected.get(`${q}/${mode}`));
      }
      expect(shape(await rag.search(questions[0]!, { k: 5, filter: { metadata: { group: 2 } } }))).toEqual(expected.get('filtered'));
      await expect(rag.ingest([{ id: 'new', text: 'A new note.' }])).rejects.toMatchObject({ code: 'READ_ONLY' });
      expect(store.stats().requests).toBeGreaterThan(1);
    } finally {
      await dispose();
      store.close();
    }
  });

  test('a hybrid search asks for its best keyword hits\' texts before the vector side ends, so they travel meanwhile', async () => {
    const remote = await openRemoteStore(url, { cacheDbName });
    const calls: string[] = [];
    const store = Object.create(remote, {
      warmChunks: { value: async (n: string, ids: readonly number[]) => { calls.push(`warm ${ids.join(',')}`); return remote.warmChunks(n, ids); } },
      readChunks: { value: async (n: string, ids: readonly number[]) => { calls.push(`read ${ids.join(',')}`); return remote.readChunks(n, ids); } },
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
