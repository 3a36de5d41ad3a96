// A 'pq' index published with its lists grouped under super-centroids (layout 5, issue 24): a
// reader in place fetches the super-centroids and then only the groups its queries take
// (src/ivf/coarse-groups.ts, src/stored-index/host-rank.ts). Checked on fresh random data:
// the file holds what the layout-4 file holds (an import of either is the same index); a reader
// that takes every group answers exactly as the local index; with the measured figure, the GPU,
// the CPU backend and a sliced session of the remote index agree, and answer as the local index
// for the queries whose groups hold their nearest lists; a group's centroids are those of its
// lists; a damaged group is CORRUPT_RECORD. Its chunk directory pages are in a page index, read
// only when a chunk is first looked up by id: vector searches read neither.

import { describe, expect } from 'vitest';
import { groupMembers, groupsTaken, rankTaken } from '../../src/ivf/coarse-groups.js';
import { kernelMetric, prepareRows } from '../../src/ivf/probe.js';
import { crc32 } from '../../src/storage/checksum.js';
import {
  PAGE_SIZE,
  PRELUDE_BYTES,
  SECTION,
  pageOf,
  parseDirectoryPage,
  parseHeader,
  parsePageIndex,
  parseToc,
  sectionKey,
} from '../../src/storage/index-file.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
import { exportIndex, importIndex, parseIndexFile } from '../../src/storage/portable.js';
import { openRemoteStore } from '../../src/storage/remote/remote-store.js';
import { clearRemoteCache } from '../../src/storage/remote/section-cache.js';
import { openRemoteIndex } from '../../src/stored-index/remote-index.js';
import { openStoredIndex } from '../../src/stored-index/stored-index.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';
import { indexCleanup } from '../support/store-fixtures.js';
import { PUBLISHED, publishedPqIndex, putFile } from '../support/published-pq.js';

const { dim, n } = PUBLISHED;
const groups = 16;
let dbName = '';
const { toClose, body } = indexCleanup(() => dbName);

/** The file with its header's groups.probe replaced (the body is unchanged: its offsets are from the body's start). */
async function withProbe(file: Blob, probe: number[]): Promise<Blob> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const view = new DataView(bytes.buffer);
  const length = view.getUint32(12, true);
  const json = JSON.parse(new TextDecoder().decode(bytes.subarray(PRELUDE_BYTES, PRELUDE_BYTES + length)));
  json.groups.probe = probe;
  const header = new TextEncoder().encode(JSON.stringify(json));
  const pre = bytes.slice(0, PRELUDE_BYTES);
  const preView = new DataView(pre.buffer);
  preView.setUint32(12, header.byteLength, true);
  preView.setUint32(16, crc32(header), true);
  const body = bytes.subarray(PRELUDE_BYTES + length + ((4 - (length % 4)) % 4), bytes.byteLength - 4);
  const parts = [pre, header, new Uint8Array((4 - (header.byteLength % 4)) % 4), body];
  const trailer = new Uint8Array(4);
  new DataView(trailer.buffer).setUint32(0, crc32(...parts), true);
  return new Blob([...parts, trailer] as BlobPart[]);
}

const put = (file: Blob | Uint8Array) => putFile('grouped', file);

