// A Hugging Face tokenizer.json for a llama2.c vocabulary (tok512.bin): what a SentencePiece BPE
// model converted for the Hub looks like (Llama-2's legacy format: '▁' for spaces through the
// normalizer, byte fallback, merges ranked by the merged piece's score, the decoder that strips
// the dummy prefix's space). Encoding with it gives the ids llama2.c's BPE gives (the adapter
// tests check this on sample texts), so the WebLLM adapter can load it as a model's own
// tokenizer.json in front of the stand-in engine.

import { parseTokenizer } from '../../src/generate/llama2c-format.js';

const SPECIAL = ['<unk>', '<s>', '</s>'];
const BYTE = /^<0x[0-9A-F]{2}>$/;

export function llama2cTokenizerJson(tokBin: ArrayBuffer, vocabSize: number): object {
  const { vocab, scores } = parseTokenizer(tokBin, vocabSize);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const pieces = vocab.map((bytes, id) => {
    if (id < SPECIAL.length) return SPECIAL[id]!;
    const s = utf8.decode(bytes);
    return BYTE.test(s) ? s : s.replaceAll(' ', '\u2581');
  });
  const ids = new Map<string, number>();
  pieces.forEach((p, id) => {
    if (ids.has(p)) throw new Error(`Piece ${JSON.stringify(p)} occurs twice in the vocabulary.`);
    ids.set(p, id);
  });
  // Every split of a piece into two pieces is a merge, ranked by the merged piece's score
  // (llama2.c merges the best-scoring pair first); scores are distinct, so ranks tie only
  // between splits of one piece, which never compete for the same position.
  const merges: { pair: [string, string]; score: number; id: number }[] = [];
  pieces.forEach((p, id) => {
    if (id < SPECIAL.length || BYTE.test(p)) return;
    const chars = Array.from(p);
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join(''),
        b = chars.slice(k).join('');
      if (ids.has(a) && ids.has(b)) merges.push({ pair: [a, b], score: scores[id]!, id });
    }
  });
  merges.sort((x, y) => y.score - x.score || x.id - y.id);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(ids),
      merges: merges.map((m) => m.pair),
    },
  };
}
