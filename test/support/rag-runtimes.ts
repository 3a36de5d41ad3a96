// The RAG runtime as the browser tests open it, one way on the main thread (createRag) and one in
// the real engine worker (createRagInWorker), with the same small models: an embedder whose ONNX
// graph the tests write (random weights, the real MiniLM tokenizer) and the stories260K reference
// generator. Tests that run one body of code against both take `ragRuntimes()`.
import { inject } from 'vitest';
import { createRagInWorker, type RagWorkerInit } from '../../src/transport/client.js';
import { createRag } from '../../src/runtime/rag.js';
import type { RagOptions } from '../../src/runtime/types.js';
import type { Rag } from '../../src/runtime/rag-api.js';
import type { RagWorkerOptions } from '../../src/transport/engine-api.js';
import { createOnnxEmbedder } from '../../src/embed/onnx-embedder.js';
import { loadLlama2c } from '../../src/generate/llama2c-gpu.js';
import { createGpuContext } from '../../src/gpu/context.js';
import { openStore } from '../../src/storage/idb-store.js';
import { testEmbeddingGraph } from './tiny-onnx.js';

/** ../shared/assets as a URL the page can fetch. */
export const assets = new URL(inject('sharedAssets'), location.href).href;
export const reference = { model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` };
const tok = async (f: string) => (await fetch(`${assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;

/** The test embedder's ONNX graph (fresh bytes each time: the worker takes them). */
export const embeddingGraph = testEmbeddingGraph;

/** The test embedder and stories260K, for the worker. */
export async function workerOptions(dbName: string, indexName = 'papers'): Promise<RagWorkerOptions> {
  return {
    dbName,
    indexName,
    embedder: {
      model: embeddingGraph(),
      tokenizer: await tok('tokenizer.json'),
      tokenizerConfig: await tok('tokenizer_config.json'),
      device: 'wasm',
      maxLength: 64,
      wasmPaths: new URL('/node_modules/onnxruntime-web/dist/', location.href).href,
      modelId: 'tiny',
    },
    generator: { reference },
  };
}

export interface OpenedRag {
  rag: Rag;
  dispose(): Promise<void>;
}

/** The runtime on the main thread, with what releases everything it took. */
export async function openLocalRag(dbName: string, o: { indexName?: string; options?: Partial<RagOptions> } = {}): Promise<OpenedRag> {
  const indexName = o.indexName ?? 'papers';
  const gpu = await createGpuContext();
  const store = await openStore({ dbName });
  const w = await workerOptions(dbName, indexName);
  const embedder = await createOnnxEmbedder({
    ...w.embedder,
    model: embeddingGraph(),
    tokenizer: w.embedder.tokenizer as object,
    tokenizerConfig: w.embedder.tokenizerConfig as object,
    cache: false,
  });
  const generator = await loadLlama2c({ gpu, ...reference });
  const rag = await createRag({ store, indexName, embedder, generator, gpu, ...o.options });
  return {
    rag,
    async dispose() {
      await rag.close();
      generator.destroy();
      await embedder.destroy();
      store.close();
      gpu.destroy();
    },
  };
}

/** The runtime in the engine worker. */
export async function openWorkerRag(
  dbName: string,
  o: { indexName?: string; options?: Partial<RagWorkerOptions>; init?: RagWorkerInit } = {},
): Promise<OpenedRag> {
  const rag = await createRagInWorker({ ...(await workerOptions(dbName, o.indexName)), ...o.options }, o.init);
  return { rag, dispose: () => rag.close() };
}

/** Both ways, named, for describe.each. */
export function ragRuntimes(
  o: { indexName?: string; local?: Partial<RagOptions>; worker?: Partial<RagWorkerOptions> } = {},
): [string, (dbName: string) => Promise<OpenedRag>][] {
  const named = o.indexName ? { indexName: o.indexName } : {};
  return [
    ['main thread (createRag)', (dbName) => openLocalRag(dbName, { ...named, ...(o.local ? { options: o.local } : {}) })],
    ['engine worker (createRagInWorker)', (dbName) => openWorkerRag(dbName, { ...named, ...(o.worker ? { options: o.worker } : {}) })],
  ];
}

let abstracts: Promise<string[]> | undefined;

/** Every Cranfield abstract (its `.W` text, whitespace folded), in collection order. */
export function cranfieldAbstracts(): Promise<string[]> {
  abstracts ??= (async () => {
    const raw = (await (await fetch(`${assets}/cranfield/cran.all.1400`)).text()).replace(/\r\n/g, '\n');
    return raw
      .split(/^\.I /m)
      .slice(1)
      .map((r) => /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '');
  })();
  return abstracts;
}
