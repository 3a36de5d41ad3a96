// Writing the portable index file (the layout is index-file.ts's): a whole index checked by its
// store, with its term buckets, becomes one Blob of sections with their CRC-32s, version 3, or
// version 4 for a 'pq' index (its codebook and its chunks' vectors as checked f16 rows), or
// version 5 for a 'pq' index whose lists are grouped (coarse-groups.ts), or version 7 for one
// with coarse codes (coarse-codes.ts; version 6 keeps its lists' counts and checksums in the
// header's JSON, for readers older than version 7).

import { WeftError } from '../errors.js';
import { halfBytes } from '../ivf/half-text.js';
import { indexLayout } from '../ivf/pq.js';
import { NO_ID } from '../ivf/types.js';
import { fileCodes, fileFloats, scanCodes } from './file-codes.js';
import { crc32 } from './checksum.js';
import type { CatalogEntry } from './contract.js';
import {
  CODED_KINDS,
  LIST_TABLE_BYTES,
  MAGIC,
  PAGE_INDEX_WORDS,
  PAGE_SIZE,
  PER_LIST,
  PRELUDE_BYTES,
  SECTION,
  sectionKey,
  type DirectoryEntry,
  type Section,
  type SectionKind,
} from './index-file.js';
import { groupCount, groupMembers, type CoarseGroups } from '../ivf/coarse-groups.js';
import { codedLists, placeOrder, type CoarseCodes } from '../ivf/coarse-codes.js';
import type { EncodedBucket } from './lexical-records.js';
import { listChecksum, type ChunkRecord, type Manifest, type WholeIndex } from './records.js';

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function newFileId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** The version a whole index is written as by default: 4 for a 'pq' index (it needs it), else 3. */
export const defaultLayout = (m: Manifest): 3 | 4 => (m.storage === 'pq' ? 4 : 3);

/**
 * Serialises a whole index (checked by its store) with its term buckets to a version-3 file, or
 * version 4 for a 'pq' index, 5 for a 'pq' index with groups, 7 with coarse codes (`coarse`; 6
 * puts the lists' counts and checksums in the header's JSON, and `layout: 2` leaves the lists'
 * directories out: files for older readers). `postings` are the index's buckets as the store
 * would write them for these chunks.
 */
