// The layout of the portable index file, versions 3 to 7: every part of the index is a section with its
// own CRC-32, found through a binary table of contents, so that a reader with HTTP range requests
// (src/storage/remote) fetches the header first and then only the sections a search needs, and checks
// each one on arrival. Version 2 is version 3 without the lists' directories; it and version 1
// (one JSON blob of chunks, offsets in the header, portable.ts) are still read. Version 4 is
// version 3 with what a 'pq' index adds (below); a 'pq' index is written as version 4 (or 5 to 7,
// below), every other as version 3, so older readers still open them (index-file-writer.ts writes
// them).
//
//   "WEFTIDX\0" | u32 version | u32 header bytes | u32 header CRC | header (UTF-8 JSON) | pad to 4
//   | body: toc | [v7: list table] | [v4: codebook] | for each list: its ids, codes, directory and chunk texts (one
//   contiguous range), [v4: then its vectors] | chunk directory pages | term
//   buckets | catalog | u32 CRC-32 of everything before
//
// Version 4 ('pq' storage): the codebook (m x 2^bits x dim/m values) after the centroids, both as
// f16 where every value is one, else f32 (file-codes.ts; a reader tells them by length). Per list:
// its codes as rows without the scan's padding (file-codes.ts: the term word and the codes, every
// slot, tombstones included); its directory in the list's slot order, 3 u32 per live slot (the
// record's length and CRC, then the CRC of its vector row), so an entry needs no id or offset (the
// list's ids say whose it is, the lengths add up to where its record is); its chunk texts in the
// same order; then its chunks' full-precision vectors as f16 rows, again in that order. The ids,
// codes and directory are one range: a re-ranking reader then fetches just its candidates' rows,
// each checked against its own CRC on arrival. Chunk texts stay as in version 3 (the vector is
// not in the record's JSON). The manifest's list checksums are over the codes laid out for the
// scan, as a store keeps them.
//
// Version 5 is version 4 with its lists grouped under super-centroids (src/ivf/coarse-groups.ts),
// so that a reader in place fetches the centroids of the groups its queries reach instead of all
// of them: the header says `groups: { count, probe }`; the toc holds no centroids and no per-list
// section, but the super-centroids (f16 or f32, count x dim), each list's group (u32 per list),
// and one section per group: its lists' toc entries (6 u32 as the toc's, five per list: ids,
// codes, directory, chunk texts, vectors, its lists in increasing order) followed by their
// centroids (f16 or f32 rows). Fetching a group gives a reader both what the coarse step ranks
// and where those lists lie, in one range. Its chunk-directory pages are not in the header and
// the toc either: the header says `pageCount`, and one page-index section holds, per page, its
// first chunk id and its toc entry (7 u32), read the first time a chunk is looked up by id (a
// keyword result from a list not scanned). A reader that only searches vectors never reads it,
// and opening a file of 10M chunks no longer reads 0.6 MB of page entries.
//
// Version 6 is version 5 with coarse codes in place of groups (src/ivf/coarse-codes.ts): the
// header says `coarse: { m, exact }` instead of `groups`; the toc holds, besides the codebook and
// the page index, the coarse codes' codebook (16 x dim values, f16 or f32), the codes (4-bit,
// nlist x ceil(m / 2) bytes), the place index (per list, its place's row and CRC-32: 2 u32), and
// the places: one row per list, all of one size: the list's toc entries (6 u32 each, the five
// PER_LIST kinds in order) then its centroid (f16 or f32, the same for every row). The rows are
// in an order where lists with near centroids are near each other (coarse-codes.ts's
// placeOrder), so a query's places are a few runs of adjacent rows. A reader opens with the
// codes, their codebook and the place index, and fetches the rows of the lists its queries rank
// exactly, each checked against its own CRC (adjacent rows in one range).
//
// Version 7 is version 6 with the manifest's per-list fields (listCounts and checksums) out of
// the header's JSON: a list table right after the toc holds them, nlist u32 counts then nlist u32
// checksums (8 bytes a list, where JSON took about 15: 30 KB of a 170 KB open at 1M passages);
// the header says `lists: { crc }` (its CRC-32; its length is the manifest's nlist x 8). The table
// belongs to the head like the toc: a reader in place reads it with them (usually in the first
// read), and no section may lie over it.
//
// A list's directory in version 3 is 4 u32 per chunk of the list, by id: id, offset (from the
// start of the list's chunk texts), length, CRC of the chunk's record. A remote reader fetches it
// in the same range as the list's ids and codes, so the texts of a vector search's results (chunks
// of the lists it scanned) are one round trip away instead of two (a directory page, then the
// records).
//
// Header: the manifest (with its list and term-bucket checksums: a remote reader checks what it
// fetches against them), a fileId drawn at export (a republished file has a new one, so cached
// sections of the old one are never mixed in), the toc's length and CRC, and the first id of
// each chunk-directory page. The toc is 6 u32 per section: kind, key (list, bucket or page),
// offset (low, high; from the start of the body), length, CRC. A directory page is 6 u32 per
// chunk, sorted by id: id, list, offset (low, high), length, CRC of the chunk's record, which is
// the chunk as UTF-8 JSON. The catalog is every chunk without its text (JSON), for filters.
// Over 400 lines: one layout, which the importer (portable.ts) and the reader in place
// (remote/) both parse through these functions; each is the check of one part of it.

