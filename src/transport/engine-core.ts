// The engine's state: the models and the runtime that every connection to one engine worker
// shares — the generator (WebLLM or the llama2.c reference generator), the embedder, the
// reranker, the store and the RAG runtime on one GPUDevice. It loads, opens and releases them;
// who may (one connection, or the tabs of a SharedWorker that agree on the options) is
// engine-host.ts's business, which serves this core over comlink.

import type { GeneratorRpc, RagWorkerOptions, RerankerSpec } from './engine-api.js';
import { WeftError } from '../errors.js';
import { loadLlama2c, type Llama2cGenerator } from '../generate/llama2c-gpu.js';
import { createWebLlmGenerator, webLlmModelRecord, type WebLlmEngineFactory, type WebLlmGenerator } from '../generate/webllm.js';
import { WEBLLM_MEMORY_LABEL, webLlmVramBytes } from '../generate/webllm-memory.js';
import { createOnnxEmbedder } from '../embed/onnx-embedder.js';
import type { Embedder } from '../embed/types.js';
import { createCrossEncoder } from '../rerank/cross-encoder.js';
import { createLlama2cReranker } from '../rerank/llama2c-reranker.js';
import { createOnnxDecoderReranker } from '../rerank/onnx-decoder-reranker.js';
import type { Reranker } from '../rerank/types.js';
import type { LoadProgress } from '../util/progress.js';
import { createRag } from '../runtime/rag.js';
import type { LocalRag } from '../runtime/rag-api.js';
import { openStore } from '../storage/idb-store.js';
import type { WeftStore } from '../storage/contract.js';
import { openRemoteStore } from '../storage/remote/remote-store.js';
import { createGpuContext, type GpuContext } from '../gpu/context.js';
import type { GpuMemoryReport } from '../gpu/budget.js';

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

/** What an open runtime says of itself (openRag's answer). */
export interface OpenedRag {
  indexName: string;
  size: number;
  backend: 'gpu' | 'cpu';
  answers: boolean;
}

/** The engine's models and runtime, shared by every connection to the worker. */
export interface EngineCore extends Pick<GeneratorRpc, 'loadWebLlm' | 'loadReference'> {
  /** Opens the runtime (closing one already open), loading the generator, embedder and reranker it names. */
  open(options: RagWorkerOptions, onProgress?: (p: LoadProgress) => void): Promise<OpenedRag>;
  /** The open runtime: INVALID_INPUT when none is. */
  rag(): LocalRag;
  /** The loaded generator: INVALID_INPUT when none is. */
  generator(): WebLlmGenerator | Llama2cGenerator;
  /** Closes the runtime (the generator stays loaded). */
  close(): Promise<void>;
  /** Closes the runtime and releases the generator and the GPU device. */
  unload(): Promise<void>;
  /** Generators loaded since the engine started (a second tab that joins loads none). */
  readonly loads: number;
  /** The device's memory budget and use (undefined before the device exists). */
  memory(): GpuMemoryReport | undefined;
}

/** A progress callback from the page (a comlink proxy, whose calls return promises), called without waiting. */
const relayed = (onProgress: ((p: LoadProgress) => void) | undefined) =>
  onProgress
    ? {
        onProgress: (p: LoadProgress) => {
          void onProgress(p);
        },
      }
    : {};

