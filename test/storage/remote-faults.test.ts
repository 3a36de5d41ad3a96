// The remote tier against hosts that misbehave, on real HTTP (scripts/range-server.mjs on Node's
// server): a host that stalls before its headers or inside a body, one that streams without end,
// headers that lie about lengths, fields that are missing or of the wrong type, Content-Range
// totals that change on every response, redirects to the same and to another origin. Each read
// ends — by the caller's signal, by the stall timeout, by close() — with a coded error, and nothing
// is requested or buffered beyond what the file's own structure allows.
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRangeHost } from '../../scripts/range-server.mjs';
import { openFileStore } from '../../src/storage/file-store.js';
import { nodeFileSystem } from '../../src/storage/fs-node.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { exportIndex } from '../../src/storage/portable.js';
import { openRemoteStore } from '../../src/storage/remote/remote-store.js';
import { fetchRange } from '../../src/storage/remote/range-fetch.js';
import { buildIndex } from '../support/store-fixtures.js';
import { editFile, withHeaderLength } from '../support/index-file-edit.js';

/** A range host on its own port (so two of them are two origins). */
async function startHost() {
  const host = createRangeHost();
  const server: Server = createServer((req, res) => {
    void host.handle(req, res, () => {
      res.statusCode = 404;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/__weft-range`;
  return { host, server, base };
}

let a: Awaited<ReturnType<typeof startHost>>;
let b: Awaited<ReturnType<typeof startHost>>;
let dir = '';
let local: WeftStore;
let file: Uint8Array;

beforeAll(async () => {
  [a, b] = [await startHost(), await startHost()];
  dir = await mkdtemp(join(tmpdir(), 'weft-remote-faults-'));
  local = await openFileStore({ dir, fs: nodeFileSystem() });
  await buildIndex(local, 'idx', 'f16');
  file = new Uint8Array(await (await exportIndex(local, 'idx')).arrayBuffer());
  for (const h of [a, b]) h.host.files.set('idx.weft', { bytes: file, etag: '"a"' });
});

afterAll(async () => {
  local.close();
  for (const h of [a, b]) {
    h.server.closeAllConnections();
    await new Promise((r) => h.server.close(r));
  }
  await rm(dir, { recursive: true, force: true });
});

const fault = (name: string, kind: string, extra = '') => fetch(`${a.base}/fault/${name}?kind=${kind}${extra}`, { method: 'POST' });
const log = async (h: typeof a, name: string) => (await (await fetch(`${h.base}/log/${name}`)).json()) as { start: number; end: number }[];
const clearLog = (h: typeof a, name: string) => fetch(`${h.base}/log/${name}`, { method: 'DELETE' });
const put = (name: string, bytes: Uint8Array, etag = `"${name}"`) => a.host.files.set(name, { bytes, etag });
/** Milliseconds `p` takes to settle, and how. */
async function timed(p: Promise<unknown>): Promise<{ ms: number; error: { code?: string; message?: string; details?: Record<string, unknown> } | undefined }> {
  const t0 = performance.now();
  try {
    await p;
    return { ms: performance.now() - t0, error: undefined };
  } catch (e) {
    return { ms: performance.now() - t0, error: e as { code?: string } };
  }
}
/** Faults `from` this byte on hit every read but the header's (which starts at 0). */
const pastHead = '&from=1';

describe('a host that stalls', () => {
  for (const kind of ['stall-body', 'stall-head'] as const) {
    test(`${kind}: a read aborted by its signal ends at once; without a signal the stall timeout ends it; close() ends a read in flight`, async () => {
      put('s.weft', file);
      const remote = await openRemoteStore(`${a.base}/files/s.weft`, { stallMs: 400, retries: 1, retryDelayMs: 1 });
      try {
        await fault('s.weft', kind);
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 200);
        const aborted = await timed(remote.readLists('idx', [0], { signal: ac.signal }));
        expect(aborted.error?.code).toBe('ABORTED');
        expect(aborted.ms).toBeLessThan(200 + 1000);

        const stalled = await timed(remote.readLists('idx', [1]));
        expect(stalled.error).toMatchObject({ code: 'REMOTE_UNAVAILABLE', message: expect.stringMatching(/stalled/) });
        // Two attempts of 400 ms each, not the host's whim.
        expect(stalled.ms).toBeLessThan(5000);

        const pending = timed(remote.readChunks('idx', [0, 1, 2]));
        await new Promise((r) => setTimeout(r, 100));
        remote.close();
        const closed = await pending;
        expect(closed.error?.code).toBe('ABORTED');
        expect(closed.ms).toBeLessThan(100 + 1000);
      } finally {
        await fault('s.weft', 'none');
        remote.close();
      }
    });
  }

  test('opening a host that never answers ends with REMOTE_UNAVAILABLE after the stall timeout, or at once on abort', async () => {
    put('h.weft', file);
    await fault('h.weft', 'stall-head');
    try {
      const slow = await timed(openRemoteStore(`${a.base}/files/h.weft`, { stallMs: 300, retries: 0 }));
      expect(slow.error).toMatchObject({ code: 'REMOTE_UNAVAILABLE', details: expect.objectContaining({ stalled: true }) });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const aborted = await timed(openRemoteStore(`${a.base}/files/h.weft`, { signal: ac.signal }));
      expect(aborted.error?.code).toBe('ABORTED');
      expect(aborted.ms).toBeLessThan(1100);
    } finally {
      await fault('h.weft', 'none');
    }
  });

  test('a reader that aborts does not stop the same read for another reader waiting on it', async () => {
    put('j.weft', file);
    const remote = await openRemoteStore(`${a.base}/files/j.weft`, { stallMs: 5000 });
    try {
      const ac = new AbortController();
      const first = remote.readLists('idx', [2, 3], { signal: ac.signal });
      const second = remote.readLists('idx', [2, 3]);
      ac.abort();
      await expect(first).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await second).toEqual(await local.readLists('idx', [2, 3]));
    } finally {
      remote.close();
    }
  });
});

describe('a host that sends too much', () => {
  test('a body that never ends is read only as far as the range asked for', async () => {
    put('e.weft', file);
    await fault('e.weft', 'endless');
    try {
      const got = await fetchRange(`${a.base}/files/e.weft`, 100, 4100);
      expect(got.bytes).toEqual(file.subarray(100, 4100));
      await new Promise((r) => setTimeout(r, 200));
      const sent = (await (await fetch(`${a.base}/sent/e.weft`)).json()) as number;
      // The socket's buffers at most, not the host's stream.
      expect(sent).toBeLessThan(16 * 2 ** 20);
    } finally {
      await fault('e.weft', 'none');
    }
  });

  test('a Content-Range total that changes on every response costs no extra header read when the ETag vouches, one at most without', async () => {
    for (const etag of ['"t"', undefined]) {
      a.host.files.set('t.weft', { bytes: file, etag: etag as string });
      await fault('t.weft', 'lie-total', pastHead);
      const remote = await openRemoteStore(`${a.base}/files/t.weft`);
      try {
        const m = await remote.manifest('idx');
        const all = Array.from({ length: m.nlist }, (_, l) => l);
        for (const l of all) expect(await remote.readLists('idx', [l])).toEqual(await local.readLists('idx', [l]));
        expect(await remote.readChunks('idx', [0, 5, 9])).toEqual(await local.readChunks('idx', [0, 5, 9]));
        const headReads = (await log(a, 't.weft')).filter((r) => r.start === 0).length;
        expect(headReads).toBe(etag ? 1 : 2);
      } finally {
        remote.close();
        await fault('t.weft', 'none');
        await clearLog(a, 't.weft');
      }
    }
  });
});

describe('a header that lies', () => {
  const cases: [string, () => Uint8Array, string][] = [
    ['a header of 4 GiB', () => withHeaderLength(file, 0xffffffff), 'header length'],
    [
      'a table of contents of 3 TiB',
      () =>
        editFile(file, (h) => {
          h.toc.length = 3 * 2 ** 40;
        }),
      'toc.length',
    ],
    [
      'listCounts a string',
      () =>
        editFile(file, (h) => {
          h.manifest.listCounts = 'many';
        }),
      'listCounts',
    ],
    [
      'listCounts missing',
      () =>
        editFile(file, (h) => {
          delete h.manifest.listCounts;
        }),
      'listCounts',
    ],
    [
      'checksums missing',
      () =>
        editFile(file, (h) => {
          delete h.manifest.checksums;
        }),
      'checksums',
    ],
    [
      'more pages than the table of contents',
      () =>
        editFile(file, (h) => {
          h.pages = [...h.pages, 1e6, 2e6];
        }),
      'pages',
    ],
    ['a list section of 4 GiB', () => editFile(file, () => undefined, { kind: 'codes', key: 0, length: 0xfffffffc }), 'codes of list 0'],
    ['a term bucket longer than the file', () => editFile(file, () => undefined, { kind: 'catalog', key: 0, length: 0xfffffff0 }), 'catalog'],
  ];
  for (const [what, make, field] of cases) {
    test(`${what}: INVALID_FILE naming ${field}, before anything it claims is requested`, async () => {
      put('lie.weft', make());
      await clearLog(a, 'lie.weft');
      const err = await openRemoteStore(`${a.base}/files/lie.weft`).then(
        (s) => {
          s.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'INVALID_FILE' });
      expect(String((err as { details?: { field?: string } }).details?.field ?? (err as Error).message)).toContain(field);
      // Only the file's head was asked for, never the range it claims.
      for (const r of await log(a, 'lie.weft')) expect(r.end - r.start).toBeLessThanOrEqual(64 * 1024);
    });
  }

  test('a host that claims a 1 TiB file cannot make a list section of 4 GiB be fetched', async () => {
    put(
      'big.weft',
      editFile(file, () => undefined, { kind: 'ids', key: 1, length: 0xfffffffc }),
    );
    await fault('big.weft', 'lie-total', `&total=${2 ** 40}`);
    await clearLog(a, 'big.weft');
    try {
      await expect(openRemoteStore(`${a.base}/files/big.weft`)).rejects.toMatchObject({ code: 'INVALID_FILE', message: expect.stringMatching(/list 1/) });
      for (const r of await log(a, 'big.weft')) expect(r.end - r.start).toBeLessThanOrEqual(64 * 1024);
    } finally {
      await fault('big.weft', 'none');
    }
  });
});

describe('redirects', () => {
  const to = (h: typeof a) => encodeURIComponent(`${h.base}/files/idx.weft`);

  test('within the origin: followed, and url says where the bytes come from', async () => {
    for (const headers of [undefined, { 'x-weft-key': 'secret' }]) {
      const remote = await openRemoteStore(`${a.base}/redirect/latest?to=${to(a)}`, { ...(headers ? { headers } : {}) });
      try {
        expect(remote.url).toBe(`${a.base}/files/idx.weft`);
        expect(await remote.readLists('idx', [0])).toEqual(await local.readLists('idx', [0]));
      } finally {
        remote.close();
      }
    }
  });

  test('to another origin: REMOTE_REDIRECTED, and request headers never reach it; allowed by crossOriginRedirects', async () => {
    await clearLog(b, 'idx.weft');
    for (const headers of [undefined, { 'x-weft-key': 'secret' }]) {
      await expect(openRemoteStore(`${a.base}/redirect/latest?to=${to(b)}`, { ...(headers ? { headers } : {}) })).rejects.toMatchObject({
        code: 'REMOTE_REDIRECTED',
      });
    }
    // Without headers the redirect was followed by the HTTP client and refused on arrival; with them, never sent.
    expect((await log(b, 'idx.weft')).length).toBe(1);
    const remote = await openRemoteStore(`${a.base}/redirect/latest?to=${to(b)}`, { crossOriginRedirects: true });
    try {
      expect(remote.url).toBe(`${b.base}/files/idx.weft`);
      expect(await remote.readLists('idx', [1])).toEqual(await local.readLists('idx', [1]));
    } finally {
      remote.close();
    }
  });
});