import { WeftError } from '../errors.js';
import { crc32 } from './checksum.js';
import { isInt, isRecord, manifestProblem } from './index-checks.js';
import type { CatalogEntry } from './contract.js';
import type { ChunkRecord, Manifest } from './records.js';
import { NO_ID } from '../ivf/types.js';
import { floatsOfFile } from './file-codes.js';
import { CODED_FROM } from '../ivf/coarse-codes.js';

export const MAGIC = new TextEncoder().encode('WEFTIDX\0');
/** The newest version this Weft reads and writes (a 'pq' index's file with coarse codes and a list table; 6 with coarse codes and the lists' fields in JSON, 5 with grouped lists, 4 with neither, other indexes 3). */
export const FILE_VERSION = 7;
/** Bytes of a version-7 list table per list: its count and its checksum (u32 each). */
export const LIST_TABLE_BYTES = 8;
/** Bytes before the header in a version-2 or -3 file (a version-1 file has no header CRC: 16). */
export const PRELUDE_BYTES = 20;
/** Chunks per directory page (6 u32 each: 12 KiB a page). */
export const PAGE_SIZE = 512;

export const SECTION = {
  centroids: 0,
  vmin: 1,
  scale: 2,
  ids: 3,
  codes: 4,
  chunks: 5,
  directory: 6,
  terms: 7,
  catalog: 8,
  listDirectory: 9,
  codebook: 10,
  vectors: 11,
  // 12 is not used (a draft of version 4 kept its vector CRCs apart; they are in the directory).
  supers: 13,
  listGroups: 14,
  group: 15,
  pageIndex: 16,
  coarseBook: 17,
  coarseCodes: 18,
  placeIndex: 19,
  places: 20,
} as const;
export type SectionKind = (typeof SECTION)[keyof typeof SECTION];
const KIND_NAMES = Object.fromEntries(Object.entries(SECTION).map(([k, v]) => [v, k])) as Record<number, string>;
/** The kinds of section a list has, in the order a version-5 group lists its lists' entries. */
export const PER_LIST = [SECTION.ids, SECTION.codes, SECTION.listDirectory, SECTION.chunks, SECTION.vectors] as const;
const isPerList = (kind: number) => (PER_LIST as readonly number[]).includes(kind);

/** A section of the file: absolute byte range and checksum. */
export interface Section {
  kind: SectionKind;
  key: number;
  offset: number;
  length: number;
  crc: number;
}
/** Where a chunk's record lies (absolute byte range) and its checksum. */
export interface DirectoryEntry {
  id: number;
  list: number;
  offset: number;
  length: number;
  crc: number;
}
/** A chunk's entry in its list's directory: a DirectoryEntry, and in version 4 its vector row and that row's CRC. */
export interface ListEntry extends DirectoryEntry {
  /** Its row among the list's vector rows (version 4). */
  row: number;
  /** CRC-32 of that row (version 4). */
  vectorCrc?: number;
}

export interface FileHeader {
  manifest: Manifest;
  fileId: string;
  /** Where the body starts (section offsets in the file are relative to it). */
  bodyOffset: number;
  toc: { length: number; crc: number };
  /** First chunk id of each directory page (version 5: none; they are in the page index). */
  pages: number[];
  /** Version 5: how many directory pages the page-index section describes. */
  pageCount?: number;
  /** Version 5: how many groups the lists are in, and the groups a search takes (coarse-groups.ts's `probe`). */
  groups?: { count: number; probe: number[] };
  /** Versions 6 and 7: the coarse codes' sub-quantisers, and the lists a search ranks exactly (coarse-codes.ts's `exact`). */
  coarse?: { m: number; exact: number[] };
  /** Version 7: the list table's CRC-32 (the table follows the toc; the manifest's listCounts and checksums are read from it). */
  listTable?: { crc: number };
}

