// `npm run bench -- models`: the reference generator's prefill tokens/s and decode ms/step
// (median and p99 over 200 steps) on this device, and the embedder's chunks/s on the test graph.
import { loadLlama2c } from '../src/generate/llama2c-gpu.js';
import { createOnnxEmbedder } from '../src/embed/onnx-embedder.js';
import type { EmbedderDevice } from '../src/embed/types.js';
import { createRng } from '../src/random.js';
import { buildTinyEmbeddingGraph } from '../test/support/tiny-onnx.js';

export interface ModelsBenchOptions {
  assets: string;
  steps: number;
  chunks: number;
}

export async function runModelsBench(o: ModelsBenchOptions, log: (s: string) => void) {
  const lm = `${o.assets}/lm-stories260K`;
  const gen = await loadLlama2c({ model: `${lm}/stories260K.bin`, tokenizer: `${lm}/tok512.bin` });
  const story =
    'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends and her dog. One day, she saw a big red ball under a tree and ran to get it.';
  await gen.prefill(story); // warm-up: kernels compiled
  gen.reset();
  const prompt = gen.tokenizer.encode(`${story} ${story}`);
  const t0 = performance.now();
  await gen.prefill(prompt);
  const prefillTokPerS = prompt.length / ((performance.now() - t0) / 1000);
  // Decode until `steps` steps are timed; when a story ends (or the context fills) start it again.
  while (gen.timings().steps < o.steps) {
    if (gen.position >= gen.contextLength - 1 || (await gen.step()).done) {
      gen.reset();
      await gen.prefill(prompt.slice(0, 8));
    }
  }
  const t = gen.timings();
  gen.destroy();
  log(
    `reference generator: prefill ${prefillTokPerS.toFixed(0)} tok/s, decode ${t.decodeMsMedian.toFixed(2)} ms/step median, ${t.decodeMsP99.toFixed(2)} p99 over ${t.steps} steps`,
  );

  const tok = (await (await fetch(`${o.assets}/minilm-tokenizer/tokenizer.json`)).json()) as object;
  const tokCfg = (await (await fetch(`${o.assets}/minilm-tokenizer/tokenizer_config.json`)).json()) as object;
  const rng = createRng(7);
  const V = 30522,
    D = 384;
  const E = Float32Array.from({ length: V * D }, () => rng.normal() * 0.1);
  const W = Float32Array.from({ length: D * D }, () => rng.normal() * 0.05);
  const b = new Float32Array(D);
  const model = buildTinyEmbeddingGraph(E, W, b, V, D);
  const words = story.split(' ');
  const chunks = Array.from({ length: o.chunks }, (_, i) => Array.from({ length: 60 }, (_, j) => words[(i * 7 + j) % words.length]).join(' '));
  const embed: Record<string, number> = {};
  for (const device of ['webgpu', 'wasm'] as EmbedderDevice[]) {
    const emb = await createOnnxEmbedder({
      model,
      tokenizer: tok,
      tokenizerConfig: tokCfg,
      device,
      wasmPaths: '/node_modules/onnxruntime-web/dist/',
      cache: false,
      batchSize: 32,
    });
    await emb.embed(chunks.slice(0, 32));
    const t1 = performance.now();
    await emb.embed(chunks);
    embed[device] = chunks.length / ((performance.now() - t1) / 1000);
    await emb.destroy();
    log(`embedder (${device}): ${embed[device]!.toFixed(1)} chunks/s (${D}-dim test graph, 60-word chunks)`);
  }
  return {
    prefillTokPerS,
    decodeMsMedian: t.decodeMsMedian,
    decodeMsP99: t.decodeMsP99,
    decodeSteps: t.steps,
    embedChunksPerS: embed.webgpu!,
    embedChunksPerSWasm: embed.wasm!,
    targets: [],
  };
}
