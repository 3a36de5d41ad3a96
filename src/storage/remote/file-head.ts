// The head of a published index file: its prelude, header and table of contents (and in version 7
// the list table after the toc), read with one or two range requests (the first 64 KiB usually
// hold them all), and the file's length and ETag that later responses are compared with to notice
// a republished file.
//
// A head comes from a host that may lie, and everything later is sized by it: so every length in
// it is checked before anything is requested or allocated — the header's and the toc's against
// the file and against what the manifest implies, each section's against the size its kind must
// have for this manifest (a list's ids and codes from its count, the centroids from nlist x dim),
// or against a cap for the kinds whose size the manifest does not fix (term buckets, the
// catalog). The manifest's per-list fields (listCounts, checksums) are checked like an import
// checks its own, and every directory page of the header must have its section. A violation is
// INVALID_FILE naming the field.

import { WeftError } from '../../errors.js';
import { BLOCK } from '../../ivf/codec.js';
import { indexLayout } from '../../ivf/pq.js';
import { fileRowWords } from '../file-codes.js';
import { isInt, show } from '../index-checks.js';
import {
  PAGE_INDEX_WORDS,
  PAGE_SIZE,
  PER_LIST,
  PRELUDE_BYTES,
  SECTION,
  fileVersion,
  headEnd,
  headerLength,
  parseHeader,
  parseToc,
  placeBytes,
  sectionKey,
  sectionName,
  type FileHeader,
  type Section,
} from '../index-file.js';
import { fetchRange, type RangeFetchOptions } from './range-fetch.js';

const FIRST_READ = 64 * 1024;
/** The largest header read: a manifest of the most lists Weft makes, with room to spare. */
export const MAX_HEADER_BYTES = 32 * 2 ** 20;
/** The largest section whose size the manifest does not fix (a term bucket, the catalog). */
export const MAX_FREE_SECTION_BYTES = 256 * 2 ** 20;
/** The largest chunk record (its text and metadata) read. */
export const MAX_CHUNK_RECORD_BYTES = 16 * 2 ** 20;

export interface Head {
  header: FileHeader;
  toc: Map<string, Section>;
  length: number;
  etag: string | undefined;
  bytes: Uint8Array;
  /** Where the bytes came from (the URL asked for, or where a same-origin redirect led). */
  url: string;
  /** The bytes the first read brought past the toc (the sections after it), at their offset in the file. */
  spare?: { offset: number; bytes: Uint8Array } | undefined;
}

function invalid(url: string, message: string, field: string): WeftError {
  return new WeftError('INVALID_FILE', `The index file at ${url} is not valid: ${message} Publish it again with weft-publish or exportIndex.`, {
    details: { url, field },
  });
}

/** What is wrong with the manifest's per-list fields, which the remote tier reads as they are. */
function listFieldsProblem(h: FileHeader): { message: string; field: string } | undefined {
  const { nlist, count, tombstones } = h.manifest;
  const m = h.manifest as unknown as Record<string, unknown>;
  for (const field of ['listCounts', 'checksums'] as const) {
    const v = m[field];
    if (!Array.isArray(v) || v.length !== nlist)
      return {
        field,
        message: `manifest.${field} must be an array of one number per list (${nlist}); got ${v === undefined ? 'none' : Array.isArray(v) ? `${v.length} entries` : show(v)}.`,
      };
    const bad = v.findIndex((x) => !isInt(x, 0, 0xffffffff));
    if (bad >= 0) return { field, message: `manifest.${field}[${bad}] must be an integer in [0, 2^32 - 1]; got ${show(v[bad])}.` };
  }
  const total = (m.listCounts as number[]).reduce((a, b) => a + b, 0);
  if (total !== count + tombstones)
    return { field: 'listCounts', message: `the lists hold ${total} vectors by manifest.listCounts, but count + tombstones is ${count + tombstones}.` };
  const pages = h.pageCount ?? h.pages.length;
  if (pages > Math.ceil(count / PAGE_SIZE)) {
    return { field: 'pages', message: `the header lists ${pages} directory pages for ${count} chunks (${PAGE_SIZE} per page).` };
  }
  return undefined;
}

