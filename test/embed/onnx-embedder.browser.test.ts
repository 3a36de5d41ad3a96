// The onnxruntime-web embedder, on an ONNX graph this test writes itself (token embedding,
// one dense layer, the model's output name and shape), with the real all-MiniLM-L6-v2 tokenizer.
import { describe, expect, inject, test } from 'vitest';
import { buildTinyEmbeddingGraph } from '../support/tiny-onnx.js';
import { createOnnxEmbedder, DEFAULT_EMBEDDING_MODEL, DEFAULT_EMBEDDING_REVISION } from '../../src/embed/onnx-embedder.js';
import { createGpuContext } from '../../src/gpu/context.js';
import { sha256Hex } from '../../src/util/fetch-bytes.js';
import { createRng } from '../../src/random.js';

const tokDir = `${inject('sharedAssets')}/minilm-tokenizer`;
const getJson = async (f: string) => (await fetch(`${tokDir}/${f}`)).json() as Promise<object>;
const WASM = '/node_modules/onnxruntime-web/dist/';
const V = 30522,
  D = 24;

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
      const emb = await createOnnxEmbedder({
        model,
        tokenizer: await getJson('tokenizer.json'),
        tokenizerConfig: await getJson('tokenizer_config.json'),
        device,
        wasmPaths: WASM,
        batchSize: 3,
        cache: false,
      });
      try {
        expect(emb.tokenize('hello world')).toEqual([101, 7592, 2088, 102]);
        const texts = [
          'hello world',
          'The quick brown fox jumps over the lazy dog.',
          'WebGPU runs vector search',
          'a',
          'Retrieval-augmented generation, on device.',
        ];
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

  test("on a shared GPU (a GpuContext or a GPUDevice) the vectors equal the CPU computation and those on onnxruntime's own device; the device stays its owner's", async () => {
    const tokenizer = await getJson('tokenizer.json'),
      tokenizerConfig = await getJson('tokenizer_config.json');
    const base = { model, tokenizer, tokenizerConfig, wasmPaths: WASM, batchSize: 3, cache: false };
    const ctx = await createGpuContext();
    const other = await createGpuContext();
    const own = await createOnnxEmbedder({ ...base, device: 'webgpu' });
    // Created at the same time: onnxruntime refuses a WebGPU session while another is being created, so the embedder queues them.
    const [onCtx, onDevice] = await Promise.all([createOnnxEmbedder({ ...base, gpu: ctx }), createOnnxEmbedder({ ...base, gpu: other.device })]);
    try {
      expect(onCtx.device).toBe('webgpu'); // gpu implies webgpu
      expect(onCtx.gpuDevice).toBe(ctx.device);
      expect(onDevice.gpuDevice).toBe(other.device);
      expect(own.gpuDevice).toBeUndefined();
      const texts = [
        'hello world',
        'The quick brown fox jumps over the lazy dog.',
        'WebGPU runs vector search',
        'a',
        'Retrieval-augmented generation, on device.',
      ];
      const [mine, shared, given] = await Promise.all([own.embed(texts), onCtx.embed(texts), onDevice.embed(texts)]);
      for (const got of [mine, shared, given]) {
        texts.forEach((t, i) => {
          const want = cpuEmbed(onCtx.tokenize(t), E, W, b);
          for (let j = 0; j < D; j++) expect(Math.abs(got[i * D + j]! - want[j]!)).toBeLessThan(1e-4);
        });
      }
      for (let i = 0; i < mine.length; i++) {
        expect(Math.abs(shared[i]! - mine[i]!)).toBeLessThanOrEqual(1e-6);
        expect(Math.abs(given[i]! - mine[i]!)).toBeLessThanOrEqual(1e-6);
      }
    } finally {
      await Promise.all([own.destroy(), onCtx.destroy(), onDevice.destroy()]);
    }
    // Destroying the embedders left both devices alive and usable.
    for (const c of [ctx, other]) {
      expect(c.lostError).toBeUndefined();
      const buf = c.createBuffer({ label: 'weft.test.alive', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      await buf.mapAsync(GPUMapMode.READ);
      c.destroyBuffer(buf);
      c.destroy();
    }
  });

  test("a lost shared device makes embed() DEVICE_LOST; gpu with device 'wasm' is INVALID_OPTION", async () => {
    const tokenizer = await getJson('tokenizer.json'),
      tokenizerConfig = await getJson('tokenizer_config.json');
    const base = { model, tokenizer, tokenizerConfig, wasmPaths: WASM, cache: false };
    const ctx = await createGpuContext();
    try {
      await expect(createOnnxEmbedder({ ...base, device: 'wasm', gpu: ctx })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
        message: expect.stringContaining('webgpu'),
      });
      const emb = await createOnnxEmbedder({ ...base, gpu: ctx });
      expect((await emb.embed(['hello'])).length).toBe(D);
      ctx.device.destroy();
      await ctx.device.lost;
      await expect(emb.embed(['hello'])).rejects.toMatchObject({ code: 'DEVICE_LOST' });
      await emb.destroy();
    } finally {
      ctx.destroy();
    }
  });

  test('downloads are checked against sha256: the default model is pinned to a revision with a hash per file; a wrong hash is CHECKSUM_MISMATCH', async () => {
    expect(DEFAULT_EMBEDDING_REVISION).toMatch(/^[0-9a-f]{40}$/);
    for (const [file, name] of [
      ['model', 'onnx/model_quantized.onnx'],
      ['tokenizer', 'tokenizer.json'],
      ['tokenizerConfig', 'tokenizer_config.json'],
    ] as const) {
      expect(DEFAULT_EMBEDDING_MODEL[file]).toBe(`https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/${DEFAULT_EMBEDDING_REVISION}/${name}`);
      expect(DEFAULT_EMBEDDING_MODEL.sha256[file]).toMatch(/^[0-9a-f]{64}$/);
    }
    // The pinned tokenizer hash is that of the real file (the shared copy of the same revision's tokenizer.json).
    expect(DEFAULT_EMBEDDING_MODEL.sha256.tokenizer).toBe(await sha256Hex(await (await fetch(`${tokDir}/tokenizer.json`)).arrayBuffer()));
    const url = `${tokDir}/tokenizer.json`,
      config = `${tokDir}/tokenizer_config.json`;
    const right = await sha256Hex(await (await fetch(url)).arrayBuffer());
    const wrong = right.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const emb = await createOnnxEmbedder({
      model,
      tokenizer: url,
      tokenizerConfig: config,
      sha256: { tokenizer: right },
      device: 'wasm',
      wasmPaths: WASM,
      cache: false,
    });
    expect(emb.tokenize('hello world')).toEqual([101, 7592, 2088, 102]);
    await emb.destroy();
    await expect(
      createOnnxEmbedder({ model, tokenizer: url, tokenizerConfig: config, sha256: { tokenizer: wrong }, device: 'wasm', wasmPaths: WASM, cache: false }),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH', details: { expected: wrong, actual: right } });
  });

  test('truncation to the maximum length, and clear errors for bad input and mismatched models', async () => {
    const tokenizer = await getJson('tokenizer.json'),
      tokenizerConfig = await getJson('tokenizer_config.json');
    const emb = await createOnnxEmbedder({ model, tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, maxLength: 8, cache: false });
    const long = 'one two three four five six seven eight nine ten eleven';
    expect(emb.tokenize(long).length).toBe(8);
    expect(emb.tokenize(long).at(-1)).toBe(102); // [SEP] kept
    expect((await emb.embed([long])).length).toBe(D);
    await expect(emb.embed([])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(emb.embed(['fine', '   '])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await emb.destroy();
    const strict = await createOnnxEmbedder({
      model,
      tokenizer,
      tokenizerConfig,
      device: 'wasm',
      wasmPaths: WASM,
      maxLength: 8,
      truncate: false,
      cache: false,
    });
    await expect(strict.embed([long])).rejects.toMatchObject({ code: 'INPUT_TOO_LONG' });
    await strict.destroy();
    const mismatch = await createOnnxEmbedder({ model, tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, expectedDim: 384, cache: false });
    await expect(mismatch.embed(['hello'])).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
    await mismatch.destroy();
    await expect(createOnnxEmbedder({ model, tokenizer, tokenizerConfig, device: 'cuda' as never })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('webgpu, wasm'),
    });
    await expect(
      createOnnxEmbedder({ model: buildModel(E, W, b, 'embeddings'), tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, cache: false }),
    ).rejects.toMatchObject({ code: 'INVALID_MODEL', message: expect.stringContaining('embeddings') });
    await expect(
      createOnnxEmbedder({ model: new Uint8Array([1, 2, 3]).buffer, tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, cache: false }),
    ).rejects.toMatchObject({ code: 'INVALID_MODEL' });
  });

  test("a tokenizer.json whose pattern backtracks catastrophically is refused at load with INVALID_MODEL; MiniLM's loads", async () => {
    const tokenizer = await getJson('tokenizer.json'),
      tokenizerConfig = await getJson('tokenizer_config.json');
    const load = (tok: object) => createOnnxEmbedder({ model, tokenizer: tok, tokenizerConfig, device: 'wasm', wasmPaths: WASM, cache: false });
    const evil = [
      // Exponential on a run of a's followed by anything else: embedding 'aaaa…ab' would never return.
      { type: 'Split', pattern: { Regex: '(a|aa)+$' }, behavior: 'Isolated', invert: false },
      {
        type: 'Sequence',
        pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Split', pattern: { Regex: '(\\w+\\s?)*!' }, behavior: 'Isolated', invert: false }],
      },
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
