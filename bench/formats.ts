// Readers for the standard ANN benchmark files: .fvecs (int32 dim + float32 values per row),
// .ivecs (int32 dim + int32 values), .bvecs (int32 dim + uint8 values), and raw little-endian
// float32 .bin with a known dimension.

export interface Matrix {
  data: Float32Array;
  n: number;
  dim: number;
}

export class FormatError extends Error {
  readonly code = 'INVALID_FILE';
}

function readVecs(buf: ArrayBuffer, elemBytes: number, read: (view: DataView, at: number) => number, name: string): Matrix {
  const view = new DataView(buf);
  if (buf.byteLength < 4) throw new FormatError(`${name}: the file is empty or truncated.`);
  const dim = view.getInt32(0, true);
  if (dim <= 0 || dim > 1 << 20) throw new FormatError(`${name}: bad dimension ${dim} in the first row header.`);
  const row = 4 + dim * elemBytes;
  if (buf.byteLength % row !== 0)
    throw new FormatError(
      `${name}: ${buf.byteLength} bytes is not a whole number of ${row}-byte rows (dimension ${dim}); the file is truncated or not in this format.`,
    );
  const n = buf.byteLength / row;
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const d = view.getInt32(i * row, true);
    if (d !== dim) throw new FormatError(`${name}: row ${i} has dimension ${d}, the first row ${dim}.`);
    for (let j = 0; j < dim; j++) data[i * dim + j] = read(view, i * row + 4 + j * elemBytes);
  }
  return { data, n, dim };
}

export function parseVectors(buf: ArrayBuffer, name: string, dim?: number): Matrix {
  const lower = name.toLowerCase();
  if (lower.endsWith('.fvecs')) return readVecs(buf, 4, (v, at) => v.getFloat32(at, true), name);
  if (lower.endsWith('.ivecs')) return readVecs(buf, 4, (v, at) => v.getInt32(at, true), name);
  if (lower.endsWith('.bvecs')) return readVecs(buf, 1, (v, at) => v.getUint8(at), name);
  if (lower.endsWith('.bin')) {
    if (!dim) throw new FormatError(`${name}: a raw float32 .bin file needs --dim.`);
    if (buf.byteLength % (dim * 4) !== 0) throw new FormatError(`${name}: ${buf.byteLength} bytes is not a whole number of ${dim}-float rows.`);
    return { data: new Float32Array(buf.slice(0)), n: buf.byteLength / (dim * 4), dim };
  }
  throw new FormatError(`${name}: unknown vector file type. Use .fvecs, .ivecs, .bvecs, or .bin with --dim.`);
}
