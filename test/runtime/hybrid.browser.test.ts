// Lexical and hybrid retrieval through the runtime, on the main thread (createRag) and in the
// engine worker (createRagInWorker): a rare code that only the words find is found by 'lexical'
// and 'hybrid'; hybrid equals the default fusion (adaptive weights) of the two rankings (computed
// here from the 'vector' and 'lexical' searches), the same on the page and in the worker; 'hybrid' is the default; filters hold on both sides; generate
// traces its lexical sub-stages; a reranker reorders the candidates before the top k are kept.
import { describe, expect, test } from 'vitest';
import { createRagInWorker } from '../../src/transport/client.js';
import { fuse } from '../../src/runtime/fusion.js';
import { createBatchedSession, rerank, type Reranker } from '../../src/rerank/types.js';
import { createLlama2cReranker } from '../../src/rerank/llama2c-reranker.js';
import type { Passage, RagEvent } from '../../src/runtime/types.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { cranfieldAbstracts, openLocalRag, ragRuntimes, reference, workerOptions } from '../support/rag-runtimes.js';

/** 120 Cranfield abstracts and one note holding a part code no abstract has. */
async function corpus() {
  const docs = (await cranfieldAbstracts()).slice(0, 120).map((text, i) => ({ id: `cran-${i}`, text, metadata: { group: i % 4 } }));
  docs.splice(57, 0, { id: 'parts.md', text: 'The wing root fairing uses bracket XQ7731 with two titanium bolts.', metadata: { group: 1 } });
  return docs;
}

/** Lists the docIds of passages. */
const docs = (ps: readonly Passage[]) => ps.map((p) => p.docId);

/** Scores a passage by how many of the query's words it holds (a reranker any app could write). */
const wordOverlap: Reranker = {
  id: 'word-overlap',
  kind: 'cross-encoder',
  session(query, passages, options) {
    const words = new Set(query.toLowerCase().split(/\W+/).filter(Boolean));
    const score = async (from: number, to: number) =>
      passages.slice(from, to).map(
        (p) =>
          p.text
            .toLowerCase()
            .split(/\W+/)
            .filter((w) => words.has(w)).length,
      );
    return createBatchedSession(passages.length, 1, score, () => undefined, options ?? {});
  },
  async close() {},
};

const runtimes = ragRuntimes({ local: { reranker: wordOverlap } });

const results = new Map<string, unknown>();

