// The model files Weft has downloaded, as an app lists and deletes them: the Cache API bucket that
// fetchBytes writes ('weft-models'; the embedder's model, tokenizer and config, and any file an
// app loads through it), grouped by model. WebLLM keeps its weights in caches of its own
// ('webllm/model', 'webllm/config', 'webllm/wasm', or IndexedDB with its cacheBackend option),
// which these functions do not touch: see webllm-cache.ts for those.

import { WeftError } from '../errors.js';
import { CACHED_AT_HEADER, CACHED_SHA256_HEADER, MODEL_CACHE_NAME } from '../util/fetch-bytes.js';

/** One file in Weft's model cache: URL, size, SHA-256 and when it was cached. */
export interface CachedModelFile {
  url: string;
  /** Size in bytes. */
  bytes: number;
  /** SHA-256 of the bytes (hex), recorded when the file was cached: the value to pin. */
  sha256: string | undefined;
  /** When it was cached (ms since the epoch). */
  cachedAt: number | undefined;
}

/** A model in Weft's model cache (the Cache API bucket 'weft-models'): its id, revision, size and files. */
export interface CachedModel {
  /**
   * 'owner/name' for files from a Hugging Face style URL (…/owner/name/resolve/revision/path),
   * otherwise the URL of the folder that holds the file.
   */
  id: string;
  /** The revision in a Hugging Face style URL (a commit id, or a branch such as 'main'). */
  revision: string | undefined;
  /** Bytes of all its files. */
  bytes: number;
  files: CachedModelFile[];
}

const HUB_PATH = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/./;

/** Which model (and revision) a cached URL belongs to. */
function modelOf(url: string): { id: string; revision: string | undefined } {
  const u = new URL(url);
  const hub = HUB_PATH.exec(u.pathname);
  if (hub) return { id: `${decodeURIComponent(hub[1]!)}/${decodeURIComponent(hub[2]!)}`, revision: decodeURIComponent(hub[3]!) };
  return { id: new URL('.', u).href, revision: undefined };
}

async function openModelCache(): Promise<Cache | undefined> {
  // Without the Cache API (an insecure context) nothing was ever cached.
  if (typeof caches === 'undefined') return undefined;
  try {
    return (await caches.has(MODEL_CACHE_NAME)) ? await caches.open(MODEL_CACHE_NAME) : undefined;
  } catch (e) {
    throw new WeftError('STORAGE_ERROR', `The model cache could not be opened: ${(e as Error).message}. Site storage may be blocked for this page.`, {
      cause: e,
    });
  }
}

/** The models in the cache, each with its files, largest first. */
export async function listCachedModels(): Promise<CachedModel[]> {
  const cache = await openModelCache();
  if (!cache) return [];
  const models = new Map<string, CachedModel>();
  for (const request of await cache.keys()) {
    const res = await cache.match(request);
    if (!res) continue;
    const length = Number(res.headers.get('content-length'));
    // Entries cached before the headers existed are measured from their body.
    const bytes = Number.isFinite(length) && res.headers.has('content-length') ? length : (await res.blob()).size;
    const at = Number(res.headers.get(CACHED_AT_HEADER));
    const file: CachedModelFile = { url: request.url, bytes, sha256: res.headers.get(CACHED_SHA256_HEADER) ?? undefined, cachedAt: at > 0 ? at : undefined };
    const { id, revision } = modelOf(request.url);
    const key = `${id}@${revision ?? ''}`;
    let model = models.get(key);
    if (!model) {
      model = { id, revision, bytes: 0, files: [] };
      models.set(key, model);
    }
    model.files.push(file);
    model.bytes += bytes;
  }
  return [...models.values()].sort((a, b) => b.bytes - a.bytes);
}

/**
 * Deletes from the cache one file (its URL), every file of a model (its id, all revisions) or of
 * one revision ('owner/name@revision'). Returns how many files were deleted (0: nothing matched).
 */
export async function deleteCachedModel(urlOrId: string | URL): Promise<number> {
  const key = String(urlOrId);
  const cache = await openModelCache();
  if (!cache) return 0;
  let deleted = 0;
  for (const request of await cache.keys()) {
    const { id, revision } = modelOf(request.url);
    if (request.url === key || id === key || `${id}@${revision}` === key) {
      if (await cache.delete(request)) deleted++;
    }
  }
  return deleted;
}
