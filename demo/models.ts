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
  /** Online models: where the weights are downloaded from. */
  url?: string;
}

export interface ModelSetup {
  local: boolean;
  choices: ModelChoice[];
  embedder: RagWorkerOptions['embedder'];
  /** The embedder's name, shown in the index list. */
  embedderName: string;
  /** The model id the embedder records in the indexes it builds (their manifests' modelId). */
  embedderId: string;
  /** Offline: the files the models are read from, and the folder they are expected in. */
  files?: { base: string; names: string[] };
}

/** The files `?models=local` reads, in the folder of the page's models/ (or `?assets=URL`). */
export const LOCAL_FILES = ['stories260K.bin', 'tok512.bin', 'tiny.onnx', 'tokenizer.json', 'tokenizer_config.json'];

/**
 * The local model files that are not there: each asked for with HEAD, and missing when the request
 * fails, is not 2xx, or comes back as a web page (a static server's fallback serves index.html for
 * any unknown path, which the model loaders would otherwise try to parse as a checkpoint).
 */
export async function missingFiles(files: NonNullable<ModelSetup['files']>): Promise<string[]> {
  const missing = await Promise.all(
    files.names.map(async (name) => {
      try {
        const r = await fetch(new URL(name, files.base), { method: 'HEAD', cache: 'no-store' });
        return !r.ok || /text\/html/i.test(r.headers.get('content-type') ?? '') ? name : undefined;
      } catch {
        return name;
      }
    }),
  );
  return missing.filter((n): n is string => n !== undefined);
}

/** Where the local model files are (`?assets=` overrides; default models/ beside the page). */
const localBase = (params: URLSearchParams) => new URL(params.get('assets') ?? 'models/', location.href).href.replace(/\/?$/, '/');

/** 'Llama-3.2-1B-Instruct-q4f16_1-MLC' → 'Llama-3.2-1B-Instruct q4f16' ('-1k': ' 1k' context). */
const shortName = (id: string) => id.replace(/^(.*)-(q\d\w+?)(?:_\d)?-MLC(-1k)?$/, (_, name: string, q: string, k?: string) => `${name} ${q}${k ? ' 1k' : ''}`);

/** Whether WebLLM already has the model in this browser's cache (then it loads offline). */
export async function cachedModel(id: string): Promise<boolean> {
  const { hasModelInCache } = await import('@mlc-ai/web-llm');
  return hasModelInCache(id).catch(() => false);
}

/**
 * Whether `url`'s host answers at all (a HEAD that may come back opaque): false when the request
 * fails outright (no network, the host unreachable) or takes longer than `ms`.
 */
export async function reachable(url: string, ms = 5000): Promise<boolean> {
  try {
    await fetch(url, { method: 'HEAD', mode: 'no-cors', cache: 'no-store', signal: AbortSignal.timeout(ms) });
    return true;
  } catch {
    return false;
  }
}

export async function modelSetup(params = new URLSearchParams(location.search)): Promise<ModelSetup> {
  const local = params.get('models') === 'local' || !navigator.onLine;
  if (local) {
    const base = localBase(params);
    return {
      local,
      choices: [
        {
          id: 'reference',
          label: 'llama2.c stories260K (offline)',
          hint: 'A tiny story model run by Weft’s own WebGPU kernels: it answers with made-up stories, but shows the whole pipeline working offline.',
          generator: { reference: { model: `${base}stories260K.bin`, tokenizer: `${base}tok512.bin` } },
        },
      ],
      embedder: {
        model: `${base}tiny.onnx`,
        tokenizer: `${base}tokenizer.json`,
        tokenizerConfig: `${base}tokenizer_config.json`,
        device: 'wasm',
        maxLength: 64,
        modelId: 'weft-tiny-local',
      },
      embedderName: 'weft-tiny-local',
      embedderId: 'weft-tiny-local',
      files: { base, names: LOCAL_FILES },
    };
  }
  // WebLLM's list, loaded on demand: the page itself does not carry WebLLM.
  const { prebuiltAppConfig } = await import('@mlc-ai/web-llm');
  const small = prebuiltAppConfig.model_list
    .filter((m) => (m.vram_required_MB ?? Infinity) <= 3000 && !/embed|vision/i.test(m.model_id) && /instruct|chat/i.test(m.model_id))
    .sort((a, b) => (a.vram_required_MB ?? 0) - (b.vram_required_MB ?? 0));
  const choices = small.map((m) => ({
    id: m.model_id,
    // Short enough for the picker: the name without its quantisation, and the GPU memory it needs.
    label: `${shortName(m.model_id)} · ${Math.round((m.vram_required_MB ?? 0) / 100) / 10} GB`,
    hint: `${m.model_id} needs about ${Math.round((m.vram_required_MB ?? 0) / 100) / 10} GB of GPU memory; downloaded once from the Hugging Face Hub, then kept in this browser’s cache.`,
    generator: { webllm: { model: { id: m.model_id } } } as RagWorkerOptions['generator'],
    url: m.model,
  }));
  const preferred = choices.findIndex((c) => c.id === 'Llama-3.2-1B-Instruct-q4f16_1-MLC');
  if (preferred > 0) choices.unshift(...choices.splice(preferred, 1));
  // The default embedder's id as it records it in an index (DEFAULT_EMBEDDING_MODEL.id, not imported: that module brings onnxruntime).
  return { local, choices, embedder: {}, embedderName: 'all-MiniLM-L6-v2', embedderId: 'sentence-transformers/all-MiniLM-L6-v2' };
}