describe.each(runtimes)('lexical and hybrid retrieval: %s', (name, open) => {
  test('a rare code is found by its words; hybrid is the default fusion of both rankings, and the default mode; filters hold; generate traces lexical sub-stages', async () => {
    const dbName = `weft-hybrid-${crypto.randomUUID()}`;
    const { rag, dispose } = await open(dbName);
    try {
      const { chunks } = await rag.ingest(await corpus());
      const nlist = (await rag.info()).nlist!;
      const code = 'Which bracket is XQ7731?';
      const lexical = await rag.search(code, { k: 3, mode: 'lexical' });
      expect(lexical[0]!.docId).toBe('parts.md');
      expect(lexical[0]!.score).toBe(lexical[0]!.scores.lexical);
      expect(lexical.map((p) => p.citation)).toEqual(lexical.map((_, i) => i + 1));
      const hybrid = await rag.search(code, { k: 3, nprobe: nlist });
      expect(docs(hybrid)).toContain('parts.md');

      // Hybrid = the default fusion of each side's top 50 (k = 3 ranks max(2k, 50) candidates per
      // side), its agreement discounted by the index's size.
      const query = 'pressure distribution on a slender body at supersonic speed';
      const vectorTop = await rag.search(query, { k: 50, nprobe: nlist, mode: 'vector' });
      const lexicalTop = await rag.search(query, { k: 50, mode: 'lexical' });
      const fused = fuse(
        { ids: vectorTop.map((p) => p.id), scores: vectorTop.map((p) => p.score), better: 'higher' },
        { ids: lexicalTop.map((p) => p.id), scores: lexicalTop.map((p) => p.score), better: 'higher' },
        3,
        undefined,
        (await rag.info()).size,
      );
      const got = await rag.search(query, { k: 3, nprobe: nlist, mode: 'hybrid' });
      expect(got.map((p) => p.id)).toEqual(fused.map((f) => f.id));
      got.forEach((p, i) => {
        expect(p.score).toBeCloseTo(fused[i]!.score, 12);
        expect(p.scores.fused).toBe(p.score);
      });
      expect((await rag.search(query, { k: 3, nprobe: nlist })).map((p) => p.id)).toEqual(got.map((p) => p.id));

      // A filter holds on both sides: k passages, all matching.
      for (const mode of ['lexical', 'hybrid'] as const) {
        const only = await rag.search(query, { k: 4, mode, filter: { metadata: { group: 2 } } });
        expect(only.length).toBe(4);
        expect(only.every((p) => p.metadata.group === 2)).toBe(true);
      }
      await expect(rag.search(query, { mode: 'bm25' as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      expect(chunks).toBeGreaterThan(100);

      // generate: the part code's note is retrieved by its words; the trace has the lexical sub-stages.
      const events: RagEvent[] = [];
      for await (const e of rag.generate(code, { k: 2, maxTokens: 4, mode: 'lexical' })) events.push(e);
      const retrieval = events.find((e): e is Extract<RagEvent, { type: 'retrieval' }> => e.type === 'retrieval')!;
      expect(retrieval.passages[0]!.docId).toBe('parts.md');
      const trace = events.find((e): e is Extract<RagEvent, { type: 'trace' }> => e.type === 'trace')!;
      expect(trace.stages.some((s) => s.kind === 'lexical')).toBe(true);
      expect(trace.stages.some((s) => s.kind === 'embed' || s.kind === 'search')).toBe(false);
      results.set(name, { lexical: lexical.map((p) => p.id), hybrid: got.map((p) => p.id) });
    } finally {
      await dispose();
      await deleteStore(dbName);
    }
  }, 300_000);
});

test('the main thread and the worker rank the same passages', () => {
  const [main, worker] = runtimes.map(([n]) => results.get(n));
  expect(main).toBeDefined();
  expect(worker).toEqual(main);
});

test('generate and search with rerank: the reranker scores the candidates in sub-stages and the top k by its scores are kept', async () => {
  const dbName = `weft-rerank-rag-${crypto.randomUUID()}`;
  const { rag, dispose } = await openLocalRag(dbName, { options: { reranker: wordOverlap } });
  try {
    await rag.ingest(await corpus());
    const query = 'slender body pressure supersonic';
    const candidates = await rag.search(query, { k: 8 });
    const reranked = await rag.search(query, { k: 3, rerank: { candidates: 8 } });
    const overlap = (p: Passage) =>
      p.text
        .toLowerCase()
        .split(/\W+/)
        .filter((w) => query.split(' ').includes(w)).length;
    const want = [...candidates].sort((a, b) => overlap(b) - overlap(a) || a.id - b.id).slice(0, 3);
    expect(reranked.map((p) => p.id)).toEqual(want.map((p) => p.id));
    expect(reranked.map((p) => p.scores.rerank)).toEqual(want.map(overlap));
    expect(reranked.map((p) => p.citation)).toEqual([1, 2, 3]);
    const events: RagEvent[] = [];
    for await (const e of rag.generate(query, { k: 3, maxTokens: 3, rerank: { candidates: 8 }, speculate: true })) events.push(e);
    const retrieval = events.find((e): e is Extract<RagEvent, { type: 'retrieval' }> => e.type === 'retrieval')!;
    expect(retrieval.passages.map((p) => p.id)).toEqual(want.map((p) => p.id));
    const stages = (events.find((e) => e.type === 'trace') as Extract<RagEvent, { type: 'trace' }>).stages;
    expect(stages.filter((s) => s.kind === 'rerank').length).toBe(8);
    expect(stages.some((s) => s.kind === 'speculate')).toBe(false);
    await expect(rag.search(query, { rerank: { candidates: 0 } })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  } finally {
    await dispose();
    await deleteStore(dbName);
  }
}, 300_000);

test('in the worker, rerank with the decoder reranker (KV reuse) gives the order the same reranker gives on the page', async () => {
  const dbName = `weft-rerank-worker-${crypto.randomUUID()}`;
  const kvDb = `weft-kv-${crypto.randomUUID()}`;
  const rag = await createRagInWorker({ ...(await workerOptions(dbName)), reranker: { decoder: { ...reference, kv: { database: kvDb } } } });
  let local: Awaited<ReturnType<typeof createLlama2cReranker>> | undefined;
  try {
    await rag.ingest((await corpus()).slice(0, 30));
    const query = 'How does the boundary layer grow?';
    const candidates = await rag.search(query, { k: 5 });
    const got = await rag.search(query, { k: 2, rerank: { candidates: 5 } });
    local = await createLlama2cReranker({ ...reference, kv: { database: false } });
    const want = (
      await rerank(
        local,
        query,
        candidates.map((p) => ({ id: p.id, text: p.text })),
      )
    ).slice(0, 2);
    expect(got.map((p) => p.id)).toEqual(want.map((w) => w.id));
    expect(got.map((p) => p.scores.rerank)).toEqual(want.map((w) => w.score));
    await expect(
      createRagInWorker({ ...(await workerOptions(`${dbName}-x`)) }).then(async (r) => {
        try {
          return await r.search(query, { rerank: true });
        } finally {
          await r.close();
        }
      }),
    ).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  } finally {
    await local?.close();
    await rag.close();
    await deleteStore(dbName);
    await deleteStore(`${dbName}-x`);
    indexedDB.deleteDatabase(kvDb);
  }
}, 300_000);
