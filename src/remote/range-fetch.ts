// HTTP range reads for the remote tier: one byte range of one file, with retries and exponential
// backoff for what a flaky network or a busy server does (connection dropped, body cut short,
// 5xx, 408, 429), an AbortSignal honoured at once, and coded errors for what retrying cannot
// mend: a server that ignores Range (RANGE_UNSUPPORTED), a file that is gone or shorter than the
// one opened (REMOTE_CHANGED is decided by the caller from `total`/`etag`), no network after the
// retries (REMOTE_UNAVAILABLE). Responses bypass the browser's HTTP cache: IndexedDB is the cache.

import { WeftError } from '../errors.js';

export interface RangeFetchOptions {
  /** Extra attempts after the first for transient failures. Default 3. */
  retries?: number;
  /** First backoff in milliseconds; doubled each retry (with jitter). Default 200. */
  retryDelayMs?: number;
  signal?: AbortSignal | undefined;
  /** Request headers (e.g. authorization for a private bucket). */
  headers?: Record<string, string>;
  /**
   * The browser's priority for the request (Fetch Priority): with more requests than connections
   * to the host, 'high' ones are sent first. Default: the browser's own.
   */
  priority?: 'high' | 'low' | 'auto';
  /** Called once per HTTP request sent (statistics, tests). */
  onRequest?: (start: number, end: number) => void;
}

export interface RangeBytes {
  bytes: Uint8Array;
  /** The file's length, where the server says it (Content-Range; CORS servers must expose it). */
  total: number | undefined;
  /** The file's ETag, where the server sends and exposes it. */
  etag: string | undefined;
}

/** A failure worth retrying (its message says what happened). */
class Transient extends Error {}

function aborted(url: string, cause?: unknown): WeftError {
  return new WeftError('ABORTED', `Reading ${url} was aborted.`, cause === undefined ? undefined : { cause });
}

const sleep = (ms: number, signal: AbortSignal | undefined, url: string) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) { reject(aborted(url)); return; }
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  const onAbort = () => { clearTimeout(t); reject(aborted(url)); };
  signal?.addEventListener('abort', onAbort, { once: true });
});

function contentRange(res: Response): { start: number; end: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]) + 1, total: m[3] === '*' ? undefined : Number(m[3]) };
}

async function readBody(res: Response, want: number, url: string, signal: AbortSignal | undefined): Promise<Uint8Array> {
  let buf: ArrayBuffer;
  try {
    buf = await res.arrayBuffer();
  } catch (e) {
    if (signal?.aborted) throw aborted(url, e);
    throw new Transient(`the connection broke off during the body (${(e as Error).message})`);
  }
  if (buf.byteLength < want) throw new Transient(`the body ended after ${buf.byteLength} of ${want} bytes`);
  return new Uint8Array(buf, 0, want);
}

async function attempt(url: string, start: number, end: number, o: RangeFetchOptions, mayEndEarly: boolean): Promise<RangeBytes> {
  let res: Response;
  try {
    o.onRequest?.(start, end);
    res = await fetch(url, {
      headers: { ...o.headers, range: `bytes=${start}-${end - 1}` },
      cache: 'no-store',
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.priority ? { priority: o.priority } : {}),
    });
  } catch (e) {
    if (o.signal?.aborted) throw aborted(url, e);
    throw new Transient(`no response (${(e as Error).message})`);
  }
  const etag = res.headers.get('etag') ?? undefined;
  if (res.status === 206) {
    const range = contentRange(res);
    if (range && range.start !== start) {
      await res.body?.cancel().catch(() => undefined);
      throw new WeftError('RANGE_UNSUPPORTED', `${url} answered a request for bytes ${start}-${end - 1} with bytes ${range.start}-${range.end - 1}. Serve the index from a host with standard HTTP range requests.`, { details: { url } });
    }
    const want = mayEndEarly && range ? Math.min(end, range.end) - start : end - start;
    return { bytes: await readBody(res, want, url, o.signal), total: range?.total, etag };
  }
  if (res.status === 200) {
    // A whole small file is a fine answer to a request that covers it; anything else means the
    // server ignores Range and would send the whole index for every list.
    const length = Number(res.headers.get('content-length'));
    if (start === 0 && mayEndEarly && Number.isFinite(length) && length > 0 && length <= end) {
      const bytes = await readBody(res, length, url, o.signal);
      return { bytes, total: length, etag };
    }
    await res.body?.cancel().catch(() => undefined);
    throw new WeftError('RANGE_UNSUPPORTED',
      `${url} answered a range request with the whole file (HTTP 200): the server does not support HTTP range requests, so the index cannot be read in place. Serve it from a host that does (static hosts and CDNs do), or download it and use importIndex.`,
      { details: { url, status: 200 } });
  }
  await res.body?.cancel().catch(() => undefined);
  if (res.status === 416) throw new WeftError('REMOTE_CHANGED', `${url} no longer holds bytes ${start}-${end - 1} (HTTP 416): the file was replaced by a shorter one. Open the index again.`, { details: { url, status: 416 } });
  if (res.status >= 500 || res.status === 408 || res.status === 429) throw new Transient(`HTTP ${res.status}`);
  throw new WeftError('REMOTE_UNAVAILABLE', `${url} answered HTTP ${res.status}${res.status === 404 ? ' (not found): check the URL, or whether the index was moved' : ''}.`, { details: { url, status: res.status } });
}

/**
 * Bytes [start, end) of `url`. `mayEndEarly`: the range may run past the end of the file (the
 * first read of a file of unknown length); the bytes up to the end come back.
 */
export async function fetchRange(url: string, start: number, end: number, o: RangeFetchOptions = {}, mayEndEarly = false): Promise<RangeBytes> {
  const retries = o.retries ?? 3;
  const delay = o.retryDelayMs ?? 200;
  for (let i = 0; ; i++) {
    if (o.signal?.aborted) throw aborted(url);
    try {
      return await attempt(url, start, end, o, mayEndEarly);
    } catch (e) {
      if (!(e instanceof Transient)) throw e;
      if (i >= retries) {
        throw new WeftError('REMOTE_UNAVAILABLE',
          `Could not read bytes ${start}-${end - 1} of ${url} after ${retries + 1} attempts: ${e.message}. Check the connection; what this index already cached still answers.`,
          { details: { url, start, end } });
      }
      await sleep(delay * 2 ** i * (0.75 + Math.random() * 0.5), o.signal, url);
    }
  }
}
