// One portable file per index, so a site can ship a prebuilt index as a static asset, and import
// it or (src/storage/remote) search it in place over HTTP range requests. The current layouts (version 3,
// one checked section per list, chunk and term bucket; version 4, which adds what a 'pq' index
// keeps; version 5, version 4 with its lists grouped under super-centroids; version 6, version 4
// with coarse codes and its lists' places apart; version 7, version 6 with the lists' counts and
// checksums in a binary table) are laid out by
// index-file.ts (written by index-file-writer.ts), as is
// version 2 (the same without the lists' directories); version-1 files (one JSON blob of chunks, section offsets in a JSON header) are still imported:
//
//   "WEFTIDX\0" | u32 file version 1 | u32 header bytes | header (UTF-8 JSON) | sections… | u32 CRC-32 of all before
//
// Import checks the magic, the version, the trailer and every section before it writes anything,
// then writes the whole index in one transaction. Matching checksums only show the file arrived as
// written: the content is checked as well (see wholeIndexProblem), so a forged or buggy file
// cannot plant an index that breaks searches or overwrites chunks later.

import { WeftError } from '../errors.js';
import { textOfHalfBytes } from '../ivf/half-text.js';
import { groupMembers } from '../ivf/coarse-groups.js';
import { codesPay, codesWanted, groupCountOf, measuredCoarseCodes, measuredGroups, measuredRerank, pqParts } from './export-measures.js';
import { checkRerank, indexLayout } from '../ivf/pq.js';
import { fileRowWords, floatsOfFile, scanCodes } from './file-codes.js';
import { crc32 } from './checksum.js';
import { isInt, isRecord } from './index-checks.js';
import { manifestProblem, wholeIndexProblem } from './index-checks.js';
import type { ChunkRecord, ListRecord, Manifest, WeftStore, WholeIndex } from './contract.js';
import { DEFAULT_LANGUAGE, loadAnalyzer } from '../lexical/analyzer.js';
import { DEFAULT_BUCKETS } from '../lexical/postings.js';
import { wholePostingsWith } from './lexical-records.js';
import {
  SECTION,
  checkedSection,
  decodeChunk,
  fileVersion,
  parseDirectoryPage,
  parseHeader,
  parseGroup,
  parseListGroups,
  parsePageIndex,
  parsePlace,
  parsePlaceIndex,
  placeSize,
  parseRowDirectory,
  parseToc,
  sectionKey,
  type FileHeader,
  type Section as IndexSection,
} from './index-file.js';
import { defaultLayout, writeIndexFile } from './index-file-writer.js';

const KINDS = ['centroids', 'vmin', 'scale', 'ids', 'codes', 'chunks'] as const;
/** A version-1 section, as its JSON header describes it. */
interface Section {
  kind: (typeof KINDS)[number];
  list?: number;
  count?: number;
  offset: number;
  length: number;
  crc: number;
}

/** What exportIndex writes besides the index. */
export interface ExportOptions {
  /**
   * The file's layout (default: 3, or for a 'pq' index 7 with coarse codes where they pay, 5 with
   * `groups`, else 4); 6 is 7 with the lists' counts and checksums in the header's JSON, for
   * readers older than layout 7, and 2 leaves the lists' directories out, for readers older than
   * layout 3.
   */
  layout?: 2 | 3 | 4 | 5 | 6 | 7;
  /**
   * 'pq' storage: candidates per result a reader's searches re-rank until they have learnt their
   * own, written in the file's manifest. Default: measured on the index (src/ivf/pq-calibrate.ts)
   * for searches of k 10 at nprobe min(nlist, 8), serving 99% of them, so that a visitor's first
   * query reads the vector rows it needs rather than a reader's start of 16 per result.
   */
  rerank?: number;
  /**
   * 'pq' storage: the number of groups the lists are put in for readers in place (layout 5,
   * src/ivf/coarse-groups.ts), so a visitor fetches the centroids of the groups its queries reach
   * rather than all of them; 0 writes layout 4 (every centroid read at open). Default: none, and
   * for an index of 256 lists or more coarse codes instead (layout 7, src/ivf/coarse-codes.ts:
   * every list's centroid as a 48-byte code read at open, and a query fetches the exact centroids
   * of the few lists it ranks), where they pay (a search of nprobe 16 ranks at most half the lists
   * exactly). On a set whose neighbours are not near-ties, groups took 11-13 of them at 1M to keep
   * recall, where the codes' places cost 14 KB a query (docs/design/compressed-codes.md).
   */
  groups?: number;
}

