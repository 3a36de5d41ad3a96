// The file store (src/storage/file-store.ts) on Node: the shared store spec (the same behaviour as
// IndexedDB), then what only files need: a crash at any point of a write leaves the old index or
// the new one, never a mix; racing writers (two store objects on one directory) get exactly one
// commit through; readers never see half a commit; a full disk is STORAGE_FULL; export/import run
// unchanged; garbage does not pile up.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { fileStoreIndexDir, openFileStore } from '../../src/storage/file-store.js';
import type { StoreFileSystem } from '../../src/storage/file-system.js';
import { fsError } from '../../src/storage/file-system.js';
import { nodeFileSystem } from '../../src/storage/fs-node.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { exportIndex, importIndex } from '../../src/storage/portable.js';
import { buildIndex } from '../support/store-fixtures.js';
import { bucketOf } from '../../src/lexical/postings.js';
import { valueChecksum } from '../../src/storage/checksum.js';
import { sealedManifest, type Manifest } from '../../src/storage/records.js';
import { lexicalSearch } from '../../src/stored-index/lexical-search.js';
import { lexicalAgreement } from '../support/store-behaviour.js';
import { randomList, storeBehaviour, storeInit, storeIntegrityBehaviour, storeLexicalBehaviour, type StoreBackend } from '../support/store-behaviour.js';

const node = nodeFileSystem();
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'weft-store-'));
  dirs.push(d);
  return d;
}

/** The current head of an index, parsed, and its path. */
async function headOf(dir: string, name: string) {
  const idir = fileStoreIndexDir(dir, name);
  const file = (await readdir(idir))
    .filter((f) => f.startsWith('head-'))
    .sort()
    .at(-1)!;
  const head = JSON.parse(new TextDecoder().decode(await node.readFile(join(idir, file)))) as {
    manifest: Record<string, unknown>;
    files: { lists: (string | null)[]; chunks: Record<string, string> };
  };
  return { idir, path: join(idir, file), head };
}

function fileBackend(): StoreBackend {
  let dir = '';
  const rewriteJson = async (path: string, edit: (v: never) => void) => {
    const v = JSON.parse(new TextDecoder().decode(await node.readFile(path))) as never;
    edit(v);
    await node.writeFile(path, new TextEncoder().encode(JSON.stringify(v)));
  };
  return {
    label: 'file store',
    async fresh() {
      dir = await tempDir();
      return openFileStore({ dir, fs: node });
    },
    tamper: {
      async listCodes(index, list, edit) {
        const { idir, head } = await headOf(dir, index);
        const path = join(idir, head.files.lists[list]!);
        const bytes = await node.readFile(path);
        const count = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
        edit(bytes.subarray(16 + count * 4));
        await node.writeFile(path, bytes);
      },
      async chunk(index, id, edit) {
        const { idir, head } = await headOf(dir, index);
        await rewriteJson(join(idir, head.files.chunks[String(Math.floor(id / 512))]!), (recs: Record<string, unknown>[]) =>
          edit(recs.find((r) => r.id === id)!),
        );
      },
      async manifest(index, edit) {
        const { path } = await headOf(dir, index);
        await rewriteJson(path, (h: { manifest: Record<string, unknown> }) => edit(h.manifest));
      },
      async rawManifest(index) {
        return (await headOf(dir, index)).head.manifest;
      },
      async terms(index, bucket, edit) {
        // A file holds 64 buckets: magic, count, (bucket, checksum, length) each, then their bytes.
        const { idir, head } = await headOf(dir, index);
        const path = join(idir, (head.files as unknown as { terms: Record<string, string> }).terms[String(Math.floor(bucket / 64))]!);
        const bytes = await node.readFile(path);
        const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const n = v.getUint32(4, true);
        let at = 8 + n * 12;
        for (let i = 0; i < n; i++) {
          const len = v.getUint32(16 + i * 12, true);
          if (v.getUint32(8 + i * 12, true) === bucket) edit(bytes.subarray(at, at + len));
          at += len;
        }
        await node.writeFile(path, bytes);
      },
    },
    another: () => openFileStore({ dir, fs: node }),
  };
}

storeBehaviour(fileBackend());
storeIntegrityBehaviour(fileBackend());
storeLexicalBehaviour(fileBackend());

/**
 * After `arm()`, every mutating call past the `failAt`-th fails, as if the process had died there
 * (the failing write leaves half its bytes behind).
 */
