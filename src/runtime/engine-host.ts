// The engine host: what runs inside the engine worker. It owns the generator (WebLLM or the
// llama2.c reference generator) and the RAG runtime (embedder, stored index, the scheduler that
// interleaves retrieval with decoding on one GPU queue), and implements the RPC contract in
// engine-api.ts. workers/engine.worker.ts only calls serveEngine(); keeping the implementation
// here lets the library's build and tests reach it like any other module.

import * as Comlink from 'comlink';
import type { EngineApi } from './engine-api.js';
import { installErrorTransfer } from './error-transfer.js';
import { WeftError } from '../errors.js';
import { loadLlama2c, type Llama2cGenerator } from '../generate/llama2c-gpu.js';
import { createWebLlmGenerator, type WebLlmGenerator } from '../generate/webllm.js';
import { createOnnxEmbedder, type Embedder } from '../embed/onnx-embedder.js';
import { createRag } from './rag.js';
import type { Rag, RagEvent } from './types.js';
import { openStore, type WeftStore } from '../store/idb-store.js';


/** A fresh engine (its state lives in this closure, one per worker). */
export function createEngineHost(): EngineApi {
  let generator: WebLlmGenerator | Llama2cGenerator | undefined;
  let rag: { rag: Rag; store: WeftStore; embedder: Embedder } | undefined;
  const answers = new Map<number, { events: AsyncGenerator<RagEvent>; abort: AbortController }>();
  let nextRequest = 1;

  const needRag = () => {
    if (!rag) throw new WeftError('INVALID_INPUT', 'No RAG runtime is open in the engine worker: call openRag() first.');
    return rag.rag;
  };

  const need = () => {
    if (!generator) throw new WeftError('INVALID_INPUT', 'No generator is loaded in the engine worker: call loadWebLlm() or loadReference() first.');
    return generator;
  };

  const api: EngineApi = {
    ping: () => 'weft-engine',

    async loadWebLlm(options, onProgress) {
      await api.unload();
      const g = await createWebLlmGenerator({
        model: options.model,
        ...(options.sampling ? { sampling: options.sampling } : {}),
        ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
        ...(onProgress ? { onProgress: (p) => { void onProgress(p); } } : {}),
      });
      generator = g;
      return { modelId: g.modelId };
    },

    async loadReference(source, onProgress) {
      await api.unload();
      const g = await loadLlama2c({ ...source, ...(onProgress ? { onProgress: (p) => { void onProgress(p); } } : {}) });
      generator = g;
      return { contextLength: g.contextLength };
    },

    async openRag(options, onProgress) {
      await api.closeRag();
      const progress = onProgress ? (p: Parameters<typeof onProgress>[0]) => { void onProgress(p); } : undefined;
      if ('reference' in options.generator) await api.loadReference(options.generator.reference, onProgress);
      else await api.loadWebLlm({ model: options.generator.webllm.model }, onProgress);
      let embedder: Embedder | undefined;
      let store: WeftStore | undefined;
      let r: Rag;
      try {
        const e = options.embedder;
        embedder = await createOnnxEmbedder({
          ...(e.model !== undefined ? { model: e.model } : {}), ...(e.tokenizer !== undefined ? { tokenizer: e.tokenizer } : {}),
          ...(e.tokenizerConfig !== undefined ? { tokenizerConfig: e.tokenizerConfig } : {}), ...(e.modelId ? { modelId: e.modelId } : {}),
          ...(e.device ? { device: e.device } : {}), ...(e.maxLength ? { maxLength: e.maxLength } : {}), ...(e.wasmPaths ? { wasmPaths: e.wasmPaths } : {}),
          ...(progress ? { onProgress: progress } : {}),
        });
        store = await openStore(options.dbName ? { dbName: options.dbName } : {});
        r = await createRag({
          store, indexName: options.indexName, embedder, generator: need(), ...(options.create === false ? { create: false } : {}),
          ...(options.metric ? { metric: options.metric } : {}), ...(options.storage ? { storage: options.storage } : {}),
          ...(options.nlist ? { nlist: options.nlist } : {}), ...(options.cacheBytes ? { cacheBytes: options.cacheBytes } : {}),
        });
      } catch (e) {
        // Nothing half-open stays behind: the store and embedder go, the generator is unloaded.
        store?.close();
        await embedder?.destroy();
        await api.unload();
        throw e;
      }
      rag = { rag: r, store, embedder };
      return { indexName: options.indexName, size: r.index?.size ?? 0 };
    },

    async ingest(documents, onProgress) {
      return needRag().ingest(documents, onProgress ? { onProgress: (p) => { void onProgress(p); } } : {});
    },

    async search(query, options = {}) {
      const { filter, ...rest } = options;
      const match = filter ? (m: Record<string, unknown>) => Object.entries(filter).every(([k, v]) => m[k] === v) : undefined;
      return needRag().search(query, { ...rest, ...(match ? { filter: match } : {}) });
    },

    async startGenerate(question, options = {}) {
      const abort = new AbortController();
      const id = nextRequest++;
      answers.set(id, { events: needRag().generate(question, { ...options, signal: abort.signal }), abort });
      return id;
    },

    async nextEvent(request) {
      const a = answers.get(request);
      if (!a) return undefined;
      try {
        const r = await a.events.next();
        if (r.done) { answers.delete(request); return undefined; }
        return r.value;
      } catch (e) {
        answers.delete(request);
        throw e;
      }
    },

    async abortGenerate(request) { answers.get(request)?.abort.abort(); },

    async closeRag() {
      for (const a of answers.values()) { a.abort.abort(); await a.events.return(undefined); }
      answers.clear();
      if (!rag) return;
      await rag.rag.close();
      await rag.embedder.destroy();
      rag.store.close();
      rag = undefined;
    },

    async prefill(prompt) { await need().prefill(prompt); },
    async step() { return need().step(); },
    async interrupt() { await need().interrupt(); },
    timings() { return need().timings(); },
    async unload() {
      if (rag) await api.closeRag();
      generator?.destroy();
      generator = undefined;
    },
  };
  return api;
}

/** Serves an engine to the main thread over comlink (call it once, in the worker). */
export function serveEngine(endpoint: Comlink.Endpoint = self as unknown as Comlink.Endpoint): void {
  installErrorTransfer();
  Comlink.expose(createEngineHost(), endpoint);
}
