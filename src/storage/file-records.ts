// The file store's record files: how a list, the centroids and a shard of term buckets are laid
// out as bytes (each with the CRC-32 of records.ts beside it), and how an index name becomes a
// directory name. Decoders return undefined for bytes that are not such a file; the storage core
// then reports the record as missing or damaged.

import type { ListRecord } from '../ivf/types.js';
import type { CentroidData } from './records.js';

const LIST_MAGIC = 0x4c544657; // 'WFTL'
const CENTROID_MAGIC = 0x43544657; // 'WFTC'
const TERMS_MAGIC = 0x54544657; // 'WFTT'
const ABSENT = 0xffffffff;

/** A term bucket as a term shard file keeps it. */
export interface ShardBucket {
  checksum: number;
  bytes: Uint8Array;
}

export function encodeList(r: ListRecord, checksum: number): Uint8Array {
  const out = new Uint8Array(16 + r.ids.byteLength + r.codes.byteLength);
  new Uint32Array(out.buffer, 0, 4).set([LIST_MAGIC, r.list, r.count, checksum]);
  out.set(new Uint8Array(r.ids.buffer, r.ids.byteOffset, r.ids.byteLength), 16);
  out.set(new Uint8Array(r.codes.buffer, r.codes.byteOffset, r.codes.byteLength), 16 + r.ids.byteLength);
  return out;
}

/** A list record from its file; undefined if the file is not one (wrong magic, sizes). */
export function decodeList(bytes: Uint8Array): { rec: ListRecord; checksum: number } | undefined {
  if (bytes.byteLength < 16 || bytes.byteLength % 4 !== 0) return undefined;
  const words = new Uint32Array(bytes.slice().buffer);
  const [magic, list, count, checksum] = words;
  if (magic !== LIST_MAGIC || 4 + count! > words.length) return undefined;
  return { rec: { list: list!, count: count!, ids: words.slice(4, 4 + count!), codes: words.slice(4 + count!) }, checksum: checksum! };
}

/**
 * A centroid file: magic, the lengths of the centroids, vmin, scale and (from 'pq' storage on) the
 * codebook (ABSENT for none), the checksum, then their floats. A file written before 'pq' has
 * four lengths; it is told apart by its size.
 */
export function encodeCentroids(c: CentroidData, checksum: number): Uint8Array {
  const parts = [c.centroids, c.vmin, c.scale, c.codebook];
  const floats = parts.reduce((n, p) => n + (p?.length ?? 0), 0);
  const head = c.codebook ? 24 : 20;
  const out = new Uint8Array(head + floats * 4);
  const lengths = [c.centroids.length, c.vmin?.length ?? ABSENT, c.scale?.length ?? ABSENT, ...(c.codebook ? [c.codebook.length] : [])];
  new Uint32Array(out.buffer, 0, head / 4).set([CENTROID_MAGIC, ...lengths, checksum]);
  const f = new Float32Array(out.buffer, head);
  let at = 0;
  for (const p of parts)
    if (p) {
      f.set(p, at);
      at += p.length;
    }
  return out;
}

export function decodeCentroids(bytes: Uint8Array): { data: CentroidData; checksum: number } | undefined {
  if (bytes.byteLength < 20 || bytes.byteLength % 4 !== 0) return undefined;
  const copy = bytes.slice().buffer;
  const words = new Uint32Array(copy);
  const floatsOf = (n: number) => (n === ABSENT ? 0 : n);
  // Four lengths (with a codebook) or three: the one whose sizes add up to the file's.
  for (const parts of [4, 3]) {
    const head = 4 * (parts + 2);
    if (bytes.byteLength < head || words[0] !== CENTROID_MAGIC) continue;
    const lens = Array.from(words.subarray(1, 1 + parts));
    if (head + lens.reduce((a, n) => a + floatsOf(n), 0) * 4 !== bytes.byteLength) continue;
    const f = new Float32Array(copy, head);
    let at = 0;
    const [centroids, vmin, scale, codebook] = lens.map((n) => {
      if (n === ABSENT) return undefined;
      at += n;
      return f.slice(at - n, at);
    });
    if (!centroids || (parts === 4 && !codebook)) continue;
    return {
      data: { centroids, ...(vmin ? { vmin } : {}), ...(scale ? { scale } : {}), ...(codebook ? { codebook } : {}) },
      checksum: words[1 + parts]!,
    };
  }
  return undefined;
}

/** A term shard file: magic, bucket count, then (bucket, checksum, byte length) per bucket, then their bytes. */
export function encodeTermShard(buckets: Map<number, ShardBucket>): Uint8Array {
  const entries = [...buckets].sort((a, b) => a[0] - b[0]);
  const head = 8 + entries.length * 12;
  const out = new Uint8Array(head + entries.reduce((n, [, e]) => n + e.bytes.byteLength, 0));
  const v = new DataView(out.buffer);
  v.setUint32(0, TERMS_MAGIC, true);
  v.setUint32(4, entries.length, true);
  let at = head;
  entries.forEach(([b, e], i) => {
    v.setUint32(8 + i * 12, b, true);
    v.setUint32(12 + i * 12, e.checksum, true);
    v.setUint32(16 + i * 12, e.bytes.byteLength, true);
    out.set(e.bytes, at);
    at += e.bytes.byteLength;
  });
  return out;
}

/** A term shard file's buckets (bytes and stored checksum); undefined if the file is not one. */
export function decodeTermShard(bytes: Uint8Array): Map<number, ShardBucket> | undefined {
  if (bytes.byteLength < 8) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getUint32(4, true);
  if (v.getUint32(0, true) !== TERMS_MAGIC || 8 + n * 12 > bytes.byteLength) return undefined;
  const out = new Map<number, ShardBucket>();
  let at = 8 + n * 12;
  for (let i = 0; i < n; i++) {
    const len = v.getUint32(16 + i * 12, true);
    if (at + len > bytes.byteLength) return undefined;
    out.set(v.getUint32(8 + i * 12, true), { checksum: v.getUint32(12 + i * 12, true), bytes: bytes.subarray(at, at + len) });
    at += len;
  }
  return at === bytes.byteLength ? out : undefined;
}

/** The directory name of an index: its name's UTF-8 bytes in hex (so case and punctuation never collide). */
export const hexName = (name: string) => Array.from(new TextEncoder().encode(name), (b) => b.toString(16).padStart(2, '0')).join('');

/** The index name of a directory name; undefined if it is not one. */
export const nameOfHex = (h: string): string | undefined => {
  if (!/^(?:[0-9a-f]{2})+$/.test(h)) return undefined;
  return new TextDecoder().decode(Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16)));
};