export function writeIndexFile(
  whole: WholeIndex,
  postings: { records: readonly EncodedBucket[] },
  layout: 2 | 3 | 4 | 5 | 6 | 7 = defaultLayout(whole.manifest),
  coarse?: CoarseGroups | CoarseCodes,
): Blob {
  const groups = coarse && 'supers' in coarse ? coarse : undefined;
  const codes = coarse && 'codes' in coarse ? coarse : undefined;
  const pq = whole.manifest.storage === 'pq';
  if (pq !== layout >= 4) {
    throw new WeftError(
      'INVALID_OPTION',
      pq
        ? `Index '${whole.manifest.name}' stores PQ codes: only layouts 4 to 7 carry them (its codebook and full-precision vectors).`
        : `Layouts 4 to 7 are for indexes with PQ codes; index '${whole.manifest.name}' stores ${whole.manifest.storage}: use layout 3 (or 2).`,
    );
  }
  if ((layout === 5) !== (groups !== undefined))
    throw new WeftError('INVALID_OPTION', 'Layout 5 is the layout of grouped lists: it takes groups, and no other layout does.');
  if (layout >= 6 !== (codes !== undefined))
    throw new WeftError('INVALID_OPTION', 'Layouts 6 and 7 are the layouts of coarse codes: they take them, and no other layout does.');
  if (codes && codedLists(codes) !== whole.manifest.nlist)
    throw new WeftError('INVALID_INPUT', `The coarse codes are of ${codedLists(codes)} lists; index '${whole.manifest.name}' has ${whole.manifest.nlist}.`);
  // Versions 5 to 7 keep the centroids and the lists' entries apart from the toc (in groups or places).
  const placed = layout >= 5;
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const sections: Section[] = [];
  const directory: DirectoryEntry[] = [];
  // The toc comes first in the body; its size is known before the rest is laid out.
  const listSections = placed ? 0 : whole.lists.length * (layout === 4 ? 5 : layout === 3 ? 4 : 3);
  const pageCount = Math.ceil(whole.chunks.length / PAGE_SIZE);
  const quantizers = groups ? 3 + groupCount(groups, whole.manifest.dim) : codes ? 1 + CODED_KINDS.length : 1 + (pq ? 1 : 0);
  // Versions 5 to 7's pages are entries of its page index (one section), not of the toc.
  const pageSections = placed ? Math.min(1, pageCount) : pageCount;
  const tocEntries = quantizers + (whole.centroids.vmin ? 1 : 0) + (whole.centroids.scale ? 1 : 0) + listSections + pageSections + postings.records.length + 1;
  // Version 7: the list table follows the toc (its bytes are the manifest's counts and checksums, known at the end).
  const tabled = layout === 7;
  let offset = tocEntries * 24 + (tabled ? whole.manifest.nlist * LIST_TABLE_BYTES : 0);
  const push = (data: Uint8Array) => {
    const pad = (4 - (data.byteLength % 4)) % 4;
    parts.push(data);
    if (pad) parts.push(new Uint8Array(pad));
    const at = offset;
    offset += data.byteLength + pad;
    return at;
  };
  // A version-5 to -7 file's list sections are entries of their groups or places, and its pages of its page index, not of the toc.
  const listEntries: Section[] = [];
  const pageEntries: Section[] = [];
  const add = (kind: SectionKind, key: number, data: Uint8Array) => {
    const s: Section = { kind, key, offset: push(data), length: data.byteLength, crc: crc32(data) };
    if (placed && (PER_LIST as readonly number[]).includes(kind)) listEntries.push(s);
    else if (placed && kind === SECTION.directory) pageEntries.push(s);
    else sections.push(s);
    return s;
  };
  // Version 4 holds a 'pq' index's centroids and codebook as f16 where they are f16 values (file-codes.ts).
  if (!placed) add(SECTION.centroids, 0, pq ? fileFloats(whole.centroids.centroids) : bytesOf(whole.centroids.centroids));
  if (whole.centroids.vmin) add(SECTION.vmin, 0, bytesOf(whole.centroids.vmin));
  if (whole.centroids.scale) add(SECTION.scale, 0, bytesOf(whole.centroids.scale));
  if (pq) add(SECTION.codebook, 0, fileFloats(whole.centroids.codebook!));
  if (groups) {
    add(SECTION.supers, 0, fileFloats(groups.supers));
    add(SECTION.listGroups, 0, bytesOf(groups.listGroup));
  }
  // Versions 6 and 7: what opening reads follows the toc (one range): the codes, their codebook, and the
  // place index, whose bytes are filled in once the places are laid out (after the lists).
  const placeIndex = codes ? new Uint32Array(whole.manifest.nlist * 2) : undefined;
  let indexSection: Section | undefined;
  if (codes) {
    add(SECTION.coarseBook, 0, fileFloats(codes.book.centroids));
    add(SECTION.coarseCodes, 0, codes.codes);
    indexSection = add(SECTION.placeIndex, 0, bytesOf(placeIndex!));
  }
  const byList = new Map<number, ChunkRecord[]>();
  for (const c of whole.chunks) {
    const of = byList.get(c.list);
    if (of) of.push(c);
    else byList.set(c.list, [c]);
  }
  const scan = pq ? indexLayout(whole.manifest) : undefined;
  const checksums = [...whole.manifest.checksums];
  for (const l of whole.lists) {
    add(SECTION.ids, l.list, bytesOf(l.ids));
    if (pq) {
      // Rows without the scan's padding (file-codes.ts); the manifest's checksum is over the layout a reader rebuilds.
      const rows = fileCodes(l.codes, l.count, scan!, whole.manifest.pq!);
      add(SECTION.codes, l.list, bytesOf(rows));
      checksums[l.list] = listChecksum({ ...l, codes: scanCodes(rows, l.count, scan!, whole.manifest.pq!) });
    } else add(SECTION.codes, l.list, bytesOf(l.codes));
    // The list's directory and chunk texts right after its vectors: one range holds the list and its passages.
    // Version 3: by id (a reader finds an entry by bisection). Version 4: in the list's slot order, so
    // an entry needs no id (the list's ids say whose it is), and the vector rows follow the same order.
    const mine = byList.get(l.list) ?? [];
    const ordered = pq ? slotOrder(l.ids, mine, whole.manifest.name, l.list) : mine.sort((a, b) => a.id - b.id);
    const records = ordered.map((c) => {
      const bytes = encoder.encode(chunkJson(whole.manifest.name, c));
      return { c, bytes, crc: crc32(bytes) };
    });
    const rows = pq
      ? vectorRows(
          whole.manifest,
          records.map((r) => r.c),
        )
      : undefined;
    if (rows) {
      const own = new Uint32Array(records.length * 3);
      records.forEach((r, i) => own.set([r.bytes.byteLength, r.crc, rows.crcs[i]!], i * 3));
      add(SECTION.listDirectory, l.list, bytesOf(own));
    } else if (layout >= 3) {
      const own = new Uint32Array(records.length * 4);
      let rel = 0;
      records.forEach((r, i) => {
        own.set([r.c.id, rel, r.bytes.byteLength, r.crc], i * 4);
        rel += r.bytes.byteLength;
      });
      add(SECTION.listDirectory, l.list, bytesOf(own));
    }
    const start = offset;
    let at = start;
    for (const r of records) {
      directory.push({ id: r.c.id, list: l.list, offset: at, length: r.bytes.byteLength, crc: r.crc });
      at += r.bytes.byteLength;
    }
    const joined = new Uint8Array(at - start);
    let p = 0;
    for (const r of records) {
      joined.set(r.bytes, p);
      p += r.bytes.byteLength;
    }
    add(SECTION.chunks, l.list, joined);
    if (rows) add(SECTION.vectors, l.list, rows.bytes);
  }
  if (groups) addGroups(whole, groups, listEntries, add);
  if (codes) {
    placeIndex!.set(addPlaces(whole, listEntries, add));
    indexSection!.crc = crc32(bytesOf(placeIndex!));
  }
  directory.sort((a, b) => a.id - b.id);
  const pages: number[] = [];
  for (let page = 0; page < pageCount; page++) {
    const entries = directory.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    pages.push(entries[0]!.id);
    const words = new Uint32Array(entries.length * 6);
    entries.forEach((e, i) => words.set([e.id, e.list, e.offset % 2 ** 32, Math.floor(e.offset / 2 ** 32), e.length, e.crc], i * 6));
    add(SECTION.directory, page, bytesOf(words));
  }
  if (pageEntries.length > 0) {
    const index = new Uint32Array(pageEntries.length * PAGE_INDEX_WORDS);
    pageEntries.forEach((e, p) =>
      index.set([pages[p]!, e.kind, e.key, e.offset % 2 ** 32, Math.floor(e.offset / 2 ** 32), e.length, e.crc], p * PAGE_INDEX_WORDS),
    );
    add(SECTION.pageIndex, 0, bytesOf(index));
  }
  for (const b of postings.records) add(SECTION.terms, b.bucket, b.bytes);
  const catalog: CatalogEntry[] = whole.chunks.map((c) => ({
    id: c.id,
    list: c.list,
    docId: c.docId,
    ...(c.metadata !== undefined ? { metadata: c.metadata } : {}),
  }));
  add(SECTION.catalog, 0, encoder.encode(JSON.stringify(catalog)));

  const toc = new Uint32Array(sections.length * 6);
  sections.forEach((s, i) => toc.set([s.kind, s.key, s.offset % 2 ** 32, Math.floor(s.offset / 2 ** 32), s.length, s.crc], i * 6));
  const tocBytes = bytesOf(toc);
  const listTable = tabled ? listTableOf(whole.manifest.listCounts, checksums) : undefined;
  const { listCounts: _counts, checksums: _checksums, ...withoutLists } = whole.manifest;
  const header = encoder.encode(
    JSON.stringify({
      manifest: listTable ? withoutLists : { ...whole.manifest, checksums },
      fileId: newFileId(),
      toc: { length: tocBytes.byteLength, crc: crc32(tocBytes) },
      ...(placed ? { pages: [], pageCount } : { pages }),
      ...(groups ? { groups: { count: groupCount(groups, whole.manifest.dim), probe: groups.probe } } : {}),
      ...(codes ? { coarse: { m: codes.book.m, exact: codes.exact } } : {}),
      ...(listTable ? { lists: { crc: crc32(listTable) } } : {}),
    }),
  );
  const pre = new Uint8Array(PRELUDE_BYTES);
  pre.set(MAGIC, 0);
  const view = new DataView(pre.buffer);
  view.setUint32(8, layout, true);
  view.setUint32(12, header.byteLength, true);
  view.setUint32(16, crc32(header), true);
  const body = [pre, header, new Uint8Array((4 - (header.byteLength % 4)) % 4), tocBytes, ...(listTable ? [listTable] : []), ...parts];
  const trailer = new Uint8Array(4);
  new DataView(trailer.buffer).setUint32(0, crc32(...body), true);
  return new Blob([...body, trailer] as BlobPart[], { type: 'application/x-weft-index' });
}