/** Where the head ends: after the toc, and in version 7 after the list table that follows it. No section lies before. */
export const headEnd = (h: FileHeader): number => h.bodyOffset + h.toc.length + (h.listTable ? h.manifest.nlist * LIST_TABLE_BYTES : 0);

/** Names a section in messages ("codes of list 7"). */
export function sectionName(s: { kind: number; key: number }): string {
  const kind = KIND_NAMES[s.kind] ?? `kind ${s.kind}`;
  if (s.kind === SECTION.listDirectory) return `directory of list ${s.key}`;
  if (isPerList(s.kind)) return `${kind} of list ${s.key}`;
  if (s.kind === SECTION.terms) return `term bucket ${s.key}`;
  if (s.kind === SECTION.directory) return `chunk directory page ${s.key}`;
  if (s.kind === SECTION.pageIndex) return 'index of the chunk directory pages';
  if (s.kind === SECTION.coarseBook) return "coarse codes' codebook";
  if (s.kind === SECTION.coarseCodes) return 'coarse codes';
  if (s.kind === SECTION.placeIndex) return "index of the lists' places";
  if (s.kind === SECTION.places) return "lists' places";
  return kind;
}

export const sectionKey = (kind: number, key: number) => `${kind}:${key}`;

function invalid(message: string): WeftError {
  return new WeftError('INVALID_FILE', `${message} Export the index again from the site that built it.`);
}

/** The file version in the first 12 bytes (INVALID_FILE when they are not a Weft index file's). */
export function fileVersion(start: Uint8Array): number {
  if (start.byteLength < 12 || !MAGIC.every((b, i) => start[i] === b)) throw invalid('This is not a Weft index file (bad magic bytes).');
  const version = new DataView(start.buffer, start.byteOffset, start.byteLength).getUint32(8, true);
  if (version > FILE_VERSION) {
    throw new WeftError('UNSUPPORTED_FORMAT', `This index file has format ${version}; this Weft reads up to ${FILE_VERSION}. Update Weft.`);
  }
  if (version < 1) throw invalid(`This index file claims format ${version}, which does not exist.`);
  return version;
}

/** Header bytes of a version-2 or -3 file, from its first PRELUDE_BYTES: how far to read for the header. */
export function headerLength(prelude: Uint8Array): number {
  return new DataView(prelude.buffer, prelude.byteOffset, prelude.byteLength).getUint32(12, true);
}

/**
 * The header of a version-2 or later file from its first bytes, checked: through the header, and
 * in version 7 through its list table (headEnd), whose counts and checksums become the
 * manifest's. `lists: 'skip'` parses a version-7 header before its list table has been read, with
 * empty listCounts and checksums: only to learn how far the head reaches (remote/file-head.ts).
 */
export function parseHeader(start: Uint8Array, lists: 'read' | 'skip' = 'read'): FileHeader {
  const view = new DataView(start.buffer, start.byteOffset, start.byteLength);
  const length = view.getUint32(12, true);
  if (start.byteLength < PRELUDE_BYTES + length) throw invalid('The index file ends inside its header.');
  const bytes = start.subarray(PRELUDE_BYTES, PRELUDE_BYTES + length);
  if (crc32(bytes) !== view.getUint32(16, true)) throw invalid('The index file header fails its checksum.');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid('The index file header is not readable (not UTF-8 JSON).');
  }
  if (!isRecord(header) || !isRecord(header.manifest) || !isRecord(header.toc) || !Array.isArray(header.pages) || typeof header.fileId !== 'string') {
    throw invalid('The index file header lacks its manifest, table of contents, directory pages or file id.');
  }
  const problem = manifestProblem(header.manifest as unknown as Manifest);
  if (problem) throw invalid(`The index file's manifest is not valid: ${problem}`);
  const { toc, pages } = header;
  const version = view.getUint32(8, true);
  const v5 = version >= 5;
  const groups = version === 5 ? checkedGroups(header.groups, header.manifest as unknown as Manifest) : undefined;
  const coarse = version >= 6 ? checkedCoarse(header.coarse, header.manifest as unknown as Manifest) : undefined;
  const listTable = version >= 7 ? checkedListTable(header.lists) : undefined;
  if (v5 && (!isInt(header.pageCount, 0, 0xffffffff) || pages.length > 0))
    throw invalid(`The index file header's directory pages are not described (version ${version}: a page count, and no pages).`);
  if (!isInt(toc.length, 0, Number.MAX_SAFE_INTEGER) || toc.length % 24 !== 0 || !isInt(toc.crc, 0, 0xffffffff))
    throw invalid("The index file header's table of contents is not described.");
  if (!pages.every((p, i) => isInt(p, 0, 0xfffffffe) && (i === 0 || p > (pages[i - 1] as number))))
    throw invalid("The index file header's directory pages are not increasing ids.");
  const parsed: FileHeader = {
    manifest: header.manifest as unknown as Manifest,
    fileId: header.fileId,
    bodyOffset: PRELUDE_BYTES + length + ((4 - (length % 4)) % 4),
    toc: { length: toc.length, crc: toc.crc },
    pages: pages as number[],
    ...(v5 ? { pageCount: header.pageCount as number } : {}),
    ...(groups ? { groups } : {}),
    ...(coarse ? { coarse } : {}),
    ...(listTable ? { listTable } : {}),
  };
  if (listTable) parsed.manifest = { ...parsed.manifest, ...(lists === 'read' ? listFields(start, parsed) : { listCounts: [], checksums: [] }) };
  return parsed;
}

