// `npm run bench -- rag`: the same stream of questions through the sequential baseline and the
// woven schedule (reference generator stories260K, an index of ≥ 100k vectors in IndexedDB, the
// GPU cache at 25% of it): end-to-end latency and time to first token per request, and the
// inter-token latency that weaving retrieval into decoding costs.
import { createGpuContext, gaussianMixture } from '../src/index.js';
import { createOnnxEmbedder } from '../src/embed/onnx-embedder.js';
import { loadLlama2c } from '../src/generate/llama2c-gpu.js';
import { layoutFor } from '../src/index/codec.js';
import { createRag } from '../src/runtime/rag.js';
import { deleteStore, openStore } from '../src/store/idb-store.js';
import { createStoredIndex } from '../src/store/stored-index.js';
import { createRng } from '../src/random.js';
import { buildTinyEmbeddingGraph } from './tiny-onnx.js';

export interface RagBenchOptions { assets: string; n: number; requests: number; maxTokens: number; nprobe: number; arrivalMs: number }

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? 0; };
const p99 = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(0.99 * s.length))] ?? 0; };

export async function runRagBench(o: RagBenchOptions, log: (s: string) => void) {
  const dim = 64;
  const dbName = 'weft-bench-rag';
  await deleteStore(dbName);
  const ctx = await createGpuContext();
  const store = await openStore({ dbName });
  try {
    const rng = createRng(3);
    const V = 30522;
    const model = buildTinyEmbeddingGraph(Float32Array.from({ length: V * dim }, () => rng.normal()), Float32Array.from({ length: dim * dim }, () => rng.normal() * 0.3), new Float32Array(dim), V, dim);
    const tok = async (f: string) => (await fetch(`${o.assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;
    const embedder = await createOnnxEmbedder({ model, tokenizer: await tok('tokenizer.json'), tokenizerConfig: await tok('tokenizer_config.json'), device: 'wasm', wasmPaths: '/node_modules/onnxruntime-web/dist/', maxLength: 64, cache: false, modelId: 'bench-graph' });
    const lm = `${o.assets}/lm-stories260K`;
    const generator = await loadLlama2c(ctx, { model: `${lm}/stories260K.bin`, tokenizer: `${lm}/tok512.bin` });

    // The corpus: Cranfield abstracts as passage texts over n vectors (re-used texts, distinct vectors).
    const raw = (await (await fetch(`${o.assets}/cranfield/cran.all.1400`)).text()).replace(/\r\n/g, '\n');
    const texts = raw.split(/^\.I /m).slice(1).map((r) => (/\.W\n([\s\S]*)$/.exec(r)?.[1] ?? '').replace(/\s+/g, ' ').trim().slice(0, 300));
    log(`building ${o.n} x ${dim} f16 in IndexedDB…`);
    const vectors = gaussianMixture(o.n, dim, { centers: 256, seed: 5 });
    const idx = await createStoredIndex(ctx, vectors, { store, name: 'corpus', dim, nlist: 256, metric: 'cosine', storage: 'f16', niter: 5, maxTrainPointsPerCentroid: 32, rebuildImbalance: Infinity });
    for (let i = 0; i < o.n; i += 20000) {
      const m = Math.min(o.n, i + 20000) - i;
      await idx.add(vectors.subarray(i * dim, (i + m) * dim), { chunks: Array.from({ length: m }, (_, j) => ({ docId: `doc-${(i + j) % texts.length}`, text: texts[(i + j) % texts.length]! })) });
    }
    const indexBytes = idx.manifest.listCounts.reduce((a, c) => a + Math.ceil(c / 32) * 32 * (layoutFor(dim, 'f16').bytesPerVector + 4), 0);
    await idx.close();
    const cacheBytes = Math.floor(indexBytes / 4);
    const questions = Array.from({ length: o.requests }, (_, i) => texts[(i * 37) % texts.length]!.split(' ').slice(0, 12).join(' '));

    const runStream = async (schedule: 'sequential' | 'woven') => {
      const rag = await createRag({ store, index: 'corpus', embedder, generator, gpu: ctx, schedule, cacheBytes });
      const lat: number[] = [], ttft: number[] = [], itl: number[] = [];
      const jobs = questions.map(async (q, i) => {
        await new Promise((r) => setTimeout(r, i * o.arrivalMs));
        const t0 = performance.now();
        let first = 0, last = 0;
        for await (const e of rag.generate(q, { k: 3, nprobe: o.nprobe, maxTokens: o.maxTokens })) {
          if (e.type !== 'token') continue;
          const now = performance.now();
          if (!first) first = now; else itl.push(now - last);
          last = now;
        }
        lat.push(performance.now() - t0);
        ttft.push(first - t0);
      });
      await Promise.all(jobs);
      await rag.close();
      log(`${schedule}: e2e median ${median(lat).toFixed(0)} ms, TTFT median ${median(ttft).toFixed(0)} ms, ITL p99 ${p99(itl).toFixed(1)} ms`);
      return { lat, ttft, itl };
    };
    const seq = await runStream('sequential');
    const wov = await runStream('woven');
    // Decode-only inter-token latency: the same generator with no retrieval going on.
    generator.reset();
    await generator.prefill(questions[0]!);
    for (let i = 0; i < 64; i++) if ((await generator.step()).done) { generator.reset(); await generator.prefill(questions[1]!); }
    const decodeOnlyP99 = generator.timings().decodeMsP99;
    generator.destroy();
    await embedder.destroy();
    const e2eSpeedup = median(seq.lat) / median(wov.lat);
    const ttftSpeedup = median(seq.ttft) / median(wov.ttft);
    const itlP99Inflation = p99(wov.itl) / decodeOnlyP99 - 1;
    return {
      n: o.n, dim, requests: o.requests, maxTokens: o.maxTokens, nprobe: o.nprobe, arrivalMs: o.arrivalMs, cacheFraction: 0.25,
      sequential: { e2eMedianMs: median(seq.lat), ttftMedianMs: median(seq.ttft), itlP99Ms: p99(seq.itl) },
      woven: { e2eMedianMs: median(wov.lat), ttftMedianMs: median(wov.ttft), itlP99Ms: p99(wov.itl) },
      decodeOnlyItlP99Ms: decodeOnlyP99,
      e2eSpeedup, ttftSpeedup, itlP99Inflation,
      periodic: [] as { interval: number; nprobe: number; latencyMs: number; speedupVsBlocking: number }[], // PipeRAG periodic retrieval: not built yet
      targets: [
        { name: 'e2eSpeedup (sequential / woven, median)', want: '>= 1.5', got: e2eSpeedup, met: e2eSpeedup >= 1.5 },
        { name: 'itlP99Inflation', want: '<= 0.10', got: itlP99Inflation, met: itlP99Inflation <= 0.1 },
        { name: 'speedupVsBlocking at interval 16 (periodic retrieval)', want: '>= 2', got: NaN, met: false },
      ],
    };
  } finally {
    store.close();
    ctx.destroy();
    await deleteStore(dbName);
  }
}
