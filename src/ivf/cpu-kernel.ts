// The scan kernel's arithmetic on the CPU (shaders/scan.wgsl, score() and dequant()): the
// float32 operations in the kernel's order, so that a CPU search ranks and scores exactly as the
// GPU does. The kernel walks a zero-padded row four dimensions at a time: acc = acc + dot(d, d)
// for squared L2 (d = q - x) or acc + dot(q, x) for the inner product, and the key is acc or
// -acc. Every operation is one float32 rounding (Math.fround), and `dot` on vec4<f32> sums its
// four products left to right, each rounded, with no fused multiply-add: what SwiftShader
// computes, bit for bit (test/stored-index/cpu-search.browser.test.ts checks it on fresh random data). A GPU
// compiler that contracts dot into FMAs would differ in the last bit of some scores.
// cpu-simd.ts runs the same sequence four vectors at a time; this is its reference and fallback.

import type { Layout, ScalarQuantizer } from './codec.js';
import { fromHalf } from './codec.js';

const F = Math.fround;

/** dot(x, y) of two vec4<f32> as the kernel evaluates it. */
function dot4(x0: number, x1: number, x2: number, x3: number, y0: number, y1: number, y2: number, y3: number): number {
  return F(F(F(F(x0 * y0) + F(x1 * y1)) + F(x2 * y2)) + F(x3 * y3));
}

/**
 * The kernel's key ("smaller is better") of row `x` at `xOff` against query `q` at `qOff`,
 * `len` values each (a multiple of 4, zero-padded as the kernel reads them): squared L2, or the
 * negated inner product (`ip`: also cosine, on normalised rows). `stride`: the distance between
 * consecutive values of x (1 row-major, 4 in cpu-simd.ts's quads).
 */
export function kernelKey(ip: boolean, q: Float32Array, qOff: number, x: Float32Array, xOff: number, len: number, stride = 1): number {
  let acc = 0;
  const s1 = stride,
    s2 = 2 * stride,
    s3 = 3 * stride;
  if (ip) {
    for (let j = 0; j < len; j += 4) {
      const a = qOff + j,
        b = xOff + j * stride;
      acc = F(acc + dot4(q[a]!, q[a + 1]!, q[a + 2]!, q[a + 3]!, x[b]!, x[b + s1]!, x[b + s2]!, x[b + s3]!));
    }
    return -acc;
  }
  for (let j = 0; j < len; j += 4) {
    const a = qOff + j,
      b = xOff + j * stride;
    const d0 = F(q[a]! - x[b]!),
      d1 = F(q[a + 1]! - x[b + s1]!),
      d2 = F(q[a + 2]! - x[b + s2]!),
      d3 = F(q[a + 3]! - x[b + s3]!);
    acc = F(acc + dot4(d0, d1, d2, d3, d0, d1, d2, d3));
  }
  return acc;
}

/**
 * Row-major code words (layout.words per vector) → `count` rows of layout.dimPad floats, the
 * values the kernel scores: f32 as stored, f16 unpacked exactly, int8 dequantised as
 * vmin + code · scale in float32 (two roundings, as dequant() computes it); padding is zero.
 */
export function kernelRows(rows: Uint32Array, count: number, layout: Layout, sq: ScalarQuantizer | undefined): Float32Array {
  const { dim, dimPad, words } = layout;
  const out = new Float32Array(count * dimPad);
  if (layout.storage === 'f32') {
    const f = new Float32Array(rows.buffer, rows.byteOffset, count * words);
    for (let i = 0; i < count; i++) out.set(f.subarray(i * words, i * words + dim), i * dimPad);
  } else if (layout.storage === 'f16') {
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < dim; j++) out[i * dimPad + j] = fromHalf((rows[i * words + (j >>> 1)]! >>> ((j & 1) * 16)) & 0xffff);
    }
  } else {
    if (!sq) throw new Error('int8 storage needs a trained scalar quantizer');
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < dim; j++) {
        const c = (rows[i * words + (j >>> 2)]! >>> ((j & 3) * 8)) & 0xff;
        out[i * dimPad + j] = F(sq.vmin[j]! + F(c * sq.scale[j]!));
      }
    }
  }
  return out;
}