/** The most bytes a toc of this header can take: one entry per section the file may hold. */
function maxTocBytes(h: FileHeader): number {
  const { nlist, lexical } = h.manifest;
  return 24 * (4 + 6 * nlist + h.pages.length + (lexical?.buckets ?? 0) + 1);
}

/** The size a section of this kind must have for the manifest (one of `oneOf`: f16 or f32 values, version 4), or its cap where none is fixed. */
function sizeRule(h: FileHeader, s: Section): { exact?: number; oneOf?: number[]; max?: number } {
  const { dim, nlist, listCounts } = h.manifest;
  const layout = indexLayout(h.manifest);
  const n = s.key < listCounts.length ? listCounts[s.key]! : 0;
  switch (s.kind) {
    case SECTION.centroids:
      return h.manifest.pq ? { oneOf: [nlist * dim * 2, nlist * dim * 4] } : { exact: nlist * dim * 4 };
    case SECTION.vmin:
    case SECTION.scale:
      return { exact: layout.dimPad * 4 };
    case SECTION.ids:
      return { exact: n * 4 };
    case SECTION.codes:
      return { exact: h.manifest.pq ? n * fileRowWords(h.manifest.pq) * 4 : Math.ceil(n / BLOCK) * BLOCK * layout.words * 4 };
    case SECTION.listDirectory:
      return { max: n * (h.manifest.pq ? 12 : 16) };
    case SECTION.codebook:
      return h.manifest.pq ? { oneOf: [2 ** h.manifest.pq.bits * dim * 2, 2 ** h.manifest.pq.bits * dim * 4] } : { exact: 0 };
    case SECTION.vectors:
      return { max: n * dim * 2 };
    case SECTION.directory:
      return { max: PAGE_SIZE * 24 };
    case SECTION.pageIndex:
      return { exact: (h.pageCount ?? 0) * PAGE_INDEX_WORDS * 4 };
    case SECTION.supers: {
      const count = h.groups?.count ?? 0;
      return { oneOf: [count * dim * 2, count * dim * 4] };
    }
    case SECTION.listGroups:
      return { exact: nlist * 4 };
    case SECTION.coarseBook:
      return { oneOf: [16 * dim * 2, 16 * dim * 4] };
    case SECTION.coarseCodes:
      return { exact: nlist * Math.ceil((h.coarse?.m ?? 0) / 2) };
    case SECTION.placeIndex:
      return { exact: nlist * 8 };
    case SECTION.places:
      return { oneOf: [nlist * placeBytes(dim, 2), nlist * placeBytes(dim, 4)] };
    case SECTION.group:
      // Its lists are known once the lists' groups are read; until then, at most all of them (parseGroup checks the rest).
      return { max: nlist * (PER_LIST.length * 24 + dim * 4) };
    default:
      return { max: MAX_FREE_SECTION_BYTES };
  }
}

/**
 * Checks a section's length against what its kind must have for the head's manifest (INVALID_FILE
 * naming it): the toc's sections at open, a version-5 group's lists' sections when it is read.
 */
export function checkSectionSize(url: string, header: FileHeader, s: Section): void {
  const rule = sizeRule(header, s);
  if (rule.exact !== undefined && s.length !== rule.exact)
    throw invalid(url, `the ${sectionName(s)} is ${s.length} bytes; the manifest makes it ${rule.exact}.`, sectionName(s));
  if (rule.oneOf !== undefined && !rule.oneOf.includes(s.length))
    throw invalid(url, `the ${sectionName(s)} is ${s.length} bytes; the manifest makes it ${rule.oneOf.join(' or ')}.`, sectionName(s));
  if (rule.max !== undefined && s.length > rule.max)
    throw invalid(url, `the ${sectionName(s)} claims ${s.length} bytes, more than the ${rule.max} it can hold.`, sectionName(s));
}

