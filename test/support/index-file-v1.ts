// Writes an index file in the first layout (version 1: section offsets in a JSON header, all
// chunks in one JSON section), as Weft before the range-readable layout did, so that tests keep
// checking that such files are still imported and validated.

import { WeftError } from '../../src/errors.js';
import { crc32 } from '../../src/storage/checksum.js';
import type { WeftStore } from '../../src/storage/contract.js';
import type { Manifest } from '../../src/storage/records.js';

const KINDS = ['centroids', 'vmin', 'scale', 'ids', 'codes', 'chunks'] as const;
interface Section {
  kind: (typeof KINDS)[number];
  list?: number;
  count?: number;
  offset: number;
  length: number;
  crc: number;
}
interface Header {
  manifest: Omit<Manifest, 'checksums' | 'generation'>;
  sections: Section[];
}
const FILE_VERSION = 1;
const MAGIC = new TextEncoder().encode('WEFTIDX\0');

function bytes(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** The stored index `name` as a version-1 file. */
export async function exportVersion1(store: WeftStore, name: string): Promise<Blob> {
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
    throw new WeftError(
      'INVALID_INPUT',
      `Index '${name}' cannot be exported: chunk metadata holds a value JSON cannot write (${(e as Error).message}). Keep metadata to JSON values.`,
      { cause: e },
    );
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