/**
 * Serialises a stored index (every record checked on the way out) to one Blob in the current
 * layout (index-file.ts: 3, or for a 'pq' index 4, 5 with its lists grouped, 7 with coarse codes); `layout: 6`
 * and `layout: 2` write older ones (the lists' fields in JSON; no lists' directories), which Weft
 * releases before layout 7 and layout 3 can read too.
 */
export async function exportIndex(store: WeftStore, name: string, options: ExportOptions = {}): Promise<Blob> {
  const whole = await store.readWholeIndex(name);
  // The term buckets are built afresh from the chunks (what an import would store), so the
  // manifest's bucket checksums describe exactly the buckets in the file.
  const lexical = whole.manifest.lexical;
  const analyzer = await loadAnalyzer(lexical?.language ?? DEFAULT_LANGUAGE);
  const postings = wholePostingsWith(analyzer, whole.chunks, lexical?.buckets ?? DEFAULT_BUCKETS);
  const m = whole.manifest;
  const pq = m.storage === 'pq';
  for (const option of ['rerank', 'groups'] as const)
    if (options[option] !== undefined && !pq)
      throw new WeftError('INVALID_OPTION', `${option} is for indexes with PQ codes; index '${name}' stores ${m.storage}. Leave it out.`);
  const count = groupCountOf(options.groups, options.layout, m);
  if (options.layout !== undefined && ![2, 3, 4, 5, 6, 7].includes(options.layout))
    throw new WeftError('INVALID_OPTION', `layout must be 2, 3, 4, 5, 6 or 7; got ${String(options.layout)}.`);
  if ((options.layout === 4 || options.layout === 6 || options.layout === 7) && options.groups)
    throw new WeftError(
      'INVALID_OPTION',
      `Layout ${options.layout} does not group lists; leave groups out${options.layout === 4 ? ' (or 0)' : ''}, or choose layout 5 for ${options.groups} groups.`,
    );
  const parts = pq ? pqParts(whole) : undefined;
  const rerank = parts ? { rerank: options.rerank === undefined ? measuredRerank(parts) : checkRerank(options.rerank) } : {};
  // Groups only when asked for (groups or layout 5); coarse codes by default where they pay, or when asked for (layout 6 or 7).
  const groups = parts && count > 0 ? await measuredGroups(parts, count) : undefined;
  let codes = parts && codesWanted(options.groups, options.layout, m) ? await measuredCoarseCodes(parts) : undefined;
  if (codes && options.layout === undefined && !codesPay(codes, m.nlist)) codes = undefined;
  const layout = options.layout ?? (groups ? 5 : codes ? 7 : defaultLayout(m));
  return writeIndexFile({ ...whole, manifest: { ...m, lexical: postings.lexical, ...rerank } }, postings, layout, groups ?? codes);
}

function invalid(message: string): WeftError {
  return new WeftError('INVALID_FILE', `${message} Export the index again from the site that built it.`);
}

/** The sections of a header, checked for shape (kinds, offsets, list numbers, no repeats, no overlaps) against `nlist`. */
function checkedSections(sections: unknown, nlist: number): Section[] {
  if (!Array.isArray(sections)) throw invalid("The index file header's sections are not a list.");
  const seen = new Set<string>();
  const checked = sections.map((s: unknown, i): Section => {
    if (!isRecord(s)) throw invalid(`Section ${i} of the index file is not an object.`);
    if (!KINDS.includes(s.kind as Section['kind'])) throw invalid(`Section ${i} of the index file has an unknown kind ${JSON.stringify(s.kind)}.`);
    const perList = s.kind === 'ids' || s.kind === 'codes';
    const what = `Section ${i} (${String(s.kind)}${perList ? ` of list ${String(s.list)}` : ''})`;
    if (!isInt(s.offset, 0, Number.MAX_SAFE_INTEGER) || !isInt(s.length, 0, Number.MAX_SAFE_INTEGER) || !isInt(s.crc, 0, 0xffffffff)) {
      throw invalid(`${what} has no valid offset, length and CRC.`);
    }
    if (s.kind !== 'chunks' && s.length % 4 !== 0) throw invalid(`${what} is ${s.length} bytes, not a whole number of 4-byte values.`);
    if (perList && !isInt(s.list, 0, nlist - 1)) throw invalid(`${what} names list ${String(s.list)}, but the index has lists 0..${nlist - 1}.`);
    if (s.kind === 'ids' && !isInt(s.count, 0, Number.MAX_SAFE_INTEGER)) throw invalid(`${what} has no valid count.`);
    const key = perList ? `${s.kind} of list ${s.list}` : String(s.kind);
    if (seen.has(key)) throw invalid(`The index file holds the ${key} twice.`);
    seen.add(key);
    return s as unknown as Section;
  });
  // No section lies over another (see parseToc).
  const placed = checked.filter((s) => s.length > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < placed.length; i++) {
    const a = placed[i - 1]!,
      b = placed[i]!;
    if (b.offset < a.offset + a.length)
      throw invalid(
        `Section ${b.kind}${b.list !== undefined ? ` of list ${b.list}` : ''} overlaps section ${a.kind}${a.list !== undefined ? ` of list ${a.list}` : ''}.`,
      );
  }
  return checked;
}

