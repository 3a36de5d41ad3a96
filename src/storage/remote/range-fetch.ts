// HTTP range reads for the remote tier: one byte range of one file, with retries and exponential
// backoff for what a flaky network or a busy server does (connection dropped, body cut short,
// 5xx, 408, 429, a host that stops sending), an AbortSignal honoured at once, and coded errors
// for what retrying cannot mend: a server that ignores Range (RANGE_UNSUPPORTED), a file that is
// gone or shorter than the one opened (REMOTE_CHANGED is decided by the caller from
// `total`/`etag`), a redirect to another origin (REMOTE_REDIRECTED), no network after the
// retries (REMOTE_UNAVAILABLE). Responses bypass the browser's HTTP cache: IndexedDB is the cache.
//
// A host is never trusted with the tab's memory or time: a body is read into a buffer the size of
// the range asked for and no further (whatever Content-Length says, or however long the host
// streams), and a response that sends no byte for `stallMs` (before its headers or inside its
// body) is given up and retried, so a stalled host costs bounded time even without a signal.

import { WeftError } from '../../errors.js';

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
  /**
   * A response that sends nothing for this long (milliseconds; no headers yet, or no byte of the
   * body) is abandoned as stalled and retried like a dropped connection. Default 10 000.
   */
  stallMs?: number;
  /**
   * Follow a redirect to another origin (the bytes then come from there; request headers go
   * with them). Default false: REMOTE_REDIRECTED. Redirects within the origin are followed.
   */
  crossOriginRedirects?: boolean;
}

export interface RangeBytes {
  bytes: Uint8Array;
  /** The file's length, where the server says it (Content-Range; CORS servers must expose it). */
  total: number | undefined;
  /** The file's ETag, where the server sends and exposes it. */
  etag: string | undefined;
  /** Where the bytes came from: `url`, or where a same-origin redirect led. */
  url: string;
}

export const DEFAULT_STALL_MS = 10_000;

/** A failure worth retrying (its message says what happened). */
class Transient extends Error {}
/** No byte arrived for `stallMs`: retried like a dropped connection. */
class Stalled extends Transient {}

function aborted(url: string, cause?: unknown): WeftError {
  return new WeftError('ABORTED', `Reading ${url} was aborted.`, cause === undefined ? undefined : { cause });
}

const sleep = (ms: number, signal: AbortSignal | undefined, url: string) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(aborted(url));
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(aborted(url));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function contentRange(res: Response): { start: number; end: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]) + 1, total: m[3] === '*' ? undefined : Number(m[3]) };
}

/**
 * The first `want` bytes of the body, read as they arrive into a buffer of that size: bytes past
 * it are never buffered (the rest of the response is cancelled). Each chunk re-arms the stall timer.
 */
async function readBody(res: Response, want: number, alive: () => void): Promise<Uint8Array> {
  const out = new Uint8Array(want);
  let got = 0;
  if (!res.body) {
    const buf = new Uint8Array(await res.arrayBuffer());
    got = Math.min(want, buf.byteLength);
    out.set(buf.subarray(0, got));
  } else {
    const reader = res.body.getReader();
    while (got < want) {
      const { done, value } = await reader.read();
      if (done) break;
      alive();
      const take = Math.min(value.byteLength, want - got);
      out.set(value.subarray(0, take), got);
      got += take;
    }
    await reader.cancel().catch(() => undefined);
  }
  if (got < want) throw new Transient(`the body ended after ${got} of ${want} bytes`);
  return out;
}

const sameOrigin = (a: string, b: string) => new URL(a).origin === new URL(b).origin;

function redirected(url: string, to: string | undefined): WeftError {
  return new WeftError(
    'REMOTE_REDIRECTED',
    `${url} redirects to ${to ?? 'another address'}${to ? '' : ' (the browser hides where, because request headers were set)'}, which Weft does not follow: it may be another origin, and the request's headers would go with it. Open the index at the address the bytes come from, or pass crossOriginRedirects: true if that host is trusted.`,
    { details: { url, ...(to ? { to } : {}) } },
  );
}

/**
 * One request. With request headers set, redirects are not followed by the browser (the headers
 * would go wherever the host points): a redirect within the origin is followed here, by hand,
 * where the response says where (Node, Deno); a browser hides it (an opaque redirect), and that
 * is REMOTE_REDIRECTED. Without headers the browser follows, and a response from another origin
 * is refused after the fact (only a Range header went there).
 */
