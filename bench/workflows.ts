// `npm run bench -- workflows`: a heterogeneous stream of RAG workflows (by default one-shot, HyDE,
// multistep and IRG in equal parts, Poisson arrivals at `--rate` requests per second) through
// four schedulers on one generator (stories260K) and one index, in one of `bench rag`'s regimes:
//   sequential   each request's stages one after another, one request at a time (LangChain's and
//                FlashRAG's way);
//   naive        requests interleaved (every request works ahead at once), each search whole as
//                soon as it is ready, between two decode steps: no slicing under a budget;
//   weft         the woven schedule: search slices within each decode gap's budget, lookahead
//                prefetch, generation stages taking turns by arrival;
//   weft-las     the same, the generator going to the request that has held it least.
// Beside them the bound: weft with every list resident on the GPU (retrieval as cheap as it gets).
// Per scheduler: throughput, mean and p99 latency, TTFT, inter-token latency of the answers, per
// workflow; lists read from the slower tiers per request.
import { percentile } from '../src/util/stats.js';
import { createRng } from '../src/random.js';
import type { BuiltinWorkflow, RagOptions } from '../src/runtime/types.js';
import { indexedDbStores, type BenchStores } from './stores.js';
import { REMOTE_NETWORK, setUpRagBench, type Regime } from './rag-setup.js';

export interface WorkflowsBenchOptions {
  assets: string;
  n: number;
  requests: number;
  /** Mean arrivals per second (Poisson). */
  rate: number;
  /** Longest answer in tokens (the workflows' own stages keep their built-in lengths). */
  maxTokens: number;
  nprobe: number;
  regime?: Regime;
  /** The workflows in the stream, in equal parts. */
  mix?: BuiltinWorkflow[];
  /** Which schedulers to run (default all). */
  schedulers?: SchedulerName[];
  seed?: number;
  onnxWasmPaths?: string | null;
}

export type SchedulerName = 'sequential' | 'naive' | 'weft' | 'weft-las';

/** The runtime options of each scheduler. */
const SCHEDULERS: Record<SchedulerName, (requests: number) => Partial<RagOptions>> = {
  sequential: () => ({ schedule: 'sequential' }),
  // No budget: whatever waits runs whole in the next gap; every request works ahead at once.
  naive: (requests) => ({ schedule: 'woven', maxSlowdown: 1e6, lookahead: requests }),
  weft: () => ({ schedule: 'woven' }),
  'weft-las': () => ({ schedule: 'woven', generatorOrder: 'least-attained' }),
};

interface RequestResult {
  workflow: BuiltinWorkflow;
  latencyMs: number;
  ttftMs: number;
  itl: number[];
  retrievals: number;
  generations: number;
}

export interface SchedulerFigure {
  throughput: number;
  meanMs: number;
  p99Ms: number;
  ttftMeanMs: number;
  ttftP99Ms: number;
  itlP99Ms: number;
  itlP99Inflation: number;
  listsReadPerRequest: number;
  httpRequests?: number;
  perWorkflow: Record<string, { meanMs: number; p99Ms: number; ttftMeanMs: number; retrievals: number; generations: number }>;
}

/** The adapter's vendor and architecture, where the browser says them. */
const adapterName = (device: GPUDevice) => {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() || 'unknown adapter' : 'unknown adapter';
};

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
const p99 = (v: number[]) => percentile(v, 0.99);

