// The two files of a WebLLM model the adapter reads besides what WebLLM loads: mlc-chat-config.json
// (conversation template, stop tokens, context size) and tokenizer.json. They are found where
// MLCEngine.reload() finds them (web-llm src/engine.ts reloadInternal, cache_util.ts
// asyncLoadTokenizer): beside the record's `model` URL, "resolve/main/" added unless it names a
// revision, and read from WebLLM's own Cache API buckets ('webllm/config', 'webllm/model') when
// WebLLM has cached them, so a loaded model needs no second download and works offline. Nothing is
// written to WebLLM's caches.

import { WeftError } from '../errors.js';
import type { WebLlmConvTemplate } from './webllm-template.js';

/** The fields of a model's mlc-chat-config.json (WebLLM's ChatConfig) the adapter reads. */
export interface WebLlmChatConfig {
  conv_template: WebLlmConvTemplate;
  conv_config?: Partial<WebLlmConvTemplate> | undefined;
  tokenizer_files?: string[] | undefined;
  vocab_size?: number | undefined;
  context_window_size?: number | undefined;
  sliding_window_size?: number | undefined;
  prefill_chunk_size?: number | undefined;
  bos_token_id?: number | undefined;
}

/** A WebLLM model record (AppConfig.model_list entry), the fields the adapter reads. */
export interface WebLlmModelRecord {
  model: string;
  model_id: string;
  model_lib: string;
  overrides?: object | undefined;
  model_manifest?: string | undefined;
  /** SRI hashes WebLLM checks its downloads against (see WebLlmIntegrity). */
  integrity?: WebLlmIntegrity | undefined;
  /** GPU memory the model needs (weights, KV cache, workspace), in MiB: what the engine's budget counts for it (webllm-memory.ts). */
  vram_required_MB?: number | undefined;
}

/**
 * WebLLM's ModelIntegrity: SRI hashes ("sha256-BASE64") of the model's mlc-chat-config.json, its
 * compiled model library and its tokenizer files (by name). WebLLM verifies each download and
 * throws IntegrityError on a mismatch (Weft: CHECKSUM_MISMATCH); onFailure 'warn' only logs.
 */
export interface WebLlmIntegrity {
  config?: string;
  model_lib?: string;
  tokenizer?: Record<string, string>;
  onFailure?: 'error' | 'warn';
}

export type WebLlmCacheBackend = 'cache' | 'indexeddb' | 'cross-origin' | 'opfs';

export interface ModelFileOptions {
  cacheBackend?: WebLlmCacheBackend | undefined;
  signal?: AbortSignal | undefined;
}

/** The folder URL MLCEngine reads a record's files from (its cleanModelUrl, resolved as reload() does). */
export function modelFolderUrl(record: WebLlmModelRecord): string {
  let url = record.model.endsWith('/') ? record.model : `${record.model}/`;
  if (!/.+\/resolve\/.+\//.test(url)) url += 'resolve/main/';
  const base = typeof document !== 'undefined' ? document.URL : globalThis.location?.origin;
  return new URL(url, base).href;
}

/** One file: WebLLM's cached copy when its backend is the Cache API and it has one, else the network. */
async function readFile(url: string, scope: string, what: string, opts: ModelFileOptions): Promise<ArrayBuffer> {
  if ((opts.cacheBackend ?? 'cache') === 'cache' && typeof caches !== 'undefined') {
    const hit = await caches
      .open(scope)
      .then((c) => c.match(url))
      .catch(() => undefined);
    if (hit) return hit.arrayBuffer();
  }
  let res: Response;
  try {
    res = await fetch(url, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    if (opts.signal?.aborted) throw new WeftError('ABORTED', `Loading ${what} was aborted.`, { cause: e });
    throw new WeftError(
      'MODEL_UNREACHABLE',
      `The model's ${what} could not be downloaded from ${url} (${(e as Error).message}). Check the model URL and the network; once WebLLM has cached the model, it loads offline.`,
      { cause: e },
    );
  }
  if (!res.ok)
    throw new WeftError(
      'MODEL_UNREACHABLE',
      `Downloading the model's ${what} from ${url} failed with HTTP ${res.status}. Check the model URL (a record's \`model\` is the folder that holds mlc-chat-config.json).`,
    );
  return res.arrayBuffer();
}

const parse = (bytes: ArrayBuffer, what: string): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new WeftError('INVALID_MODEL', `The model's ${what} is not JSON: ${(e as Error).message}.`, { cause: e });
  }
};

/**
 * The chat config the engine runs with: mlc-chat-config.json, then the record's overrides, then
 * the ChatOptions given at load (the order of MLCEngine.reloadInternal).
 */
export async function loadChatConfig(record: WebLlmModelRecord, chatOptions: object | undefined, opts: ModelFileOptions): Promise<WebLlmChatConfig> {
  const folder = modelFolderUrl(record);
  let name = 'mlc-chat-config.json';
  if (record.model_manifest !== undefined) {
    // A model with a package manifest may name its chat config there (resolveModelPackageResourceURLs).
    const manifest = parse(await readFile(new URL(record.model_manifest, folder).href, 'webllm/config', 'package manifest', opts), 'package manifest') as {
      chat_config?: unknown;
    };
    if (typeof manifest.chat_config === 'string') name = manifest.chat_config;
  }
  const file = parse(await readFile(new URL(name, folder).href, 'webllm/config', name, opts), name) as Partial<WebLlmChatConfig>;
  const config = { ...file, ...record.overrides, ...chatOptions } as Partial<WebLlmChatConfig>;
  const t = config.conv_template;
  if (!t || typeof t !== 'object' || !Array.isArray(t.seps) || typeof t.roles !== 'object') {
    throw new WeftError('INVALID_MODEL', `${name} of ${record.model_id} has no usable conv_template; it is not an MLC chat model's config.`);
  }
  return config as WebLlmChatConfig;
}

/** The model's tokenizer.json (what WebLLM's asyncLoadTokenizer prefers). */
export async function loadTokenizerJson(record: WebLlmModelRecord, config: WebLlmChatConfig, opts: ModelFileOptions): Promise<ArrayBuffer> {
  const files = config.tokenizer_files ?? ['tokenizer.json'];
  if (!files.includes('tokenizer.json')) {
    throw new WeftError(
      'INVALID_MODEL',
      `${record.model_id} ships its tokenizer only as ${files.join(', ') || 'nothing'}; Weft reads tokenizer.json (recompile the model with MLC, or pass modelFiles.tokenizer).`,
    );
  }
  return readFile(new URL('tokenizer.json', modelFolderUrl(record)).href, 'webllm/model', 'tokenizer.json', opts);
}
