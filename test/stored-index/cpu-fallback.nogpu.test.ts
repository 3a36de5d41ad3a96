// Weft in a browser without WebGPU (the `browser-nogpu` project: Chromium launched without
// WebGPU, see scripts/chromium.mjs): stored indexes fall back to the CPU by themselves — create,
// add, search, filter, sessions, delete, reopen — with results equal to an exact search over the
// probed lists; the RAG runtime on the page and in the engine worker ingests and searches, says it
// runs on the CPU, and refuses to generate with an error that says answers need WebGPU.
import { afterEach, describe, expect, test } from 'vitest';
import { createGpuContext, gaussianMixture, NO_ID, referenceIvfSearch, type SearchResult } from '../../src/weft.js';
import { decodeRows, deinterleave, layoutFor } from '../../src/ivf/codec.js';
import type { StorageType } from '../../src/ivf/types.js';
import { normalizeRows } from '../../src/ivf/codec.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { createStoredIndex, openStoredIndex } from '../../src/stored-index/stored-index.js';
import { createRag } from '../../src/runtime/rag.js';
import { createRagInWorker } from '../../src/transport/client.js';
import { createOnnxEmbedder } from '../../src/embed/onnx-embedder.js';
import { cranfieldAbstracts, embeddingGraph, workerOptions } from '../support/rag-runtimes.js';

const dim = 24,
  nlist = 10,
  n = 1200,
  nq = 10;
let dbName = '';
const opened: { close(): void | Promise<void> }[] = [];
afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.close();
  if (dbName) await deleteStore(dbName);
});
const track = <T extends { close(): void | Promise<void> }>(x: T): T => {
  opened.push(x);
  return x;
};

async function fresh(): Promise<WeftStore> {
  dbName = `weft-nogpu-${crypto.randomUUID()}`;
  return track(await openStore({ dbName }));
}

/**
 * The exact search over the lists the CPU probes, in float64, from what the store holds (decoded
 * vectors, centroids). Equal to the CPU backend's result except where two candidates' float64 and
 * float32 scores order differently, so ranks may differ only between near-equal distances.
 */
async function exactOverProbed(store: WeftStore, name: string, queries: Float32Array, k: number, nprobe: number): Promise<SearchResult> {
  const m = await store.manifest(name);
  const layout = layoutFor(m.dim, m.storage as StorageType);
  const c = await store.readCentroids(name);
  const sq = c.vmin && c.scale ? { vmin: c.vmin, scale: c.scale } : undefined;
  const lists = (
    await store.readLists(
      name,
      Array.from({ length: m.nlist }, (_, l) => l),
    )
  ).map((r) => ({ ids: r.ids, vectors: decodeRows(deinterleave(r.codes, r.count, layout.units), layout, sq) }));
  const q = m.metric === 'cosine' ? normalizeRows(queries, m.dim) : queries;
  return referenceIvfSearch(c.centroids, lists, q, m.dim, m.metric, k, nprobe);
}

function expectClose(got: SearchResult, want: SearchResult) {
  for (let i = 0; i < got.ids.length; i++) {
    if (got.ids[i] === want.ids[i]) continue;
    // A swap between near-equal distances only.
    expect(Math.abs(got.distances[i]! - want.distances[i]!), `rank ${i % got.k} of query ${Math.floor(i / got.k)}`).toBeLessThan(
      1e-4 * (1 + Math.abs(want.distances[i]!)),
    );
  }
  let same = 0;
  for (let i = 0; i < got.ids.length; i++) if (got.ids[i] === want.ids[i]) same++;
  expect(same / got.ids.length).toBeGreaterThan(0.95);
}

