// `npm run bench -- rerank`: the decoder reranker (query likelihood on stories260K) with and
// without passage KV reuse. Latency to rerank `candidates` passages of 200-400 tokens for a
// 10-20-token query: recomputing every passage's KV, computing and keeping them (first use),
// restoring them from the GPU tier, and from IndexedDB; kvReuseSpeedup = recompute / GPU-tier
// restore. Then the KV tier's hit rates over a stream of queries whose candidates overlap (Zipf
// over a corpus) with a GPU budget smaller than the working set, beside what LRU and Belady's
// optimum would hit on the GPU for the same stream.
import { deleteDB } from 'idb';
import { createLlama2cReranker, type DecoderReranker } from '../src/rerank/llama2c-reranker.js';
import { rerank, type RerankPassage } from '../src/rerank/types.js';
import { beladyHitRate, createLruPolicy, createHotnessPolicy, simulateHitRate } from '../src/util/cache-policy.js';
import { createGpuContext } from '../src/gpu/context.js';
import { createRng, type Rng } from '../src/random.js';
import { percentile } from '../src/util/stats.js';

export interface RerankBenchOptions {
  assets: string;
  candidates: number;
  trials: number;
  corpus: number;
  queries: number;
  zipf: number;
  gpuFraction: number;
  seed: number;
}

const SENTENCES = [
  'Once upon a time, there was a little girl named Lily.',
  'She loved to play outside in the park with her friends.',
  'One day, she saw a big red ball under a tree.',
  'Tom was a happy dog who liked to run and jump.',
  'The sun was shining and the birds were singing.',
  'Mom said they could go to the park after lunch.',
  'Ben found a shiny rock near the river.',
  'He wanted to show it to his sister Sue.',
  'The cat was sad because it could not find its toy.',
  'They looked under the bed and behind the box.',
  'At last, the little bird flew back to its nest.',
  'Lily and Tom shared the cake with their friends.',
  'The old man had a small boat by the lake.',
  'Every morning he went fishing with his grandson.',
  'The bunny hopped into the garden to eat a carrot.',
  'A big bear came out of the woods and said hello.',
  'Sam was scared of the dark, so his dad gave him a lamp.',
  'The girl put on her red hat and went outside.',
  'It started to rain, and everyone ran inside.',
  'They played a game with blocks and built a tall tower.',
  'The frog jumped into the pond with a big splash.',
  'Anna baked cookies with her grandma in the kitchen.',
  'The puppy chased its tail around and around.',
  'When the sun went down, they said good night.',
];
const QUESTIONS = [
  'Where was the big red ball?',
  'What did Ben find?',
  'Why was the cat sad?',
  'Who went fishing every morning?',
  'What did Anna bake?',
  'What did the bear say?',
  'Why did Sam need a lamp?',
  'What did they build with blocks?',
  'Where did the bunny go?',
  'What happened when it rained?',
];

function passage(rng: Rng, tokens: (t: string) => number, min: number, max: number): string {
  const target = min + rng.int(max - min);
  let text = '';
  while (tokens(text) < target) {
    const next = `${text}${text ? ' ' : ''}${SENTENCES[rng.int(SENTENCES.length)]}`;
    if (tokens(next) > max) break;
    text = next;
  }
  return text;
}

/** `k` distinct corpus indices, Zipf(s) over a fixed random order of the corpus. */
function zipfCandidates(rng: Rng, order: number[], k: number, s: number): number[] {
  const w = order.map((_, r) => 1 / (r + 1) ** s);
  const chosen = new Set<number>();
  while (chosen.size < k) {
    const total = w.reduce((a, b) => a + b, 0);
    let u = rng.next() * total,
      r = 0;
    while (u > w[r]! && r < w.length - 1) u -= w[r++]!;
    chosen.add(order[r]!);
    w[r] = 0;
  }
  return [...chosen];
}

const median = (xs: number[]) => percentile(xs, 0.5);

