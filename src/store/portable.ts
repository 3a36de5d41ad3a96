// One portable file per index, so a site can ship a prebuilt index as a static asset:
//
//   "WEFTIDX\0" | u32 file version | u32 header bytes | header (UTF-8 JSON) | sections… | u32 CRC-32 of all before
//
// The header holds the manifest and, for each section (centroids, the int8 range, every list's
// ids and vectors, the chunks as JSON), its offset, length and CRC-32. Import checks the magic,
// the version, the trailer and every section before it writes anything, then writes the whole
// index in one transaction. Matching checksums only show the file arrived as written: the content
// is checked as well (see wholeIndexProblem), so a forged or buggy file cannot plant an index
// that breaks searches or overwrites chunks later.

import { WeftError } from '../errors.js';
import { crc32 } from './checksum.js';
import { isInt, isRecord } from './index-checks.js';
import { manifestProblem, wholeIndexProblem, type ChunkRecord, type ListRecord, type Manifest, type WeftStore, type WholeIndex } from './idb-store.js';

/** Version of the file layout (the records inside carry their own formatVersion in the manifest). */
const FILE_VERSION = 1;
const MAGIC = new TextEncoder().encode('WEFTIDX\0');

const KINDS = ['centroids', 'vmin', 'scale', 'ids', 'codes', 'chunks'] as const;
interface Section { kind: typeof KINDS[number]; list?: number; count?: number; offset: number; length: number; crc: number }
interface Header { manifest: Omit<Manifest, 'checksums' | 'generation'>; sections: Section[] }

function bytes(v: ArrayBufferView): Uint8Array { return new Uint8Array(v.buffer, v.byteOffset, v.byteLength); }

/** Serialises a stored index (every record checked on the way out) to one Blob. */
export async function exportIndex(store: WeftStore, name: string): Promise<Blob> {
  const whole = await store.readWholeIndex(name);
  const parts: Uint8Array[] = [];
  const sections: Section[] = [];
  let offset = 0;
  const add = (kind: Section['kind'], data: Uint8Array, extra: Partial<Section> = {}) => {
    // Keep every section 4-byte aligned so typed arrays can view it in place.
    const pad = (4 - (data.byteLength % 4)) % 4;
    sections.push({ kind, offset, length: data.byteLength, crc: crc32(data), ...extra });
    parts.push(data);
    if (pad) parts.push(new Uint8Array(pad));
    offset += data.byteLength + pad;
  };
  add('centroids', bytes(whole.centroids.centroids));
  if (whole.centroids.vmin) add('vmin', bytes(whole.centroids.vmin));
  if (whole.centroids.scale) add('scale', bytes(whole.centroids.scale));
  for (const l of whole.lists) {
    add('ids', bytes(l.ids), { list: l.list, count: l.count });
    add('codes', bytes(l.codes), { list: l.list });
  }
  let chunks: string;
  try {
    chunks = JSON.stringify(whole.chunks);
  } catch (e) {
    throw new WeftError('INVALID_INPUT', `Index '${name}' cannot be exported: chunk metadata holds a value JSON cannot write (${(e as Error).message}). Keep metadata to JSON values.`, { cause: e });
  }
  add('chunks', new TextEncoder().encode(chunks));
  const { checksums: _c, generation: _g, ...manifest } = whole.manifest;
  const header = new TextEncoder().encode(JSON.stringify({ manifest, sections } satisfies Header));
  const pre = new Uint8Array(16);
  pre.set(MAGIC, 0);
  new DataView(pre.buffer).setUint32(8, FILE_VERSION, true);
  new DataView(pre.buffer).setUint32(12, header.byteLength, true);
  const headerPad = new Uint8Array((4 - (header.byteLength % 4)) % 4);
  const body = [pre, header, headerPad, ...parts];
  const trailer = new Uint8Array(4);
  new DataView(trailer.buffer).setUint32(0, crc32(...body), true);
  return new Blob([...body, trailer] as BlobPart[], { type: 'application/x-weft-index' });
}

function invalid(message: string): WeftError {
  return new WeftError('INVALID_FILE', `${message} Export the index again from the site that built it.`);
}


/** The sections of a header, checked for shape (kinds, offsets, list numbers, no repeats) against `nlist`. */
function checkedSections(sections: unknown, nlist: number): Section[] {
  if (!Array.isArray(sections)) throw invalid('The index file header\'s sections are not a list.');
  const seen = new Set<string>();
  return sections.map((s: unknown, i) => {
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
}

/** Reads an exported index file and checks every part of it (bytes and content); writes nothing. */
export function parseIndexFile(buffer: ArrayBuffer): WholeIndex {
  const all = new Uint8Array(buffer);
  if (all.byteLength < 20 || !MAGIC.every((b, i) => all[i] === b)) throw invalid('This is not a Weft index file (bad magic bytes).');
  const view = new DataView(buffer);
  const version = view.getUint32(8, true);
  if (version > FILE_VERSION) {
    throw new WeftError('UNSUPPORTED_FORMAT', `This index file has format ${version}; this Weft reads up to ${FILE_VERSION}. Update Weft.`);
  }
  if (version < 1) throw invalid(`This index file claims format ${version}, which does not exist.`);
  const stored = view.getUint32(all.byteLength - 4, true);
  if (crc32(all.subarray(0, all.byteLength - 4)) !== stored) throw invalid('The index file is damaged or truncated (file checksum mismatch).');
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
    const i = ids.get(l), c = codes.get(l);
    if (!i || !c) throw invalid(`The index file has no ${i ? 'codes' : 'ids'} section for list ${l}.`);
    lists.push({ list: l, count: i.count, ids: i.ids, codes: c });
  }
  const whole: WholeIndex = {
    manifest,
    centroids: { centroids: centroids ?? new Float32Array(0), ...(vmin ? { vmin } : {}), ...(scale ? { scale } : {}) },
    lists, chunks: chunks as ChunkRecord[],
  };
  const inconsistent = wholeIndexProblem(whole);
  if (inconsistent) throw invalid(`The index file is inconsistent: ${inconsistent}`);
  return whole;
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
