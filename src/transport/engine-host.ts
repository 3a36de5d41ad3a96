// The engine host: what runs inside the engine worker. It owns the generator (WebLLM or the
// llama2.c reference generator) and the RAG runtime (embedder, stored index, the scheduler that
// interleaves retrieval with decoding on one GPU queue), and implements the RPC contract in
// engine-api.ts. workers/engine.worker.ts only calls serveEngine(); keeping the implementation
// here lets the library's build and tests reach it like any other module.

import * as Comlink from 'comlink';
import type { EngineRpc, RerankerSpec } from './engine-api.js';
import { installErrorTransfer } from './error-transfer.js';
import { holdLifeline } from './lifeline.js';
import { WeftError } from '../errors.js';
import { loadLlama2c, type Llama2cGenerator } from '../generate/llama2c-gpu.js';
import { createWebLlmGenerator, type WebLlmEngineFactory, type WebLlmGenerator } from '../generate/webllm.js';
import { createOnnxEmbedder } from '../embed/onnx-embedder.js';
import type { Embedder } from '../embed/types.js';
import { createCrossEncoder } from '../rerank/cross-encoder.js';
import { createLlama2cReranker } from '../rerank/llama2c-reranker.js';
import { createOnnxDecoderReranker } from '../rerank/onnx-decoder-reranker.js';
import type { Reranker } from '../rerank/types.js';
import type { LoadProgress } from '../util/progress.js';
import { createRag } from '../runtime/rag.js';
import type { RagEvent } from '../runtime/types.js';
import type { LocalRag } from '../runtime/rag-api.js';
import { openStore } from '../storage/idb-store.js';
import type { WeftStore } from '../storage/contract.js';
import { openRemoteStore } from '../storage/remote/remote-store.js';
import { createGpuContext, type GpuContext } from '../gpu/context.js';

/** The createRag options that RagWorkerOptions passes through unchanged. */
/**
 * Where an onnxruntime-web model (embedder, ONNX rerankers) runs: on the worker's GPU unless its
 * options name WASM; without a GPU on WASM unless they name a device (then that one, or its error).
 */
function onnxPlacement(device: string | undefined, gpu: GpuContext | undefined): { device?: 'wasm'; gpu?: GpuContext } {
  if (!gpu) return device ? {} : { device: 'wasm' };
  return device !== 'wasm' ? { gpu } : {};
}

/** The reranker a RerankerSpec names, on the worker's GPU (without one: ONNX rerankers on WASM; the decoder reranker needs WebGPU and says so). */
function createReranker(spec: RerankerSpec, gpu: GpuContext | undefined, onProgress: ((p: LoadProgress) => void) | undefined): Promise<Reranker> {
  const progress = onProgress ? { onProgress } : {};
  const on = (device: string | undefined) => onnxPlacement(device, gpu);
  if ('crossEncoder' in spec) return createCrossEncoder({ ...spec.crossEncoder, ...on(spec.crossEncoder.device), ...progress });
  if ('onnxDecoder' in spec) return createOnnxDecoderReranker({ ...spec.onnxDecoder, ...on(spec.onnxDecoder.device), ...progress });
  if ('decoder' in spec) return createLlama2cReranker({ ...spec.decoder, ...(gpu ? { gpu } : {}) });
  throw new WeftError('INVALID_OPTION', 'reranker must be { crossEncoder: {…} }, { decoder: { model, tokenizer } } or { onnxDecoder: {…} }.');
}

/** How the engine host is built (createEngineHost, serveEngine). */
export interface EngineHostOptions {
  /**
   * How loadWebLlm (and openRag with a `webllm` generator) creates and loads the MLCEngine:
   * called as WebLLM's CreateMLCEngine(modelId, engineConfig, chatOptions) is, and it must honour
   * the engineConfig Weft passes (appConfig with the model record, logitProcessorRegistry for
   * Weft's sampler, initProgressCallback). Default: CreateMLCEngine. An app's own engine worker
   * uses it to configure or wrap the engine; the tests use it to run a stand-in engine.
   */
  webllmEngineFactory?: WebLlmEngineFactory;
}