describe('a published file with grouped lists', () => {
  gpuTest(
    'answers in place as the local index, reading only the groups its queries take',
    body(async (ctx) => {
      const seed = freshSeed();
      dbName = `weft-grouped-${crypto.randomUUID()}`;
      const { store, index, queries } = await publishedPqIndex(ctx, dbName, seed, toClose);
      const k = 5,
        nprobe = 4;
      // Adds may split lists: the index's lists now.
      const lists = index.nlist;
      const cacheDbName = `weft-grouped-remote-${crypto.randomUUID()}`;
      try {
        // Below 256 lists the default is layout 4; groups asks for layout 5.
        const flat = await exportIndex(store, 'docs');
        expect(new DataView(await flat.slice(8, 12).arrayBuffer()).getUint32(0, true)).toBe(4);
        const file = await exportIndex(store, 'docs', { groups });
        const bytes = new Uint8Array(await file.arrayBuffer());
        expect(new DataView(bytes.buffer).getUint32(8, true)).toBe(5);
        await expect(exportIndex(store, 'docs', { layout: 4, groups })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
        await expect(exportIndex(store, 'docs', { groups: lists + 1 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
        const header = parseHeader(bytes);
        expect(header.groups!.count).toBe(groups);
        expect(header.groups!.probe.length).toBe(Math.ceil(Math.log2(lists)) + 1);
        const toc = parseToc(bytes.subarray(header.bodyOffset, header.bodyOffset + header.toc.length), header, bytes.byteLength);
        expect(toc.has(sectionKey(SECTION.centroids, 0))).toBe(false);
        expect(toc.has(sectionKey(SECTION.ids, 0))).toBe(false);
        // Nor its chunk directory pages: the page index holds them.
        expect(header.pages).toEqual([]);
        expect(header.pageCount).toBe(Math.ceil(n / PAGE_SIZE));
        expect(toc.has(sectionKey(SECTION.directory, 0))).toBe(false);
        const pageIndexSection = toc.get(sectionKey(SECTION.pageIndex, 0))!;
        const pageIndex = parsePageIndex(
          bytes.slice(pageIndexSection.offset, pageIndexSection.offset + pageIndexSection.length),
          header,
          bytes.byteLength,
          (what) => new Error(what),
        );
        const recordOf = (id: number) => {
          const page = pageIndex.sections[pageOf(pageIndex.firsts, id)]!;
          return { page, entry: parseDirectoryPage(bytes.slice(page.offset, page.offset + page.length), header.bodyOffset).find((e) => e.id === id)! };
        };
        // The same index as the layout-4 file: lists, chunks with their vectors, centroids.
        const whole = parseIndexFile(bytes.slice().buffer);
        const four = parseIndexFile(await flat.arrayBuffer());
        expect(Array.from(whole.centroids.centroids)).toEqual(Array.from(four.centroids.centroids));
        expect(whole.lists.map((l) => [Array.from(l.ids), Array.from(l.codes)])).toEqual(four.lists.map((l) => [Array.from(l.ids), Array.from(l.codes)]));
        expect(whole.chunks).toEqual(four.chunks);

        const local = await index.search(queries, { k, nprobe, rerank: 8 });

        // Every group taken: exactly the local index's answers.
        const all = await openRemoteIndex(
          await put(
            await withProbe(
              file,
              header.groups!.probe.map(() => groups),
            ),
          ),
          { gpu: ctx, cacheDbName, preload: false },
        );
        toClose.push(all);
        const every = await all.search(queries, { k, nprobe, rerank: 8 });
        expect(Array.from(every.ids)).toEqual(Array.from(local.ids));
        expect(Array.from(every.distances)).toEqual(Array.from(local.distances));

        // The measured figure: the GPU, the CPU backend and a sliced session agree.
        const url = await put(file);
        const remote = await openRemoteIndex(url, { gpu: ctx, cacheDbName: `${cacheDbName}-2`, preload: false });
        toClose.push(remote);
        // Its first query reads the groups it takes, and no other.
        const asked: number[] = [];
        const readGroups = remote.remote.readGroupCentroids!.bind(remote.remote);
        remote.remote.readGroupCentroids = (name, gs, o) => {
          asked.push(...gs);
          return readGroups(name, gs, o);
        };
        await remote.search(queries.subarray(0, dim), { k, nprobe, rerank: 8 });
        const first = groupsTaken(
          { supers: (await remote.remote.readCoarseGroups!('docs'))!.groups.supers, listGroup: new Uint32Array(0), probe: header.groups!.probe },
          groupMembers((await remote.remote.readCoarseGroups!('docs'))!.groups.listGroup, groups),
          prepareRows('cosine', queries.subarray(0, dim), dim),
          1,
          dim,
          kernelMetric('cosine'),
          nprobe,
          nprobe,
        )[0]!;
        expect(asked.sort((a, b) => a - b)).toEqual(Array.from(first).sort((a, b) => a - b));
        expect(asked.length).toBeLessThan(groups);
        const far = await remote.search(queries, { k, nprobe, rerank: 8 });
        const cpu = await openRemoteIndex(url, { gpu: 'cpu', cacheDbName: `${cacheDbName}-3`, preload: false });
        toClose.push(cpu);
        const onCpu = await cpu.search(queries, { k, nprobe, rerank: 8 });
        expect(Array.from(onCpu.ids)).toEqual(Array.from(far.ids));
        const session = await remote.searchSession(queries, { k, nprobe, rerank: 8 });
        while (!session.done) await session.step(1);
        expect(Array.from((await session.read()).ids)).toEqual(Array.from(far.ids));
        // The queries whose groups hold their nprobe nearest lists get the local answers; most do.
        const members = groupMembers(
          new Uint32Array(
            bytes.slice(toc.get(sectionKey(SECTION.listGroups, 0))!.offset, toc.get(sectionKey(SECTION.listGroups, 0))!.offset + lists * 4).buffer,
          ),
          groups,
        );
        const prepared = prepareRows('cosine', queries, dim);
        const metric = kernelMetric('cosine');
        // Vector searches (their candidates' rows and texts come through their lists' directories) read no directory page, nor the page index.
        const log: { start: number; end: number }[] = await (await fetch(url.replace('/files/', '/log/'))).json();
        const pageRanges = [pageIndexSection, ...pageIndex.sections];
        expect(log.filter((r) => pageRanges.some((s) => r.start < s.offset + s.length && s.offset < r.end))).toEqual([]);
        const remoteStore = await openRemoteStore(url, { cacheDbName: `${cacheDbName}-4` });
        try {
          const got = (await remoteStore.readCoarseGroups!('docs'))!;
          expect(Array.from(got.groups.listGroup)).toEqual(Array.from({ length: lists }, (_, l) => members.findIndex((m) => m.includes(l))));
          const before = remoteStore.stats().bytesFetched;
          const rows = await remoteStore.readGroupCentroids!('docs', [3]);
          // One group's section: its lists' entries and centroids, not every centroid.
          expect(remoteStore.stats().bytesFetched - before).toBe(toc.get(sectionKey(SECTION.group, 3))!.length);
          members[3]!.forEach((l, i) =>
            expect(Array.from(rows[0]!.subarray(i * dim, (i + 1) * dim))).toEqual(Array.from(whole.centroids.centroids.subarray(l * dim, (l + 1) * dim))),
          );
          // A chunk looked up by id: the page index once, then its page and its record.
          for (const [id, withIndex] of [
            [7, true],
            [n - 5, false],
          ] as const) {
            const at = remoteStore.stats().bytesFetched;
            const [chunk] = await remoteStore.readChunks('docs', [id]);
            expect(chunk).toMatchObject({ id, text: `passage ${id}` });
            const { page, entry } = recordOf(id);
            expect(remoteStore.stats().bytesFetched - at).toBe((withIndex ? pageIndexSection.length : 0) + page.length + entry.length);
          }
          const nq = queries.length / dim;
          const taken = groupsTaken(got.groups, members, prepared, nq, dim, metric, nprobe, nprobe);
          const ranked = rankTaken(taken, members, whole.centroids.centroids, prepared, dim, metric, nprobe);
          const exact = rankTaken(
            Array.from({ length: nq }, () => Uint32Array.from({ length: groups }, (_, g) => g)),
            members,
            whole.centroids.centroids,
            prepared,
            dim,
            metric,
            nprobe,
          );
          // Where the groups taken hold the query's nprobe nearest lists, the answer is the local
          // index's; the groups are measured to keep the neighbours, so nearly every answer is.
          let held = 0,
            same = 0;
          for (let q = 0; q < nq; q++) {
            const row = (r: { ids: Uint32Array }) => Array.from(r.ids.subarray(q * k, (q + 1) * k));
            if (row(far).join() === row(local).join()) same++;
            if (ranked.subarray(q * nprobe, (q + 1) * nprobe).join() !== exact.subarray(q * nprobe, (q + 1) * nprobe).join()) continue;
            held++;
            expect(row(far)).toEqual(row(local));
          }
          console.log(
            `grouped file: ${held} of ${nq} queries' groups hold their ${nprobe} nearest lists, ${same} answer as the local index; the first took ${first.length} of ${groups} groups (probe ${header.groups!.probe.join(',')})`,
          );
          expect(same).toBeGreaterThanOrEqual(nq - 2);
        } finally {
          remoteStore.close();
        }

        // Imported, it is the same index.
        const copy = await openStore({ dbName: `${dbName}-copy` });
        toClose.push(copy);
        await importIndex(copy, file, { name: 'copy' });
        const imported = await openStoredIndex({ gpu: ctx, store: copy, name: 'copy' });
        toClose.push(imported);
        expect(Array.from((await imported.search(queries, { k, nprobe, rerank: 8 })).ids)).toEqual(Array.from(local.ids));

        // A damaged group: the search that takes it is CORRUPT_RECORD.
        const broken = bytes.slice();
        for (let g = 0; g < groups; g++) {
          const s = toc.get(sectionKey(SECTION.group, g))!;
          broken.fill(0x55, s.offset + s.length - 8, s.offset + s.length);
        }
        const damaged = await openRemoteIndex(await put(broken), { gpu: ctx, cacheDbName: `${cacheDbName}-5`, preload: false });
        toClose.push(damaged);
        await expect(damaged.search(queries.subarray(0, dim), { k, nprobe, rerank: 8 })).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
        // A damaged page index: a chunk looked up by id is CORRUPT_RECORD; vector searches do not need it.
        const noIndex = bytes.slice();
        noIndex.fill(0x55, pageIndexSection.offset, pageIndexSection.offset + 8);
        const pagesBroken = await openRemoteStore(await put(noIndex), { cacheDbName: `${cacheDbName}-6` });
        try {
          await expect(pagesBroken.readChunks('docs', [7])).rejects.toMatchObject({ code: 'CORRUPT_RECORD' });
        } finally {
          pagesBroken.close();
        }
      } finally {
        for (const suffix of ['', '-2', '-3', '-4', '-5', '-6']) await clearRemoteCache(undefined, `${cacheDbName}${suffix}`);
      }
      for (const x of toClose.splice(0).reverse()) await x.close();
      await deleteStore(`${dbName}-copy`);
    }),
    { timeout: 180_000 },
  );
});
