// The WebLLM adapter's tokenizer: the model's own tokenizer.json (the file WebLLM itself loads,
// with @mlc-ai/web-tokenizers) run by @huggingface/tokenizers, and the incremental
// detokenization of an answer: each token's text is the decoded window ending with it minus the
// window before it, held back while it ends in an incomplete UTF-8 sequence, so the pieces add up
// to the decoded answer whatever the decoder does at a window's start (SentencePiece strips one
// leading space there). Windows start inside the prompt, so the first piece keeps its space.

import { Tokenizer } from '@huggingface/tokenizers';
import { WeftError } from '../errors.js';

/** What the adapter needs of a tokenizer: token ids of text (no special tokens added) and back. */
export interface WebLlmTokenizer {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/** A tokenizer from the model's tokenizer.json (parsed, or its bytes or text). */
export function tokenizerFromJson(source: object | ArrayBuffer | string): WebLlmTokenizer {
  let json: object;
  let tok: Tokenizer;
  try {
    json =
      source instanceof ArrayBuffer
        ? (JSON.parse(new TextDecoder().decode(source)) as object)
        : typeof source === 'string'
          ? (JSON.parse(source) as object)
          : source;
    // WebLLM's tokenizers (Hugging Face's Rust library) leave spaces as decoded; the JS port
    // would "clean up" ' .' into '.' by default, and the pieces would not add up to the text.
    tok = new Tokenizer(json, { clean_up_tokenization_spaces: false });
  } catch (e) {
    throw new WeftError('INVALID_MODEL', `The model's tokenizer.json could not be read: ${(e as Error).message}.`, { cause: e });
  }
  return {
    // As WebLLM's tokenizer (tokenizers-cpp's Encode and Decode): no special tokens added (the
    // template's system prefix ids are prefilled apart), none skipped. The empty text is no
    // tokens (the JS Prepend normalizer would make it one '▁').
    encode: (text) => (text === '' ? [] : tok.encode(text, { add_special_tokens: false }).ids),
    decode: (ids) => tok.decode(ids as number[], { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
  };
}

/** Context tokens an answer's first window starts with. */
const SEED = 4;

export interface Detokenizer {
  /** The text `token` adds to the answer ('' while it ends inside a UTF-8 sequence). */
  push(token: number): string;
  /** The answer's tokens whose text was returned (a token held back is not among them). */
  readonly tokens: number[];
  /** Tokens pushed, held back or not. */
  readonly count: number;
  /** The text returned so far. */
  readonly text: string;
  /** Forgets the tokens held back (the context was refilled without them). */
  dropHeld(): void;
}

/** A detokenizer for an answer that follows `context` (the ids before it, e.g. the prompt's). */
export function createDetokenizer(tokenizer: WebLlmTokenizer, context: readonly number[]): Detokenizer {
  const ids = context.slice(-SEED);
  const seed = ids.length;
  let prefix = 0,
    read = seed;
  let text = '';
  return {
    push(token) {
      ids.push(token);
      const before = tokenizer.decode(ids.slice(prefix, read));
      const now = tokenizer.decode(ids.slice(prefix));
      if (now.length <= before.length || now.endsWith('\uFFFD')) return '';
      const piece = now.slice(before.length);
      prefix = read;
      read = ids.length;
      text += piece;
      return piece;
    },
    get tokens() {
      return ids.slice(seed, read);
    },
    get count() {
      return ids.length - seed;
    },
    get text() {
      return text;
    },
    dropHeld() {
      ids.length = read;
    },
  };
}
