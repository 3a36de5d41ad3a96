// Import validation: files whose checksums all match but whose content is inconsistent (a forged or
// buggy export) are refused with INVALID_FILE before anything is written. Each case rewrites a real
// export and recomputes every section CRC and the trailer, so only validation can catch it.
import { describe, expect, test } from 'vitest';
import { gaussianMixture, NO_ID, type GpuContext } from '../../src/weft.js';
import { crc32 } from '../../src/storage/checksum.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { exportIndex, importIndex } from '../../src/storage/portable.js';
import { exportVersion1 } from '../support/index-file-v1.js';
import { FORMAT_VERSION } from '../../src/storage/records.js';
import { lexicalSearch } from '../../src/stored-index/lexical-search.js';
import { lexicalAgreement } from '../support/store-behaviour.js';
import { createStoredIndex } from '../../src/stored-index/stored-index.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';
import { buildIndex, dim, nlist, storeSession } from '../support/store-fixtures.js';

const db = storeSession('weft-import');

// ---- the first file format (version 1), written out independently of portable.ts ------------
// These cases forge version-1 files: they are still imported, so they are still validated. The
// current layout's sections are checked by test/browser/index-file.test.ts and the remote tests.

type Json = Record<string, unknown>;
interface Unpacked {
  version: number;
  header: Json;
  data: Uint8Array[];
}

function unpack(buffer: ArrayBuffer): Unpacked {
  const all = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const headerLength = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(all.subarray(16, 16 + headerLength))) as Json;
  const base = 16 + headerLength + ((4 - (headerLength % 4)) % 4);
  const data = (header.sections as Json[]).map((s) => all.slice(base + (s.offset as number), base + (s.offset as number) + (s.length as number)));
  return { version: view.getUint32(8, true), header, data };
}

/** Lays the sections out again and recomputes their offsets, lengths and CRCs, and the trailer. */
function pack(u: Unpacked, headerText?: string): ArrayBuffer {
  const parts: Uint8Array[] = [];
  let offset = 0;
  u.data.forEach((d, i) => {
    const s = Array.isArray(u.header.sections) ? (u.header.sections as unknown[])[i] : undefined;
    if (s && typeof s === 'object') Object.assign(s, { offset, length: d.byteLength, crc: crc32(d) });
    const pad = (4 - (d.byteLength % 4)) % 4;
    parts.push(d, new Uint8Array(pad));
    offset += d.byteLength + pad;
  });
  const header = new TextEncoder().encode(headerText ?? JSON.stringify(u.header));
  const pre = new Uint8Array(16);
  pre.set(new TextEncoder().encode('WEFTIDX\0'));
  new DataView(pre.buffer).setUint32(8, u.version, true);
  new DataView(pre.buffer).setUint32(12, header.byteLength, true);
  const body = [pre, header, new Uint8Array((4 - (header.byteLength % 4)) % 4), ...parts];
  const length = body.reduce((a, b) => a + b.byteLength, 0);
  const out = new Uint8Array(length + 4);
  let at = 0;
  for (const b of body) {
    out.set(b, at);
    at += b.byteLength;
  }
  new DataView(out.buffer).setUint32(length, crc32(out.subarray(0, length)), true);
  return out.buffer;
}

const sections = (u: Unpacked) => u.header.sections as Json[];
const manifestOf = (u: Unpacked) => u.header.manifest as Json;
const indexOf = (u: Unpacked, kind: string, list?: number) => sections(u).findIndex((s) => s.kind === kind && (list === undefined || s.list === list));
const u32 = (u: Unpacked, i: number) => new Uint32Array(u.data[i]!.buffer);
const f32 = (u: Unpacked, i: number) => new Float32Array(u.data[i]!.buffer);
const dropSection = (u: Unpacked, i: number) => {
  sections(u).splice(i, 1);
  u.data.splice(i, 1);
};
const chunksOf = (u: Unpacked) => JSON.parse(new TextDecoder().decode(u.data[indexOf(u, 'chunks')]!)) as Json[];
const setChunks = (u: Unpacked, value: unknown) => {
  u.data[indexOf(u, 'chunks')] = new TextEncoder().encode(JSON.stringify(value));
};