/** Version 7's list table (index-file.ts): the lists' counts, then their checksums, u32 each. */
function listTableOf(counts: readonly number[], checksums: readonly number[]): Uint8Array {
  const words = new Uint32Array(counts.length * 2);
  words.set(counts, 0);
  words.set(checksums, counts.length);
  return bytesOf(words);
}

/** Version 5's group sections (index-file.ts): each group's lists' entries (`entries`, placed already), then their centroids. */
function addGroups(
  whole: WholeIndex,
  groups: CoarseGroups,
  entries: readonly Section[],
  add: (kind: SectionKind, key: number, data: Uint8Array) => void,
): void {
  const { dim } = whole.manifest;
  const of = new Map(entries.map((e) => [sectionKey(e.kind, e.key), e]));
  groupMembers(groups.listGroup, groupCount(groups, dim)).forEach((members, g) => {
    const words = new Uint32Array(members.length * PER_LIST.length * 6);
    const rows = new Float32Array(members.length * dim);
    members.forEach((l, i) => {
      PER_LIST.forEach((kind, j) => {
        const e = of.get(sectionKey(kind, l))!;
        words.set([kind, l, e.offset % 2 ** 32, Math.floor(e.offset / 2 ** 32), e.length, e.crc], (i * PER_LIST.length + j) * 6);
      });
      rows.set(whole.centroids.centroids.subarray(l * dim, (l + 1) * dim), i * dim);
    });
    const centroids = fileFloats(rows);
    const bytes = new Uint8Array(words.byteLength + centroids.byteLength);
    bytes.set(bytesOf(words), 0);
    bytes.set(centroids, words.byteLength);
    add(SECTION.group, g, bytes);
  });
}

