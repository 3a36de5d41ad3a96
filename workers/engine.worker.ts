// The engine worker: owns the generator (WebLLM or the llama2.c reference generator) and, as
// the runtime grows, the embedder, the retrieval index and the scheduler that interleaves them
// on one GPU queue. The main thread reaches it through comlink (see rpc.ts).

import { Comlink, type EngineApi } from './rpc.js';
import { WeftError } from '../src/errors.js';
import { loadLlama2c, type Llama2cGenerator } from '../src/generate/llama2c-gpu.js';
import { createWebLlmGenerator, type WebLlmGenerator } from '../src/generate/webllm.js';

let generator: WebLlmGenerator | Llama2cGenerator | undefined;

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
    const g = await loadLlama2c(null, source, onProgress ? { onProgress: (p) => { void onProgress(p); } } : {});
    generator = g;
    return { contextLength: g.contextLength };
  },

  async prefill(prompt) { await need().prefill(prompt); },
  async step() { return need().step(); },
  async interrupt() { await need().interrupt(); },
  timings() { return need().timings(); },
  async unload() {
    generator?.destroy();
    generator = undefined;
  },
};

Comlink.expose(api);