/** Checks a parsed head's fields and sections against each other (INVALID_FILE naming what is wrong). */
function checkHead(url: string, header: FileHeader, toc: Map<string, Section>): void {
  const lists = listFieldsProblem(header);
  if (lists) throw invalid(url, lists.message, lists.field);
  for (const s of toc.values()) checkSectionSize(url, header, s);
  for (let p = 0; p < header.pages.length; p++) {
    if (!toc.has(sectionKey(SECTION.directory, p)))
      throw invalid(url, `the header lists directory page ${p}, which the table of contents does not hold.`, 'pages');
  }
}

/** The head of a file from its first bytes (UNSUPPORTED_FORMAT for the first layout, which has no toc). */
export function parseHead(url: string, bytes: Uint8Array, length: number, source = url): Head {
  if (fileVersion(bytes) < 2) {
    throw new WeftError(
      'UNSUPPORTED_FORMAT',
      `${url} is an index file in the first layout (version 1), which cannot be read in place. Export the index again with this version of Weft and publish that file, or download it and use importIndex.`,
      { details: { url } },
    );
  }
  const header = parseHeader(bytes);
  const toc = parseToc(bytes.subarray(header.bodyOffset, header.bodyOffset + header.toc.length), header, length);
  checkHead(url, header, toc);
  return { header, toc, length, etag: undefined, bytes, url: source };
}

/** Reads a file's prelude, header and toc (two ranges at most), each length checked before it is requested. */
export async function fetchHead(url: string, o: RangeFetchOptions): Promise<Head> {
  const first = await fetchRange(url, 0, FIRST_READ, o, true);
  // Where a same-origin redirect led: the rest of the file is read there.
  const source = first.url;
  let length = first.total;
  if (length === undefined) {
    if (first.bytes.byteLength < FIRST_READ) length = first.bytes.byteLength;
    else {
      const res = await fetch(source, {
        method: 'HEAD',
        cache: 'no-store',
        redirect: 'error',
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.headers ? { headers: o.headers } : {}),
      }).catch(() => undefined);
      length = Number(res?.headers.get('content-length')) || undefined;
      if (length === undefined)
        throw new WeftError(
          'RANGE_UNSUPPORTED',
          `${url} does not tell the file's length (no Content-Range or Content-Length the page may read). A cross-origin host must expose Content-Range (Access-Control-Expose-Headers).`,
          { details: { url } },
        );
    }
  }
  let bytes = first.bytes;
  if (fileVersion(bytes) < 2) parseHead(url, bytes, length);
  if (bytes.byteLength < PRELUDE_BYTES) throw new WeftError('INVALID_FILE', `${url} is too short to be a Weft index file.`, { details: { url } });
  const h = headerLength(bytes);
  if (h > MAX_HEADER_BYTES || PRELUDE_BYTES + h > length)
    throw invalid(
      url,
      `its header claims ${h} bytes, more than ${PRELUDE_BYTES + h > length ? `the file's ${length}` : `the ${MAX_HEADER_BYTES} a header can take`}.`,
      'header length',
    );
  const need = PRELUDE_BYTES + h; // the header first: the toc's size is in it
  if (bytes.byteLength < need) bytes = concat(bytes, (await fetchRange(source, bytes.byteLength, need, o)).bytes);
  // Only sizes from this parse: a version-7 manifest's counts and checksums are in the list table, not read yet.
  const header = parseHeader(bytes, 'skip');
  const end = headEnd(header);
  if (header.toc.length > maxTocBytes(header) || end > length) {
    throw invalid(
      url,
      header.toc.length > maxTocBytes(header)
        ? `its table of contents claims ${header.toc.length} bytes, more than the ${maxTocBytes(header)} its manifest allows.`
        : `its table of contents${header.listTable ? ' and list table' : ''} end at byte ${end}, past the file's ${length}.`,
      'toc.length',
    );
  }
  if (bytes.byteLength < end) bytes = concat(bytes, (await fetchRange(source, bytes.byteLength, end, o)).bytes);
  const head = parseHead(url, bytes.slice(0, end), length, source);
  head.etag = first.etag;
  if (first.bytes.byteLength > end) head.spare = { offset: end, bytes: first.bytes.slice(end) };
  return head;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