/**
 * Version 6's places (index-file.ts): a row per list, its entries (`entries`, placed already) then
 * its centroid, all rows of one size, in placeOrder (near lists in near rows); returns the place
 * index: each list's row and that row's CRC-32.
 */
function addPlaces(whole: WholeIndex, entries: readonly Section[], add: (kind: SectionKind, key: number, data: Uint8Array) => void): Uint32Array {
  const { dim, nlist } = whole.manifest;
  const of = new Map(entries.map((e) => [sectionKey(e.kind, e.key), e]));
  const centroids = fileFloats(whole.centroids.centroids);
  const valueBytes = centroids.byteLength / (nlist * dim);
  const entryBytes = PER_LIST.length * 24;
  const row = entryBytes + dim * valueBytes;
  const bytes = new Uint8Array(nlist * row);
  const index = new Uint32Array(nlist * 2);
  placeOrder(whole.centroids.centroids, dim).forEach((l, r) => {
    const words = new Uint32Array(PER_LIST.length * 6);
    PER_LIST.forEach((kind, j) => {
      const e = of.get(sectionKey(kind, l))!;
      words.set([kind, l, e.offset % 2 ** 32, Math.floor(e.offset / 2 ** 32), e.length, e.crc], j * 6);
    });
    bytes.set(bytesOf(words), r * row);
    bytes.set(centroids.subarray(l * dim * valueBytes, (l + 1) * dim * valueBytes), r * row + entryBytes);
    index.set([r, crc32(bytes.subarray(r * row, (r + 1) * row))], l * 2);
  });
  add(SECTION.places, 0, bytes);
  return index;
}

/** A list's chunks in the order of its live slots (`ids`, tombstones skipped); INVALID_INPUT when they do not match. */
function slotOrder(ids: Uint32Array, chunks: readonly ChunkRecord[], name: string, list: number): ChunkRecord[] {
  const byId = new Map(chunks.map((c) => [c.id, c]));
  const out: ChunkRecord[] = [];
  for (const id of ids) {
    if (id === NO_ID) continue;
    const c = byId.get(id);
    if (!c)
      throw new WeftError('INVALID_INPUT', `Index '${name}' cannot be exported: list ${list} holds vector ${id}, which has no chunk.`, {
        details: { chunk: id },
      });
    out.push(c);
  }
  if (out.length !== chunks.length)
    throw new WeftError(
      'INVALID_INPUT',
      `Index '${name}' cannot be exported: list ${list}'s chunks and vectors disagree (${chunks.length} chunks, ${out.length} vectors).`,
    );
  return out;
}

/** A 'pq' index's chunks' vectors as f16 rows (dim x 2 bytes each, in the chunks' order) and each row's CRC-32. */
function vectorRows(m: Manifest, chunks: readonly ChunkRecord[]): { bytes: Uint8Array; crcs: Uint32Array } {
  const row = m.dim * 2;
  const bytes = new Uint8Array(chunks.length * row);
  const crcs = new Uint32Array(chunks.length);
  chunks.forEach((c, i) => {
    const half = halfBytes(c.vector, m.dim);
    if (!half)
      throw new WeftError('INVALID_INPUT', `Index '${m.name}' cannot be exported: chunk ${c.id} lacks its full-precision vector.`, {
        details: { chunk: c.id },
      });
    bytes.set(half, i * row);
    crcs[i] = crc32(half);
  });
  return { bytes, crcs };
}

/** A chunk's record: JSON of exactly the ChunkRecord fields (JSON_VALUE problems are INVALID_INPUT). */
function chunkJson(name: string, c: ChunkRecord): string {
  try {
    return JSON.stringify({ id: c.id, list: c.list, docId: c.docId, text: c.text, ...(c.metadata !== undefined ? { metadata: c.metadata } : {}) });
  } catch (e) {
    throw new WeftError(
      'INVALID_INPUT',
      `Index '${name}' cannot be exported: chunk ${c.id}'s metadata holds a value JSON cannot write (${(e as Error).message}). Keep metadata to JSON values.`,
      { cause: e },
    );
  }
}
