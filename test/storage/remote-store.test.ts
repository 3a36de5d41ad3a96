// The remote store on Node (no IndexedDB, no GPU: its sections are then kept in memory), against
// the range host (scripts/range-server.mjs) on a real HTTP server: every read equals the store the
// file was exported from; writes are READ_ONLY; the first layout is UNSUPPORTED_FORMAT; a host
// that drops a connection once is retried, one that ignores Range or answers 404 gets coded errors;
// what the header's first read brought past the toc is not asked for again.
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRangeHost } from '../../scripts/range-server.mjs';
import { openFileStore } from '../../src/storage/file-store.js';
import { nodeFileSystem } from '../../src/storage/fs-node.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { SECTION, parseHeader, parseToc, sectionKey } from '../../src/storage/index-file.js';
import { exportIndex } from '../../src/storage/portable.js';
import { openRemoteStore } from '../../src/storage/remote/remote-store.js';
import { fetchRange } from '../../src/storage/remote/range-fetch.js';
import { buildIndex, nlist } from '../support/store-fixtures.js';
import { exportVersion1 } from '../support/index-file-v1.js';

const host = createRangeHost();
let server: Server;
let base = '';
let dir = '';
let local: WeftStore;

beforeAll(async () => {
  server = createServer((req, res) => {
    void host.handle(req, res, () => {
      res.statusCode = 404;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/__weft-range`;
  dir = await mkdtemp(join(tmpdir(), 'weft-remote-'));
  local = await openFileStore({ dir, fs: nodeFileSystem() });
  await buildIndex(local, 'idx', 'f16');
  // An index with an empty list (its vectors deleted and compacted away): its sections have no bytes.
  const holes = await buildIndex(local, 'holes', 'f16');
  const emptied = holes.lists[0]!;
  await local.commit('holes', holes.manifest.generation, {
    lists: [{ list: 0, count: 0, ids: new Uint32Array(0), codes: new Uint32Array(0) }],
    deleteChunks: Array.from(emptied.ids),
    countDelta: -emptied.count,
  });
  host.files.set('holes.weft', { bytes: new Uint8Array(await (await exportIndex(local, 'holes')).arrayBuffer()), etag: '"c"' });
  host.files.set('idx.weft', { bytes: new Uint8Array(await (await exportIndex(local, 'idx')).arrayBuffer()), etag: '"a"' });
  host.files.set('v1.weft', { bytes: new Uint8Array(await (await exportVersion1(local, 'idx')).arrayBuffer()), etag: '"b"' });
  // Centroids longer than the header's first read (64 KiB): 64 x 384 f32.
  await local.createIndex({
    name: 'wide',
    dim: 384,
    metric: 'l2',
    storage: 'f32',
    nlist: 64,
    modelId: 'test-model',
    centroids: Float32Array.from({ length: 64 * 384 }, () => Math.random() - 0.5),
  });
  host.files.set('wide.weft', { bytes: new Uint8Array(await (await exportIndex(local, 'wide')).arrayBuffer()), etag: '"d"' });
});

afterAll(async () => {
  local.close();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

const fault = (name: string, kind: string, times?: number) =>
  fetch(`${base}/fault/${name}?kind=${kind}${times === undefined ? '' : `&times=${times}`}`, { method: 'POST' });

describe('a remote store', () => {
  test('reads what the exported store holds: manifest, centroids, lists, chunks, catalog, term buckets', async () => {
    const remote = await openRemoteStore(`${base}/files/idx.weft`);
    try {
      const m = await local.manifest('idx');
      expect(remote.indexName).toBe('idx');
      expect(await remote.manifest('idx')).toMatchObject({
        dim: m.dim,
        nlist: m.nlist,
        storage: m.storage,
        count: m.count,
        tombstones: m.tombstones,
        checksums: m.checksums,
        listCounts: m.listCounts,
      });
      expect(await remote.readCentroids('idx')).toEqual(await local.readCentroids('idx'));
      const all = Array.from({ length: nlist }, (_, l) => l);
      expect(await remote.readLists('idx', [3, 0])).toEqual(await local.readLists('idx', [3, 0]));
      expect(await remote.readLists('idx', all)).toEqual(await local.readLists('idx', all));
      expect(await remote.readChunks('idx', [0, 39, 56, 57, 9999])).toEqual(await local.readChunks('idx', [0, 39, 56, 57, 9999]));
      expect((await remote.readCatalog('idx')).chunks).toEqual((await local.readCatalog('idx')).chunks);
      expect((await remote.chunkIdsOfDocument('idx', 'doc-1')).sort()).toEqual((await local.chunkIdsOfDocument('idx', 'doc-1')).sort());
      const buckets = Array.from({ length: 1024 }, (_, b) => b);
      const terms = (r: Awaited<ReturnType<WeftStore['readTermBuckets']>>) => r.buckets.flatMap((b) => [...b.terms.keys()]).sort();
      expect(terms(await remote.readTermBuckets('idx', buckets))).toEqual(terms(await local.readTermBuckets('idx', buckets)));
      expect((await remote.readWholeIndex('idx')).chunks).toEqual((await local.readWholeIndex('idx')).chunks);
      await expect(remote.manifest('other')).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
      await expect(remote.commit('idx', m.generation, {})).rejects.toMatchObject({ code: 'READ_ONLY' });
      await expect(remote.deleteIndex('idx')).rejects.toMatchObject({ code: 'READ_ONLY' });
      // Everything read once is held: reading it again sends no request.
      const sent = remote.stats().requests;
      await remote.readLists('idx', all);
      expect(remote.stats().requests).toBe(sent);
    } finally {
      remote.close();
    }
  });

  test("the centroids come from the header's first read where it holds them; of longer ones only the rest is asked for", async () => {
    for (const name of ['idx', 'wide']) {
      const bytes = host.files.get(`${name}.weft`)!.bytes as Uint8Array;
      const header = parseHeader(bytes);
      const centroids = parseToc(bytes.subarray(header.bodyOffset, header.bodyOffset + header.toc.length), header, bytes.byteLength).get(
        sectionKey(SECTION.centroids, 0),
      )!;
      const remote = await openRemoteStore(`${base}/files/${name}.weft`);
      try {
        const log = async () => (await (await fetch(`${base}/log/${name}.weft`)).json()) as { start: number; end: number }[];
        const opened = (await log()).length;
        expect(await remote.readCentroids(name)).toEqual(await local.readCentroids(name));
        const asked = (await log()).slice(opened);
        const first = 64 * 1024;
        if (centroids.offset + centroids.length <= first) expect(asked).toEqual([]);
        else expect(asked).toEqual([{ start: first, end: centroids.offset + centroids.length }]);
      } finally {
        remote.close();
      }
    }
    expect(host.files.get('wide.weft')!.bytes.byteLength).toBeGreaterThan(64 * 1024 + 64 * 384 * 2);
  });

  test('an empty list is read without asking the host for no bytes, which a host answers with the whole file', async () => {
    const remote = await openRemoteStore(`${base}/files/holes.weft`);
    try {
      expect(await remote.readLists('holes', [0])).toEqual(await local.readLists('holes', [0]));
      const all = Array.from({ length: nlist }, (_, l) => l);
      const lists = await remote.readLists('holes', all);
      expect(lists[0]!.count).toBe(0);
      expect(lists).toEqual(await local.readLists('holes', all));
      expect(await remote.readChunks('holes', [0, 5, 6])).toEqual(await local.readChunks('holes', [0, 5, 6]));
    } finally {
      remote.close();
    }
  });

  test('a connection dropped once is retried; a host ignoring Range, a missing file and the first layout get coded errors', async () => {
    await fault('idx.weft', 'drop', 1);
    const remote = await openRemoteStore(`${base}/files/idx.weft`, { retryDelayMs: 1 });
    remote.close();
    // (A whole small file is a fine answer to a first read that covers it, so the range starts inside.)
    await fault('idx.weft', 'full');
    await expect(fetchRange(`${base}/files/idx.weft`, 100, 4000)).rejects.toMatchObject({ code: 'RANGE_UNSUPPORTED' });
    await fault('idx.weft', 'short');
    await expect(fetchRange(`${base}/files/idx.weft`, 100, 4000, { retries: 1, retryDelayMs: 1 })).rejects.toMatchObject({
      code: 'REMOTE_UNAVAILABLE',
      message: expect.stringMatching(/ended after/),
    });
    await fault('idx.weft', 'none');
    await expect(openRemoteStore(`${base}/files/none.weft`)).rejects.toMatchObject({ code: 'REMOTE_UNAVAILABLE', message: expect.stringMatching(/404/) });
    await expect(openRemoteStore(`${base}/files/v1.weft`)).rejects.toMatchObject({ code: 'UNSUPPORTED_FORMAT' });
    const ac = new AbortController();
    ac.abort();
    await expect(openRemoteStore(`${base}/files/idx.weft`, { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