/** A version-7 header's `lists`: the list table's CRC. */
function checkedListTable(v: unknown): { crc: number } {
  if (!isRecord(v) || !isInt(v.crc, 0, 0xffffffff)) throw invalid("The index file's header does not describe its list table.");
  return { crc: v.crc };
}

/** A version-7 file's list table (after the toc, in `start`), checked against its CRC: each list's count and checksum. */
function listFields(start: Uint8Array, h: FileHeader): Pick<Manifest, 'listCounts' | 'checksums'> {
  const { nlist } = h.manifest;
  const from = h.bodyOffset + h.toc.length;
  if (start.byteLength < headEnd(h)) throw invalid('The index file ends inside its list table.');
  const bytes = start.slice(from, from + nlist * LIST_TABLE_BYTES);
  if (crc32(bytes) !== h.listTable!.crc) throw invalid("The index file's list table fails its checksum.");
  const words = new Uint32Array(bytes.buffer);
  return { listCounts: Array.from(words.subarray(0, nlist)), checksums: Array.from(words.subarray(nlist)) };
}

/** A version-6 or -7 header's `coarse`, checked: m divides dim, and a width per power of two up to nlist, each in [min(nlist, 2^i), nlist], never decreasing. */
function checkedCoarse(v: unknown, m: Manifest): { m: number; exact: number[] } {
  const steps = Math.ceil(Math.log2(Math.max(1, m.nlist))) + 1;
  if (!isRecord(v) || !isInt(v.m, 1, m.dim) || m.dim % v.m !== 0 || m.storage !== 'pq' || m.nlist < CODED_FROM)
    throw invalid("The index file's header does not describe its coarse codes.");
  const exact = v.exact;
  if (
    !Array.isArray(exact) ||
    exact.length !== steps ||
    !exact.every((w, i) => isInt(w, Math.min(m.nlist, 2 ** i), m.nlist) && (i === 0 || w >= (exact[i - 1] as number)))
  )
    throw invalid(`The index file's header gives no valid lists to rank exactly (one number up to ${m.nlist} for each of ${steps} sizes of search).`);
  return { m: v.m, exact: exact as number[] };
}

/** A version-5 header's `groups`, checked: a count in [1, nlist], a figure per power of two up to nlist, each in [1, count], never decreasing. */
function checkedGroups(v: unknown, m: Manifest): { count: number; probe: number[] } {
  const steps = Math.ceil(Math.log2(Math.max(1, m.nlist))) + 1;
  if (!isRecord(v) || !isInt(v.count, 1, m.nlist) || m.storage !== 'pq') throw invalid("The index file's header does not say how its lists are grouped.");
  const count = v.count;
  const probe = v.probe;
  if (!Array.isArray(probe) || probe.length !== steps || !probe.every((p, i) => isInt(p, 1, count) && (i === 0 || p >= (probe[i - 1] as number))))
    throw invalid(`The index file's header gives no valid groups to take (one number in [1, ${count}] for each of ${steps} sizes of search).`);
  return { count, probe: probe as number[] };
}

/**
 * The sections of the toc's bytes, checked (its CRC, kinds, keys, ranges inside `fileBytes`
 * less the trailer, past the toc and not overlapping each other, no repeats), keyed by sectionKey.
 */
