// What the request-stream benchmarks (`bench rag`, `bench workflows`) share: the models (the test
// embedder's ONNX graph with random weights and the real MiniLM tokenizer; stories260K as the
// reference generator), a corpus of n vectors with Cranfield abstracts as passage texts, and the
// regimes the lists are read in — `cached` (every list resident on the GPU), `idb` (a GPU cache
// of an eighth of the index, lists cold in IndexedDB) and `remote` (the index published as one
// file on the stores' static host — the range host behind Chromium's network emulation, or under
// Deno bench/deno-host.ts — fetched at 20 Mbit/s and 40 ms RTT, its local tier empty for each
// stream). The lists hold f16 vectors or, with storage
// 'pq', PQ codes (defaultPq: 4 bits, m = dim / 4) whose candidates are re-ranked with their f16 vectors.
import { createGpuContext, gaussianMixture, type GpuContext } from '../src/weft.js';
import { createOnnxEmbedder } from '../src/embed/onnx-embedder.js';
import type { Embedder } from '../src/embed/types.js';
import { loadLlama2c, type Llama2cGenerator } from '../src/generate/llama2c-gpu.js';
import { defaultPq, indexLayout } from '../src/ivf/pq.js';
import { createRag } from '../src/runtime/rag.js';
import type { LocalRag } from '../src/runtime/rag-api.js';
import type { RagOptions } from '../src/runtime/types.js';
import type { WeftStore } from '../src/storage/contract.js';
import type { BenchNetwork, BenchStores } from './stores.js';
import { exportIndex } from '../src/storage/portable.js';
import { openRemoteStore, type RemoteStore } from '../src/storage/remote/remote-store.js';
import { createStoredIndex } from '../src/stored-index/stored-index.js';
import { createRng } from '../src/random.js';
import { buildTinyEmbeddingGraph } from '../test/support/tiny-onnx.js';

export type Regime = 'cached' | 'idb' | 'remote';
export type RagStorage = 'f16' | 'pq';

/** The remote regime's network. */
export const REMOTE_NETWORK: BenchNetwork = { latencyMs: 40, mbps: 20 };

export interface RagSetupOptions {
  assets: string;
  n: number;
  regime: Regime;
  /** How the lists keep their vectors: f16 (default) or PQ codes (defaultPq: 4 bits, m = dim / 4). */
  storage?: RagStorage;
  /** Where onnxruntime-web finds its .wasm (the page's path by default); null: its own default (Deno: beside its module). */
  onnxWasmPaths?: string | null;
}

export interface RagSetup {
  ctx: GpuContext;
  embedder: Embedder;
  generator: Llama2cGenerator;
  /** Passage texts (Cranfield abstracts, cut to 300 characters). */
  texts: string[];
  dim: number;
  nlist: number;
  storage: RagStorage;
  /** 'pq' storage: the codes' shape. */
  pq?: { m: number; bits: 4 | 8 };
  /** The remote regime: the published file's bytes, and for 'pq' the candidates per result its manifest says searches need. */
  file?: { bytes: number; rerank?: number };
  /** The lists' bytes on the GPU; the cache budget of the `idb` and `remote` regimes. */
  indexBytes: number;
  cacheBytes: number;
  residentBytes: number;
  /** Turns the remote regime's network emulation on or off (nothing in the other regimes). */
  network(on: boolean): Promise<void>;
  /**
   * A runtime over regime `r`'s store (for `remote`, a cold IndexedDB tier) with the given
   * options; in `cached`, every list is made resident before it is returned.
   */
  /**
   * Decode-only inter-token latencies (ms): the generator answering these questions' prompts with
   * no retrieval going on, timed token to token as a stream's tokens are (256 of them).
   */
  decodeOnlyItl(questions: readonly string[], maxTokens: number): Promise<number[]>;
  open(r: Regime, options?: Partial<RagOptions>): Promise<{ rag: LocalRag; remote: RemoteStore | undefined; close(): Promise<void> }>;
  dispose(): Promise<void>;
}

