// Finite but absurd numbers (issue 20, item 6): values whose squares overflow the scan's f32
// arithmetic are refused where they come in — vectors added, queries, an imported file's centroids
// and vectors — with INVALID_VECTOR (INVALID_FILE for a file) naming the row, the value and what to
// do; and an imported file whose sections overlap the table of contents (or each other) is refused
// even when every checksum matches.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { MAX_SQUARED_NORM, checkVectors } from '../../src/ivf/validate.js';
import { crc32 } from '../../src/storage/checksum.js';
import { openFileStore } from '../../src/storage/file-store.js';
import { nodeFileSystem } from '../../src/storage/fs-node.js';
import { PRELUDE_BYTES, SECTION } from '../../src/storage/index-file.js';
import { exportIndex, importIndex } from '../../src/storage/portable.js';
import { createStoredIndex } from '../../src/stored-index/stored-index.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { buildIndex, dim } from '../support/store-fixtures.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function freshStore(): Promise<WeftStore> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-absurd-'));
  dirs.push(dir);
  return openFileStore({ dir, fs: nodeFileSystem() });
}

/** A version-3 file taken apart: header JSON, toc words (body-relative offsets) and body bytes. */
function unpack(buffer: ArrayBuffer) {
  const all = new Uint8Array(buffer);
  const length = new DataView(buffer).getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(all.subarray(PRELUDE_BYTES, PRELUDE_BYTES + length))) as { toc: { length: number; crc: number } } & Record<
    string,
    unknown
  >;
  const bodyOffset = PRELUDE_BYTES + length + ((4 - (length % 4)) % 4);
  const body = all.slice(bodyOffset, all.byteLength - 4);
  return { header, body, toc: new Uint32Array(body.buffer, 0, header.toc.length / 4) };
}

/** Puts it together again with the toc's CRC, the header's and the trailer recomputed. */
function pack(u: ReturnType<typeof unpack>): ArrayBuffer {
  u.header.toc.crc = crc32(u.body.subarray(0, u.header.toc.length));
  const header = new TextEncoder().encode(JSON.stringify(u.header));
  const pad = (4 - (header.byteLength % 4)) % 4;
  const out = new Uint8Array(PRELUDE_BYTES + header.byteLength + pad + u.body.byteLength + 4);
  out.set(new TextEncoder().encode('WEFTIDX\0'));
  const view = new DataView(out.buffer);
  view.setUint32(8, 3, true);
  view.setUint32(12, header.byteLength, true);
  view.setUint32(16, crc32(header), true);
  out.set(header, PRELUDE_BYTES);
  out.set(u.body, PRELUDE_BYTES + header.byteLength + pad);
  view.setUint32(out.byteLength - 4, crc32(out.subarray(0, out.byteLength - 4)), true);
  return out.buffer;
}

/** The toc entry (its word index) of a section. */
function entryOf(toc: Uint32Array, kind: number, key = 0): number {
  for (let i = 0; i < toc.length; i += 6) if (toc[i] === kind && toc[i + 1] === key) return i;
  throw new Error(`no section ${kind}:${key}`);
}

describe('finite values beyond what f32 distances hold', () => {
  test('checkVectors refuses a row whose squared norm overflows f32, naming row, value and dimension; large but safe rows pass', () => {
    const v = new Float32Array(4 * 3);
    v.fill(0.5);
    v[2 * 4 + 1] = 3e38;
    const err = (() => {
      try {
        checkVectors('vectors', v, 4);
      } catch (e) {
        return e;
      }
    })() as { code: string; message: string; details: unknown };
    expect(err).toMatchObject({ code: 'INVALID_VECTOR', details: { row: 2 } });
    expect(err.message).toMatch(/vectors row 2 has 3\.0000000\d*e\+38 at dimension 1/);
    expect(err.message).toMatch(/norm below ~9\.2e\+18.*scale the vectors/);
    expect(() => checkVectors('queries', Float32Array.from([-3e38, 0]), 2)).toThrow(expect.objectContaining({ code: 'INVALID_VECTOR' }));
    // Many moderate values add up past the bound too.
    expect(() => checkVectors('v', new Float32Array(64).fill(2e18), 64)).toThrow(expect.objectContaining({ code: 'INVALID_VECTOR' }));
    expect(checkVectors('v', Float32Array.from([1e18, -1e18, 5]), 3)).toBe(1);
    expect(Math.sqrt(MAX_SQUARED_NORM)).toBeGreaterThan(9e18);
  });

  test('a stored index refuses a ±3e38 query and vector with INVALID_VECTOR (not a wrapped list number), and still searches', async () => {
    const store = await freshStore();
    const d = 8;
    const training = Float32Array.from({ length: 64 * d }, (_, i) => Math.sin(i * 1.7));
    const index = await createStoredIndex(training, { store, name: 'x', dim: d, nlist: 4, metric: 'l2', storage: 'f32', gpu: 'cpu' });
    try {
      await index.add(training);
      const q = new Float32Array(d).fill(3e38);
      await expect(index.search(q, { k: 3 })).rejects.toMatchObject({
        code: 'INVALID_VECTOR',
        message: expect.stringMatching(/row 0 has 3\.0*\d*e\+38 at dimension 0.*scale/),
      });
      q.fill(-3e38);
      await expect(index.search(q, { k: 3 })).rejects.toMatchObject({ code: 'INVALID_VECTOR' });
      const bad = training.slice(0, 2 * d);
      bad[d + 5] = 3e38;
      await expect(index.add(bad)).rejects.toMatchObject({ code: 'INVALID_VECTOR', message: expect.stringMatching(/row 1 has .* at dimension 5/) });
      expect(index.size).toBe(64);
      const r = await index.search(training.slice(0, d), { k: 3 });
      expect(r.ids[0]).toBe(0);
    } finally {
      await index.close();
      store.close();
    }
  });
});

