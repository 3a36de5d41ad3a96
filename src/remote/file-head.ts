// The head of a published index file: its prelude, header and table of contents, read with one
// or two range requests (the first 64 KiB usually hold them all), and the file's length and ETag
// that later responses are compared with to notice a republished file.

import { WeftError } from '../errors.js';
import { PRELUDE_BYTES, fileVersion, headerLength, parseHeader, parseToc, type FileHeader, type Section } from '../store/index-file.js';
import { fetchRange, type RangeFetchOptions } from './range-fetch.js';

const FIRST_READ = 64 * 1024;

export interface Head { header: FileHeader; toc: Map<string, Section>; length: number; etag: string | undefined; bytes: Uint8Array }

/** The head of a file from its first bytes (UNSUPPORTED_FORMAT for the first layout, which has no toc). */
export function parseHead(url: string, bytes: Uint8Array, length: number): Head {
  if (fileVersion(bytes) < 2) {
    throw new WeftError('UNSUPPORTED_FORMAT', `${url} is an index file in the first layout (version 1), which cannot be read in place. Export the index again with this version of Weft and publish that file, or download it and use importIndex.`, { details: { url } });
  }
  const header = parseHeader(bytes);
  const toc = parseToc(bytes.subarray(header.bodyOffset, header.bodyOffset + header.toc.length), header, length);
  return { header, toc, length, etag: undefined, bytes };
}

/** Reads a file's prelude, header and toc (two ranges at most). */
export async function fetchHead(url: string, o: RangeFetchOptions): Promise<Head> {
  const first = await fetchRange(url, 0, FIRST_READ, o, true);
  let length = first.total;
  if (length === undefined) {
    if (first.bytes.byteLength < FIRST_READ) length = first.bytes.byteLength;
    else {
      const res = await fetch(url, { method: 'HEAD', cache: 'no-store', ...(o.headers ? { headers: o.headers } : {}) }).catch(() => undefined);
      length = Number(res?.headers.get('content-length')) || undefined;
      if (length === undefined) throw new WeftError('RANGE_UNSUPPORTED', `${url} does not tell the file's length (no Content-Range or Content-Length the page may read). A cross-origin host must expose Content-Range (Access-Control-Expose-Headers).`, { details: { url } });
    }
  }
  let bytes = first.bytes;
  if (fileVersion(bytes) < 2) parseHead(url, bytes, length);
  if (bytes.byteLength < PRELUDE_BYTES) throw new WeftError('INVALID_FILE', `${url} is too short to be a Weft index file.`, { details: { url } });
  const h = headerLength(bytes);
  const need = PRELUDE_BYTES + h; // the header first: the toc's size is in it
  if (bytes.byteLength < need) bytes = concat(bytes, (await fetchRange(url, bytes.byteLength, need, o)).bytes);
  const header = parseHeader(bytes);
  const end = header.bodyOffset + header.toc.length;
  if (bytes.byteLength < end) bytes = concat(bytes, (await fetchRange(url, bytes.byteLength, end, o)).bytes);
  const head = parseHead(url, bytes.slice(0, end), length);
  head.etag = first.etag;
  return head;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
