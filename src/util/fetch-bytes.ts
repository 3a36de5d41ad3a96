// Downloads a file with progress reports, an AbortSignal and (optionally) the Cache API, so
// that a model fetched once loads offline afterwards. Failures are WeftErrors that name the file.

import { WeftError } from '../errors.js';
import type { LoadProgress } from './progress.js';

export interface FetchBytesOptions {
  onProgress?: ((p: LoadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Cache API bucket to read from and write to; none when undefined. */
  cacheName?: string | undefined;
}

export async function fetchBytes(src: string | URL, file: string, opts: FetchBytesOptions = {}): Promise<ArrayBuffer> {
  const url = String(src);
  const cache = opts.cacheName && typeof caches !== 'undefined' ? await caches.open(opts.cacheName).catch(() => undefined) : undefined;
  const hit = await cache?.match(url);
  if (hit) {
    const b = await hit.arrayBuffer();
    opts.onProgress?.({ status: 'download', file, loaded: b.byteLength, total: b.byteLength });
    return b;
  }
  let res: Response;
  try {
    res = await fetch(url, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    if (opts.signal?.aborted || (e as { name?: string }).name === 'AbortError') throw new WeftError('ABORTED', `Loading ${file} was aborted.`, { cause: e });
    throw new WeftError('INVALID_MODEL', `Could not download ${file} from ${url}: ${(e as Error).message}. Check the URL, or serve the file from your app.`, { cause: e });
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
      throw new WeftError('MODEL_UNREACHABLE', `Downloading ${file} from ${url} broke off after ${loaded} bytes: ${(e as Error).message}. Check the connection and load it again.`, { cause: e });
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
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  await cache?.put(url, new Response(out.slice())).catch(() => undefined);
  return out.buffer;
}