export function parseToc(bytes: Uint8Array, header: FileHeader, fileBytes: number): Map<string, Section> {
  if (bytes.byteLength !== header.toc.length || crc32(bytes) !== header.toc.crc) throw invalid("The index file's table of contents fails its checksum.");
  const words = new Uint32Array(bytes.slice().buffer);
  const { nlist } = header.manifest;
  const sections = new Map<string, Section>();
  for (let i = 0; i < words.length; i += 6) {
    const kind = words[i]! as SectionKind,
      key = words[i + 1]!;
    const s: Section = { kind, key, offset: header.bodyOffset + words[i + 2]! + words[i + 3]! * 2 ** 32, length: words[i + 4]!, crc: words[i + 5]! };
    if (KIND_NAMES[kind] === undefined) throw invalid(`Section ${i / 6} of the index file has an unknown kind ${kind}.`);
    const perList = isPerList(kind);
    if (perList && key >= nlist) throw invalid(`The ${sectionName(s)} is not a list of this index (it has 0..${nlist - 1}).`);
    const placed = header.groups !== undefined || header.coarse !== undefined;
    if (placed && (perList || kind === SECTION.centroids || kind === SECTION.directory))
      throw invalid(`The ${sectionName(s)} is in the table of contents of a file that keeps its lists' places apart.`);
    if (kind === SECTION.pageIndex && (!placed || key !== 0)) throw invalid(`The ${sectionName(s)} is in a file that keeps its pages in its header.`);
    if (CODED_KINDS.includes(kind) && (!header.coarse || key !== 0)) throw invalid(`The ${sectionName(s)} is in a file without coarse codes.`);
    if (kind === SECTION.group && key >= (header.groups?.count ?? 0)) throw invalid(`The ${sectionName(s)} is not one of the file's groups.`);
    if (kind === SECTION.directory && key >= header.pages.length) throw invalid(`The ${sectionName(s)} is not in the header's pages.`);
    if (s.offset + s.length > fileBytes - 4) throw invalid(`The ${sectionName(s)} lies outside the file.`);
    if (
      (kind === SECTION.ids ||
        kind === SECTION.codes ||
        kind === SECTION.centroids ||
        kind === SECTION.vmin ||
        kind === SECTION.scale ||
        kind === SECTION.codebook ||
        kind === SECTION.listGroups ||
        kind === SECTION.directory ||
        kind === SECTION.placeIndex ||
        kind === SECTION.pageIndex) &&
      s.length % 4 !== 0
    ) {
      throw invalid(`The ${sectionName(s)} is ${s.length} bytes, not whole 4-byte values.`);
    }
    const entry = header.manifest.storage === 'pq' ? 12 : 16;
    if (kind === SECTION.listDirectory && s.length % entry !== 0) throw invalid(`The ${sectionName(s)} is ${s.length} bytes, not whole ${entry}-byte entries.`);
    const k = sectionKey(kind, key);
    if (sections.has(k)) throw invalid(`The index file holds the ${sectionName(s)} twice.`);
    sections.set(k, s);
  }
  // Each section has bytes of its own: none lies over the toc or over another (a forged toc could
  // point the centroids at the toc itself with a CRC that matches, and pass every other check).
  const sectionsFrom = headEnd(header);
  let last: Section | undefined;
  for (const s of [...sections.values()].filter((x) => x.length > 0).sort((a, b) => a.offset - b.offset)) {
    if (s.offset < sectionsFrom) throw invalid(`The ${sectionName(s)} overlaps the file's table of contents${header.listTable ? ' or list table' : ''}.`);
    if (last && s.offset < last.offset + last.length) throw invalid(`The ${sectionName(s)} overlaps the ${sectionName(last)}.`);
    last = s;
  }
  if (header.groups) {
    for (const kind of [SECTION.supers, SECTION.listGroups, SECTION.codebook])
      if (!sections.has(sectionKey(kind, 0))) throw invalid(`The index file groups its lists but has no ${sectionName({ kind, key: 0 })}.`);
    for (let g = 0; g < header.groups.count; g++) if (!sections.has(sectionKey(SECTION.group, g))) throw invalid(`The index file has no group ${g}.`);
    if ((header.pageCount ?? 0) > 0 && !sections.has(sectionKey(SECTION.pageIndex, 0)))
      throw invalid('The index file has no index of its chunk directory pages.');
    return sections;
  }
  if (header.coarse) {
    for (const kind of [SECTION.codebook, ...CODED_KINDS])
      if (!sections.has(sectionKey(kind, 0))) throw invalid(`The index file has coarse codes but no ${sectionName({ kind, key: 0 })}.`);
    if ((header.pageCount ?? 0) > 0 && !sections.has(sectionKey(SECTION.pageIndex, 0)))
      throw invalid('The index file has no index of its chunk directory pages.');
    return sections;
  }
  for (let l = 0; l < nlist; l++) {
    for (const kind of [SECTION.ids, SECTION.codes] as const) {
      if (!sections.has(sectionKey(kind, l))) throw invalid(`The index file has no ${sectionName({ kind, key: l })}.`);
    }
  }
  if (!sections.has(sectionKey(SECTION.centroids, 0))) throw invalid('The index file has no centroids.');
  if (header.manifest.storage === 'pq') {
    if (!sections.has(sectionKey(SECTION.codebook, 0))) throw invalid('The index file stores PQ codes but has no codebook.');
    for (let l = 0; l < nlist; l++) {
      const dir = sections.get(sectionKey(SECTION.listDirectory, l));
      const vectors = sections.get(sectionKey(SECTION.vectors, l));
      if (!dir || !vectors || vectors.length !== (dir.length / 12) * header.manifest.dim * 2)
        throw invalid(`The index file stores PQ codes but list ${l}'s directory and vectors are missing or disagree.`);
    }
  }
  return sections;
}