/** Reads an exported index file (either layout) and checks every part of it (bytes and content); writes nothing. */
export function parseIndexFile(buffer: ArrayBuffer): WholeIndex {
  const all = new Uint8Array(buffer);
  const version = fileVersion(all);
  if (all.byteLength < 20) throw invalid('The index file is truncated.');
  const stored = new DataView(buffer).getUint32(all.byteLength - 4, true);
  if (crc32(all.subarray(0, all.byteLength - 4)) !== stored) throw invalid('The index file is damaged or truncated (file checksum mismatch).');
  const whole = version === 1 ? parseVersion1(all) : parseVersion2(all);
  const inconsistent = wholeIndexProblem(whole);
  if (inconsistent) throw invalid(`The index file is inconsistent: ${inconsistent}`);
  return whole;
}

/**
 * The sections of a version-2, -3 or -4 file (index-file.ts), every one checked (the lists'
 * directories are not needed, the import rebuilds from the chunks, except in version 4, where
 * they say whose vector each row is).
 */
function parseVersion2(all: Uint8Array): WholeIndex {
  const header = parseHeader(all);
  const toc = parseToc(all.subarray(header.bodyOffset, header.bodyOffset + header.toc.length), header, all.byteLength);
  const bad = (what: string) => invalid(`${what}.`);
  const read = (kind: number, key: number) => {
    const s = toc.get(sectionKey(kind, key));
    return s ? checkedSection(s, all.slice(s.offset, s.offset + s.length), bad) : undefined;
  };
  const manifest = { ...header.manifest, checksums: [], generation: 0 } as Manifest;
  // Versions 5 to 7: the lists' sections and centroids are in their groups' sections or their places.
  const placedCentroids = header.groups
    ? ungroup(header, toc, all.byteLength, read, bad)
    : header.coarse
      ? unplace(header, toc, all.byteLength, read, bad)
      : undefined;
  const f32 = (b: Uint8Array | undefined) => (b ? new Float32Array(b.buffer) : undefined);
  const vmin = f32(read(SECTION.vmin, 0)),
    scale = f32(read(SECTION.scale, 0));
  const pq = manifest.storage === 'pq' ? manifest.pq : undefined;
  const layout = pq ? indexLayout(manifest) : undefined;
  const lists: ListRecord[] = [];
  for (let l = 0; l < manifest.nlist; l++) {
    const ids = new Uint32Array(read(SECTION.ids, l)!.buffer);
    const codes = new Uint32Array(read(SECTION.codes, l)!.buffer);
    if (pq && codes.length !== ids.length * fileRowWords(pq))
      throw invalid(`The codes of list ${l} do not hold one row for each of its ${ids.length} vectors.`);
    lists.push({ list: l, count: ids.length, ids, codes: pq ? scanCodes(codes, ids.length, layout!, pq) : codes });
  }
  const chunks: ChunkRecord[] = [];
  // Version 5: the pages are entries of the page index.
  const pageIndex = header.pageCount ? parsePageIndex(read(SECTION.pageIndex, 0)!, header, all.byteLength, bad) : undefined;
  for (const s of pageIndex?.sections ?? []) toc.set(sectionKey(s.kind, s.key), s);
  for (let p = 0; p < (pageIndex?.firsts.length ?? header.pages.length); p++) {
    const page = read(SECTION.directory, p);
    if (!page) throw invalid(`The index file has no chunk directory page ${p}.`);
    for (const e of parseDirectoryPage(page, header.bodyOffset)) {
      if (e.offset + e.length > all.byteLength - 4) throw invalid(`Chunk ${e.id}'s record lies outside the file.`);
      const bytes = all.subarray(e.offset, e.offset + e.length);
      if (crc32(bytes) !== e.crc) throw invalid(`Chunk ${e.id}'s record fails its checksum.`);
      chunks.push(decodeChunk(bytes, e, bad));
    }
  }
  // Version 4: a 'pq' index's centroids and codebook as f16 or f32 (file-codes.ts).
  const quantizer = (kind: number, count: number, what: string) => {
    const bytes = read(kind, 0);
    if (!bytes) return undefined;
    const values = floatsOfFile(bytes, count);
    if (!values) throw invalid(`The ${what} section is ${bytes.byteLength} bytes; ${count} values take ${count * 2} (f16) or ${count * 4} (f32).`);
    return values;
  };
  const centroids = placedCentroids ?? (pq ? quantizer(SECTION.centroids, manifest.nlist * manifest.dim, 'centroids') : f32(read(SECTION.centroids, 0)));
  const codebook = pq ? quantizer(SECTION.codebook, 2 ** pq.bits * manifest.dim, 'codebook') : undefined;
  if (codebook) {
    const vectors = vectorsOfLists(toc, lists, manifest.dim, read, bad);
    for (const c of chunks) {
      const v = vectors.get(c.id);
      if (v === undefined) throw invalid(`Chunk ${c.id} has no full-precision vector, which a pq index keeps.`);
      c.vector = v;
    }
  }
  // Term buckets and the catalog are for readers in place (src/storage/remote): an import builds its own
  // from the chunks (the trailer has already vouched for their bytes).
  return {
    manifest,
    centroids: { centroids: centroids!, ...(vmin ? { vmin } : {}), ...(scale ? { scale } : {}), ...(codebook ? { codebook } : {}) },
    lists,
    chunks,
  };
}

