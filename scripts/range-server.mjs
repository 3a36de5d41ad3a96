// A static file host with HTTP range requests, for the remote tier's tests and `bench rag
// --regime remote`: files PUT into memory are served as a CDN would (206 with Content-Range,
// ETag, Accept-Ranges, 416 past the end), and on demand it misbehaves the ways real hosts do —
// a connection dropped mid-body, a body cut short, 200 with the whole file instead of 206, bytes
// flipped in transit (in ranges past the head), no answer at all, a host that stalls (before its
// headers, or half way through a body, the connection kept open), one that streams without end,
// one that misstates the file's length in Content-Range — so those paths are tested against real
// HTTP. It counts every request per file and the bytes it sent. It redirects on demand (to any
// URL). Mounted as Vite middleware (dev server, preview, Vitest's browser server) under /__weft-range/.
//
//   PUT  /__weft-range/files/NAME           the body becomes NAME (a new ETag)
//   GET  /__weft-range/files/NAME           served with ranges (HEAD too)
//   POST /__weft-range/fault/NAME?kind=K&times=N   K: drop | short | full | tamper | down |
//        stall-head | stall-body | endless | lie-total | none (`from=B`: only ranges starting at B or
//        later; `total=T`: the total lie-total states, else a different one each time)
//   GET  /__weft-range/log/NAME             the requests so far: [{ start, end }] (end exclusive); DELETE clears it
//   GET  /__weft-range/sent/NAME            body bytes sent for NAME so far
//   GET  /__weft-range/redirect/ANY?to=URL  302 to URL (HEAD too)

const PREFIX = '/__weft-range/';

export function createRangeHost() {
  const files = new Map();
  const faults = new Map();
  const logs = new Map();
  const sent = new Map();
  let version = 0;

  const body = (req) =>
    new Promise((resolve, reject) => {
      const parts = [];
      req.on('data', (d) => parts.push(d));
      req.on('end', () => resolve(Buffer.concat(parts)));
      req.on('error', reject);
    });

  const serve = (req, res, name) => {
    const file = files.get(name);
    if (!file) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    // A range whose last byte is before its first ("bytes=8-7", asking for no bytes) is not a valid
    // range, and a host ignores the header (RFC 9110 14.1.1): it sends the whole file, as real hosts do.
    const parsed = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const m = parsed && (parsed[2] === '' || Number(parsed[2]) >= Number(parsed[1])) ? parsed : null;
    const start = m ? Number(m[1]) : 0;
    const end = m ? Math.min(file.bytes.length, m[2] === '' ? file.bytes.length : Number(m[2]) + 1) : file.bytes.length;
    if (req.method === 'GET') (logs.get(name) ?? logs.set(name, []).get(name)).push({ start, end });
    const fault = faults.get(name);
    const kind = fault && fault.times > 0 && req.method === 'GET' && start >= fault.from ? fault.kind : 'none';
    if (kind !== 'none') fault.times--;
    res.setHeader('accept-ranges', 'bytes');
    if (file.etag !== undefined) res.setHeader('etag', file.etag);
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('content-type', 'application/octet-stream');
    if (kind === 'down') {
      req.socket.destroy();
      return;
    }
    // No answer at all, the connection kept open (until the client gives up).
    if (kind === 'stall-head') return;
    if (!m || kind === 'full') {
      res.statusCode = 200;
      res.setHeader('content-length', String(file.bytes.length));
      res.end(req.method === 'HEAD' ? undefined : file.bytes);
      return;
    }
    if (start >= file.bytes.length) {
      res.statusCode = 416;
      res.setHeader('content-range', `bytes */${file.bytes.length}`);
      res.end();
      return;
    }
    let data = file.bytes.subarray(start, end);
    res.statusCode = 206;
    // A wrong total: the fault's `total`, or a different one on every response.
    const total = kind === 'lie-total' ? (fault.total ?? file.bytes.length + 1 + Math.floor(Math.random() * 1e6)) : file.bytes.length;
    res.setHeader('content-range', `bytes ${start}-${end - 1}/${total}`);
    const count = (n) => sent.set(name, (sent.get(name) ?? 0) + n);
    if (kind === 'endless') {
      // The range's bytes, then more, for ever (no Content-Length), as fast as the client reads.
      const chunk = Buffer.alloc(64 * 1024, 7);
      const more = () => {
        if (res.destroyed) return;
        count(chunk.length);
        if (res.write(chunk)) setImmediate(more);
        else res.once('drain', more);
      };
      count(data.length);
      res.write(data, more);
      return;
    }
    if (kind === 'short') data = data.subarray(0, Math.floor(data.length / 2));
    // The first byte of a range past the file's head: a section's, so its CRC must catch it.
    if (kind === 'tamper' && start > 0 && data.length > 0) {
      data = Buffer.from(data);
      data[0] ^= 0x5a;
    }
    res.setHeader('content-length', String(kind === 'drop' || kind === 'stall-body' ? end - start : data.length));
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    count(data.length);
    if (kind === 'stall-body') {
      // Half the body, then nothing, the connection kept open.
      res.write(data.subarray(0, Math.max(1, data.length >> 1)));
      return;
    }
    if (kind === 'drop') {
      // Half the body, then the connection goes away.
      res.write(data.subarray(0, Math.max(1, data.length >> 1)), () => setTimeout(() => res.destroy(), 10));
      return;
    }
    res.end(data);
  };

  const handle = async (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith(PREFIX)) {
      next();
      return;
    }
    const [what, ...rest] = url.pathname.slice(PREFIX.length).split('/');
    const name = decodeURIComponent(rest.join('/'));
    try {
      if (what === 'files' && req.method === 'PUT') {
        files.set(name, { bytes: await body(req), etag: `"w${++version}"` });
        logs.set(name, []);
        res.end('ok');
      } else if (what === 'files' && (req.method === 'GET' || req.method === 'HEAD')) {
        serve(req, res, name);
      } else if (what === 'fault' && req.method === 'POST') {
        const times = url.searchParams.get('times');
        faults.set(name, {
          kind: url.searchParams.get('kind') ?? 'none',
          times: times === null ? Infinity : Number(times),
          from: Number(url.searchParams.get('from') ?? 0),
          total: url.searchParams.has('total') ? Number(url.searchParams.get('total')) : undefined,
        });
        res.end('ok');
      } else if (what === 'sent') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(sent.get(name) ?? 0));
      } else if (what === 'redirect') {
        res.statusCode = 302;
        res.setHeader('location', url.searchParams.get('to') ?? '/');
        res.end();
      } else if (what === 'log') {
        if (req.method === 'DELETE') logs.set(name, []);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(logs.get(name) ?? []));
      } else {
        res.statusCode = 404;
        res.end('unknown route');
      }
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  };
  return { files, handle };
}

/** The host as a Vite plugin (dev server, preview server, Vitest's browser server). */
export function rangeHostPlugin() {
  const host = createRangeHost();
  const mount = (server) => {
    server.middlewares.use((req, res, next) => {
      void host.handle(req, res, next);
    });
  };
  return { name: 'weft-range-host', configureServer: mount, configurePreviewServer: mount };
}
