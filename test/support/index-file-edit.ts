// Hostile index files for the remote tier's tests: a valid exported file with its header (and
// optionally one toc entry) rewritten, every checksum recomputed so that only the lie remains —
// the header's CRC, the toc's, the trailer's all pass.
import { crc32 } from '../../src/storage/checksum.js';
import { LIST_TABLE_BYTES, PRELUDE_BYTES, SECTION } from '../../src/storage/index-file.js';

export interface HeaderJson {
  manifest: Record<string, unknown>;
  fileId: string;
  toc: { length: number; crc: number };
  pages: number[];
  /** Version 7: the list table's CRC. */
  lists?: { crc: number };
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** The header JSON of `file`, and where its body starts. */
export function readHeader(file: Uint8Array): { header: HeaderJson; bodyOffset: number } {
  const length = new DataView(file.buffer, file.byteOffset).getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(PRELUDE_BYTES, PRELUDE_BYTES + length))) as HeaderJson;
  return { header, bodyOffset: PRELUDE_BYTES + length + pad4(length) };
}

/**
 * `file` with its header edited by `edit` and, where `entry` is given, the toc entry of that
 * section kind and key given `length` (the toc's CRC in the header follows unless `edit` sets it).
 * The trailer is recomputed.
 */
export function editFile(file: Uint8Array, edit: (h: HeaderJson) => void, entry?: { kind: keyof typeof SECTION; key: number; length: number }): Uint8Array {
  const { header, bodyOffset } = readHeader(file);
  const body = file.slice(bodyOffset, file.byteLength - 4);
  if (entry) {
    const toc = new Uint32Array(body.buffer, 0, header.toc.length / 4);
    for (let i = 0; i < toc.length; i += 6) if (toc[i] === SECTION[entry.kind] && toc[i + 1] === entry.key) toc[i + 4] = entry.length;
    header.toc.crc = crc32(body.subarray(0, header.toc.length));
  }
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(PRELUDE_BYTES + json.byteLength + pad4(json.byteLength) + body.byteLength + 4);
  out.set(file.subarray(0, PRELUDE_BYTES), 0);
  const view = new DataView(out.buffer);
  view.setUint32(12, json.byteLength, true);
  view.setUint32(16, crc32(json), true);
  out.set(json, PRELUDE_BYTES);
  out.set(body, PRELUDE_BYTES + json.byteLength + pad4(json.byteLength));
  view.setUint32(out.byteLength - 4, crc32(out.subarray(0, out.byteLength - 4)), true);
  return out;
}

/** `file` whose prelude states a header of `length` bytes (nothing else changed). */
export function withHeaderLength(file: Uint8Array, length: number): Uint8Array {
  const out = file.slice();
  new DataView(out.buffer).setUint32(12, length, true);
  return out;
}

/**
 * `file` with the bytes of one section rewritten in place by `change` (its length kept), and its
 * CRC in the toc, the toc's in the header and the trailer recomputed: only the lie remains.
 */
export function editSection(file: Uint8Array, kind: keyof typeof SECTION, key: number, change: (bytes: Uint8Array) => void): Uint8Array {
  const { header, bodyOffset } = readHeader(file);
  const out = file.slice();
  const toc = new Uint32Array(out.buffer, bodyOffset, header.toc.length / 4);
  for (let i = 0; i < toc.length; i += 6) {
    if (toc[i] !== SECTION[kind] || toc[i + 1] !== key) continue;
    const offset = bodyOffset + toc[i + 2]! + toc[i + 3]! * 2 ** 32;
    const bytes = out.subarray(offset, offset + toc[i + 4]!);
    change(bytes);
    toc[i + 5] = crc32(bytes);
  }
  const tocCrc = crc32(out.subarray(bodyOffset, bodyOffset + header.toc.length));
  return editFile(out, (h) => {
    h.toc.crc = tocCrc;
  });
}

/**
 * A version-7 `file` with its list table (each list's count, then each list's checksum: u32 words)
 * rewritten in place by `change`, and the table's CRC in the header and the trailer recomputed.
 */
export function editListTable(file: Uint8Array, change: (words: Uint32Array) => void): Uint8Array {
  const { header, bodyOffset } = readHeader(file);
  const nlist = header.manifest.nlist as number;
  const out = file.slice();
  const at = bodyOffset + header.toc.length;
  const table = out.subarray(at, at + nlist * LIST_TABLE_BYTES);
  change(new Uint32Array(table.buffer, table.byteOffset, table.byteLength / 4));
  const crc = crc32(table);
  return editFile(out, (h) => {
    h.lists = { crc };
  });
}