describe('an imported file: degenerate centroids and overlapping sections', () => {
  test('finite centroids or vectors whose norm overflows f32 are refused (INVALID_FILE, naming them); nothing is written', async () => {
    const s = await freshStore();
    await buildIndex(s, 'idx', 'f32');
    const original = await (await exportIndex(s, 'idx')).arrayBuffer();
    expect((await importIndex(s, original, { name: 'faithful' })).name).toBe('faithful');
    const forged = (kind: number, key: number, edit: (f: Float32Array) => void) => {
      const u = unpack(original);
      const e = entryOf(u.toc, kind, key);
      const data = new Float32Array(u.body.buffer, u.toc[e + 2]!, u.toc[e + 4]! / 4);
      edit(data);
      u.toc[e + 5] = crc32(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return pack(u);
    };
    const refused = async (file: ArrayBuffer, message: RegExp) => {
      await expect(importIndex(s, file, { name: 'imported' })).rejects.toMatchObject({ code: 'INVALID_FILE', message: expect.stringMatching(message) });
      expect((await s.listIndexes()).map((m) => m.name).sort()).toEqual(['faithful', 'idx']);
    };
    await refused(
      forged(SECTION.centroids, 0, (c) => {
        c[3 * dim + 5] = 3e38;
      }),
      /centroids: row 3 has 3\.0*\d*e\+38 at dimension 5.*scale/,
    );
    await refused(
      forged(SECTION.centroids, 0, (c) => {
        c.fill(-2e19);
      }),
      /centroids: row 0/,
    );
    // The first vector of list 0 (f32 codes, block-interleaved by 4-word units: its first word is its dimension 0).
    await refused(
      forged(SECTION.codes, 0, (c) => {
        c[0] = 3e38;
      }),
      /list 0: vectors: row 0 has .* at dimension 0/,
    );
  });

  test('a section over the table of contents (its CRC matching) or over another section is refused, naming it', async () => {
    const s = await freshStore();
    await buildIndex(s, 'idx', 'f32');
    const original = await (await exportIndex(s, 'idx')).arrayBuffer();
    const refused = async (file: ArrayBuffer, message: RegExp) => {
      await expect(importIndex(s, file, { name: 'imported' })).rejects.toMatchObject({ code: 'INVALID_FILE', message: expect.stringMatching(message) });
      expect((await s.listIndexes()).map((m) => m.name)).toEqual(['idx']);
    };
    // The centroids read from the toc's own bytes (past the centroids' entry, so its CRC can match them).
    {
      const u = unpack(original);
      const e = entryOf(u.toc, SECTION.centroids);
      u.toc[e + 2] = 24;
      u.toc[e + 3] = 0;
      u.toc[e + 5] = crc32(u.body.subarray(24, 24 + u.toc[e + 4]!));
      await refused(pack(u), /centroids overlaps the file's table of contents/);
    }
    // The ids of list 1 read from the codes of list 0.
    {
      const u = unpack(original);
      const ids = entryOf(u.toc, SECTION.ids, 1),
        codes = entryOf(u.toc, SECTION.codes, 0);
      const at = u.toc[codes + 2]!,
        length = u.toc[ids + 4]!;
      u.toc[ids + 2] = at;
      u.toc[ids + 5] = crc32(u.body.subarray(at, at + length));
      await refused(pack(u), /ids of list 1 overlaps the codes of list 0|codes of list 0 overlaps the ids of list 1/);
    }
  });
});
