// Keyword search without a model: what the demo runs when no model can load (offline, the local
// model files missing, or an embedder that cannot be downloaded). The runtime (createRag) runs on
// the page's own thread, on the CPU, without a generator, searching by BM25 only (mode
// 'lexical'): documents are read, chunked and indexed as usual, and a question gets the passages
// whose words match it. The runtime always needs an embedder (every index is an IVF index too),
// and no model file is at hand, so this one is made of the words themselves: each passage's
// vector is its words hashed into 64 buckets. Lexical searches never use it; it only lets the
// index be built and saved like any other. Its indexes are recorded with the model id
// KEYWORD_EMBEDDER, so the page knows that a model's embedder cannot add to them (their vectors
// are not a model's), and keyword search still reads any index, whoever built it.

import type { Rag } from '../src/entries/client.js';
import type { Embedder } from '../src/entries/rag.js';
import { openStore } from '../src/weft.js';

export const KEYWORD_EMBEDDER = 'weft-keywords';
const DIM = 64;
/** Words per passage at most (the chunker's "tokens"). */
const MAX_WORDS = 200;

const words = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/** FNV-1a of a word: its bucket and its sign. */
function hash(word: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The model-free embedder: hashed bags of words, L2-normalised (cosine between word profiles). */
export function keywordEmbedder(): Embedder {
  return {
    modelId: KEYWORD_EMBEDDER,
    dim: DIM,
    maxLength: MAX_WORDS,
    device: 'wasm',
    tokenize: (text) => words(text).slice(0, MAX_WORDS).map(hash),
    countTokens: (text) => words(text).length,
    embed: async (texts) => {
      const out = new Float32Array(texts.length * DIM);
      texts.forEach((text, i) => {
        const row = out.subarray(i * DIM, (i + 1) * DIM);
        for (const w of words(text)) {
          const h = hash(w);
          row[h % DIM]! += h & 0x80000000 ? -1 : 1;
        }
        let norm = 0;
        for (const v of row) norm += v * v;
        // An empty passage still gets a unit vector (cosine needs one).
        if (norm === 0) row[0] = 1;
        else for (let j = 0; j < DIM; j++) row[j]! /= Math.sqrt(norm);
      });
      return out;
    },
    destroy: async () => undefined,
  };
}

/** Opens the keyword-only runtime on index `indexName` of database `dbName` (what <weft-chat>'s `runtime` calls). */
export async function openKeywordRuntime(dbName: string, indexName: string): Promise<Rag> {
  const { createRag } = await import('../src/runtime/rag.js');
  const store = await openStore({ dbName });
  try {
    const rag = await createRag({ store, indexName, embedder: keywordEmbedder(), gpu: 'cpu', mode: 'lexical' });
    return {
      ingest: (documents, options) => rag.ingest(documents, options),
      search: (query, options) => rag.search(query, options),
      generate: (input, options) => rag.generate(input, options),
      chat: rag.chat,
      profile: (options) => rag.profile(options),
      info: () => rag.info(),
      close: async () => {
        try {
          await rag.close();
        } finally {
          store.close();
        }
      },
    };
  } catch (e) {
    store.close();
    throw e;
  }
}