/** A fresh engine (its state lives in this closure, one per worker). */
export function createEngineHost(options: EngineHostOptions = {}): EngineRpc {
  const { webllmEngineFactory } = options;
  let generator: WebLlmGenerator | Llama2cGenerator | undefined;
  let rag: { rag: LocalRag; store: WeftStore; embedder: Embedder; reranker: Reranker | undefined } | undefined;
  // The runtime's calls in flight, by the caller's call number: abort(call) aborts their signal.
  const calls = new Map<number, AbortController>();
  const answers = new Map<number, AsyncGenerator<RagEvent>>();
  // Numbers for calls whose caller picked none: negative, apart from the callers' positive ones.
  let unnumbered = 0;
  /** Runs a call with a signal that abort(call) aborts (registered before anything is awaited). */
  const tracked = <T>(call: number | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const id = call ?? --unnumbered;
    const ctl = new AbortController();
    calls.set(id, ctl);
    return new Promise<T>((resolve) => {
      resolve(run(ctl.signal));
    }).finally(() => {
      if (calls.get(id) === ctl) calls.delete(id);
    });
  };
  /** An answer is over (ended, failed or given up by its caller). */
  const forget = (call: number) => {
    answers.delete(call);
    calls.delete(call);
  };
  // One GPUDevice for the worker: the reference generator, the stored index and onnxruntime-web's
  // WebGPU execution provider all run on it (created with the union of their limits and
  // features), so search slices and decode steps share one queue. Destroyed by unload().
  let gpu: GpuContext | undefined;
  const sharedGpu = async () => (gpu ??= await createGpuContext());
  /** Whether the worker has WebGPU with an adapter (asked without creating a device: loading a generator creates the shared one). */
  const webGpuAvailable = async (): Promise<boolean> => {
    const adapter = await (globalThis.navigator as Navigator | undefined)?.gpu?.requestAdapter().catch(() => null);
    return Boolean(adapter);
  };

  const needRag = () => {
    if (!rag) throw new WeftError('INVALID_INPUT', 'No RAG runtime is open in the engine worker: call openRag() first.');
    return rag.rag;
  };

  const need = () => {
    if (!generator) throw new WeftError('INVALID_INPUT', 'No generator is loaded in the engine worker: call loadWebLlm() or loadReference() first.');
    return generator;
  };

  const api: EngineRpc = {
    ping: () => 'weft-engine',

    async loadWebLlm(options, onProgress) {
      await api.unload();
      const g = await createWebLlmGenerator({
        model: options.model,
        ...(webllmEngineFactory ? { engineFactory: webllmEngineFactory } : {}),
        ...(options.sampling ? { sampling: options.sampling } : {}),
        ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
        ...(onProgress
          ? {
              onProgress: (p) => {
                void onProgress(p);
              },
            }
          : {}),
      });
      generator = g;
      return { modelId: g.modelId };
    },

    async loadReference(source, onProgress) {
      await api.unload();
      const g = await loadLlama2c({
        ...source,
        gpu: await sharedGpu(),
        ...(onProgress
          ? {
              onProgress: (p) => {
                void onProgress(p);
              },
            }
          : {}),
      });
      generator = g;
      return { contextLength: g.contextLength };
    },

    async openRag(options, onProgress) {
      await api.closeRag();
      const progress = onProgress
        ? (p: Parameters<typeof onProgress>[0]) => {
            void onProgress(p);
          }
        : undefined;
      // Without WebGPU no generator runs: the runtime opens without one (search works on the CPU,
      // generate rejects saying why), and no model is downloaded for nothing.
      const available = await webGpuAvailable();
      if (!available) await api.unload();
      else if ('reference' in options.generator) await api.loadReference(options.generator.reference, onProgress);
      else await api.loadWebLlm({ model: options.generator.webllm.model }, onProgress);
      // Loading a generator unloads the previous one with its device: take the device after it.
      const device = available ? await sharedGpu() : undefined;
      let embedder: Embedder | undefined;
      let store: WeftStore | undefined;
      let indexName = options.indexName;
      let reranker: Reranker | undefined;
      let r: LocalRag;
      try {
        const e = options.embedder;
        embedder = await createOnnxEmbedder({
          ...(e.model !== undefined ? { model: e.model } : {}),
          ...(e.tokenizer !== undefined ? { tokenizer: e.tokenizer } : {}),
          ...(e.tokenizerConfig !== undefined ? { tokenizerConfig: e.tokenizerConfig } : {}),
          ...(e.modelId ? { modelId: e.modelId } : {}),
          ...(e.device ? { device: e.device } : {}),
          ...onnxPlacement(e.device, device),
          ...(e.maxLength ? { maxLength: e.maxLength } : {}),
          ...(e.wasmPaths ? { wasmPaths: e.wasmPaths } : {}),
          ...(e.sha256 ? { sha256: e.sha256 } : {}),
          ...(progress ? { onProgress: progress } : {}),
        });
        if (options.reranker) reranker = await createReranker(options.reranker, device, progress);
        // A published index (read-only, over HTTP) holds one index, under its own name.
        const remote = options.remote ? await openRemoteStore(options.remote.url, options.remote) : undefined;
        store = remote ?? (await openStore(options.dbName ? { dbName: options.dbName } : {}));
        indexName = remote?.indexName ?? indexName;
        // The index's and the runtime's settings go on whole (they are createRag's own types);
        // what the worker made from the rest replaces the specs.
        const { dbName: _dbName, remote: _remote, embedder: _embedder, generator: _generator, reranker: _reranker, ...settings } = options;
        r = await createRag({
          ...settings,
          store,
          indexName,
          embedder,
          ...(generator ? { generator } : {}),
          gpu: device ?? 'cpu',
          ...(reranker ? { reranker } : {}),
        });
      } catch (e) {
        // Nothing half-open stays behind: the store, embedder and reranker go, the generator is unloaded.
        store?.close();
        await embedder?.destroy();
        await reranker?.close();
        await api.unload();
        throw e;
      }
      rag = { rag: r, store, embedder, reranker };
      return { indexName, size: r.index?.size ?? 0, backend: device ? 'gpu' : 'cpu', answers: generator !== undefined };
    },

    ingest(documents, onProgress, call) {
      return tracked(call, (signal) =>
        needRag().ingest(documents, {
          signal,
          ...(onProgress
            ? {
                onProgress: (p) => {
                  void onProgress(p);
                },
              }
            : {}),
        }),
      );
    },

    search(query, options = {}, call) {
      return tracked(call, (signal) => needRag().search(query, { ...options, signal }));
    },

    async startGenerate(input, options = {}, call = --unnumbered) {
      const runtime = needRag();
      const ctl = new AbortController();
      calls.set(call, ctl);
      answers.set(call, runtime.generate(input, { ...options, signal: ctl.signal }));
      return call;
    },

    async nextEvent(call) {
      const events = answers.get(call);
      if (!events) return undefined;
      try {
        const r = await events.next();
        if (r.done) {
          forget(call);
          return undefined;
        }
        return r.value;
      } catch (e) {
        forget(call);
        throw e;
      }
    },

    async endGenerate(call) {
      const events = answers.get(call);
      forget(call);
      await events?.return(undefined);
    },

    profile(call) {
      return tracked(call, (signal) => needRag().profile({ signal }));
    },

    info() {
      return needRag().info();
    },

    abort(call) {
      calls.get(call)?.abort();
    },

    async closeRag() {
      for (const ctl of calls.values()) ctl.abort();
      for (const events of answers.values()) await events.return(undefined);
      answers.clear();
      calls.clear();
      if (!rag) return;
      await rag.rag.close();
      await rag.embedder.destroy();
      await rag.reranker?.close();
      rag.store.close();
      rag = undefined;
    },

    async prefill(prompt) {
      await need().prefill(prompt);
    },
    async step() {
      return need().step();
    },
    async interrupt() {
      await need().interrupt();
    },
    timings() {
      return need().timings();
    },
    async unload() {
      if (rag) await api.closeRag();
      generator?.destroy();
      generator = undefined;
      gpu?.destroy();
      gpu = undefined;
    },
  };
  return api;
}

/**
 * Serves an engine to the main thread over comlink (call it once, in the worker), with the
 * lifeline the page watches to learn that the worker is gone. `endpoint` defaults to the worker's
 * global scope; `options` as for createEngineHost, e.g. `serveEngine(self, { webllmEngineFactory })`
 * to load WebLLM models your own way.
 */
export function serveEngine(endpoint: Comlink.Endpoint | typeof globalThis = self, options: EngineHostOptions = {}): void {
  const ep = endpoint as Comlink.Endpoint;
  installErrorTransfer();
  holdLifeline(ep);
  Comlink.expose(createEngineHost(options), ep);
}
