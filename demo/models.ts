// Which models the demo offers. Online: WebLLM's prebuilt small chat models (downloaded once from
// the Hugging Face Hub with progress, kept in the Cache API) and all-MiniLM-L6-v2 as embedder.
// Offline (`?models=local`, or no network): the WebGPU llama2.c reference generator and a small
// embedder served beside the app under models/ (the end-to-end tests put them there).

import type { RagWorkerOptions } from '../src/entries/client.js';

export interface ModelChoice {
  id: string;
  label: string;
  /** Shown under the picker. */
  hint: string;
  generator: RagWorkerOptions['generator'];
}

export interface ModelSetup {
  local: boolean;
  choices: ModelChoice[];
  embedder: RagWorkerOptions['embedder'];
  /** The embedder's name, shown in the index list. */
  embedderName: string;
}

/** Where the local model files are (`?assets=` overrides; default models/ beside the page). */
const localBase = (params: URLSearchParams) => new URL(params.get('assets') ?? 'models/', location.href).href.replace(/\/?$/, '/');

export async function modelSetup(params = new URLSearchParams(location.search)): Promise<ModelSetup> {
  const local = params.get('models') === 'local' || !navigator.onLine;
  if (local) {
    const base = localBase(params);
    return {
      local,
      choices: [{
        id: 'reference', label: 'Reference generator (llama2.c stories260K, offline)',
        hint: 'A tiny story model run by Weft’s own WebGPU kernels: it answers with made-up stories, but shows the whole pipeline working offline.',
        generator: { reference: { model: `${base}stories260K.bin`, tokenizer: `${base}tok512.bin` } },
      }],
      embedder: { model: `${base}tiny.onnx`, tokenizer: `${base}tokenizer.json`, tokenizerConfig: `${base}tokenizer_config.json`, device: 'wasm', maxLength: 64, modelId: 'weft-tiny-local' },
      embedderName: 'weft-tiny-local',
    };
  }
  // WebLLM's list, loaded on demand: the page itself does not carry WebLLM.
  const { prebuiltAppConfig } = await import('@mlc-ai/web-llm');
  const small = prebuiltAppConfig.model_list
    .filter((m) => (m.vram_required_MB ?? Infinity) <= 3000 && !/embed|vision/i.test(m.model_id) && /instruct|chat/i.test(m.model_id))
    .sort((a, b) => (a.vram_required_MB ?? 0) - (b.vram_required_MB ?? 0));
  const choices = small.map((m) => ({
    id: m.model_id,
    label: `${m.model_id.replace(/-MLC$/, '')} (${Math.round((m.vram_required_MB ?? 0) / 100) / 10} GB GPU memory)`,
    hint: 'Downloaded once from the Hugging Face Hub, then kept in this browser’s cache.',
    generator: { webllm: { model: { id: m.model_id } } } as RagWorkerOptions['generator'],
  }));
  const preferred = choices.findIndex((c) => c.id === 'Llama-3.2-1B-Instruct-q4f16_1-MLC');
  if (preferred > 0) choices.unshift(...choices.splice(preferred, 1));
  return { local, choices, embedder: {}, embedderName: 'all-MiniLM-L6-v2' };
}
