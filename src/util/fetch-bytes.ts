// Downloads a file with progress reports, an AbortSignal, an optional sha256 check and
// (optionally) the Cache API, so that a model fetched once loads offline afterwards. A file that
// fails its check is never cached. Failures are WeftErrors that name the file.

import { WeftError } from '../errors.js';
import type { LoadProgress } from './progress.js';

/** The Cache API bucket model downloads are kept in (listCachedModels and deleteCachedModel manage it). */
export const MODEL_CACHE_NAME = 'weft-models';

/** Response headers stored with each cached file, so that listing the cache reads no bodies. */
export const CACHED_SHA256_HEADER = 'x-weft-sha256';
export const CACHED_AT_HEADER = 'x-weft-cached-at';

/** A file to download and the SHA-256 (64 hex digits) its bytes must have. */
export interface PinnedFile {
  url: string | URL;
  sha256?: string | undefined;
}

export interface FetchBytesOptions {
  onProgress?: ((p: LoadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Cache API bucket to read from and write to; none when undefined. */
  cacheName?: string | undefined;
  /**
   * Expected SHA-256 of the file (64 hex digits), checked with crypto.subtle after the download
   * and on a cache hit. A download that does not match is CHECKSUM_MISMATCH and is not cached; a
   * cached copy that does not match (an older version, or a damaged entry) is deleted and the
   * file downloaded again.
   */
  sha256?: string | undefined;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The expected hash, lower-cased; INVALID_OPTION unless it is 64 hex digits, or two different ones were given. */
function expectedHash(file: string, ...given: (string | undefined)[]): string | undefined {
  const hashes = [...new Set(given.filter((h): h is string => h !== undefined).map((h) => h.toLowerCase()))];
  if (hashes.length > 1) throw new WeftError('INVALID_OPTION', `Two different sha256 values were given for ${file}; pass one.`);
  const h = hashes[0];
  if (h !== undefined && !HEX64.test(h)) {
    throw new WeftError('INVALID_OPTION', `The sha256 given for ${file} is not 64 hex digits ('${h}'). Pass the file's SHA-256 as printed by sha256sum.`);
  }
  return h;
}

export async function sha256Hex(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function mismatch(file: string, url: string, expected: string, actual: string): WeftError {
  return new WeftError(
    'CHECKSUM_MISMATCH',
    `${file} from ${url} has sha256 ${actual}, not the expected ${expected}; it was not cached. The file at that URL changed or was damaged in transit: pin a fixed revision, or update the expected hash if the new file is the one you want.`,
    { details: { url, expected, actual } },
  );
}

export async function fetchBytes(src: string | URL | PinnedFile, file: string, opts: FetchBytesOptions = {}): Promise<ArrayBuffer> {
  const pinned = typeof src === 'object' && !(src instanceof URL) ? src : undefined;
  const url = String(pinned ? pinned.url : src);
  const expected = expectedHash(file, pinned?.sha256, opts.sha256);
  const cache = opts.cacheName && typeof caches !== 'undefined' ? await caches.open(opts.cacheName).catch(() => undefined) : undefined;
  const hit = await cache?.match(url);
  if (hit) {
    const b = await hit.arrayBuffer();
    if (expected === undefined || (await sha256Hex(b)) === expected) {
      opts.onProgress?.({ status: 'download', file, loaded: b.byteLength, total: b.byteLength });
      return b;
    }
    await cache?.delete(url);
  }
  let res: Response;
  try {
    res = await fetch(url, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    if (opts.signal?.aborted || (e as { name?: string }).name === 'AbortError') throw new WeftError('ABORTED', `Loading ${file} was aborted.`, { cause: e });
    throw new WeftError('INVALID_MODEL', `Could not download ${file} from ${url}: ${(e as Error).message}. Check the URL, or serve the file from your app.`, {
      cause: e,
    });
  }
  if (!res.ok || !res.body) throw new WeftError('INVALID_MODEL', `Downloading ${file} from ${url} failed with HTTP ${res.status}.`);
  const total = Number(res.headers.get('content-length')) || undefined;
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const aborted = (e?: unknown) => new WeftError('ABORTED', `Loading ${file} was aborted.`, e === undefined ? undefined : { cause: e });
  const read = async () => {
    try {
      return await reader.read();
    } catch (e) {
      if (opts.signal?.aborted || (e as { name?: string }).name === 'AbortError') throw aborted(e);
      throw new WeftError(
        'MODEL_UNREACHABLE',
        `Downloading ${file} from ${url} broke off after ${loaded} bytes: ${(e as Error).message}. Check the connection and load it again.`,
        { cause: e },
      );
    }
  };
  for (;;) {
    const { done, value } = await read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    opts.onProgress?.({ status: 'download', file, loaded, total });
  }
  // The whole body may have arrived before the abort did: an aborted load is still aborted.
  if (opts.signal?.aborted) throw aborted();
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  if (!cache && expected === undefined) return out.buffer;
  // Hashed even when nothing is expected, so that the cache listing shows the hash to pin.
  const actual = await sha256Hex(out);
  if (expected !== undefined && actual !== expected) throw mismatch(file, url, expected, actual);
  if (cache) {
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': String(loaded),
      [CACHED_SHA256_HEADER]: actual,
      [CACHED_AT_HEADER]: String(Date.now()),
    };
    // Caching is an optimisation: a full or unavailable cache still returns the verified bytes.
    await cache.put(url, new Response(out.slice(), { headers })).catch(() => undefined);
  }
  return out.buffer;
}