/** Each list's group from the (checked) lists' groups section of a version-5 file; a group out of range throws what `onBad` makes of it. */
export function parseListGroups(bytes: Uint8Array, header: FileHeader, onBad: (what: string) => Error): Uint32Array {
  const count = header.groups!.count;
  const out = new Uint32Array(bytes.slice().buffer);
  if (out.length !== header.manifest.nlist || out.some((g) => g >= count))
    throw onBad(`The lists' groups do not name one of the ${count} groups for each list`);
  return out;
}

/**
 * A version-5 group's (checked) bytes: the toc entries of its lists' sections (`members`, in
 * increasing order), checked as the toc's are (kinds in order, keys, inside the file past the
 * toc, a version-4 list's directory and vectors agreeing), and its lists' centroid rows.
 */
export function parseGroup(
  bytes: Uint8Array,
  header: FileHeader,
  g: number,
  members: Uint32Array,
  fileBytes: number,
  onBad: (what: string) => Error,
): { sections: Section[]; centroids: Float32Array } {
  const { dim } = header.manifest;
  const per = PER_LIST.length;
  const entryBytes = members.length * per * 24;
  const centroids = floatsOfFile(bytes.subarray(entryBytes), members.length * dim);
  if (bytes.byteLength < entryBytes || !centroids) throw onBad(`Group ${g} does not hold ${members.length} lists' entries and centroids`);
  const words = new Uint32Array(bytes.slice(0, entryBytes).buffer);
  const sections: Section[] = [];
  members.forEach((list, i) => sections.push(...placedSections(words, i * PER_LIST.length * 6, list, header, fileBytes, (what) => onBad(`Group ${g}${what}`))));
  return { sections, centroids };
}

/**
 * A list's sections from its toc entries at `words[at..]` (the PER_LIST kinds in order), checked
 * as the toc's are: kinds and key, inside the file past the toc, a version-4 list's directory and
 * vectors agreeing. `onBad` takes what is wrong, worded to follow the holder's name ("'s entry 3 is not …").
 */
function placedSections(words: Uint32Array, at: number, list: number, header: FileHeader, fileBytes: number, onBad: (what: string) => Error): Section[] {
  const sectionsFrom = headEnd(header);
  const sections = PER_LIST.map((kind, j) => {
    const w = at + j * 6;
    const s: Section = {
      kind,
      key: words[w + 1]!,
      offset: header.bodyOffset + words[w + 2]! + words[w + 3]! * 2 ** 32,
      length: words[w + 4]!,
      crc: words[w + 5]!,
    };
    if (words[w] !== kind || s.key !== list) throw onBad(`'s entry ${at / 6 + j} is not the ${sectionName({ kind, key: list })}`);
    if (s.offset < sectionsFrom || s.offset + s.length > fileBytes - 4) throw onBad(` places the ${sectionName(s)} outside the file's sections`);
    return s;
  });
  const dir = sections.at(-3)!,
    vectors = sections.at(-1)!;
  if (dir.length % 12 !== 0 || vectors.length !== (dir.length / 12) * header.manifest.dim * 2)
    throw onBad(` gives list ${list} a directory and vectors that disagree`);
  return sections;
}

/** The sections a version-6 or -7 file holds for its coarse codes (besides the index's own codebook). */
export const CODED_KINDS: readonly number[] = [SECTION.coarseBook, SECTION.coarseCodes, SECTION.placeIndex, SECTION.places];