export async function runWorkflowsBench(o: WorkflowsBenchOptions, log: (s: string) => void, stores: BenchStores = indexedDbStores) {
  const regime = o.regime ?? 'idb';
  const mix = o.mix ?? ['one-shot', 'hyde', 'multistep', 'irg'];
  const setup = await setUpRagBench(
    { assets: o.assets, n: o.n, regime, ...(o.onnxWasmPaths !== undefined ? { onnxWasmPaths: o.onnxWasmPaths } : {}) },
    log,
    stores,
    'weft-bench-workflows',
  );
  try {
    const { texts } = setup;
    const rng = createRng(o.seed ?? 7);
    // The stream: equal parts of each workflow in a seeded order, Poisson arrivals.
    const workflows = Array.from({ length: o.requests }, (_, i) => mix[i % mix.length]!);
    for (let i = workflows.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [workflows[i], workflows[j]] = [workflows[j]!, workflows[i]!];
    }
    const arrivals: number[] = [];
    for (let i = 0, t = 0; i < o.requests; i++) {
      arrivals.push(t);
      t += (-Math.log(1 - rng.next()) / o.rate) * 1000;
    }
    const questions = workflows.map((_, i) => texts[(i * 37) % texts.length]!.split(' ').slice(0, 12).join(' '));

    // Decode-only inter-token latency, timed token to token as the streams are.
    const decodeOnly = await setup.decodeOnlyItl(questions, o.maxTokens);
    const decodeOnlyP99 = p99(decodeOnly);

    const runStream = async (scheduler: SchedulerName, r: Regime): Promise<SchedulerFigure> => {
      const opened = await setup.open(r, SCHEDULERS[scheduler](o.requests));
      const before = (await opened.rag.info()).cache;
      await setup.network(r === 'remote');
      const start = performance.now();
      const results = await Promise.all(
        workflows.map(async (workflow, i): Promise<RequestResult> => {
          await new Promise((res) => setTimeout(res, arrivals[i]));
          const t0 = performance.now();
          let first = 0,
            last = 0,
            retrievals = 0,
            generations = 0;
          const itl: number[] = [];
          for await (const e of opened.rag.generate(questions[i]!, { workflow, k: 3, nprobe: o.nprobe, maxTokens: o.maxTokens })) {
            // One embedding per search (the retrieval the answer starts from reports no node event).
            if (e.type === 'trace') retrievals = e.stages.filter((st) => st.kind === 'embed').length;
            if (e.type === 'node' && e.kind === 'generate') generations++;
            if (e.type !== 'token') continue;
            const now = performance.now();
            if (!first) first = now;
            else itl.push(now - last);
            last = now;
          }
          return { workflow, latencyMs: performance.now() - t0, ttftMs: (first || performance.now()) - t0, itl, retrievals, generations };
        }),
      );
      const wallMs = performance.now() - start;
      await setup.network(false);
      const after = (await opened.rag.info()).cache;
      const http = opened.remote?.stats().requests;
      await opened.close();
      const lat = results.map((x) => x.latencyMs);
      const ttft = results.map((x) => x.ttftMs);
      const itl = results.flatMap((x) => x.itl);
      const perWorkflow: SchedulerFigure['perWorkflow'] = {};
      for (const w of mix) {
        const of = results.filter((x) => x.workflow === w);
        perWorkflow[w] = {
          meanMs: mean(of.map((x) => x.latencyMs)),
          p99Ms: p99(of.map((x) => x.latencyMs)),
          ttftMeanMs: mean(of.map((x) => x.ttftMs)),
          retrievals: mean(of.map((x) => x.retrievals)),
          generations: mean(of.map((x) => x.generations)),
        };
      }
      const fig: SchedulerFigure = {
        throughput: o.requests / (wallMs / 1000),
        meanMs: mean(lat),
        p99Ms: p99(lat),
        ttftMeanMs: mean(ttft),
        ttftP99Ms: p99(ttft),
        itlP99Ms: p99(itl),
        itlP99Inflation: p99(itl) / decodeOnlyP99 - 1,
        listsReadPerRequest: after && before ? (after.misses - before.misses) / o.requests : Number.NaN,
        ...(http !== undefined ? { httpRequests: http } : {}),
        perWorkflow,
      };
      log(
        `${r} ${scheduler}: ${fig.throughput.toFixed(3)} req/s, latency mean ${fig.meanMs.toFixed(0)} ms p99 ${fig.p99Ms.toFixed(0)} ms, TTFT mean ${fig.ttftMeanMs.toFixed(0)} ms, ITL p99 ${fig.itlP99Ms.toFixed(1)} ms, lists read/request ${fig.listsReadPerRequest.toFixed(1)}; ${mix
          .map((w) => `${w} ${perWorkflow[w]!.meanMs.toFixed(0)} ms`)
          .join(', ')}`,
      );
      return fig;
    };

    const names = o.schedulers ?? (Object.keys(SCHEDULERS) as SchedulerName[]);
    const figures: Partial<Record<SchedulerName, SchedulerFigure>> = {};
    for (const s of names) figures[s] = await runStream(s, regime);
    const bound = regime === 'cached' ? figures.weft : names.includes('weft') ? await runStream('weft', 'cached') : undefined;
    const seq = figures.sequential;
    const best = figures.weft;
    const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : Number.NaN);
    const throughputVsSequential = ratio(best?.throughput, seq?.throughput);
    const meanLatencyVsSequential = ratio(seq?.meanMs, best?.meanMs);
    const ofBound = ratio(best?.throughput, bound?.throughput);
    return {
      device: adapterName(setup.ctx.device),
      regime,
      n: o.n,
      requests: o.requests,
      rate: o.rate,
      maxTokens: o.maxTokens,
      nprobe: o.nprobe,
      mix,
      ...(regime === 'remote' ? { network: REMOTE_NETWORK } : {}),
      decodeOnlyItlP99Ms: decodeOnlyP99,
      schedulers: figures,
      bound,
      throughputVsSequential,
      meanLatencyVsSequential,
      throughputOfBound: ofBound,
      laterIssue22: 'cross-request multi-query batching, speculative retrieval and semantic reordering are not built yet: their figures are not measured',
      targets: [
        { name: 'throughput, weft / sequential', want: '>= 2', got: throughputVsSequential, met: throughputVsSequential >= 2 },
        { name: 'mean latency, sequential / weft', want: '>= 1.5', got: meanLatencyVsSequential, met: meanLatencyVsSequential >= 1.5 },
        { name: 'throughput, weft / bound (lists resident)', want: '>= 0.9', got: ofBound, met: ofBound >= 0.9 },
        { name: 'ITL p99 inflation (weft)', want: '<= 0.10', got: best?.itlP99Inflation ?? Number.NaN, met: (best?.itlP99Inflation ?? Number.NaN) <= 0.1 },
      ],
    };
  } finally {
    await setup.dispose();
  }
}
