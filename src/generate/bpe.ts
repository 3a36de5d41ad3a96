// The llama2.c BPE tokenizer: encode (UTF-8 code points, byte fallback, then repeated merges of
// the highest-scoring adjacent pair) and decode (raw-byte tokens, no leading space after BOS),
// exactly as llama2.c's run.c does.

import type { Llama2cTokenizerData } from './llama2c-format.js';

export const BOS = 1;
export const EOS = 2;

export interface BpeTokenizer {
  readonly vocabSize: number;
  encode(text: string, options?: { bos?: boolean; eos?: boolean }): number[];
  /** The bytes token `token` prints after `prev` (llama2.c's decode). */
  decodePiece(prev: number, token: number): Uint8Array;
  /** Decodes a sequence (starting after `prev`, default BOS) to text. */
  decode(tokens: readonly number[], prev?: number): string;
}

const latin1 = new TextDecoder('latin1');

export function createBpeTokenizer(data: Llama2cTokenizerData): BpeTokenizer {
  const { vocab, scores } = data;
  const lookup = new Map<string, number>();
  vocab.forEach((bytes, i) => { const k = latin1.decode(bytes); if (!lookup.has(k)) lookup.set(k, i); });
  const byteToken = (b: number) => b + 3;
  const rawByte = /^<0x([0-9A-Fa-f]{2})>$/;

  const tok: BpeTokenizer = {
    vocabSize: vocab.length,
    encode(text, opts = {}) {
      const tokens: number[] = [];
      if (opts.bos ?? true) tokens.push(BOS);
      const bytes = new TextEncoder().encode(text);
      if (bytes.length > 0) {
        const dummy = lookup.get(' ');
        if (dummy !== undefined) tokens.push(dummy);
      }
      // One token per UTF-8 code point when the vocabulary has it, else one per byte.
      for (let i = 0; i < bytes.length;) {
        let len = 1;
        while (i + len < bytes.length && (bytes[i + len]! & 0xc0) === 0x80 && len < 4) len++;
        const id = lookup.get(latin1.decode(bytes.subarray(i, i + len)));
        if (id !== undefined) tokens.push(id);
        else for (let j = 0; j < len; j++) tokens.push(byteToken(bytes[i + j]!));
        i += len;
      }
      // Merge the best-scoring adjacent pair until none merges.
      for (;;) {
        let best = -1e10, bestId = -1, bestIdx = -1;
        for (let i = 0; i + 1 < tokens.length; i++) {
          const id = lookup.get(latin1.decode(vocab[tokens[i]!]!) + latin1.decode(vocab[tokens[i + 1]!]!));
          if (id !== undefined && scores[id]! > best) { best = scores[id]!; bestId = id; bestIdx = i; }
        }
        if (bestIdx < 0) break;
        tokens.splice(bestIdx, 2, bestId);
      }
      if (opts.eos) tokens.push(EOS);
      return tokens;
    },
    decodePiece(prev, token) {
      let piece = vocab[token]!;
      if (prev === BOS && piece[0] === 0x20) piece = piece.subarray(1);
      const m = rawByte.exec(latin1.decode(piece));
      return m ? new Uint8Array([parseInt(m[1]!, 16)]) : piece;
    },
    decode(tokens, prev = BOS) {
      const parts: number[] = [];
      let p = prev;
      for (const t of tokens) {
        const piece = tok.decodePiece(p, t);
        p = t;
        // As llama2.c's safe_printf: a lone byte that is neither printable nor whitespace is dropped.
        if (piece.length === 1 && !(piece[0]! >= 0x20 && piece[0]! < 0x7f) && !(piece[0]! >= 0x09 && piece[0]! <= 0x0d)) continue;
        for (const b of piece) parts.push(b);
      }
      return new TextDecoder().decode(new Uint8Array(parts));
    },
  };
  return tok;
}
