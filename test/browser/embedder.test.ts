// The onnxruntime-web embedder, on an ONNX graph this test writes itself (token embedding,
// one dense layer, the model's output name and shape), with the real all-MiniLM-L6-v2 tokenizer.
import { describe, expect, inject, test } from 'vitest';
import { buildTinyEmbeddingGraph } from '../../bench/tiny-onnx.js';
import { createOnnxEmbedder } from '../../src/embed/onnx-embedder.js';
import { createRng } from '../../src/random.js';

declare module 'vitest' { export interface ProvidedContext { sharedAssets: string } }

const tokDir = `${inject('sharedAssets')}/minilm-tokenizer`;
const getJson = async (f: string) => (await fetch(`${tokDir}/${f}`)).json() as Promise<object>;
const WASM = '/node_modules/onnxruntime-web/dist/';
const V = 30522, D = 24;

function buildModel(E: Float32Array, W: Float32Array, b: Float32Array, outputName = 'last_hidden_state'): ArrayBuffer {
  return buildTinyEmbeddingGraph(E, W, b, V, D, outputName);
}

function cpuEmbed(ids: number[], E: Float32Array, W: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(D);
  for (const id of ids) {
    for (let j = 0; j < D; j++) {
      let acc = b[j]!;
      for (let i = 0; i < D; i++) acc += E[id * D + i]! * W[i * D + j]!;
      out[j]! += Math.tanh(acc) / ids.length;
    }
  }
  const n = Math.hypot(...out);
  return out.map((x) => x / n);
}

describe('onnxruntime-web embedder', () => {
  const rng = createRng(crypto.getRandomValues(new Uint32Array(1))[0]!);
  const E = Float32Array.from({ length: V * D }, () => rng.normal() * 0.5);
  const W = Float32Array.from({ length: D * D }, () => rng.normal() * 0.3);
  const b = Float32Array.from({ length: D }, () => rng.normal() * 0.1);
  const model = buildModel(E, W, b);

  for (const device of ['wasm', 'webgpu'] as const) {
    test(`pooled vectors equal a CPU computation of the same graph (${device})`, async () => {
      const emb = await createOnnxEmbedder({ model, tokenizer: await getJson('tokenizer.json'), tokenizerConfig: await getJson('tokenizer_config.json'), device, wasmPaths: WASM, batchSize: 3, cache: false });
      try {
        expect(emb.tokenize('hello world')).toEqual([101, 7592, 2088, 102]);
        const texts = ['hello world', 'The quick brown fox jumps over the lazy dog.', 'WebGPU runs vector search', 'a', 'Retrieval-augmented generation, on device.'];
        const got = await emb.embed(texts);
        expect(emb.dim).toBe(D);
        expect(got.length).toBe(texts.length * D);
        texts.forEach((t, i) => {
          const want = cpuEmbed(emb.tokenize(t), E, W, b);
          for (let j = 0; j < D; j++) expect(Math.abs(got[i * D + j]! - want[j]!)).toBeLessThan(1e-4);
        });
      } finally {
        await emb.destroy();
      }
    });
  }

  test('truncation to the maximum length, and clear errors for bad input and mismatched models', async () => {
    const tokenizer = await getJson('tokenizer.json'), tokenizerConfig = await getJson('tokenizer_config.json');
    const emb = await createOnnxEmbedder({ model, tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, maxLength: 8, cache: false });
    const long = 'one two three four five six seven eight nine ten eleven';
    expect(emb.tokenize(long).length).toBe(8);
    expect(emb.tokenize(long).at(-1)).toBe(102); // [SEP] kept
    expect((await emb.embed([long])).length).toBe(D);
    await expect(emb.embed([])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(emb.embed(['fine', '   '])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await emb.destroy();
    const strict = await createOnnxEmbedder({ model, tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, maxLength: 8, truncate: false, cache: false });
    await expect(strict.embed([long])).rejects.toMatchObject({ code: 'INPUT_TOO_LONG' });
    await strict.destroy();
    const mismatch = await createOnnxEmbedder({ model, tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, expectedDim: 384, cache: false });
    await expect(mismatch.embed(['hello'])).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
    await mismatch.destroy();
    await expect(createOnnxEmbedder({ model, tokenizer, tokenizerConfig, device: 'cuda' as never })).rejects.toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('webgpu, wasm') });
    await expect(createOnnxEmbedder({ model: buildModel(E, W, b, 'embeddings'), tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, cache: false })).rejects.toMatchObject({ code: 'INVALID_MODEL', message: expect.stringContaining('embeddings') });
    await expect(createOnnxEmbedder({ model: new Uint8Array([1, 2, 3]).buffer, tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, cache: false })).rejects.toMatchObject({ code: 'INVALID_MODEL' });
  });

  test('a tokenizer.json whose pattern backtracks catastrophically is refused at load with INVALID_MODEL; MiniLM\'s loads', async () => {
    const tokenizer = await getJson('tokenizer.json'), tokenizerConfig = await getJson('tokenizer_config.json');
    const load = (tok: object) => createOnnxEmbedder({ model, tokenizer: tok, tokenizerConfig, device: 'wasm', wasmPaths: WASM, cache: false });
    const evil = [
      // Exponential on a run of a's followed by anything else: embedding 'aaaa…ab' would never return.
      { type: 'Split', pattern: { Regex: '(a|aa)+$' }, behavior: 'Isolated', invert: false },
      { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Split', pattern: { Regex: '(\\w+\\s?)*!' }, behavior: 'Isolated', invert: false }] },
      // No repeated group, so only the timed probes catch it: polynomial of degree 8 on a run of spaces.
      { type: 'Split', pattern: { Regex: '\\s*\\s*\\s*\\s*\\s*\\s*\\s*\\s*x' }, behavior: 'Isolated', invert: false },
    ];
    for (const pre of evil) {
      const t0 = performance.now();
      const err = await load({ ...tokenizer, pre_tokenizer: pre }).catch((e: unknown) => e);
      expect(performance.now() - t0).toBeLessThan(2000);
      const source = JSON.stringify(pre).match(/"Regex":"((?:[^"\\]|\\.)*)"/)![1]!;
      expect(err).toMatchObject({ code: 'INVALID_MODEL', message: expect.stringContaining(JSON.parse(`"${source}"`).slice(0, 10)) });
    }
    const t0 = performance.now();
    const emb = await load(tokenizer);
    const loadMs = performance.now() - t0;
    try {
      expect(emb.tokenize('hello world')).toEqual([101, 7592, 2088, 102]);
      expect(loadMs).toBeLessThan(5000);
    } finally {
      await emb.destroy();
    }
  });
});