async function expectRefused(s: WeftStore, file: ArrayBuffer, message: RegExp) {
  const before = (await s.listIndexes()).map((m) => m.name).sort();
  const err = await importIndex(s, file, { name: 'imported' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected INVALID_FILE matching ${message}`).toMatchObject({ name: 'WeftError', code: 'INVALID_FILE', message: expect.stringMatching(message) });
  expect((await s.listIndexes()).map((m) => m.name).sort()).toEqual(before);
}

describe('import validation', () => {
  test('a file rewritten without changes imports (the rewriter is faithful), tombstones included', async () => {
    const s = await db.fresh();
    const built = await buildIndex(s, 'idx', 'f16');
    const file = pack(unpack(await (await exportVersion1(s, 'idx')).arrayBuffer()));
    const m = await importIndex(s, file, { name: 'copy' });
    expect(m).toMatchObject({ name: 'copy', count: built.total - built.tombstones, tombstones: built.tombstones, nextId: built.total });
    expect(await s.readLists('copy', [0, 1, 2, 3])).toEqual(built.lists);
    expect(await s.readChunks('copy', [0, 6])).toEqual([built.chunks[0], built.chunks[6]]);
  });

  test('a file exported before the lexical index (format 2, no lexical part) imports with its postings built; a malformed lexical part is refused', async () => {
    const s = await db.fresh();
    const built = await buildIndex(s, 'idx', 'f32');
    const original = await (await exportVersion1(s, 'idx')).arrayBuffer();
    const forged = (edit: (u: Unpacked) => void) => {
      const u = unpack(original);
      edit(u);
      return pack(u);
    };
    const old = forged((u) => {
      const m = manifestOf(u);
      m.formatVersion = 2;
      delete m.lexical;
    });
    const m = await importIndex(s, old, { name: 'old' });
    expect(m).toMatchObject({ formatVersion: FORMAT_VERSION, lexical: built.manifest.lexical });
    await lexicalAgreement(s, 'old');
    expect(Array.from((await lexicalSearch(s, 'old', m, 'passage 21', { k: 1 })).ids)).toEqual([21]);
    await expectRefused(
      s,
      forged((u) => {
        (manifestOf(u).lexical as Json).language = 'English!';
      }),
      /lexical\.language/,
    );
    await expectRefused(
      s,
      forged((u) => {
        (manifestOf(u).lexical as Json).buckets = 0;
      }),
      /lexical\.buckets/,
    );
    await expectRefused(
      s,
      forged((u) => {
        (manifestOf(u).lexical as Json).checksums = [1, 2];
      }),
      /lexical\.checksums/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).lexical = 'yes';
      }),
      /lexical/,
    );
  });

  test('manifest fields out of their types, enums and ranges are refused, naming the field', async () => {
    const s = await db.fresh();
    await buildIndex(s, 'idx', 'f32');
    const original = await (await exportVersion1(s, 'idx')).arrayBuffer();
    const forged = (edit: (u: Unpacked) => void) => {
      const u = unpack(original);
      edit(u);
      return pack(u);
    };
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).metric = 'bogus';
      }),
      /metric/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).storage = 'f64';
      }),
      /storage/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).dim = 2.5;
      }),
      /dim/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).dim = '6';
      }),
      /dim/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).formatVersion = 99;
      }),
      /format/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).name = '';
      }),
      /name/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).modelId = 7;
      }),
      /modelId/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).count = 0;
      }),
      /count/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).tombstones = 0;
      }),
      /tombstones/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).nextId = 0;
      }),
      /nextId/,
    );
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).nextId = 2 ** 32;
      }),
      /nextId/,
    );
    // nlist 0 with no lists and no centroids: nothing to check a count against.
    await expectRefused(
      s,
      forged((u) => {
        manifestOf(u).nlist = 0;
        Object.assign(manifestOf(u), { count: 0, tombstones: 0 });
        for (let i = sections(u).length - 1; i >= 0; i--) if (sections(u)[i]!.kind === 'ids' || sections(u)[i]!.kind === 'codes') dropSection(u, i);
        u.data[indexOf(u, 'centroids')] = new Uint8Array(0);
        setChunks(u, []);
      }),
      /nlist/,
    );
  });

  test('list sections: missing, miscounted, wrongly sized codes, duplicate ids, non-finite or padded vectors', async () => {
    const s = await db.fresh();
    await buildIndex(s, 'idx', 'f32');
    const original = await (await exportVersion1(s, 'idx')).arrayBuffer();
    const forged = (edit: (u: Unpacked) => void) => {
      const u = unpack(original);
      edit(u);
      return pack(u);
    };
    await expectRefused(
      s,
      forged((u) => {
        u.data[indexOf(u, 'codes', 1)] = new Uint8Array(0);
      }),
      /list 1.*codes|codes.*list 1/i,
    );
    await expectRefused(
      s,
      forged((u) => {
        const i = indexOf(u, 'codes', 1);
        u.data[i] = u.data[i]!.slice(0, u.data[i]!.byteLength - 4 * 8);
      }),
      /list 1/,
    );
    await expectRefused(
      s,
      forged((u) => {
        dropSection(u, indexOf(u, 'ids', 3));
      }),
      /list 3/,
    );
    await expectRefused(
      s,
      forged((u) => {
        dropSection(u, indexOf(u, 'codes', 3));
      }),
      /codes section for list 3/,
    );
    await expectRefused(
      s,
      forged((u) => {
        sections(u)[indexOf(u, 'ids', 0)]!.count = 4;
      }),
      /list 0/,
    );
    await expectRefused(
      s,
      forged((u) => {
        sections(u)[indexOf(u, 'ids', 0)]!.list = 9;
      }),
      /list/,
    );
    await expectRefused(
      s,
      forged((u) => {
        sections(u).push({ ...sections(u)[indexOf(u, 'ids', 0)] });
        u.data.push(u.data[indexOf(u, 'ids', 0)]!.slice());
      }),
      /twice|duplicate/i,
    );
    // Id 0 (list 0) appears again in list 1 (replacing id 5, whose chunk goes too, so only the ids clash).
    await expectRefused(
      s,
      forged((u) => {
        u32(u, indexOf(u, 'ids', 1))[0] = 0;
        setChunks(
          u,
          chunksOf(u).filter((c) => c.id !== 5),
        );
      }),
      /id 0 appears more than once/,
    );
    // A tombstone slot more than the manifest counts.
    await expectRefused(
      s,
      forged((u) => {
        u32(u, indexOf(u, 'ids', 3))[0] = NO_ID;
        setChunks(
          u,
          chunksOf(u).filter((c) => c.id !== 50),
        );
      }),
      /count|tombstones/,
    );
    await expectRefused(
      s,
      forged((u) => {
        f32(u, indexOf(u, 'codes', 2))[3] = NaN;
      }),
      /finite/,
    );
    await expectRefused(
      s,
      forged((u) => {
        f32(u, indexOf(u, 'centroids'))[5] = Infinity;
      }),
      /centroids/,
    );
    await expectRefused(
      s,
      forged((u) => {
        u.data[indexOf(u, 'centroids')] = u.data[indexOf(u, 'centroids')]!.slice(4);
      }),
      /centroids/,
    );
    // dim 6 pads to 8 in f32: the padding words of a stored vector must be zero (they would count in L2).
    await expectRefused(
      s,
      forged((u) => {
        u32(u, indexOf(u, 'codes', 0))[(1 * 32 + 0) * 4 + 2] = 0x3f800000;
      }),
      /padding/,
    );
  });

  test('int8 files need vmin and scale of dimPad values each; other storages have none', async () => {
    const s = await db.fresh();
    await buildIndex(s, 'q', 'int8');
    await buildIndex(s, 'f', 'f16');
    const q = await (await exportVersion1(s, 'q')).arrayBuffer();
    const f = await (await exportVersion1(s, 'f')).arrayBuffer();
    const forged = (file: ArrayBuffer, edit: (u: Unpacked) => void) => {
      const u = unpack(file);
      edit(u);
      return pack(u);
    };
    await expectRefused(
      s,
      forged(q, (u) => {
        dropSection(u, indexOf(u, 'vmin'));
      }),
      /vmin/,
    );
    await expectRefused(
      s,
      forged(q, (u) => {
        dropSection(u, indexOf(u, 'scale'));
      }),
      /scale/,
    );
    await expectRefused(
      s,
      forged(q, (u) => {
        const i = indexOf(u, 'scale');
        u.data[i] = u.data[i]!.slice(0, 4 * dim - 4);
      }),
      /scale/,
    );
    await expectRefused(
      s,
      forged(q, (u) => {
        f32(u, indexOf(u, 'vmin'))[0] = NaN;
      }),
      /vmin/,
    );
    await expectRefused(
      s,
      forged(f, (u) => {
        sections(u).push({ kind: 'vmin' });
        u.data.push(new Uint8Array(4 * 8));
      }),
      /vmin/,
    );
    // The intact int8 file imports.
    await expect(importIndex(s, pack(unpack(q)), { name: 'q2' })).resolves.toMatchObject({ storage: 'int8' });
  });

  test('chunks: not JSON, not an array, malformed records, ids that are not live in the list they name', async () => {
    const s = await db.fresh();
    await buildIndex(s, 'idx', 'f32');
    const original = await (await exportVersion1(s, 'idx')).arrayBuffer();
    const forged = (edit: (u: Unpacked) => void) => {
      const u = unpack(original);
      edit(u);
      return pack(u);
    };
    await expectRefused(
      s,
      forged((u) => {
        u.data[indexOf(u, 'chunks')] = new TextEncoder().encode('[{"id": 1,');
      }),
      /chunks/,
    );
    await expectRefused(
      s,
      forged((u) => {
        setChunks(u, { 0: 'x' });
      }),
      /chunks/,
    );
    await expectRefused(
      s,
      forged((u) => {
        setChunks(u, [...chunksOf(u), null]);
      }),
      /chunk/,
    );
    await expectRefused(
      s,
      forged((u) => {
        const c = chunksOf(u);
        c[0]!.text = 5;
        setChunks(u, c);
      }),
      /chunk 0.*text|text.*chunk 0/,
    );
    await expectRefused(
      s,
      forged((u) => {
        const c = chunksOf(u);
        c[1]!.metadata = [1, 2];
        setChunks(u, c);
      }),
      /metadata/,
    );
    await expectRefused(
      s,
      forged((u) => {
        const c = chunksOf(u);
        c[0]!.list = 1;
        setChunks(u, c);
      }),
      /chunk 0/,
    );
    await expectRefused(
      s,
      forged((u) => {
        const c = chunksOf(u);
        c[0]!.id = 999;
        setChunks(u, c);
      }),
      /chunk 999/,
    );
    await expectRefused(
      s,
      forged((u) => {
        const c = chunksOf(u);
        c[0]!.id = 1.5;
        setChunks(u, c);
      }),
      /chunk/,
    );
    await expectRefused(
      s,
      forged((u) => {
        const c = chunksOf(u);
        setChunks(u, [...c, c[0]]);
      }),
      /chunk 0/,
    );
    // The tombstoned id 39 (list 2, slot 1) has no live vector, so it can have no chunk.
    await expectRefused(
      s,
      forged((u) => {
        setChunks(u, [...chunksOf(u), { id: 39, list: 2, docId: 'd', text: 'ghost' }]);
      }),
      /chunk 39/,
    );
    await expectRefused(
      s,
      forged((u) => {
        const c = chunksOf(u);
        c[0]!.index = 'other';
        setChunks(u, c);
      }),
      /chunk 0.*index/,
    );
  });

  test('a header that is not an object, a missing manifest, sections that are not a list are refused, not thrown as TypeErrors', async () => {
    const s = await db.fresh();
    await buildIndex(s, 'idx', 'f32');
    const original = await (await exportVersion1(s, 'idx')).arrayBuffer();
    const forged = (edit: (u: Unpacked) => void, headerText?: (u: Unpacked) => string) => {
      const u = unpack(original);
      edit(u);
      return pack(u, headerText?.(u));
    };
    await expectRefused(
      s,
      forged(
        () => undefined,
        () => 'null',
      ),
      /header/,
    );
    await expectRefused(
      s,
      forged(
        () => undefined,
        () => '5',
      ),
      /header/,
    );
    await expectRefused(
      s,
      forged(
        () => undefined,
        () => '[]',
      ),
      /header/,
    );
    await expectRefused(
      s,
      forged(
        () => undefined,
        () => '{"manifest":',
      ),
      /header/,
    );
    await expectRefused(
      s,
      forged((u) => {
        delete u.header.manifest;
      }),
      /manifest/,
    );
    await expectRefused(
      s,
      forged((u) => {
        u.header.manifest = 'x';
      }),
      /manifest/,
    );
    await expectRefused(
      s,
      forged((u) => {
        u.header.sections = 'x';
      }),
      /sections/,
    );
    await expectRefused(
      s,
      forged((u) => {
        (u.header.sections as unknown[])[0] = null;
      }),
      /section 0/i,
    );
    await expectRefused(
      s,
      forged((u) => {
        sections(u)[0]!.kind = 'mystery';
      }),
      /mystery/,
    );
    // A binary section whose length is not a whole number of 4-byte values.
    await expectRefused(
      s,
      forged((u) => {
        const i = indexOf(u, 'ids', 0);
        u.data[i] = u.data[i]!.slice(0, 6);
      }),
      /ids|list 0/,
    );
    // A header length pointing past the end of the file.
    const bad = new Uint8Array(original.slice(0));
    new DataView(bad.buffer).setUint32(12, 1 << 30, true);
    new DataView(bad.buffer).setUint32(bad.byteLength - 4, crc32(bad.subarray(0, bad.byteLength - 4)), true);
    await expectRefused(s, bad.buffer, /header/);
    // File format 0 does not exist.
    await expectRefused(
      s,
      (() => {
        const u = unpack(original);
        u.version = 0;
        return pack(u);
      })(),
      /format/,
    );
  });

  test('an import under a name that is not a non-empty string is refused', async () => {
    const s = await db.fresh();
    await buildIndex(s, 'idx', 'f32');
    const file = await exportIndex(s, 'idx');
    await expect(importIndex(s, file, { name: 5 as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    expect((await s.listIndexes()).map((m) => m.name)).toEqual(['idx']);
  });

  gpuTest('an index built and grown on the GPU (int8, deletes, compaction pending) exports and imports as it was', async (ctx: GpuContext) => {
    const s = await db.fresh();
    const seed = freshSeed();
    const data = gaussianMixture(400, dim, { centers: 8, seed });
    const stored = await createStoredIndex(data, { splitLists: 'oversized', gpu: ctx, store: s, name: 'docs', dim, nlist, storage: 'int8', seed });
    try {
      await stored.add(data, { chunks: Array.from({ length: 400 }, (_, i) => ({ docId: `doc-${i % 10}`, text: `passage ${i}`, metadata: { i } })) });
      await stored.deleteDocument('doc-3');
      const file = await exportIndex(s, 'docs');
      const m = await importIndex(s, file, { name: 'copy' });
      const src = await s.manifest('docs');
      expect(m).toMatchObject({ count: src.count, tombstones: src.tombstones, nextId: src.nextId, storage: 'int8' });
      const all = Array.from({ length: nlist }, (_, i) => i);
      expect(await s.readLists('copy', all)).toEqual(await s.readLists('docs', all));
      expect(await s.readChunks('copy', [0, 399])).toEqual(await s.readChunks('docs', [0, 399]));
    } finally {
      await stored.close();
    }
  });
});
