// A 'pq' index published with coarse codes (layout 7, issue 24): a reader in place opens with
// every list's centroid as a 4-bit code, ranks the lists by them, and fetches the places (exact
// centroid and sections) of only the lists it ranks exactly (src/ivf/coarse-codes.ts,
// src/stored-index/host-rank.ts). Checked on fresh random data: the file holds what the layout-4
// file holds (an import of either is the same index); a reader that ranks every list exactly
// answers exactly as the local index; with the measured width, the GPU, the CPU backend and a
// sliced session of the remote index agree (filtered too), read only the places of the lists ranked, and answer
// as the local index; a place is its list's; a damaged place or damaged codes are CORRUPT_RECORD;
// forged places, place index, widths or list table are INVALID_FILE. Its chunk directory pages
// are in a page index that vector searches never read. The lists' counts and checksums are a
// binary table after the toc (the header's JSON holds none of them); layout 6, which keeps them
// in the JSON for older readers, is still read as the same index.

import { describe, expect } from 'vitest';
import { codesTaken } from '../../src/ivf/coarse-codes.js';
import { kernelMetric, prepareRows } from '../../src/ivf/probe.js';
import { crc32 } from '../../src/storage/checksum.js';
import {
  LIST_TABLE_BYTES,
  PAGE_SIZE,
  PRELUDE_BYTES,
  SECTION,
  headEnd,
  headerLength,
  parseHeader,
  parsePlaceIndex,
  parseToc,
  placeBytes,
  sectionKey,
} from '../../src/storage/index-file.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
import { exportIndex, importIndex, parseIndexFile } from '../../src/storage/portable.js';
import { openRemoteStore } from '../../src/storage/remote/remote-store.js';
import { clearRemoteCache } from '../../src/storage/remote/section-cache.js';
import { openRemoteIndex } from '../../src/stored-index/remote-index.js';
import { openStoredIndex } from '../../src/stored-index/stored-index.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';
import { editFile, editListTable, editSection, readHeader } from '../support/index-file-edit.js';
import { indexCleanup } from '../support/store-fixtures.js';
import { PUBLISHED, publishedPqIndex, putFile, setFault } from '../support/published-pq.js';

const { dim, n } = PUBLISHED;
let dbName = '';
const { toClose, body } = indexCleanup(() => dbName);

const put = (file: Blob | Uint8Array) => putFile('coded', file);