/**
 * A version-6 place index's (checked) bytes: each list's row in the places table and that row's
 * CRC. Rows that are not a permutation of the lists throw what `onBad` makes of it.
 */
export function parsePlaceIndex(bytes: Uint8Array, nlist: number, onBad: (what: string) => Error): { rows: Uint32Array; crcs: Uint32Array } {
  const words = new Uint32Array(bytes.slice().buffer);
  if (words.length !== nlist * 2) throw onBad(`The index of the lists' places does not describe ${nlist} lists`);
  const rows = new Uint32Array(nlist),
    crcs = new Uint32Array(nlist);
  const seen = new Uint8Array(nlist);
  for (let l = 0; l < nlist; l++) {
    const row = words[l * 2]!;
    if (row >= nlist || seen[row])
      throw onBad(`The index of the lists' places gives list ${l} row ${row}, ${row >= nlist ? 'past the table' : "another list's"}`);
    seen[row] = 1;
    rows[l] = row;
    crcs[l] = words[l * 2 + 1]!;
  }
  return { rows, crcs };
}

/** Bytes of a version-6 place: its list's toc entries, then its centroid of `valueBytes` (2: f16, 4: f32) a value. */
export const placeBytes = (dim: number, valueBytes: 2 | 4) => PER_LIST.length * 24 + dim * valueBytes;

/** The bytes of one place in a version-6 places section of `sectionBytes` (f16 or f32 centroids), or undefined when it is neither. */
export function placeSize(sectionBytes: number, nlist: number, dim: number): number | undefined {
  return ([2, 4] as const).map((b) => placeBytes(dim, b)).find((row) => row * nlist === sectionBytes);
}

/**
 * List `list`'s place from its (checked) row of a version-6 file: its sections, checked as a
 * group's are, and its centroid.
 */
export function parsePlace(
  bytes: Uint8Array,
  header: FileHeader,
  list: number,
  fileBytes: number,
  onBad: (what: string) => Error,
): { sections: Section[]; centroid: Float32Array } {
  const { dim } = header.manifest;
  const entryBytes = PER_LIST.length * 24;
  const centroid = floatsOfFile(bytes.subarray(entryBytes), dim);
  if (!centroid) throw onBad(`List ${list}'s place does not hold its entries and its centroid`);
  const words = new Uint32Array(bytes.slice(0, entryBytes).buffer);
  return { sections: placedSections(words, 0, list, header, fileBytes, (what) => onBad(`List ${list}'s place${what}`)), centroid };
}

/** Words of a version-5 page index per page: the page's first chunk id, then its toc entry. */
export const PAGE_INDEX_WORDS = 7;

/**
 * A version-5 page index's (checked) bytes: each page's first chunk id (increasing) and its
 * section, checked as the toc's are (kind, key, inside the file past the toc, whole entries).
 */
export function parsePageIndex(
  bytes: Uint8Array,
  header: FileHeader,
  fileBytes: number,
  onBad: (what: string) => Error,
): { firsts: number[]; sections: Section[] } {
  const count = header.pageCount ?? 0;
  if (bytes.byteLength !== count * PAGE_INDEX_WORDS * 4) throw onBad(`The index of the chunk directory pages does not describe ${count} pages`);
  const words = new Uint32Array(bytes.slice().buffer);
  const sectionsFrom = headEnd(header);
  const firsts: number[] = [];
  const sections: Section[] = [];
  for (let p = 0; p < count; p++) {
    const w = p * PAGE_INDEX_WORDS;
    const s: Section = {
      kind: SECTION.directory,
      key: p,
      offset: header.bodyOffset + words[w + 3]! + words[w + 4]! * 2 ** 32,
      length: words[w + 5]!,
      crc: words[w + 6]!,
    };
    if (words[w + 1] !== SECTION.directory || words[w + 2] !== p) throw onBad(`Entry ${p} of the index of the chunk directory pages is not page ${p}`);
    if (p > 0 && words[w]! <= firsts[p - 1]!) throw onBad('The chunk directory pages are not in increasing order of their first ids');
    if (s.offset < sectionsFrom || s.offset + s.length > fileBytes - 4 || s.length % 24 !== 0)
      throw onBad(`The index of the chunk directory pages places page ${p} outside the file's sections`);
    firsts.push(words[w]!);
    sections.push(s);
  }
  return { firsts, sections };
}

