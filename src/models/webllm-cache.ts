// Thin wrappers over WebLLM's own cache functions (hasModelInCache, deleteModelAllInfoInCache),
// which need no loaded model and no GPU: WebLLM keeps a model's weight shards, tokenizer, config
// and compiled library in caches of its own (the Cache API buckets 'webllm/model', 'webllm/config'
// and 'webllm/wasm' by default, or IndexedDB/OPFS with its cacheBackend option), separate from
// Weft's 'weft-models' bucket (listCachedModels). WebLLM is imported only when these are called.

import { WeftError } from '../errors.js';

/** A WebLLM model as the WebLLM generator takes it: a prebuilt id, or a custom record. */
export interface WebLlmModelRef {
  id?: string | undefined;
  record?: { model: string; modelLib: string; modelId?: string | undefined } | undefined;
}

/** Options of the WebLLM cache helpers: the cache backend the model was loaded with. */
export interface WebLlmCacheOptions {
  /** The cache backend the model was loaded with (WebLlmGeneratorOptions.cacheBackend). Default: WebLLM's ('cache'). */
  cacheBackend?: 'cache' | 'indexeddb' | 'cross-origin' | 'opfs';
}

/** The model id and the app config WebLLM looks it up in, as the WebLLM generator builds them. */
async function lookup(model: WebLlmModelRef, options: WebLlmCacheOptions) {
  const webllm = await import('@mlc-ai/web-llm');
  const modelId = model.record ? (model.record.modelId ?? model.record.model) : model.id;
  if (!modelId) throw new WeftError('INVALID_OPTION', 'Pass model.id (a WebLLM prebuilt model id) or model.record ({ model, modelLib }).');
  const list = model.record ? [{ model: model.record.model, model_id: modelId, model_lib: model.record.modelLib }] : webllm.prebuiltAppConfig.model_list;
  const appConfig = {
    model_list: list,
    ...(options.cacheBackend ? { cacheBackend: options.cacheBackend } : {}),
  } as unknown as import('@mlc-ai/web-llm').AppConfig;
  return { webllm, modelId, appConfig };
}

function mapped(e: unknown, modelId: string): WeftError {
  if (e instanceof WeftError) return e;
  const name = (e as { name?: string })?.name ?? '';
  if (name === 'ModelNotFoundError') {
    return new WeftError(
      'UNKNOWN_MODEL',
      `'${modelId}' is not in WebLLM's prebuilt model list. Use a prebuilt id, or pass model.record ({ model, modelLib }).`,
      { cause: e },
    );
  }
  return new WeftError('STORAGE_ERROR', `WebLLM's cache could not be read for ${modelId}: ${(e as Error)?.message ?? String(e)}.`, { cause: e });
}

/** Whether WebLLM has all of the model's weight shards cached (what it would load without downloading). */
export async function hasWebLlmModelInCache(model: WebLlmModelRef, options: WebLlmCacheOptions = {}): Promise<boolean> {
  const { webllm, modelId, appConfig } = await lookup(model, options);
  try {
    return await webllm.hasModelInCache(modelId, appConfig);
  } catch (e) {
    throw mapped(e, modelId);
  }
}

/** Deletes everything WebLLM cached for the model: weights, tokenizer, config and compiled library. */
export async function deleteWebLlmModelFromCache(model: WebLlmModelRef, options: WebLlmCacheOptions = {}): Promise<void> {
  const { webllm, modelId, appConfig } = await lookup(model, options);
  try {
    await webllm.deleteModelAllInfoInCache(modelId, appConfig);
  } catch (e) {
    throw mapped(e, modelId);
  }
}
