// Readers for llama2.c files: the checkpoint (7 x int32 header, then float32 weights in
// llama2.c's order) and the tokenizer (`tok*.bin`: max token length, then per token a float32
// score, an int32 length and the bytes). Bad or truncated files get INVALID_MODEL.

import { WeftError } from '../errors.js';

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
  headSize: number;
  kvDim: number;
}

/** Offsets (in floats) of each weight tensor inside the checkpoint's float32 payload. */
export interface Llama2cWeights {
  config: Llama2cConfig;
  /** All weights, float32, in llama2.c's order; offsets below index into it. */
  data: Float32Array;
  offsets: {
    tokenEmbedding: number;
    rmsAtt: number;
    wq: number;
    wk: number;
    wv: number;
    wo: number;
    rmsFfn: number;
    w1: number;
    w2: number;
    w3: number;
    rmsFinal: number;
    wcls: number;
  };
}

const HEADER_BYTES = 28;

function bad(what: string): WeftError {
  return new WeftError('INVALID_MODEL', `${what} Check that the file is a llama2.c checkpoint (or tokenizer) and that it downloaded completely.`);
}

export function parseCheckpoint(buffer: ArrayBuffer): Llama2cWeights {
  if (buffer.byteLength < HEADER_BYTES) throw bad(`The checkpoint is ${buffer.byteLength} bytes, shorter than its 28-byte header.`);
  const h = new Int32Array(buffer, 0, 7);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = Array.from(h) as [number, number, number, number, number, number, number];
  const vocabSize = Math.abs(rawVocab);
  const sane = (v: number, max: number) => Number.isInteger(v) && v > 0 && v <= max;
  if (
    !sane(dim, 1 << 16) ||
    !sane(hiddenDim, 1 << 18) ||
    !sane(nLayers, 1024) ||
    !sane(nHeads, 1024) ||
    !sane(nKvHeads, 1024) ||
    !sane(vocabSize, 1 << 20) ||
    !sane(seqLen, 1 << 20) ||
    dim % nHeads !== 0 ||
    nHeads % nKvHeads !== 0 ||
    (dim / nHeads) % 2 !== 0
  ) {
    throw bad(`The checkpoint header (${Array.from(h).join(', ')}) is not a valid llama2.c header.`);
  }
  const headSize = dim / nHeads;
  const kvDim = (dim * nKvHeads) / nHeads;
  const sharedClassifier = rawVocab > 0;
  let at = 0;
  const take = (n: number) => {
    const o = at;
    at += n;
    return o;
  };
  const offsets = {
    tokenEmbedding: take(vocabSize * dim),
    rmsAtt: take(nLayers * dim),
    wq: take(nLayers * dim * dim),
    wk: take(nLayers * dim * kvDim),
    wv: take(nLayers * dim * kvDim),
    wo: take(nLayers * dim * dim),
    rmsFfn: take(nLayers * dim),
    w1: take(nLayers * dim * hiddenDim),
    w2: take(nLayers * hiddenDim * dim),
    w3: take(nLayers * dim * hiddenDim),
    rmsFinal: take(dim),
    wcls: 0,
  };
  take(seqLen * headSize); // freq_cis_real and freq_cis_imag (unused: RoPE is computed)
  offsets.wcls = sharedClassifier ? offsets.tokenEmbedding : take(vocabSize * dim);
  const floats = (buffer.byteLength - HEADER_BYTES) / 4;
  if (!Number.isInteger(floats) || floats < at) {
    throw bad(`The checkpoint holds ${Math.floor(floats)} weights where its header needs ${at}: it is truncated.`);
  }
  return {
    config: { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier, headSize, kvDim },
    data: new Float32Array(buffer, HEADER_BYTES, at),
    offsets,
  };
}

export interface Llama2cTokenizerData {
  vocab: Uint8Array[];
  scores: Float32Array;
  maxTokenLength: number;
}

export function parseTokenizer(buffer: ArrayBuffer, vocabSize: number): Llama2cTokenizerData {
  const view = new DataView(buffer);
  if (buffer.byteLength < 4) throw bad('The tokenizer file is empty.');
  const maxTokenLength = view.getInt32(0, true);
  const vocab: Uint8Array[] = [];
  const scores = new Float32Array(vocabSize);
  let at = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (at + 8 > buffer.byteLength) throw bad(`The tokenizer ends after ${i} of ${vocabSize} tokens: it is truncated or for another vocabulary.`);
    scores[i] = view.getFloat32(at, true);
    const len = view.getInt32(at + 4, true);
    at += 8;
    if (len < 0 || len > Math.max(maxTokenLength, 64) || at + len > buffer.byteLength)
      throw bad(`Token ${i} of the tokenizer has an impossible length ${len}.`);
    vocab.push(new Uint8Array(buffer, at, len));
    at += len;
  }
  return { vocab, scores, maxTokenLength };
}
