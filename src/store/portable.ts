// One portable file per index, so a site can ship a prebuilt index as a static asset:
//
//   "WEFTIDX\0" | u32 format version | u32 header bytes | header (UTF-8 JSON) | sections… | u32 CRC-32 of all before
//
// The header holds the manifest and, for each section (centroids, the int8 range, every list's
// ids and vectors, the chunks as JSON), its offset, length and CRC-32. Import checks the magic,
// the version, the trailer and every section before it writes anything, then writes the whole
// index in one transaction.

import { WeftError } from '../errors.js';
import { crc32 } from './checksum.js';
import { FORMAT_VERSION, type ChunkRecord, type ListRecord, type Manifest, type WeftStore, type WholeIndex } from './idb-store.js';

const MAGIC = new TextEncoder().encode('WEFTIDX\0');

interface Section { kind: 'centroids' | 'vmin' | 'scale' | 'ids' | 'codes' | 'chunks'; list?: number; count?: number; offset: number; length: number; crc: number }
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
  add('chunks', new TextEncoder().encode(JSON.stringify(whole.chunks)));
  const { checksums: _c, generation: _g, ...manifest } = whole.manifest;
  const header = new TextEncoder().encode(JSON.stringify({ manifest, sections } satisfies Header));
  const pre = new Uint8Array(16);
  pre.set(MAGIC, 0);
  new DataView(pre.buffer).setUint32(8, FORMAT_VERSION, true);
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

/** Reads an exported index file and checks every part of it; writes nothing. */
export function parseIndexFile(buffer: ArrayBuffer): WholeIndex {
  const all = new Uint8Array(buffer);
  if (all.byteLength < 20 || !MAGIC.every((b, i) => all[i] === b)) throw invalid('This is not a Weft index file (bad magic bytes).');
  const view = new DataView(buffer);
  const version = view.getUint32(8, true);
  if (version > FORMAT_VERSION) {
    throw new WeftError('UNSUPPORTED_FORMAT', `This index file has format ${version}; this Weft reads up to ${FORMAT_VERSION}. Update Weft.`);
  }
  const stored = view.getUint32(all.byteLength - 4, true);
  if (crc32(all.subarray(0, all.byteLength - 4)) !== stored) throw invalid('The index file is damaged or truncated (file checksum mismatch).');
  const headerLength = view.getUint32(12, true);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(all.subarray(16, 16 + headerLength))) as Header;
  } catch {
    throw invalid('The index file header is not readable.');
  }
  const base = 16 + headerLength + ((4 - (headerLength % 4)) % 4);
  const section = (s: Section) => {
    if (base + s.offset + s.length > all.byteLength - 4) throw invalid('A section of the index file lies outside it.');
    const data = all.slice(base + s.offset, base + s.offset + s.length);
    if (crc32(data) !== s.crc) throw invalid(`Section ${s.kind}${s.list !== undefined ? ` of list ${s.list}` : ''} fails its checksum.`);
    return data;
  };
  const m = header.manifest;
  let centroids: Float32Array | undefined, vmin: Float32Array | undefined, scale: Float32Array | undefined;
  let chunks: ChunkRecord[] = [];
  const ids = new Map<number, { ids: Uint32Array; count: number }>();
  const codes = new Map<number, Uint32Array>();
  for (const s of header.sections) {
    const data = section(s);
    if (s.kind === 'centroids') centroids = new Float32Array(data.buffer);
    else if (s.kind === 'vmin') vmin = new Float32Array(data.buffer);
    else if (s.kind === 'scale') scale = new Float32Array(data.buffer);
    else if (s.kind === 'ids') ids.set(s.list!, { ids: new Uint32Array(data.buffer), count: s.count! });
    else if (s.kind === 'codes') codes.set(s.list!, new Uint32Array(data.buffer));
    else if (s.kind === 'chunks') chunks = JSON.parse(new TextDecoder().decode(data)) as ChunkRecord[];
  }
  if (!centroids || centroids.length !== m.nlist * m.dim) throw invalid('The index file has no usable centroids.');
  const lists: ListRecord[] = [];
  for (let l = 0; l < m.nlist; l++) {
    const i = ids.get(l), c = codes.get(l);
    if (!i || !c || i.ids.length !== i.count) throw invalid(`List ${l} is missing from the index file.`);
    lists.push({ list: l, count: i.count, ids: i.ids, codes: c });
  }
  return {
    manifest: { ...m, checksums: [], generation: 0 } as Manifest,
    centroids: { centroids, ...(vmin ? { vmin } : {}), ...(scale ? { scale } : {}) },
    lists, chunks,
  };
}

/** Imports an exported index (a Blob, a fetch Response body read as ArrayBuffer, …) under its own name or `name`. */
export async function importIndex(store: WeftStore, file: Blob | ArrayBuffer, options: { name?: string; replace?: boolean } = {}): Promise<Manifest> {
  const buffer = file instanceof Blob ? await file.arrayBuffer() : file;
  const whole = parseIndexFile(buffer);
  if (options.name) whole.manifest = { ...whole.manifest, name: options.name };
  return store.writeWholeIndex(whole, options.replace ? { replace: true } : {});
}