export async function setUpRagBench(o: RagSetupOptions, log: (s: string) => void, stores: BenchStores, dbName: string): Promise<RagSetup> {
  const dim = 64;
  const host = stores.remote;
  if (o.regime === 'remote' && !host) throw new Error(`The remote regime needs a static host; the ${stores.kind} stores have none.`);
  await stores.remove(dbName);
  const ctx = await createGpuContext();
  const store = await stores.open(dbName);
  const rng = createRng(3);
  const V = 30522;
  const model = buildTinyEmbeddingGraph(
    Float32Array.from({ length: V * dim }, () => rng.normal()),
    Float32Array.from({ length: dim * dim }, () => rng.normal() * 0.3),
    new Float32Array(dim),
    V,
    dim,
  );
  const tok = async (f: string) => (await fetch(`${o.assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;
  const embedder = await createOnnxEmbedder({
    model,
    tokenizer: await tok('tokenizer.json'),
    tokenizerConfig: await tok('tokenizer_config.json'),
    device: 'wasm',
    ...(o.onnxWasmPaths === null ? {} : { wasmPaths: o.onnxWasmPaths ?? '/node_modules/onnxruntime-web/dist/' }),
    maxLength: 64,
    cache: false,
    modelId: 'bench-graph',
  });
  const lm = `${o.assets}/lm-stories260K`;
  const generator = await loadLlama2c({ gpu: ctx, model: `${lm}/stories260K.bin`, tokenizer: `${lm}/tok512.bin` });

  // The corpus: Cranfield abstracts as passage texts over n vectors (re-used texts, distinct vectors).
  const raw = (await (await fetch(`${o.assets}/cranfield/cran.all.1400`)).text()).replace(/\r\n/g, '\n');
  const texts = raw
    .split(/^\.I /m)
    .slice(1)
    .map((r) => (/\.W\n([\s\S]*)$/.exec(r)?.[1] ?? '').replace(/\s+/g, ' ').trim().slice(0, 300));
  const storage = o.storage ?? 'f16';
  const pq = storage === 'pq' ? defaultPq(dim) : undefined;
  log(`building ${o.n} x ${dim} ${pq ? `pq (m ${pq.m}, ${pq.bits} bits)` : storage} in ${stores.kind}…`);
  const vectors = gaussianMixture(o.n, dim, { centers: 256, seed: 5 });
  const idx = await createStoredIndex(vectors, {
    splitLists: 'oversized',
    gpu: ctx,
    store,
    name: 'corpus',
    dim,
    nlist: 256,
    metric: 'cosine',
    storage,
    ...(pq ? { pq } : {}),
    niter: 5,
    maxTrainPointsPerCentroid: 32,
    rebuildImbalance: Infinity,
  });
  for (let i = 0; i < o.n; i += 20000) {
    const m = Math.min(o.n, i + 20000) - i;
    await idx.add(vectors.subarray(i * dim, (i + m) * dim), {
      chunks: Array.from({ length: m }, (_, j) => ({ docId: `doc-${(i + j) % texts.length}`, text: texts[(i + j) % texts.length]! })),
    });
  }
  const { bytesPerVector } = indexLayout(idx.manifest);
  const indexBytes = idx.manifest.listCounts.reduce((a, c) => a + Math.ceil(c / 32) * 32 * (bytesPerVector + 4), 0);
  const nlist = idx.nlist;
  await idx.close();
  const residentBytes = Math.ceil(indexBytes * 1.25);
  const cacheBytes = o.regime === 'cached' ? residentBytes : Math.floor(indexBytes / 8);
  let remoteUrl = '';
  const remoteDb = 'weft-bench-remote';
  let file: RagSetup['file'];
  if (o.regime === 'remote' && host) {
    const blob = await exportIndex(store, 'corpus');
    remoteUrl = await host.publish('bench-corpus.weft', blob);
    // The candidates per result the file's manifest says its searches need (measured at export, 'pq' only).
    await host.forget(remoteUrl, remoteDb);
    const probe = await openRemoteStore(remoteUrl, { cacheDbName: remoteDb });
    const { rerank } = await probe.manifest('corpus');
    probe.close();
    file = { bytes: blob.size, ...(rerank !== undefined ? { rerank } : {}) };
    log(
      `published ${(indexBytes / 2 ** 20).toFixed(1)} MiB of ${storage} lists at ${remoteUrl} (file ${(blob.size / 2 ** 20).toFixed(1)} MiB${rerank !== undefined ? `, ${rerank} candidates per result` : ''})`,
    );
  }
  const network = async (on: boolean) => {
    if (o.regime === 'remote') await host?.network(on ? REMOTE_NETWORK : undefined);
  };
  /** The store a stream reads: the local one, or the remote file with a cold local tier. */
  const storeFor = async (r: Regime): Promise<{ store: WeftStore; remote?: RemoteStore }> => {
    if (r !== 'remote') return { store };
    await host?.forget(remoteUrl, remoteDb);
    const remote = await openRemoteStore(remoteUrl, { cacheDbName: remoteDb });
    return { store: remote, remote };
  };
  return {
    ctx,
    embedder,
    generator,
    texts,
    dim,
    nlist,
    storage,
    ...(pq ? { pq } : {}),
    ...(file ? { file } : {}),
    indexBytes,
    cacheBytes,
    residentBytes,
    network,
    async decodeOnlyItl(questions, maxTokens) {
      const itl: number[] = [];
      for (let i = 0; itl.length < 256 && i < 1000; i++) {
        generator.reset();
        await generator.prefill(`Question: ${questions[i % questions.length]!}\nAnswer:`);
        let last = performance.now();
        for (let t = 0; t < maxTokens; t++) {
          if ((await generator.step()).done) break;
          const now = performance.now();
          if (t > 0) itl.push(now - last);
          last = now;
        }
      }
      return itl;
    },
    async open(r, options = {}) {
      const src = await storeFor(r);
      const rag = await createRag({
        store: src.store,
        indexName: 'corpus',
        embedder,
        generator,
        gpu: ctx,
        cacheBytes: r === 'cached' ? residentBytes : cacheBytes,
        ...options,
      });
      if (r === 'cached') await rag.search(texts[0]!.split(' ').slice(0, 12).join(' '), { k: 1, nprobe: nlist, mode: 'vector' });
      return {
        rag,
        remote: src.remote,
        async close() {
          await rag.close();
          src.remote?.close();
        },
      };
    },
    async dispose() {
      generator.destroy();
      await embedder.destroy();
      store.close();
      ctx.destroy();
      await stores.remove(dbName);
    },
  };
}