async function attempt(url: string, start: number, end: number, o: RangeFetchOptions, mayEndEarly: boolean, hops = 0): Promise<RangeBytes> {
  const stallMs = o.stallMs ?? DEFAULT_STALL_MS;
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      ctl.abort();
    }, stallMs);
  };
  const guard = async <T>(work: Promise<T>, broke: (e: Error) => Error): Promise<T> => {
    try {
      return await work;
    } catch (e) {
      if (o.signal?.aborted) throw aborted(url, e);
      if (stalled) throw new Stalled(`no byte arrived for ${stallMs / 1000} s (the host stalled)`);
      if (e instanceof WeftError || e instanceof Transient) throw e;
      throw broke(e as Error);
    }
  };
  const withHeaders = o.headers !== undefined && Object.keys(o.headers).length > 0;
  try {
    alive();
    o.onRequest?.(start, end);
    const res = await guard(
      fetch(url, {
        headers: { ...o.headers, range: `bytes=${start}-${end - 1}` },
        cache: 'no-store',
        redirect: withHeaders ? 'manual' : 'follow',
        signal: ctl.signal,
        ...(o.priority ? { priority: o.priority } : {}),
      }),
      (e) => new Transient(`no response (${e.message})`),
    );
    alive();
    const from = res.url || url;
    if (res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400)) {
      await res.body?.cancel().catch(() => undefined);
      const location = res.headers.get('location');
      const to = location ? new URL(location, url).href : undefined;
      if (!to || hops >= 5 || (!o.crossOriginRedirects && !sameOrigin(url, to))) throw redirected(url, to);
      clearTimeout(timer);
      return await attempt(to, start, end, o, mayEndEarly, hops + 1);
    }
    if (!o.crossOriginRedirects && !sameOrigin(url, from)) {
      await res.body?.cancel().catch(() => undefined);
      throw redirected(url, from);
    }
    const etag = res.headers.get('etag') ?? undefined;
    const body = (want: number) => guard(readBody(res, want, alive), (e) => new Transient(`the connection broke off during the body (${e.message})`));
    if (res.status === 206) {
      const range = contentRange(res);
      if (range && range.start !== start) {
        await res.body?.cancel().catch(() => undefined);
        throw new WeftError(
          'RANGE_UNSUPPORTED',
          `${url} answered a request for bytes ${start}-${end - 1} with bytes ${range.start}-${range.end - 1}. Serve the index from a host with standard HTTP range requests.`,
          { details: { url } },
        );
      }
      const want = mayEndEarly && range ? Math.min(end, range.end) - start : end - start;
      return { bytes: await body(want), total: range?.total, etag, url: from };
    }
    if (res.status === 200) {
      // A whole small file is a fine answer to a request that covers it; anything else means the
      // server ignores Range and would send the whole index for every list.
      const length = Number(res.headers.get('content-length'));
      if (start === 0 && mayEndEarly && Number.isFinite(length) && length > 0 && length <= end) {
        return { bytes: await body(length), total: length, etag, url: from };
      }
      await res.body?.cancel().catch(() => undefined);
      throw new WeftError(
        'RANGE_UNSUPPORTED',
        `${url} answered a range request with the whole file (HTTP 200): the server does not support HTTP range requests, so the index cannot be read in place. Serve it from a host that does (static hosts and CDNs do), or download it and use importIndex.`,
        { details: { url, status: 200 } },
      );
    }
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 416)
      throw new WeftError(
        'REMOTE_CHANGED',
        `${url} no longer holds bytes ${start}-${end - 1} (HTTP 416): the file was replaced by a shorter one. Open the index again.`,
        { details: { url, status: 416 } },
      );
    if (res.status >= 500 || res.status === 408 || res.status === 429) throw new Transient(`HTTP ${res.status}`);
    throw new WeftError(
      'REMOTE_UNAVAILABLE',
      `${url} answered HTTP ${res.status}${res.status === 404 ? ' (not found): check the URL, or whether the index was moved' : ''}.`,
      { details: { url, status: res.status } },
    );
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
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
        throw new WeftError(
          'REMOTE_UNAVAILABLE',
          `Could not read bytes ${start}-${end - 1} of ${url} after ${retries + 1} attempts: ${e.message}. Check the connection; what this index already cached still answers.`,
          { details: { url, start, end, ...(e instanceof Stalled ? { stalled: true } : {}) } },
        );
      }
      await sleep(delay * 2 ** i * (0.75 + Math.random() * 0.5), o.signal, url);
    }
  }
}
