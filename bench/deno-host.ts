// The remote regime's static host under Deno, where no Chromium emulates the network (a lent GPU
// machine: scripts/device/run.sh). An HTTP server on 127.0.0.1 answers GET and HEAD of files
// published into memory, with a single byte range as any static host does (206, Content-Range,
// an ETag per publication; scripts/range-server.mjs is the browser's), and emulates the link as
// Chromium's DevTools throttling does: each response's headers wait the latency, and every body
// crosses one shared link of the given throughput, in 16 KiB slices, first come first served.
import type { BenchHost, BenchNetwork } from './stores.js';

declare const Deno: {
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { port: number }) => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
};

const SLICE = 16 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A running host: the BenchHost, the bytes its bodies sent, and close(). */
export interface DenoHost extends BenchHost {
  sentBytes(): number;
  close(): Promise<void>;
}

/** Starts the host on a free port of 127.0.0.1, at full speed until network() says otherwise. */
export function startDenoHost(): DenoHost {
  const files = new Map<string, { bytes: Uint8Array; etag: string }>();
  let net: BenchNetwork | undefined;
  let linkFreeAt = 0; // when the shared link has sent what it was given (performance.now() ms)
  let sent = 0;
  let version = 0;

  /** The body, paced through the link when there is one. */
  const body = (bytes: Uint8Array): ReadableStream<Uint8Array> => {
    let at = 0;
    return new ReadableStream({
      async pull(controller) {
        const slice = bytes.subarray(at, Math.min(bytes.length, at + (net ? SLICE : bytes.length)));
        at += slice.length;
        if (net) {
          const now = performance.now();
          linkFreeAt = Math.max(now, linkFreeAt) + (slice.length * 8) / (net.mbps * 1000);
          await sleep(linkFreeAt - now);
        }
        sent += slice.length;
        controller.enqueue(slice);
        if (at >= bytes.length) controller.close();
      },
    });
  };

  const answer = async (req: Request): Promise<Response> => {
    const name = decodeURIComponent(new URL(req.url).pathname.replace(/^\/files\//, ''));
    const file = files.get(name);
    if (net) await sleep(net.latencyMs);
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) return new Response('not found', { status: 404 });
    const size = file.bytes.length;
    const headers = new Headers({ 'accept-ranges': 'bytes', etag: file.etag, 'cache-control': 'no-cache', 'content-type': 'application/octet-stream' });
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get('range') ?? '');
    if (!m || (m[2] !== '' && Number(m[2]) < Number(m[1]))) {
      headers.set('content-length', String(size));
      return new Response(req.method === 'HEAD' ? null : body(file.bytes), { status: 200, headers });
    }
    const start = Number(m[1]);
    if (start >= size) {
      headers.set('content-range', `bytes */${size}`);
      return new Response(null, { status: 416, headers });
    }
    const end = Math.min(size, m[2] === '' ? size : Number(m[2]) + 1);
    headers.set('content-range', `bytes ${start}-${end - 1}/${size}`);
    headers.set('content-length', String(end - start));
    return new Response(req.method === 'HEAD' ? null : body(file.bytes.subarray(start, end)), { status: 206, headers });
  };

  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => undefined }, answer);
  const origin = `http://127.0.0.1:${server.addr.port}`;
  return {
    async publish(name, file) {
      files.set(name, { bytes: new Uint8Array(await file.arrayBuffer()), etag: `"w${++version}"` });
      return `${origin}/files/${encodeURIComponent(name)}`;
    },
    network: async (c) => {
      net = c;
      linkFreeAt = 0;
    },
    forget: async () => undefined, // Deno's remote tier is in memory, a new one for each store opened
    sentBytes: () => sent,
    close: () => server.shutdown(),
  };
}