describe('no WebGPU in this browser', () => {
  test('WebGPU really is missing here: createGpuContext rejects with WEBGPU_UNAVAILABLE or NO_ADAPTER', async () => {
    const adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
    expect(adapter).toBeNull();
    await expect(createGpuContext()).rejects.toMatchObject({ code: expect.stringMatching(/^(WEBGPU_UNAVAILABLE|NO_ADAPTER)$/) });
  });

  for (const [metric, storage] of [
    ['l2', 'f32'],
    ['cosine', 'f16'],
    ['ip', 'int8'],
  ] as const) {
    test(`${metric} ${storage}: a stored index is created, added to, searched, filtered, sliced and reopened on the CPU`, async () => {
      const store = await fresh();
      const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
      const vectors = gaussianMixture(n, dim, { centers: 16, seed });
      const queries = gaussianMixture(nq, dim, { centers: 16, seed: seed + 1 });
      const index = track(await createStoredIndex(vectors, { splitLists: 'oversized', store, name: 'docs', dim, nlist, metric, storage, seed, niter: 6 }));
      expect(index.backend).toBe('cpu');
      expect(index.gpu).toBeUndefined();
      const ids = await index.add(vectors, {
        chunks: Array.from({ length: n }, (_, i) => ({ docId: `doc-${i % 5}`, text: `p${i}`, metadata: { page: i % 11 } })),
      });
      expect(ids.length).toBe(n);
      expect(index.size).toBe(n);

      const r = await index.search(queries, { k: 10, nprobe: 3 });
      expect(r.ids.every((id) => id !== NO_ID)).toBe(true);
      expectClose(r, await exactOverProbed(store, 'docs', queries, 10, 3));
      // Every list probed: the exact k nearest.
      expectClose(await index.search(queries, { k: 10, nprobe: nlist }), await exactOverProbed(store, 'docs', queries, 10, nlist));

      // A filter keeps only its chunks, and still finds k of them.
      const filtered = await index.search(queries, { k: 6, nprobe: 1, filter: { docId: 'doc-2', metadata: { page: { gte: 3, lte: 6 } } } });
      const found = Array.from(filtered.ids);
      expect(found.every((id) => id !== NO_ID)).toBe(true);
      for (const ch of await index.chunks(found)) {
        expect(ch?.docId).toBe('doc-2');
        expect(ch?.metadata?.page).toBeGreaterThanOrEqual(3);
        expect(ch?.metadata?.page).toBeLessThanOrEqual(6);
      }

      // A session in slices equals the one-shot search, bit for bit.
      const session = await index.searchSession(queries, { k: 10, nprobe: 3 });
      expect((await session.step(1)).lists).toBe(nq);
      await session.step();
      const sliced = await session.read();
      expect(Array.from(sliced.ids)).toEqual(Array.from(r.ids));
      expect(Array.from(sliced.distances)).toEqual(Array.from(r.distances));

      // Deleted vectors are never returned again; compaction changes nothing else.
      const gone = Array.from(new Set(Array.from({ length: nq }, (_, q) => r.ids[q * 10]!)));
      expect(await index.delete(gone)).toBe(gone.length);
      const after = await index.search(queries, { k: 10, nprobe: 3 });
      expect(Array.from(after.ids).some((id) => gone.includes(id))).toBe(false);
      await index.compact();
      const compacted = await index.search(queries, { k: 10, nprobe: 3 });
      expect(Array.from(compacted.ids)).toEqual(Array.from(after.ids));

      // Prefetch fills the CPU cache; the stats count hits.
      const cold = track(await openStoredIndex({ splitLists: 'oversized', store, name: 'docs', preload: false }));
      expect(cold.backend).toBe('cpu');
      const pre = await cold.prefetch(queries.subarray(0, dim), { nprobe: 3 }).done;
      expect(pre.arrived.length).toBeGreaterThan(0);
      const again = await cold.search(queries.subarray(0, dim), { k: 10, nprobe: 3 });
      expect(Array.from(again.ids)).toEqual(Array.from(compacted.ids.subarray(0, 10)));
      expect(cold.cacheStats().hits).toBeGreaterThanOrEqual(pre.arrived.length);
    });
  }
});

describe('the RAG runtime without WebGPU', () => {
  const docs = async () => (await cranfieldAbstracts()).slice(0, 30).map((text, i) => ({ id: `cran-${i + 1}`, text, metadata: { odd: i % 2 === 1 } }));

  test('createRag: ingest and search on the CPU, info says so, generate says answers need WebGPU', async () => {
    const store = await fresh();
    const w = await workerOptions(dbName);
    const embedder = await createOnnxEmbedder({
      ...w.embedder,
      model: embeddingGraph(),
      tokenizer: w.embedder.tokenizer as object,
      tokenizerConfig: w.embedder.tokenizerConfig as object,
      cache: false,
    });
    try {
      const rag = track(await createRag({ store, indexName: 'papers', embedder }));
      expect(await rag.info()).toMatchObject({ backend: 'cpu', answers: false, size: 0 });
      const r = await rag.ingest(await docs());
      expect(r.documents).toBe(30);
      expect(rag.index?.backend).toBe('cpu');
      const passages = await rag.search('pressure distribution on a wing', { k: 4, mode: 'vector' });
      expect(passages.length).toBe(4);
      const odd = await rag.search('pressure distribution on a wing', { k: 3, filter: { metadata: { odd: true } } });
      expect(odd.length).toBe(3);
      expect(odd.every((p) => p.metadata?.odd === true)).toBe(true);
      expect(await rag.info()).toMatchObject({ backend: 'cpu', answers: false, size: r.chunks });
      const answer = rag.generate('What is the pressure on a wing?');
      await expect(answer.next()).rejects.toMatchObject({
        name: 'WeftError',
        code: 'WEBGPU_UNAVAILABLE',
        message: expect.stringMatching(/Answers need WebGPU.*search work/),
      });
    } finally {
      for (const x of opened.splice(0).reverse()) await x.close();
      await embedder.destroy();
    }
  });

  test('engine worker: openRag succeeds without a generator, search works, generate says answers need WebGPU', async () => {
    dbName = `weft-nogpu-${crypto.randomUUID()}`;
    const rag = track(await createRagInWorker(await workerOptions(dbName)));
    const r = await rag.ingest(await docs());
    expect(r.chunks).toBeGreaterThan(0);
    expect(await rag.info()).toMatchObject({ backend: 'cpu', answers: false, size: r.chunks });
    expect((await rag.search('boundary layer', { k: 3 })).length).toBe(3);
    const answer = rag.generate('What is a boundary layer?');
    await expect(answer.next()).rejects.toMatchObject({ code: 'WEBGPU_UNAVAILABLE', message: expect.stringContaining('Answers need WebGPU') });
  });
});