function crashingFs(failAt: number, error = 'EIO'): StoreFileSystem & { arm(): void } {
  let calls = 0,
    armed = false;
  const dead = () => armed && calls++ >= failAt;
  const fail = () => fsError(error, 'simulated failure');
  return {
    arm() {
      armed = true;
    },
    readFile: (p) => node.readFile(p),
    list: (p) => node.list(p),
    async writeFile(p, data) {
      if (dead()) {
        await node.writeFile(p, data.subarray(0, data.byteLength >> 1)).catch(() => undefined);
        throw fail();
      }
      return node.writeFile(p, data);
    },
    async rename(a, b) {
      if (dead()) throw fail();
      return node.rename(a, b);
    },
    async link(a, b) {
      if (dead()) throw fail();
      return node.link(a, b);
    },
    async remove(p, o) {
      if (dead()) throw fail();
      return node.remove(p, o);
    },
    async mkdir(p) {
      if (dead()) throw fail();
      return node.mkdir(p);
    },
    async syncDir(p) {
      if (dead()) throw fail();
      return node.syncDir(p);
    },
  };
}

/** A store whose filesystem dies at its `failAt`-th mutating call from now on. */
async function crashingStore(dir: string, failAt: number, error?: string): Promise<WeftStore> {
  const fs = crashingFs(failAt, error);
  const s = await openFileStore({ dir, fs });
  fs.arm();
  return s;
}

/** Everything a reader can see of an index, read through a fresh store. */
async function visible(dir: string, name: string) {
  const s = await openFileStore({ dir, fs: node });
  const whole = await s.readWholeIndex(name);
  return {
    generation: whole.manifest.generation,
    count: whole.manifest.count,
    lists: whole.lists.map((l) => Array.from(l.ids)),
    chunks: whole.chunks.map((c) => c.text),
  };
}

