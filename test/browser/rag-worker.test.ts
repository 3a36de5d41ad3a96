// The runtime in the real engine worker: the embedder, the generator and the index live there;
// the page holds a typed handle (comlink), passes documents and pulls answer events.
import { expect, inject, test } from 'vitest';
import { createRagInWorker } from '../../src/runtime/client.js';
import type { RagEvent } from '../../src/runtime/types.js';
import type { RagWorkerOptions } from '../../src/runtime/engine-api.js';
import { deleteStore } from '../../src/store/idb-store.js';
import { createRng } from '../../src/random.js';
import { buildTinyEmbeddingGraph } from '../../bench/tiny-onnx.js';

declare module 'vitest' { export interface ProvidedContext { sharedAssets: string } }
const assets = new URL(inject('sharedAssets'), location.href).href;

/** The test embedder (an ONNX graph written here, the real MiniLM tokenizer) and stories260K. */
async function workerOptions(dbName: string): Promise<RagWorkerOptions> {
  const rng = createRng(5);
  const V = 30522, D = 32;
  const model = buildTinyEmbeddingGraph(Float32Array.from({ length: V * D }, () => rng.normal()), Float32Array.from({ length: D * D }, () => rng.normal() * 0.3), new Float32Array(D), V, D);
  const tok = async (f: string) => (await fetch(`${assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;
  return {
    dbName, indexName: 'papers',
    embedder: { model, tokenizer: await tok('tokenizer.json'), tokenizerConfig: await tok('tokenizer_config.json'), device: 'wasm', maxLength: 64, wasmPaths: new URL('/node_modules/onnxruntime-web/dist/', location.href).href, modelId: 'tiny' },
    generator: { reference: { model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` } },
  };
}

test('ingest, search and generate through the engine worker; errors keep their code', async () => {
  const dbName = `weft-rag-worker-${crypto.randomUUID()}`;
  const options = await workerOptions(dbName);
  const model = options.embedder.model as ArrayBuffer;
  const progress: string[] = [];
  const rag = await createRagInWorker(options, { onProgress: (p) => progress.push(p.status) });
  try {
    expect(model.byteLength).toBe(0); // the model bytes were moved into the worker, not copied
    expect(progress).toContain('ready');
    await expect(rag.search('anything')).rejects.toMatchObject({ name: 'WeftError', code: 'EMPTY_INDEX' });
    const raw = (await (await fetch(`${assets}/cranfield/cran.all.1400`)).text()).replace(/\r\n/g, '\n');
    const docs = raw.split(/^\.I /m).slice(1, 21).map((r, i) => ({ id: `cran-${i + 1}`, text: /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '', metadata: { odd: i % 2 === 1 } }));
    const stages: string[] = [];
    const r = await rag.ingest(docs, { onProgress: (p) => { if (!stages.includes(p.status)) stages.push(p.status); } });
    expect(r.documents).toBe(20);
    expect(stages).toEqual(['read', 'embed', 'index', 'persist']);
    const hits = await rag.search(docs[3]!.text.split('.')[0]!, { k: 5, filter: { odd: true } });
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((h) => h.metadata.odd === true)).toBe(true);
    const events: RagEvent['type'][] = [];
    let answer = '';
    let periodic: Extract<RagEvent, { type: 'done' }>['periodic'];
    for await (const e of rag.generate('What was measured?', { k: 2, maxTokens: 12, periodic: { interval: 4, nprobe: 2 }, speculate: true })) {
      events.push(e.type);
      if (e.type === 'done') { answer = e.answer; periodic = e.periodic; }
    }
    expect(periodic).toMatchObject({ interval: 4, staleness: 1 });
    expect(events[0]).toBe('retrieval');
    expect(events.at(-1)).toBe('done');
    expect(events.filter((t) => t === 'token').length).toBeGreaterThan(0);
    expect(answer.length).toBeGreaterThan(0);
    await expect(rag.ingest([{ id: '', text: 'x' }])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  } finally {
    await rag.close();
    await deleteStore(dbName);
  }
}, 180_000);

test('aborting while the models load stops the worker and rejects with ABORTED; an index that must exist but does not is UNKNOWN_INDEX', async () => {
  const ctl = new AbortController();
  const started = performance.now();
  const loading = createRagInWorker({
    indexName: 'never',
    embedder: { model: `${assets}/no-such-model.onnx`, tokenizer: {}, device: 'wasm' },
    generator: { reference: { model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` } },
  }, { signal: ctl.signal, onProgress: () => ctl.abort() });
  await expect(loading).rejects.toMatchObject({ name: 'WeftError', code: 'ABORTED' });
  expect(performance.now() - started).toBeLessThan(30_000);
  // An index that must exist but does not: a clear code, and the worker gives everything back.
  const dbName = `weft-rag-worker-${crypto.randomUUID()}`;
  await expect(createRagInWorker({ ...await workerOptions(dbName), indexName: 'missing', create: false })).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
  await deleteStore(dbName);
  const already = new AbortController();
  already.abort();
  await expect(createRagInWorker({ indexName: 'x', embedder: {}, generator: { reference: { model: '', tokenizer: '' } } }, { signal: already.signal })).rejects.toMatchObject({ code: 'ABORTED' });
}, 60_000);