describe('a published file with coarse codes', () => {
  gpuTest(
    'answers in place as the local index, reading only the places of the lists it ranks',
    body(async (ctx) => {
      const seed = freshSeed();
      dbName = `weft-coded-${crypto.randomUUID()}`;
      const { store, index, queries } = await publishedPqIndex(ctx, dbName, seed, toClose);
      const k = 5,
        nprobe = 4;
      const lists = index.nlist;
      const cacheDbName = `weft-coded-remote-${crypto.randomUUID()}`;
      try {
        // Below 256 lists the default is layout 4; layout 7 asks for coarse codes.
        const flat = await exportIndex(store, 'docs');
        expect(new DataView(await flat.slice(8, 12).arrayBuffer()).getUint32(0, true)).toBe(4);
        const file = await exportIndex(store, 'docs', { layout: 7 });
        const bytes = new Uint8Array(await file.arrayBuffer());
        expect(new DataView(bytes.buffer).getUint32(8, true)).toBe(7);
        await expect(exportIndex(store, 'docs', { layout: 7, groups: 4 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
        const header = parseHeader(bytes);
        // The lists' counts and checksums: in the list table after the toc, none in the header's JSON.
        const json = readHeader(bytes).header.manifest;
        expect(json.listCounts).toBeUndefined();
        expect(json.checksums).toBeUndefined();
        expect(headEnd(header)).toBe(header.bodyOffset + header.toc.length + lists * LIST_TABLE_BYTES);
        expect(header.manifest.listCounts).toEqual((await store.manifest('docs')).listCounts);
        expect(header.coarse!.m).toBe(dim / 4);
        expect(header.coarse!.exact.length).toBe(Math.ceil(Math.log2(lists)) + 1);
        expect(header.groups).toBeUndefined();
        expect(header.pages).toEqual([]);
        expect(header.pageCount).toBe(Math.ceil(n / PAGE_SIZE));
        const toc = parseToc(bytes.subarray(header.bodyOffset, header.bodyOffset + header.toc.length), header, bytes.byteLength);
        for (const kind of [SECTION.centroids, SECTION.ids, SECTION.directory]) expect(toc.has(sectionKey(kind, 0))).toBe(false);
        const places = toc.get(sectionKey(SECTION.places, 0))!;
        const placeIndexSection = toc.get(sectionKey(SECTION.placeIndex, 0))!;
        const placeIndex = parsePlaceIndex(
          bytes.slice(placeIndexSection.offset, placeIndexSection.offset + placeIndexSection.length),
          lists,
          (what) => new Error(what),
        );
        const row = placeBytes(dim, 2);
        expect(places.length).toBe(lists * row);
        // What opening reads lies right after the toc and the list table: the codebooks, the codes and the places' CRCs, one range.
        const open = [SECTION.codebook, SECTION.coarseBook, SECTION.coarseCodes, SECTION.placeIndex].map((kind) => toc.get(sectionKey(kind, 0))!);
        expect(open[0]!.offset).toBe(headEnd(header));
        for (let i = 1; i < open.length; i++) expect(open[i]!.offset).toBe(open[i - 1]!.offset + open[i - 1]!.length);
        expect(toc.get(sectionKey(SECTION.coarseCodes, 0))!.length).toBe((lists * dim) / 8);

        // The same index as the layout-4 file: lists, chunks with their vectors, centroids.
        const whole = parseIndexFile(bytes.slice().buffer);
        const four = parseIndexFile(await flat.arrayBuffer());
        expect(Array.from(whole.centroids.centroids)).toEqual(Array.from(four.centroids.centroids));
        expect(whole.lists.map((l) => [Array.from(l.ids), Array.from(l.codes)])).toEqual(four.lists.map((l) => [Array.from(l.ids), Array.from(l.codes)]));
        expect(whole.chunks).toEqual(four.chunks);
        // Layout 6 (the lists' fields in the header's JSON, for readers older than layout 7): the same index, the same lists' checksums.
        const six = new Uint8Array(await (await exportIndex(store, 'docs', { layout: 6 })).arrayBuffer());
        expect(new DataView(six.buffer).getUint32(8, true)).toBe(6);
        expect(parseHeader(six).listTable).toBeUndefined();
        expect(parseHeader(six).manifest.checksums).toEqual(header.manifest.checksums);
        expect(parseHeader(six).manifest.listCounts).toEqual(header.manifest.listCounts);
        expect(parseIndexFile(six.slice().buffer).lists.map((l) => Array.from(l.ids))).toEqual(whole.lists.map((l) => Array.from(l.ids)));

        const local = await index.search(queries, { k, nprobe, rerank: 8 });

        // Every list ranked exactly: exactly the local index's answers.
        const every = editFile(bytes, (h) => {
          const c = (h as unknown as { coarse: { exact: number[] } }).coarse;
          c.exact = c.exact.map(() => lists);
        });
        const all = await openRemoteIndex(await put(every), { gpu: ctx, cacheDbName, preload: false });
        toClose.push(all);
        const allAnswers = await all.search(queries, { k, nprobe, rerank: 8 });
        expect(Array.from(allAnswers.ids)).toEqual(Array.from(local.ids));
        expect(Array.from(allAnswers.distances)).toEqual(Array.from(local.distances));
        // A filtered search ranks deeper: still the local answers.
        const filter = { docId: ['d2'] };
        expect(Array.from((await all.search(queries, { k, nprobe, rerank: 8, filter })).ids)).toEqual(
          Array.from((await index.search(queries, { k, nprobe, rerank: 8, filter })).ids),
        );

        // The measured width: its first query reads the places of the lists it ranks, and no other.
        const url = await put(file);
        const remote = await openRemoteIndex(url, { gpu: ctx, cacheDbName: `${cacheDbName}-2`, preload: false });
        toClose.push(remote);
        const asked: number[] = [];
        const readPlaces = remote.remote.readPlaces!.bind(remote.remote);
        remote.remote.readPlaces = (name, ls, o) => {
          asked.push(...ls);
          return readPlaces(name, ls, o);
        };
        await remote.search(queries.subarray(0, dim), { k, nprobe, rerank: 8 });
        const { codes } = (await remote.remote.readCoarseCodes!('docs'))!;
        const first = codesTaken(codes, prepareRows('cosine', queries.subarray(0, dim), dim), 1, kernelMetric('cosine'), nprobe, nprobe)[0]!;
        expect(asked.sort((a, b) => a - b)).toEqual(Array.from(first).sort((a, b) => a - b));
        expect(asked.length).toBeLessThan(lists / 2);
        const far = await remote.search(queries, { k, nprobe, rerank: 8 });
        const cpu = await openRemoteIndex(url, { gpu: 'cpu', cacheDbName: `${cacheDbName}-3`, preload: false });
        toClose.push(cpu);
        expect(Array.from((await cpu.search(queries, { k, nprobe, rerank: 8 })).ids)).toEqual(Array.from(far.ids));
        // Filtered, the GPU and the CPU backend probe the same lists: the same answers, each in the filter.
        const filtered = await remote.search(queries, { k, nprobe, rerank: 8, filter });
        expect(Array.from((await cpu.search(queries, { k, nprobe, rerank: 8, filter })).ids)).toEqual(Array.from(filtered.ids));
        expect(Array.from(filtered.ids).every((id) => id === 0xffffffff || id % 9 === 2)).toBe(true);
        const session = await remote.searchSession(queries, { k, nprobe, rerank: 8 });
        while (!session.done) await session.step(1);
        expect(Array.from((await session.read()).ids)).toEqual(Array.from(far.ids));
        // Offline after that visit: the head kept (its list table with it) opens the index, and the first query answers again.
        await setFault(url, 'down');
        const off = await openRemoteIndex(url, { gpu: ctx, cacheDbName: `${cacheDbName}-2`, preload: false });
        toClose.push(off);
        expect(off.remote.offline).toBe(true);
        expect(off.manifest.listCounts).toEqual(header.manifest.listCounts);
        const firstAgain = await off.search(queries.subarray(0, dim), { k, nprobe, rerank: 8 });
        expect(Array.from(firstAgain.ids)).toEqual(Array.from(far.ids.subarray(0, k)));
        await setFault(url, 'none');
        let same = 0;
        const nq = queries.length / dim;
        for (let q = 0; q < nq; q++) if (far.ids.subarray(q * k, (q + 1) * k).join() === local.ids.subarray(q * k, (q + 1) * k).join()) same++;
        console.log(
          `coded file: ${same} of ${nq} answers as the local index; the first query ranked ${first.length} of ${lists} lists exactly (exact ${header.coarse!.exact.join(',')})`,
        );
        expect(same).toBeGreaterThanOrEqual(nq - 1);
        // Vector searches (their candidates' rows and texts come through their lists' directories) read no page index.
        const pageIndex = toc.get(sectionKey(SECTION.pageIndex, 0))!;
        const log: { start: number; end: number }[] = await (await fetch(url.replace('/files/', '/log/'))).json();
        expect(log.filter((r) => r.start < pageIndex.offset + pageIndex.length && pageIndex.offset < r.end)).toEqual([]);

        // One place: its row, the list's centroid; adjacent places in one request.
        const remoteStore = await openRemoteStore(url, { cacheDbName: `${cacheDbName}-4` });
        try {
          await remoteStore.readCoarseCodes!('docs');
          const before = remoteStore.stats();
          const [list3] = await remoteStore.readPlaces!('docs', [3]);
          expect(remoteStore.stats().bytesFetched - before.bytesFetched).toBe(row);
          expect(Array.from(list3!)).toEqual(Array.from(whole.centroids.centroids.subarray(3 * dim, 4 * dim)));
          // Three lists whose places are adjacent rows: one request.
          const byRow = new Uint32Array(lists);
          placeIndex.rows.forEach((r, l) => {
            byRow[r] = l;
          });
          // Rows clear of list 3's (read above): were it the middle one, the two others' request would span it.
          const first3 = placeIndex.rows[3]! < 5 ? 5 : 0;
          const three = [first3, first3 + 1, first3 + 2].map((r) => byRow[r]!);
          const at = remoteStore.stats();
          const rows = await remoteStore.readPlaces!('docs', three);
          expect(remoteStore.stats().requests - at.requests).toBe(1);
          expect(remoteStore.stats().bytesFetched - at.bytesFetched).toBe(three.length * row);
          rows.forEach((r, i) => expect(Array.from(r)).toEqual(Array.from(whole.centroids.centroids.subarray(three[i]! * dim, (three[i]! + 1) * dim))));
          await expect(remoteStore.readPlaces!('docs', [lists])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
          // Every centroid (an export of the remote index): every place, checked.
          expect(Array.from((await remoteStore.readCentroids('docs')).centroids)).toEqual(Array.from(whole.centroids.centroids));
        } finally {
          remoteStore.close();
        }

        // A head whose first read (64 KiB) ends inside the list table (the header padded to put it
        // there): the reader reads on through the table, in one more range, and checks it whole.
        const jsonBytes = headerLength(bytes);
        const tableBytes = lists * LIST_TABLE_BYTES;
        const pad = 65_536 - tableBytes / 2 - header.toc.length - PRELUDE_BYTES - jsonBytes - ',"note":""'.length;
        const padded = editFile(bytes, (h) => {
          (h as unknown as { note: string }).note = 'x'.repeat(pad);
        });
        const paddedHeader = parseHeader(padded);
        expect(paddedHeader.bodyOffset + paddedHeader.toc.length).toBeLessThan(65_536);
        expect(headEnd(paddedHeader)).toBeGreaterThan(65_536);
        const straddling = await openRemoteStore(await put(padded), { cacheDbName: `${cacheDbName}-4` });
        try {
          expect(straddling.stats().requests).toBe(2);
          expect((await straddling.manifest('docs')).listCounts).toEqual(header.manifest.listCounts);
          expect((await straddling.manifest('docs')).checksums).toEqual(header.manifest.checksums);
        } finally {
          straddling.close();
        }

        // Imported, it is the same index.
        const copy = await openStore({ dbName: `${dbName}-copy` });
        toClose.push(copy);
        await importIndex(copy, file, { name: 'copy' });
        const imported = await openStoredIndex({ gpu: ctx, store: copy, name: 'copy' });
        toClose.push(imported);
        expect(Array.from((await imported.search(queries, { k, nprobe, rerank: 8 })).ids)).toEqual(Array.from(local.ids));

        // Damaged places: the search that reads one is CORRUPT_RECORD.
        const broken = bytes.slice();
        for (let l = 0; l < lists; l++) broken.fill(0x55, places.offset + (l + 1) * row - 8, places.offset + (l + 1) * row);
        const damaged = await openRemoteIndex(await put(broken), { gpu: ctx, cacheDbName: `${cacheDbName}-5`, preload: false });
        toClose.push(damaged);
        await expect(damaged.search(queries.subarray(0, dim), { k, nprobe, rerank: 8 })).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
        // Damaged coarse codes: opening reads them, and fails CORRUPT_RECORD.
        const codesBroken = bytes.slice();
        const codesSection = toc.get(sectionKey(SECTION.coarseCodes, 0))!;
        codesBroken.fill(0x55, codesSection.offset, codesSection.offset + 8);
        await expect(openRemoteIndex(await put(codesBroken), { gpu: ctx, cacheDbName: `${cacheDbName}-6`, preload: false })).rejects.toMatchObject({
          code: 'CORRUPT_RECORD',
        });
        // Forged with every checksum right: a place index that gives two lists one row, widths
        // that shrink, a place whose entries point past the file. Reading or importing says INVALID_FILE.
        const twoInOne = editSection(bytes, 'placeIndex', 0, (b) => {
          const words = new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
          words[2] = words[0]!;
        });
        const store6 = await openRemoteStore(await put(twoInOne), { cacheDbName: `${cacheDbName}-6` });
        try {
          await expect(store6.readCoarseCodes!('docs')).rejects.toMatchObject({ code: 'INVALID_FILE' });
        } finally {
          store6.close();
        }
        expect(() => parseIndexFile(twoInOne.slice().buffer)).toThrow(expect.objectContaining({ code: 'INVALID_FILE' }));
        const shrinking = editFile(bytes, (h) => {
          const c = (h as unknown as { coarse: { exact: number[] } }).coarse;
          c.exact = c.exact.map((w, i) => (i === c.exact.length - 1 ? 1 : w));
        });
        await expect(openRemoteStore(await put(shrinking), { cacheDbName: `${cacheDbName}-6` })).rejects.toMatchObject({ code: 'INVALID_FILE' });
        // The list table: damaged (its CRC no longer matches), or forged with a matching CRC so
        // that the lists' counts no longer add up to the manifest's. Opening says INVALID_FILE; an
        // import refuses the damaged file, and takes the counts from the lists themselves (as it
        // does a manifest's other derived fields), so the forged one imports as the same index.
        const tableDamaged = bytes.slice();
        tableDamaged[headEnd(header) - 1] = tableDamaged[headEnd(header) - 1]! ^ 0xff;
        const forgedCounts = editListTable(bytes, (words) => {
          words[0] = words[0]! + 1;
        });
        for (const [bad, message] of [
          [tableDamaged, /list table fails its checksum/],
          [forgedCounts, /manifest\.listCounts/],
        ] as const)
          await expect(openRemoteStore(await put(bad), { cacheDbName: `${cacheDbName}-6` })).rejects.toMatchObject({
            code: 'INVALID_FILE',
            message: expect.stringMatching(message),
          });
        expect(() => parseIndexFile(tableDamaged.slice().buffer)).toThrow(expect.objectContaining({ code: 'INVALID_FILE' }));
        const forgedImport = parseIndexFile(forgedCounts.slice().buffer);
        expect(forgedImport.lists.map((l) => l.count)).toEqual(whole.lists.map((l) => l.count));
        // The list in the places' first row, its ids placed past the file (its row's CRC in the index made to match).
        const atRow0 = placeIndex.rows.indexOf(0);
        let rowCrc = 0;
        const moved = editSection(bytes, 'places', 0, (b) => {
          new Uint32Array(b.buffer, b.byteOffset, 6)[2] = 0xfffffff0;
          rowCrc = crc32(b.subarray(0, row));
        });
        const pastTheEnd = editSection(moved, 'placeIndex', 0, (b) => {
          new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4)[atRow0 * 2 + 1] = rowCrc;
        });
        expect(() => parseIndexFile(pastTheEnd.slice().buffer)).toThrow(
          expect.objectContaining({ code: 'INVALID_FILE', message: expect.stringMatching(/outside/) }),
        );
        const store7 = await openRemoteStore(await put(pastTheEnd), { cacheDbName: `${cacheDbName}-7` });
        try {
          await expect(store7.readPlaces!('docs', [atRow0])).rejects.toMatchObject({ code: 'INVALID_FILE' });
        } finally {
          store7.close();
        }
      } finally {
        for (const suffix of ['', '-2', '-3', '-4', '-5', '-6', '-7']) await clearRemoteCache(undefined, `${cacheDbName}${suffix}`);
      }
      for (const x of toClose.splice(0).reverse()) await x.close();
      await deleteStore(`${dbName}-copy`);
    }),
    { timeout: 180_000 },
  );
});
