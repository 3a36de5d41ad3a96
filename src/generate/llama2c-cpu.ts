// The CPU float32 forward pass of a llama2.c model, exactly as llama2.c's run.c computes it:
// the reference the WGSL generator is tested against (and a fallback for tiny models).

import type { Llama2cWeights } from './llama2c-format.js';

export interface CpuLlama {
  /** Logits for `token` at position `pos` (the KV cache keeps earlier positions). */
  forward(token: number, pos: number): Float32Array;
}

export function createCpuLlama(w: Llama2cWeights): CpuLlama {
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, headSize, kvDim } = w.config;
  const kvMul = nHeads / nKvHeads;
  const W = w.data,
    o = w.offsets;
  const x = new Float32Array(dim),
    xb = new Float32Array(dim),
    xb2 = new Float32Array(dim);
  const hb = new Float32Array(hiddenDim),
    hb2 = new Float32Array(hiddenDim);
  const q = new Float32Array(dim),
    att = new Float32Array(nHeads * seqLen),
    logits = new Float32Array(vocabSize);
  const keyCache = new Float32Array(nLayers * seqLen * kvDim),
    valueCache = new Float32Array(nLayers * seqLen * kvDim);

  const rmsnorm = (out: Float32Array, v: Float32Array, wOff: number, size: number) => {
    let ss = 0;
    for (let j = 0; j < size; j++) ss = Math.fround(ss + Math.fround(v[j]! * v[j]!));
    ss = Math.fround(ss / size);
    ss = Math.fround(ss + 1e-5);
    ss = Math.fround(1 / Math.sqrt(ss));
    for (let j = 0; j < size; j++) out[j] = Math.fround(W[wOff + j]! * Math.fround(ss * v[j]!));
  };
  const matmul = (out: Float32Array, outOff: number, v: Float32Array, wOff: number, n: number, d: number) => {
    for (let i = 0; i < d; i++) {
      let val = 0;
      for (let j = 0; j < n; j++) val = Math.fround(val + Math.fround(W[wOff + i * n + j]! * v[j]!));
      out[outOff + i] = val;
    }
  };

  return {
    forward(token, pos) {
      x.set(W.subarray(o.tokenEmbedding + token * dim, o.tokenEmbedding + (token + 1) * dim));
      for (let l = 0; l < nLayers; l++) {
        rmsnorm(xb, x, o.rmsAtt + l * dim, dim);
        const loff = l * seqLen * kvDim;
        matmul(q, 0, xb, o.wq + l * dim * dim, dim, dim);
        matmul(keyCache, loff + pos * kvDim, xb, o.wk + l * dim * kvDim, dim, kvDim);
        matmul(valueCache, loff + pos * kvDim, xb, o.wv + l * dim * kvDim, dim, kvDim);
        for (let i = 0; i < dim; i += 2) {
          const headDim = i % headSize;
          const freq = Math.fround(1 / Math.fround(10000 ** Math.fround(headDim / headSize)));
          const val = Math.fround(pos * freq);
          const fcr = Math.fround(Math.cos(val)),
            fci = Math.fround(Math.sin(val));
          const rot = (vec: Float32Array, off: number) => {
            const v0 = vec[off + i]!,
              v1 = vec[off + i + 1]!;
            vec[off + i] = Math.fround(Math.fround(v0 * fcr) - Math.fround(v1 * fci));
            vec[off + i + 1] = Math.fround(Math.fround(v0 * fci) + Math.fround(v1 * fcr));
          };
          rot(q, 0);
          if (i < kvDim) rot(keyCache, loff + pos * kvDim);
        }
        const scale = Math.fround(Math.sqrt(headSize));
        for (let h = 0; h < nHeads; h++) {
          const a = h * seqLen;
          const kvh = Math.floor(h / kvMul) * headSize;
          let max = -Infinity;
          for (let t = 0; t <= pos; t++) {
            let score = 0;
            for (let i = 0; i < headSize; i++) score = Math.fround(score + Math.fround(q[h * headSize + i]! * keyCache[loff + t * kvDim + kvh + i]!));
            score = Math.fround(score / scale);
            att[a + t] = score;
            if (score > max) max = score;
          }
          let sum = 0;
          for (let t = 0; t <= pos; t++) {
            const e = Math.fround(Math.exp(Math.fround(att[a + t]! - max)));
            att[a + t] = e;
            sum = Math.fround(sum + e);
          }
          for (let t = 0; t <= pos; t++) att[a + t] = Math.fround(att[a + t]! / sum);
          for (let i = 0; i < headSize; i++) xb[h * headSize + i] = 0;
          for (let t = 0; t <= pos; t++) {
            const at = att[a + t]!;
            for (let i = 0; i < headSize; i++)
              xb[h * headSize + i] = Math.fround(xb[h * headSize + i]! + Math.fround(at * valueCache[loff + t * kvDim + kvh + i]!));
          }
        }
        matmul(xb2, 0, xb, o.wo + l * dim * dim, dim, dim);
        for (let i = 0; i < dim; i++) x[i] = Math.fround(x[i]! + xb2[i]!);
        rmsnorm(xb, x, o.rmsFfn + l * dim, dim);
        matmul(hb, 0, xb, o.w1 + l * dim * hiddenDim, dim, hiddenDim);
        matmul(hb2, 0, xb, o.w3 + l * dim * hiddenDim, dim, hiddenDim);
        for (let i = 0; i < hiddenDim; i++) {
          const v = hb[i]!;
          hb[i] = Math.fround(Math.fround(v * Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-v))))) * hb2[i]!);
        }
        matmul(xb, 0, hb, o.w2 + l * dim * hiddenDim, hiddenDim, dim);
        for (let i = 0; i < dim; i++) x[i] = Math.fround(x[i]! + xb[i]!);
      }
      rmsnorm(x, x, o.rmsFinal, dim);
      matmul(logits, 0, x, o.wcls, dim, vocabSize);
      return logits;
    },
  };
}

export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