export function createEngineCore(options: EngineHostOptions = {}): EngineCore {
  const { webllmEngineFactory } = options;
  let generator: WebLlmGenerator | Llama2cGenerator | undefined;
  let rag: { rag: LocalRag; store: WeftStore; embedder: Embedder; reranker: Reranker | undefined } | undefined;
  let loads = 0;
  // One GPUDevice for the worker: the reference generator, the stored index and onnxruntime-web's
  // WebGPU execution provider all run on it (created with the union of their limits and
  // features), so search slices and decode steps share one queue. Destroyed by unload().
  let gpu: GpuContext | undefined;
  // The memory budget the runtime's options set (gpuBudgetBytes; none by default).
  let budgetBytes = Number.POSITIVE_INFINITY;
  const sharedGpu = async () => (gpu ??= await createGpuContext({ budgetBytes }));
  /** Whether the worker has WebGPU with an adapter (asked without creating a device: loading a generator creates the shared one). */
  const webGpuAvailable = async (): Promise<boolean> => {
    const adapter = await (globalThis.navigator as Navigator | undefined)?.gpu?.requestAdapter().catch(() => null);
    return Boolean(adapter);
  };

  const core: EngineCore = {
    get loads() {
      return loads;
    },
    memory: () => gpu?.memory(),
    rag() {
      if (!rag) throw new WeftError('INVALID_INPUT', 'No RAG runtime is open in the engine worker: call openRag() first.');
      return rag.rag;
    },
    generator() {
      if (!generator) throw new WeftError('INVALID_INPUT', 'No generator is loaded in the engine worker: call loadWebLlm() or loadReference() first.');
      return generator;
    },

    async loadWebLlm(options, onProgress) {
      await core.unload();
      // WebLLM runs on a GPUDevice of its own, but on the same GPU: its model counts in the
      // engine's budget, claimed on the engine's context (made here, where there is WebGPU, so
      // that the rest of the engine takes it after) before anything is downloaded or allocated.
      // A model too big for the budget is DEVICE_LIMIT naming what holds the memory. A record
      // without vram_required_MB (a custom one that does not say) is not counted: nothing is claimed.
      const { modelId, record } = await webLlmModelRecord(options.model);
      const bytes = webLlmVramBytes(record);
      const ctx = bytes !== undefined && (await webGpuAvailable()) ? await sharedGpu() : undefined;
      ctx?.claim(WEBLLM_MEMORY_LABEL, bytes!, `The model '${modelId}'`);
      let g: WebLlmGenerator;
      try {
        g = await createWebLlmGenerator({
          model: options.model,
          ...(webllmEngineFactory ? { engineFactory: webllmEngineFactory } : {}),
          ...(options.sampling ? { sampling: options.sampling } : {}),
          ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
          ...relayed(onProgress),
        });
      } catch (e) {
        ctx?.claim(WEBLLM_MEMORY_LABEL, 0, '');
        throw e;
      }
      generator = g;
      loads++;
      return { modelId: g.modelId };
    },

    async loadReference(source, onProgress) {
      await core.unload();
      const g = await loadLlama2c({
        ...source,
        gpu: await sharedGpu(),
        ...relayed(onProgress),
      });
      generator = g;
      loads++;
      return { contextLength: g.contextLength };
    },

    async open(options, onProgress) {
      await core.close();
      budgetBytes = options.gpuBudgetBytes ?? Number.POSITIVE_INFINITY;
      gpu?.setBudget(budgetBytes);
      const progress = relayed(onProgress).onProgress;
      // Without WebGPU no generator runs: the runtime opens without one (search works on the CPU,
      // generate rejects saying why), and no model is downloaded for nothing.
      const available = await webGpuAvailable();
      if (!available) await core.unload();
      else if ('reference' in options.generator) await core.loadReference(options.generator.reference, onProgress);
      else await core.loadWebLlm({ model: options.generator.webllm.model }, onProgress);
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
        const { dbName: _db, remote: _remote, embedder: _embedder, generator: _generator, reranker: _reranker, gpuBudgetBytes: _budget, ...settings } = options;
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
        await core.unload();
        throw e;
      }
      rag = { rag: r, store, embedder, reranker };
      return { indexName, size: r.index?.size ?? 0, backend: device ? 'gpu' : 'cpu', answers: generator !== undefined };
    },

    async close() {
      if (!rag) return;
      const r = rag;
      rag = undefined;
      await r.rag.close();
      await r.embedder.destroy();
      await r.reranker?.close();
      r.store.close();
    },

    async unload() {
      await core.close();
      generator?.destroy();
      generator = undefined;
      gpu?.destroy(); // with its budget, WebLLM's claim included
      gpu = undefined;
    },
  };
  return core;
}