export async function runRerankBench(o: RerankBenchOptions, log: (s: string) => void) {
  const lm = `${o.assets}/lm-stories260K`;
  const model = await (await fetch(`${lm}/stories260K.bin`)).arrayBuffer();
  const tokenizer = await (await fetch(`${lm}/tok512.bin`)).arrayBuffer();
  const ctx = await createGpuContext();
  const dbs: string[] = [];
  const open = (o2: Parameters<typeof createLlama2cReranker>[0]) => createLlama2cReranker({ gpu: ctx, model, tokenizer, ...o2 });
  const rerankers: DecoderReranker[] = [];
  try {
    const rng = createRng(o.seed);
    const plain = await open({ reuse: false });
    rerankers.push(plain);
    const tokens = (t: string) => plain.prefixTokens(t).length;
    const corpus: RerankPassage[] = Array.from({ length: Math.max(o.corpus, 2 * o.candidates) }, (_, id) => ({ id, text: passage(rng, tokens, 200, 400) }));
    const prefixLen = corpus.map((p) => tokens(p.text));
    const queryLen = QUESTIONS.map((q) => plain.queryTokens(q).length);
    const { nLayers, kvDim } = plain.generator.config;
    const bytesPerToken = 2 * nLayers * kvDim * 4;
    log(
      `corpus: ${corpus.length} passages of ${Math.min(...prefixLen)}-${Math.max(...prefixLen)} prompt tokens (mean ${(prefixLen.reduce((a, b) => a + b, 0) / corpus.length).toFixed(0)}); queries ${Math.min(...queryLen)}-${Math.max(...queryLen)} tokens; KV ${bytesPerToken} bytes/token`,
    );

    // ---- latency for one query's candidates
    const cands = corpus.slice(0, o.candidates);
    const coldCands = corpus.slice(o.candidates, 2 * o.candidates);
    await rerank(plain, QUESTIONS[0]!, cands.slice(0, 2)); // warm-up: kernels compiled
    const time = async (r: DecoderReranker, q: string, c: RerankPassage[]) => {
      const t0 = performance.now();
      await rerank(r, q, c);
      return performance.now() - t0;
    };
    const latDb = `weft-kv-bench-${Date.now()}`;
    dbs.push(latDb);
    await deleteDB(latDb);
    const reuse = await open({ kv: { database: latDb, gpuBytes: 1 << 30, idbBytes: 1 << 30 } });
    rerankers.push(reuse);
    const firstUse = await time(reuse, QUESTIONS[0]!, coldCands); // computes and keeps every passage's KV
    await reuse.prepare(cands.map((c) => c.text)); // at ingest
    await reuse.flush();
    // The IndexedDB tier alone (a GPU budget of 0): each passage's KV read, checked and uploaded per query.
    const idbOnly = await open({ kv: { database: latDb, gpuBytes: 0, idbBytes: 1 << 30 } });
    rerankers.push(idbOnly);
    // Trials interleaved, so that the three see the same load on the machine.
    const noReuse: number[] = [],
      gpuHit: number[] = [],
      idbHit: number[] = [];
    for (let t = 0; t < o.trials; t++) {
      const q = QUESTIONS[t % QUESTIONS.length]!;
      noReuse.push(await time(plain, q, cands));
      gpuHit.push(await time(reuse, q, cands));
      idbHit.push(await time(idbOnly, q, cands));
    }
    log(
      `${o.candidates} candidates: without KV reuse ${median(noReuse).toFixed(0)} ms; with: first use ${firstUse.toFixed(0)} ms, GPU tier ${median(gpuHit).toFixed(0)} ms, IndexedDB tier ${median(idbHit).toFixed(0)} ms`,
    );
    log(`GPU tier ${JSON.stringify(reuse.kvStats())}; IndexedDB tier ${JSON.stringify(idbOnly.kvStats())}`);
    const kvReuseSpeedup = median(noReuse) / median(gpuHit);
    const kvReuseSpeedupIdb = median(noReuse) / median(idbHit);

    // ---- hit rate over a stream of overlapping queries
    const order = corpus.map((_, i) => i).sort(() => rng.next() - 0.5);
    const stream = Array.from({ length: o.queries }, () => zipfCandidates(rng, order, o.candidates, o.zipf));
    const sizes = prefixLen.map((n) => (n - 1) * bytesPerToken);
    const touched = [...new Set(stream.flat())];
    const workingSet = touched.reduce((a, i) => a + sizes[i]!, 0);
    const gpuBytes = Math.floor(o.gpuFraction * workingSet);
    const streamDb = `weft-kv-bench-stream-${Date.now()}`;
    dbs.push(streamDb);
    await deleteDB(streamDb);
    const tiered = await open({ kv: { database: streamDb, gpuBytes, idbBytes: 1 << 30 } });
    rerankers.push(tiered);
    const perQuery: number[] = [];
    for (let i = 0; i < stream.length; i++)
      perQuery.push(
        await time(
          tiered,
          QUESTIONS[i % QUESTIONS.length]!,
          stream[i]!.map((j) => corpus[j]!),
        ),
      );
    await tiered.flush();
    const st = tiered.kvStats();
    const lookups = st.gpuHits + st.idbHits + st.misses;
    const hitRate = (st.gpuHits + st.idbHits) / lookups,
      gpuHitRate = st.gpuHits / lookups,
      idbHitRate = st.idbHits / lookups;
    const compulsory = touched.length / lookups;
    const lruHitRate = simulateHitRate(stream, sizes, gpuBytes, createLruPolicy());
    const hotnessSim = simulateHitRate(stream, sizes, gpuBytes, createHotnessPolicy());
    const beladyGpu = beladyHitRate(stream, sizes, gpuBytes);
    log(
      `stream: ${stream.length} queries x ${o.candidates} candidates (Zipf s=${o.zipf}) over ${corpus.length} passages, ${touched.length} touched; GPU budget ${(gpuBytes / 2 ** 20).toFixed(2)} MiB = ${o.gpuFraction} of the ${(workingSet / 2 ** 20).toFixed(2)} MiB working set`,
    );
    log(
      `KV tier: hit rate ${hitRate.toFixed(3)} (GPU ${gpuHitRate.toFixed(3)}, IndexedDB ${idbHitRate.toFixed(3)}; compulsory misses ${compulsory.toFixed(3)}); GPU tier alone: hotness ${gpuHitRate.toFixed(3)}, simulated LRU ${lruHitRate.toFixed(3)}, Belady ${beladyGpu.toFixed(3)}; ${median(perQuery).toFixed(0)} ms/query median`,
    );

    const meanPassage = prefixLen.reduce((a, b) => a + b, 0) / prefixLen.length;
    return {
      device: 'WebGPU',
      model: 'stories260K',
      candidates: o.candidates,
      trials: o.trials,
      passageTokensMean: meanPassage,
      passageTokensMin: Math.min(...prefixLen),
      passageTokensMax: Math.max(...prefixLen),
      queryTokensMin: Math.min(...queryLen),
      queryTokensMax: Math.max(...queryLen),
      kvBytesPerToken: bytesPerToken,
      noReuseMs: median(noReuse),
      firstUseMs: firstUse,
      gpuTierMs: median(gpuHit),
      idbTierMs: median(idbHit),
      kvReuseSpeedup,
      kvReuseSpeedupIdb,
      stream: {
        queries: o.queries,
        corpus: corpus.length,
        zipf: o.zipf,
        touched: touched.length,
        workingSetBytes: workingSet,
        gpuBytes,
        gpuFraction: o.gpuFraction,
        hitRate,
        gpuHitRate,
        idbHitRate,
        missRate: st.misses / lookups,
        compulsoryMissRate: compulsory,
        gpuHitRateSimulatedHotness: hotnessSim,
        gpuHitRateLru: lruHitRate,
        gpuHitRateBelady: beladyGpu,
        gpuEvictions: st.gpuEvictions,
        corrupt: st.corrupt,
        idbErrors: st.idbErrors,
        msPerQueryMedian: median(perQuery),
      },
      targets: [
        {
          name: 'kvReuseSpeedup (recompute / restore from the GPU tier, 20 candidates)',
          want: '>= 2 (HyperRAG: 2-3x throughput)',
          got: kvReuseSpeedup,
          met: kvReuseSpeedup >= 2,
        },
        {
          name: 'KV tier hit rate (GPU + IndexedDB) on the stream',
          want: '= 1 - compulsory misses',
          got: hitRate,
          met: Math.abs(hitRate - (1 - compulsory)) < 1e-9,
        },
      ],
    };
  } finally {
    for (const r of rerankers) await r.close();
    ctx.destroy();
    for (const d of dbs) await deleteDB(d);
  }
}