/** A version-5 file's centroids, each group's lists' sections put in `toc` on the way. */
function ungroup(
  header: FileHeader,
  toc: Map<string, IndexSection>,
  fileBytes: number,
  read: (kind: number, key: number) => Uint8Array | undefined,
  bad: (what: string) => Error,
): Float32Array {
  const { dim, nlist } = header.manifest;
  const listGroup = parseListGroups(read(SECTION.listGroups, 0)!, header, bad);
  const centroids = new Float32Array(nlist * dim);
  groupMembers(listGroup, header.groups!.count).forEach((members, g) => {
    const group = parseGroup(read(SECTION.group, g)!, header, g, members, fileBytes, bad);
    for (const s of group.sections) toc.set(sectionKey(s.kind, s.key), s);
    members.forEach((l, i) => centroids.set(group.centroids.subarray(i * dim, (i + 1) * dim), l * dim));
  });
  return centroids;
}

/** A version-6 or -7 file's centroids, each list's place (its row by the place index) checked against its CRC and its sections put in `toc` on the way. */
function unplace(
  header: FileHeader,
  toc: Map<string, IndexSection>,
  fileBytes: number,
  read: (kind: number, key: number) => Uint8Array | undefined,
  bad: (what: string) => Error,
): Float32Array {
  const { dim, nlist } = header.manifest;
  const places = read(SECTION.places, 0)!;
  const { rows, crcs } = parsePlaceIndex(read(SECTION.placeIndex, 0)!, nlist, bad);
  const row = placeSize(places.byteLength, nlist, dim);
  if (row === undefined) throw bad(`The lists' places are ${places.byteLength} bytes, not a place for each of ${nlist} lists`);
  const centroids = new Float32Array(nlist * dim);
  for (let l = 0; l < nlist; l++) {
    const bytes = places.subarray(rows[l]! * row, (rows[l]! + 1) * row);
    if (crc32(bytes) !== crcs[l]) throw bad(`List ${l}'s place fails its checksum`);
    const place = parsePlace(bytes, header, l, fileBytes, bad);
    for (const s of place.sections) toc.set(sectionKey(s.kind, s.key), s);
    centroids.set(place.centroid, l * dim);
  }
  return centroids;
}

