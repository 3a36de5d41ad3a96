// The CPU scan's inner loop in WebAssembly SIMD: four stored vectors per f32x4 lane group, so
// each lane runs exactly the scalar kernel's float32 sequence (cpu-kernel.ts): per four
// dimensions d = q - x (or the products q·x), the four products summed left to right, then added
// to the lane's accumulator. WASM SIMD float arithmetic is IEEE single precision without fused
// multiply-adds, so the keys are bit for bit the scalar (and SwiftShader's) ones, several times
// faster. Rows are laid out in quads: vectors 4b..4b+3, dimension j at ((b·len + j)·4 + lane).
// The module is written here as bytes (no toolchain): two functions, l2 and ip, with the
// signature (query, rows, blocks, units, out), every argument a byte offset or a count.

const SIMD = 0xfd;
const op = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32Add: 0x6a,
  i32Sub: 0x6b,
} as const;
// SIMD opcodes (LEB128 after the 0xfd prefix).
const simd = { load: 0x00, load32Splat: 0x09, store: 0x0b, const: 0x0c, neg: 0xe1, add: 0xe4, sub: 0xe5, mul: 0xe6 } as const;

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
/** Signed LEB128 (i32.const's immediate), for non-negative n. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>>= 7;
    if (n === 0 && (b & 0x40) === 0) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
const s = (code: number) => [SIMD, ...leb(code)];
const memarg = (align: number, offset: number) => [align, ...leb(offset)];
const section = (id: number, bytes: number[]) => [id, ...leb(bytes.length), ...bytes];
const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
const name = (text: string) => [...leb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];

// Locals: params 0 query, 1 rows, 2 blocks, 3 units, 4 out; then 5 qp, 6 g (i32), 7 acc, 8 d (v128).
const [Q, X, BLOCKS, UNITS, OUT, QP, G, ACC, D] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

/** One product term c of a group: (q_c - x_c)² for l2, q_c · x_c for ip, on the stack. */
function term(ip: boolean, c: number): number[] {
  const qc = [op.localGet, QP, ...s(simd.load32Splat), ...memarg(2, 4 * c)];
  const xc = [op.localGet, X, ...s(simd.load), ...memarg(4, 16 * c)];
  return ip ? [...qc, ...xc, ...s(simd.mul)] : [...qc, ...xc, ...s(simd.sub), op.localTee, D, op.localGet, D, ...s(simd.mul)];
}

function body(ip: boolean): number[] {
  const add = (local: number, by: number) => [op.localGet, local, op.i32Const, ...sleb(by), op.i32Add, op.localSet, local];
  const code = [
    op.block,
    0x40,
    op.loop,
    0x40,
    op.localGet,
    BLOCKS,
    op.i32Eqz,
    op.brIf,
    1,
    ...s(simd.const),
    ...new Array<number>(16).fill(0),
    op.localSet,
    ACC,
    op.localGet,
    Q,
    op.localSet,
    QP,
    op.localGet,
    UNITS,
    op.localSet,
    G,
    op.loop,
    0x40,
    // ((t0 + t1) + t2) + t3, then acc + that: the scalar kernel's order.
    ...term(ip, 0),
    ...term(ip, 1),
    ...s(simd.add),
    ...term(ip, 2),
    ...s(simd.add),
    ...term(ip, 3),
    ...s(simd.add),
    op.localGet,
    ACC,
    ...s(simd.add),
    op.localSet,
    ACC,
    ...add(QP, 16),
    ...add(X, 64),
    op.localGet,
    G,
    op.i32Const,
    1,
    op.i32Sub,
    op.localTee,
    G,
    op.brIf,
    0,
    op.end,
    op.localGet,
    OUT,
    op.localGet,
    ACC,
    ...(ip ? s(simd.neg) : []),
    ...s(simd.store),
    ...memarg(4, 0),
    ...add(OUT, 16),
    op.localGet,
    BLOCKS,
    op.i32Const,
    1,
    op.i32Sub,
    op.localSet,
    BLOCKS,
    op.br,
    0,
    op.end,
    op.end,
    op.end,
  ];
  const locals = vec([
    [2, 0x7f],
    [2, 0x7b],
  ]);
  return [...leb(locals.length + code.length), ...locals, ...code];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const i32 = 0x7f;
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([[0x60, ...vec([[i32], [i32], [i32], [i32], [i32]]), 0]])),
    ...section(3, vec([[0], [0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(
      7,
      vec([
        [...name('memory'), 0x02, 0],
        [...name('l2'), 0x00, 0],
        [...name('ip'), 0x00, 1],
      ]),
    ),
    ...section(10, [...leb(2), ...body(false), ...body(true)]),
  ]);
}

/** The compiled module (immutable, so shared), or null where WebAssembly SIMD is missing. */
let compiled: WebAssembly.Module | null | undefined;
function simdModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

/** Rows of `len` floats (row-major) → quads (see above), the count padded to a multiple of 4 with zero rows. */
export function toQuads(rows: Float32Array, count: number, len: number): Float32Array {
  const blocks = Math.ceil(count / 4);
  const out = new Float32Array(blocks * 4 * len);
  for (let i = 0; i < count; i++) {
    const b = i >> 2,
      lane = i & 3;
    for (let j = 0; j < len; j++) out[(b * len + j) * 4 + lane] = rows[i * len + j]!;
  }
  return out;
}

/** Scores one set of quads against many queries. */
export interface QuadScanner {
  /** Copies `quads` (blocks of 4 vectors, `len` floats each) in for the following keys() calls. */
  load(quads: Float32Array, len: number): void;
  /** Keys of the loaded vectors against q[qOff, qOff + len): one per vector (padding lanes at the end); valid until the next call. */
  keys(ip: boolean, q: Float32Array, qOff: number): Float32Array;
}

/** A scanner on its own WebAssembly instance, or undefined where WebAssembly SIMD is missing (use the scalar kernel). */
export function createQuadScanner(): QuadScanner | undefined {
  const mod = simdModule();
  if (!mod) return undefined;
  const inst = new WebAssembly.Instance(mod);
  const memory = inst.exports.memory as WebAssembly.Memory;
  const l2 = inst.exports.l2 as (q: number, x: number, blocks: number, units: number, out: number) => void;
  const ip = inst.exports.ip as typeof l2;
  let len = 0,
    blocks = 0;
  // Layout: query at 0, rows after it, keys after the rows (16-byte aligned throughout).
  const rowsAt = () => len * 4;
  const outAt = () => rowsAt() + blocks * len * 16;
  return {
    load(quads, l) {
      len = l;
      blocks = quads.length / (4 * l);
      const need = outAt() + blocks * 16;
      if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
      new Float32Array(memory.buffer, rowsAt(), quads.length).set(quads);
    },
    keys(isIp, q, qOff) {
      new Float32Array(memory.buffer, 0, len).set(q.subarray(qOff, qOff + len));
      (isIp ? ip : l2)(0, rowsAt(), blocks, len / 4, outAt());
      return new Float32Array(memory.buffer, outAt(), blocks * 4);
    },
  };
}
