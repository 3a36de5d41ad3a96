// CRC-32 (IEEE 802.3, the zlib/PNG polynomial) over one or more byte ranges: every stored
// record carries one so that a damaged record is detected when it is read, not used. Records that
// are objects (manifests, chunks) are checksummed over a canonical text of their fields.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(...parts: ArrayBufferView[]): number {
  let c = 0xffffffff;
  for (const p of parts) {
    const bytes = new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * One text for a structured-cloneable value whatever order its keys were written in (object keys
 * sorted; keys holding undefined left out, as JSON does), so that records that went through
 * IndexedDB or a JSON file get the same checksum. Values JSON cannot hold (NaN, bigint, Date, Map,
 * typed arrays …) are written distinctly, not as null or {}.
 */
export function canonicalText(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : String(v);
    case 'boolean':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'undefined':
      return 'undefined';
    case 'object':
      break;
    default:
      return String(v);
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalText).join(',')}]`;
  if (v instanceof ArrayBuffer) return `ArrayBuffer(${new Uint8Array(v).join(',')})`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${new Uint8Array(v.buffer, v.byteOffset, v.byteLength).join(',')})`;
  if (v instanceof Date) return `Date(${v.getTime()})`;
  if (v instanceof RegExp) return `RegExp(${String(v)})`;
  if (v instanceof Map) return `Map[${[...v].map(([k, x]) => `${canonicalText(k)}:${canonicalText(x)}`).join(',')}]`;
  if (v instanceof Set) return `Set[${[...v].map(canonicalText).join(',')}]`;
  if (typeof Blob !== 'undefined' && v instanceof Blob) return `Blob(${v.size},${JSON.stringify(v.type)})`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalText(o[k])}`).join(',')}}`;
}

/** CRC-32 of canonicalText(v) in UTF-8. */
export function valueChecksum(v: unknown): number {
  return crc32(new TextEncoder().encode(canonicalText(v)));
}