/** A section's bytes, checked against its CRC (`onBad` says what a mismatch is). */
export function checkedSection(s: Section, data: Uint8Array, onBad: (what: string) => Error): Uint8Array {
  if (data.byteLength !== s.length || crc32(data) !== s.crc) throw onBad(`The ${sectionName(s)} fails its checksum`);
  return data;
}

/** The entries of a directory page's (checked) bytes. */
export function parseDirectoryPage(bytes: Uint8Array, bodyOffset: number): DirectoryEntry[] {
  const words = new Uint32Array(bytes.slice().buffer);
  const out: DirectoryEntry[] = [];
  for (let i = 0; i < words.length; i += 6) {
    out.push({ id: words[i]!, list: words[i + 1]!, offset: bodyOffset + words[i + 2]! + words[i + 3]! * 2 ** 32, length: words[i + 4]!, crc: words[i + 5]! });
  }
  return out;
}

/**
 * The entries of a list's directory (checked bytes), with absolute offsets: `texts` is the list's
 * chunk-text section. An entry pointing outside it throws what `onBad` makes of it.
 */
export function parseListDirectory(bytes: Uint8Array, list: number, texts: Section, onBad: (what: string) => Error): DirectoryEntry[] {
  const words = new Uint32Array(bytes.slice().buffer);
  const out: DirectoryEntry[] = [];
  for (let i = 0; i < words.length; i += 4) {
    const e = { id: words[i]!, list, offset: texts.offset + words[i + 1]!, length: words[i + 2]!, crc: words[i + 3]! };
    if (words[i + 1]! + e.length > texts.length) throw onBad(`The directory of list ${list} points outside the list's chunk texts`);
    out.push(e);
  }
  return out;
}

/**
 * The entries of a version-4 list's directory (checked bytes), in slot order: `ids` are the list's
 * (checked) ids, `texts` its chunk-text section. Entries that do not match the live ids, or that
 * reach outside the texts, throw what `onBad` makes of it.
 */
export function parseRowDirectory(bytes: Uint8Array, ids: Uint32Array, list: number, texts: Section, onBad: (what: string) => Error): ListEntry[] {
  const words = new Uint32Array(bytes.slice().buffer);
  const out: ListEntry[] = [];
  let rel = 0;
  for (const id of ids) {
    if (id === NO_ID) continue;
    const i = out.length * 3;
    if (i >= words.length) throw onBad(`The directory of list ${list} has fewer entries than the list has vectors`);
    const length = words[i]!;
    if (rel + length > texts.length) throw onBad(`The directory of list ${list} points outside the list's chunk texts`);
    out.push({ id, list, offset: texts.offset + rel, length, crc: words[i + 1]!, row: out.length, vectorCrc: words[i + 2]! });
    rel += length;
  }
  if (out.length * 3 !== words.length) throw onBad(`The directory of list ${list} has more entries than the list has vectors`);
  return out;
}

/** The directory page that would hold `id` (-1: before the first). */
export function pageOf(pages: readonly number[], id: number): number {
  let lo = 0,
    hi = pages.length - 1,
    at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (pages[mid]! <= id) {
      at = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return at;
}

/** A chunk's record bytes (checked against its entry's CRC by the caller) as a ChunkRecord. */
export function decodeChunk(bytes: Uint8Array, entry: DirectoryEntry, onBad: (what: string) => Error): ChunkRecord {
  let c: unknown;
  try {
    c = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw onBad(`Chunk ${entry.id}'s record is not UTF-8 JSON`);
  }
  if (
    !isRecord(c) ||
    c.id !== entry.id ||
    c.list !== entry.list ||
    typeof c.docId !== 'string' ||
    typeof c.text !== 'string' ||
    (c.metadata !== undefined && !isRecord(c.metadata))
  ) {
    throw onBad(`Chunk ${entry.id}'s record does not hold chunk ${entry.id} of list ${entry.list}`);
  }
  return { id: c.id, list: c.list, docId: c.docId, text: c.text, ...(c.metadata !== undefined ? { metadata: c.metadata as Record<string, unknown> } : {}) };
}

/** The catalog section's (checked) bytes. */
export function decodeCatalog(bytes: Uint8Array, onBad: (what: string) => Error): CatalogEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw onBad('The catalog is not UTF-8 JSON');
  }
  if (!Array.isArray(v) || !v.every((c) => isRecord(c) && isInt(c.id, 0, 0xfffffffe) && isInt(c.list, 0, 0xffffffff) && typeof c.docId === 'string')) {
    throw onBad('The catalog is not a list of chunks');
  }
  return v as CatalogEntry[];
}