describe('file store: atomic commits', () => {
  test('a crash at every point of a commit, a whole-index write and a delete leaves the old state or the new one, and the store goes on', async () => {
    const dir = await tempDir();
    const s = await openFileStore({ dir, fs: node });
    const built = await buildIndex(s, 'idx', 'f32');
    const whole = await s.readWholeIndex('idx');
    const before = await visible(dir, 'idx');
    const a = randomList(1, 40);
    const change = (_generation: number) => ({
      lists: [{ ...a, ids: a.ids.map((_, i) => 100 + i) }],
      putChunks: [{ id: 3, list: 0, docId: 'x', text: 'changed' }],
      deleteChunks: [4],
      countDelta: 40 - built.lists[1]!.count,
      nextId: 140,
    });
    const outcomes = new Set<string>();
    for (let failAt = 0; ; failAt++) {
      const crashing = await crashingStore(dir, failAt);
      const g = (await s.manifest('idx')).generation;
      const result = await crashing.commit('idx', g, change(g)).then(
        () => 'done',
        (e: { code?: string }) => e.code,
      );
      const now = await visible(dir, 'idx');
      if (now.generation === g) {
        expect({ ...now, generation: 0 }).toEqual({ ...before, generation: 0 });
        expect(result).not.toBe('done');
        outcomes.add('old');
      } else {
        // The commit is whole: list 1, chunk 3 changed and chunk 4 gone together.
        expect(now.generation).toBe(g + 1);
        expect(now.lists[1]).toEqual(Array.from({ length: 40 }, (_, i) => 100 + i));
        expect(now.chunks).toContain('changed');
        expect(now.chunks).not.toContain('passage 4');
        outcomes.add('new');
        // Past the link (the point of no return) nothing can fail the commit any more.
        expect(result).toBe('done');
        break;
      }
      // Back to the old content for the next crash point, through a whole-index write that must also survive.
      await s.writeWholeIndex(whole, { replace: true });
      expect({ ...(await visible(dir, 'idx')), generation: 0 }).toEqual({ ...before, generation: 0 });
      if (failAt > 50) throw new Error('the commit never completed');
    }
    expect(outcomes).toEqual(new Set(['old', 'new']));
    await s.writeWholeIndex(whole, { replace: true });

    // A whole-index write and a delete, crashed at every point, are all-or-nothing as well.
    for (let failAt = 0; failAt < 40; failAt++) {
      const crashing = await crashingStore(dir, failAt);
      const copy = await crashing.writeWholeIndex({ ...whole, manifest: { ...whole.manifest, name: 'copy' } }).then(
        () => true,
        () => false,
      );
      const names = (await s.listIndexes()).map((m) => m.name).sort();
      if (names.includes('copy')) {
        expect((await visible(dir, 'copy')).chunks).toEqual(before.chunks);
        await s.deleteIndex('copy');
      } else {
        expect(copy).toBe(false);
      }
      const gone = await crashing.deleteIndex('idx').then(
        () => true,
        () => false,
      );
      const still = (await s.listIndexes()).some((m) => m.name === 'idx');
      if (still) {
        expect(gone).toBe(false);
        expect((await visible(dir, 'idx')).chunks).toEqual(before.chunks);
      } else {
        await s.writeWholeIndex(whole);
      }
    }
    expect((await visible(dir, 'idx')).chunks).toEqual(before.chunks);
  }, 30_000);

  test('two stores on one directory racing from the same generation: exactly one commit lands, the others are CONFLICT', async () => {
    const dir = await tempDir();
    const stores = await Promise.all(Array.from({ length: 6 }, () => openFileStore({ dir, fs: nodeFileSystem() })));
    const m0 = await stores[0]!.createIndex(storeInit('idx'));
    const lists = stores.map((_, i) => randomList(2, 10 + i));
    const results = await Promise.allSettled(
      stores.map((s, i) =>
        s.commit('idx', m0.generation, { lists: [lists[i]!], countDelta: 10 + i, putChunks: [{ id: i, list: 2, docId: `w${i}`, text: `writer ${i}` }] }),
      ),
    );
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'CONFLICT' });
    const w = won[0]!;
    expect(await stores[3]!.readLists('idx', [2])).toEqual([lists[w]]);
    expect(await stores[1]!.manifest('idx')).toMatchObject({ generation: 2, count: 10 + w });
    expect((await stores[4]!.readChunks('idx', [0, 1, 2, 3, 4, 5])).filter(Boolean)).toEqual([{ id: w, list: 2, docId: `w${w}`, text: `writer ${w}` }]);

    // A commit racing a delete either lands before it or is refused; the delete always wins in the end.
    const g = (await stores[0]!.manifest('idx')).generation;
    const [c, d] = await Promise.allSettled([stores[0]!.commit('idx', g, { countDelta: 1 }), stores[1]!.deleteIndex('idx')]);
    expect(d.status).toBe('fulfilled');
    if (c.status === 'rejected') expect(['CONFLICT', 'UNKNOWN_INDEX']).toContain((c.reason as { code: string }).code);
    expect(await stores[2]!.listIndexes()).toEqual([]);
    await expect(stores[2]!.createIndex(storeInit('idx'))).resolves.toMatchObject({ generation: 1, count: 0 });
  });

  test('readers running beside a stream of commits always see whole commits', async () => {
    const dir = await tempDir();
    const writer = await openFileStore({ dir, fs: node });
    const reader = await openFileStore({ dir, fs: node });
    let m = await writer.createIndex(storeInit('idx'));
    let done = false;
    const writes = (async () => {
      for (let i = 1; i <= 25; i++) {
        // Every commit sets all four lists to i vectors and one chunk per list: a reader can tell a mix.
        const lists = [0, 1, 2, 3].map((l) => ({ ...randomList(l, i), ids: Uint32Array.from({ length: i }, (_, k) => l * 1000 + k) }));
        m = await writer.commit('idx', m.generation, {
          lists,
          putChunks: [0, 1, 2, 3].map((l) => ({ id: l, list: l, docId: 'd', text: `round ${i}` })),
          countDelta: 4,
        });
      }
      done = true;
    })();
    let reads = 0;
    while (!done) {
      const whole = await reader.readWholeIndex('idx');
      const counts = new Set(whole.lists.map((l) => l.count));
      expect(counts.size).toBe(1);
      expect(new Set(whole.chunks.map((c) => c.text)).size).toBeLessThanOrEqual(1);
      if (whole.chunks.length) expect(whole.chunks[0]!.text).toBe(`round ${[...counts][0]}`);
      reads++;
    }
    await writes;
    expect(reads).toBeGreaterThan(0);
    // Only the current head and the files it names are left (plus the access statistics): the
    // centroids, four lists, one chunk shard and the term files of 'round' and '25'.
    const files = await readdir(fileStoreIndexDir(dir, 'idx'));
    const termFiles = new Set(['round', '25'].map((t) => Math.floor(bucketOf(t, 1024) / 64))).size;
    expect(files.filter((f) => f.startsWith('head-'))).toHaveLength(1);
    expect(files.filter((f) => f.endsWith('.bin') && f !== 'stats.bin')).toHaveLength(1 + 4 + 1 + termFiles);
    expect(files.filter((f) => f.includes('.terms-'))).toHaveLength(termFiles);
  }, 30_000);

  test('a full disk (ENOSPC) is STORAGE_FULL and changes nothing', async () => {
    const dir = await tempDir();
    const s = await openFileStore({ dir, fs: node });
    const m0 = await s.createIndex(storeInit('idx'));
    const full = await crashingStore(dir, 0, 'ENOSPC');
    const big = [0, 1, 2, 3].map((l) => randomList(l, 500));
    const err = await full.commit('idx', m0.generation, { lists: big, countDelta: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'WeftError', code: 'STORAGE_FULL' });
    expect((err as Error).message).toMatch(/disk/);
    expect(await s.manifest('idx')).toMatchObject({ generation: 1, count: 0 });
    await expect(full.createIndex(storeInit('other'))).rejects.toMatchObject({ code: 'STORAGE_FULL' });
    expect((await s.listIndexes()).map((x) => x.name)).toEqual(['idx']);
  });

  test('export and import (portable.ts) run unchanged; the index survives reopening the directory', async () => {
    const dir = await tempDir();
    const s: WeftStore = await openFileStore({ dir, fs: node });
    const built = await buildIndex(s, 'idx', 'int8');
    const file = await exportIndex(s, 'idx');
    const imported = await importIndex(s, file, { name: 'copy' });
    expect(imported).toMatchObject({ name: 'copy', count: built.manifest.count, nextId: built.manifest.nextId, storage: 'int8' });
    const again = await openFileStore({ dir, fs: nodeFileSystem() });
    const [a, b] = await Promise.all([again.readWholeIndex('idx'), again.readWholeIndex('copy')]);
    expect(b.lists).toEqual(a.lists);
    expect(b.chunks).toEqual(a.chunks);
    expect(b.centroids).toEqual(a.centroids);
    await expect(importIndex(again, await exportIndex(again, 'copy'), { name: 'copy' })).rejects.toMatchObject({ code: 'INDEX_EXISTS' });
    await expect(importIndex(again, await exportIndex(again, 'copy'), { name: 'copy', replace: true })).resolves.toMatchObject({ generation: 2 });
  });

  test('an index written in format 2 (no postings) is migrated on first read: postings built from its chunks, same generation, racing migrations harmless', async () => {
    const dir = await tempDir();
    const s = await openFileStore({ dir, fs: node });
    const built = await buildIndex(s, 'idx', 'f32');
    // Rewrite the head as format 2 wrote it: no lexical part, no term files.
    const { idir, path, head } = await headOf(dir, 'idx');
    const { lexical: _l, manifestChecksum: _c, ...fields } = head.manifest as unknown as Manifest & { manifestChecksum: number };
    const files = { ...head.files } as Record<string, unknown>;
    delete files.terms;
    const old = { ...head, manifest: sealedManifest({ ...fields, formatVersion: 2 }), files, filesChecksum: valueChecksum(files) };
    await node.writeFile(path, new TextEncoder().encode(JSON.stringify(old)));
    for (const f of await readdir(idir)) if (f.includes('.terms-')) await rm(join(idir, f));

    // Two stores read it at once: both migrate, one publishes, both see format 3.
    const [a, b] = await Promise.all([openFileStore({ dir, fs: node }), openFileStore({ dir, fs: node })]);
    const [ma, mb] = await Promise.all([a.manifest('idx'), b.manifest('idx')]);
    expect(ma).toEqual(mb);
    expect(ma).toMatchObject({ formatVersion: 3, generation: built.manifest.generation, count: built.manifest.count, lexical: built.manifest.lexical });
    await lexicalAgreement(a, 'idx');
    expect(Array.from((await lexicalSearch(a, 'idx', ma, 'passage 9', { k: 1 })).ids)).toEqual([9]);
    // A format-2 head with a damaged manifest is not migrated into validity.
    await node.writeFile(
      path.replace(/head-\d+/, 'head-999999999999'),
      new TextEncoder().encode(JSON.stringify({ ...old, seq: 999999999999, manifest: { ...old.manifest, count: 5 } })),
    );
    await expect(a.manifest('idx')).rejects.toMatchObject({ code: 'CORRUPT_RECORD', details: { record: 'manifest' } });
  });

  test('names: any string up to 120 bytes (hex-encoded directory names, so case and punctuation never collide)', async () => {
    const s = await openFileStore({ dir: await tempDir(), fs: node });
    for (const name of ['Notes', 'notes', '../up', 'a/b', 'ünï €', '.']) await s.createIndex(storeInit(name));
    expect((await s.listIndexes()).map((m) => m.name).sort()).toEqual(['.', '../up', 'Notes', 'a/b', 'notes', 'ünï €'].sort());
    await expect(s.createIndex(storeInit('x'.repeat(121)))).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(s.manifest('x'.repeat(121))).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
  });
});