/** A version-4 file's full-precision vectors as f16 text, by chunk id: each list's rows in its directory's order, each row checked against its CRC. */
function vectorsOfLists(
  toc: Map<string, IndexSection>,
  lists: readonly ListRecord[],
  dim: number,
  read: (kind: number, key: number) => Uint8Array | undefined,
  bad: (what: string) => Error,
): Map<number, string> {
  const out = new Map<number, string>();
  const row = dim * 2;
  for (const { list: l, ids } of lists) {
    const entries = parseRowDirectory(read(SECTION.listDirectory, l)!, ids, l, toc.get(sectionKey(SECTION.chunks, l))!, bad);
    const rows = read(SECTION.vectors, l)!;
    for (const e of entries) {
      const bytes = rows.subarray(e.row * row, (e.row + 1) * row);
      if (crc32(bytes) !== e.vectorCrc) throw invalid(`Chunk ${e.id}'s vector fails its checksum.`);
      out.set(e.id, textOfHalfBytes(bytes));
    }
  }
  return out;
}

/** The sections of a version-1 file. */
function parseVersion1(all: Uint8Array): WholeIndex {
  const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
  const headerLength = view.getUint32(12, true);
  const base = 16 + headerLength + ((4 - (headerLength % 4)) % 4);
  if (base > all.byteLength - 4) throw invalid('The index file header runs past the end of the file.');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(all.subarray(16, 16 + headerLength)));
  } catch {
    throw invalid('The index file header is not readable (not UTF-8 JSON).');
  }
  if (!isRecord(header)) throw invalid('The index file header is not an object.');
  const m = header.manifest;
  if (!isRecord(m)) throw invalid('The index file header has no manifest.');
  const problem = manifestProblem({ ...m, checksums: [], generation: 0 });
  if (problem) throw invalid(`The index file's manifest is not valid: ${problem}`);
  const manifest = { ...m, checksums: [], generation: 0 } as unknown as Manifest;
  const section = (s: Section) => {
    if (base + s.offset + s.length > all.byteLength - 4) throw invalid('A section of the index file lies outside it.');
    const data = all.slice(base + s.offset, base + s.offset + s.length);
    if (crc32(data) !== s.crc) throw invalid(`Section ${s.kind}${s.list !== undefined ? ` of list ${s.list}` : ''} fails its checksum.`);
    return data;
  };
  let centroids: Float32Array | undefined, vmin: Float32Array | undefined, scale: Float32Array | undefined;
  let chunks: unknown = [];
  const ids = new Map<number, { ids: Uint32Array; count: number }>();
  const codes = new Map<number, Uint32Array>();
  for (const s of checkedSections(header.sections, manifest.nlist)) {
    const data = section(s);
    if (s.kind === 'centroids') centroids = new Float32Array(data.buffer);
    else if (s.kind === 'vmin') vmin = new Float32Array(data.buffer);
    else if (s.kind === 'scale') scale = new Float32Array(data.buffer);
    else if (s.kind === 'ids') ids.set(s.list!, { ids: new Uint32Array(data.buffer), count: s.count! });
    else if (s.kind === 'codes') codes.set(s.list!, new Uint32Array(data.buffer));
    else {
      try {
        chunks = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
      } catch {
        throw invalid('The chunks section is not readable (not UTF-8 JSON).');
      }
    }
  }
  const lists: ListRecord[] = [];
  for (let l = 0; l < manifest.nlist; l++) {
    const i = ids.get(l),
      c = codes.get(l);
    if (!i || !c) throw invalid(`The index file has no ${i ? 'codes' : 'ids'} section for list ${l}.`);
    lists.push({ list: l, count: i.count, ids: i.ids, codes: c });
  }
  return {
    manifest,
    centroids: { centroids: centroids ?? new Float32Array(0), ...(vmin ? { vmin } : {}), ...(scale ? { scale } : {}) },
    lists,
    chunks: chunks as ChunkRecord[],
  };
}

/** Imports an exported index (a Blob, a fetch Response body read as ArrayBuffer, …) under its own name or `name`. */
export async function importIndex(store: WeftStore, file: Blob | ArrayBuffer, options: { name?: string; replace?: boolean } = {}): Promise<Manifest> {
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
    throw new WeftError('INVALID_OPTION', `importIndex: name must be a non-empty string; got ${String(options.name)}.`);
  }
  let buffer: ArrayBuffer;
  if (file instanceof Blob) buffer = await file.arrayBuffer();
  else if (file instanceof ArrayBuffer) buffer = file;
  else throw new WeftError('INVALID_INPUT', 'importIndex takes the file as a Blob or an ArrayBuffer (e.g. await response.arrayBuffer()).');
  const whole = parseIndexFile(buffer);
  if (options.name) whole.manifest = { ...whole.manifest, name: options.name };
  return store.writeWholeIndex(whole, options.replace ? { replace: true } : {});
}
