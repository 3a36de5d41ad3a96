// `npm run bench -- workflows`: a heterogeneous stream of RAG workflows (by default one-shot, HyDE,
// multistep and IRG in equal parts, Poisson arrivals at `--rate` requests per second) through
// four schedulers on one generator (stories260K) and one index, in one of `bench rag`'s regimes:
//   sequential   each request's stages one after another, one request at a time (LangChain's and
//                FlashRAG's way);
//   naive        requests interleaved (every request works ahead at once), each search whole as
//                soon as it is ready, between two decode steps: no slicing under a budget;
//   weft         the woven schedule: search slices within each decode gap's budget, lookahead
//                prefetch, generation stages taking turns by arrival;
//   weft-las     the same, the generator going to the request that has held it least;
//   weft-unbatched  weft with every search a session of its own (what multi-query dispatch saves).
// Beside them the bound: the sequential schedule with every list resident on the GPU (retrieval as
// cheap as it gets): sequential over it is the most that hiding retrieval could gain.
// Per scheduler: throughput, mean and p99 latency, TTFT, inter-token latency of the answers, per
// workflow; lists read from the slower tiers per request.
import { percentile } from '../src/util/stats.js';
import { createRng } from '../src/random.js';
import type { BuiltinWorkflow, RagOptions, TraceStage } from '../src/runtime/types.js';
import { indexedDbStores, type BenchStores } from './stores.js';
import { REMOTE_NETWORK, setUpRagBench, type RagSetup, type Regime } from './rag-setup.js';
import { deviceName } from './device-name.js';

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

export type SchedulerName = 'sequential' | 'naive' | 'weft' | 'weft-las' | 'weft-unbatched' | 'weft-unlent';

/** The runtime options of each scheduler. */
const SCHEDULERS: Record<SchedulerName, (requests: number) => Partial<RagOptions>> = {
  sequential: () => ({ schedule: 'sequential' }),
  // No budget: whatever waits runs whole in the next gap; every request works ahead at once.
  naive: (requests) => ({ schedule: 'woven', maxSlowdown: 1e6, lookahead: requests }),
  weft: () => ({ schedule: 'woven' }),
  'weft-las': () => ({ schedule: 'woven', generatorOrder: 'least-attained' }),
  'weft-unbatched': () => ({ schedule: 'woven', batchSearches: false }),
  // The generator idle while its holder searches (no stage borrows it).
  'weft-unlent': () => ({ schedule: 'woven', lendGenerator: false }),
};

interface RequestResult {
  workflow: BuiltinWorkflow;
  latencyMs: number;
  ttftMs: number;
  itl: number[];
  retrievals: number;
  generations: number;
  /** Search slices, and those that were a multi-query dispatch. */
  slices: number;
  batchedSlices: number;
  /** Searches after a speculating generation stage, and those whose lists it had all brought in. */
  speculated: number;
  speculationHits: number;
  /** Generation stages run on a borrowed generator: finished, and recalled before the end (then written again). */
  borrowedKept: number;
  borrowedRecalled: number;
}

/** What a request's trace says about batching and speculation. */
function traceFigures(stages: readonly TraceStage[]) {
  const search = stages.filter((st) => st.kind === 'search');
  // Generation nodes whose partial text prefetched a search's lists (speculative retrieval).
  const generating = new Set(stages.filter((st) => st.kind === 'generate').map((st) => st.node));
  const speculative = stages.filter((st) => st.kind === 'prefetch' && generating.has(st.node));
  const after = speculative.length ? Math.min(...speculative.map((st) => st.at)) : Number.POSITIVE_INFINITY;
  const final = stages.filter((st) => st.kind === 'prefetch' && !generating.has(st.node) && st.at > after);
  return {
    slices: search.length,
    batchedSlices: search.filter((st) => (st.batch ?? 1) > 1).length,
    speculated: final.length,
    speculationHits: final.filter((st) => st.bytes === 0).length,
    borrowedKept: stages.filter((st) => st.borrowed === 'kept').length,
    borrowedRecalled: stages.filter((st) => st.borrowed === 'recalled').length,
  };
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
  /** Share of search slices that were a multi-query dispatch. */
  batchedSliceShare: number;
  /** Share of searches after a speculating generation that found every list it needed brought in. */
  speculationHitRate: number;
  /** Generation stages per request that ran on a borrowed generator and finished, and that were recalled (written again). */
  borrowedKeptPerRequest: number;
  borrowedRecalledPerRequest: number;
  httpRequests?: number;
  perWorkflow: Record<string, { meanMs: number; p99Ms: number; ttftMeanMs: number; retrievals: number; generations: number }>;
}

const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
const mean = (v: number[]) => sum(v) / Math.max(1, v.length);
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
          let figures = { slices: 0, batchedSlices: 0, speculated: 0, speculationHits: 0, borrowedKept: 0, borrowedRecalled: 0 };
          let items = 1;
          const itl: number[] = [];
          for await (const e of opened.rag.generate(questions[i]!, { workflow, k: 3, nprobe: o.nprobe, maxTokens: o.maxTokens })) {
            // One embedding per search (the retrieval the answer starts from reports no node event).
            // Searches: each query of a retrieve stage (the answer's own: a split's items, or one).
            if (e.type === 'node' && e.kind === 'retrieve') retrievals += e.queries?.length ?? 1;
            if (e.type === 'node' && e.kind === 'split') items = e.items?.length ?? 1;
            if (e.type === 'retrieval') retrievals += items;
            if (e.type === 'trace') figures = traceFigures(e.stages);
            if (e.type === 'node' && e.kind === 'generate') generations++;
            if (e.type !== 'token') continue;
            const now = performance.now();
            if (!first) first = now;
            else itl.push(now - last);
            last = now;
          }
          return { workflow, latencyMs: performance.now() - t0, ttftMs: (first || performance.now()) - t0, itl, retrievals, generations, ...figures };
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
        batchedSliceShare: sum(results.map((x) => x.batchedSlices)) / Math.max(1, sum(results.map((x) => x.slices))),
        speculationHitRate: sum(results.map((x) => x.speculationHits)) / Math.max(1, sum(results.map((x) => x.speculated))),
        borrowedKeptPerRequest: sum(results.map((x) => x.borrowedKept)) / o.requests,
        borrowedRecalledPerRequest: sum(results.map((x) => x.borrowedRecalled)) / o.requests,
        ...(http !== undefined ? { httpRequests: http } : {}),
        perWorkflow,
      };
      log(
        `${r} ${scheduler}: ${fig.throughput.toFixed(3)} req/s, latency mean ${fig.meanMs.toFixed(0)} ms p99 ${fig.p99Ms.toFixed(0)} ms, TTFT mean ${fig.ttftMeanMs.toFixed(0)} ms, ITL p99 ${fig.itlP99Ms.toFixed(1)} ms, lists read/request ${fig.listsReadPerRequest.toFixed(1)}, batched slices ${fig.batchedSliceShare.toFixed(2)}, speculation hits ${fig.speculationHitRate.toFixed(2)}, borrowed stages/request ${fig.borrowedKeptPerRequest.toFixed(2)} kept ${fig.borrowedRecalledPerRequest.toFixed(2)} recalled; ${mix
          .map((w) => `${w} ${perWorkflow[w]!.meanMs.toFixed(0)} ms`)
          .join(', ')}`,
      );
      return fig;
    };

    const names = o.schedulers ?? (Object.keys(SCHEDULERS) as SchedulerName[]);
    const figures: Partial<Record<SchedulerName, SchedulerFigure>> = {};
    for (const s of names) figures[s] = await runStream(s, regime);
    // The bound: the same stream, one request at a time, every list resident (retrieval as cheap as it gets).
    const bound = regime === 'cached' && figures.sequential ? figures.sequential : await runStream('sequential', 'cached');
    const seq = figures.sequential;
    const best = figures.weft;
    const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : Number.NaN);
    const throughputVsSequential = ratio(best?.throughput, seq?.throughput);
    const meanLatencyVsSequential = ratio(seq?.meanMs, best?.meanMs);
    const ofBound = ratio(best?.throughput, bound?.throughput);
    // What hiding retrieval could gain at most: sequential over the bound.
    const idealThroughputGain = ratio(bound?.throughput, seq?.throughput);
    const idealLatencyGain = ratio(seq?.meanMs, bound?.meanMs);
    return {
      device: deviceName(setup.ctx.device),
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
      idealThroughputGain,
      idealLatencyGain,
      reordering: await reorderingFigure(setup, questions, o.nprobe),
      targets: [
        { name: 'throughput, weft / sequential', want: '>= 2', got: throughputVsSequential, met: throughputVsSequential >= 2 },
        { name: 'mean latency, sequential / weft', want: '>= 1.5', got: meanLatencyVsSequential, met: meanLatencyVsSequential >= 1.5 },
        { name: 'throughput, weft / bound (sequential, lists resident)', want: '>= 0.9', got: ofBound, met: ofBound >= 0.9 },
        { name: 'ITL p99 inflation (weft)', want: '<= 0.10', got: best?.itlP99Inflation ?? Number.NaN, met: (best?.itlP99Inflation ?? Number.NaN) <= 0.1 },
      ],
    };
  } finally {
    await setup.dispose();
  }
}

/**
 * Semantic reordering, measured on the index directly: for each question, a first search, then a
 * related one (the question with the first search's best passage, as an IRG round's draft is
 * written from it), sliced one list at a time, in rank order and with the first search's lists
 * first: the slices until its top-k is final (the same top-k both ways).
 */
async function reorderingFigure(setup: RagSetup, questions: readonly string[], nprobe: number) {
  const opened = await setup.open('cached');
  try {
    const index = opened.rag.index!;
    const k = 10;
    /** Slices until the top-k is final, and the share of the final top-k the first slice holds. */
    const until = async (q: Float32Array, scanFirst?: number[]) => {
      const session = await index.searchSession(q, { k, nprobe, ...(scanFirst ? { scanFirst: [scanFirst] } : {}) });
      const rows: Uint32Array[] = [];
      while (!session.done) {
        await session.step(1);
        rows.push((await session.read()).ids.slice());
      }
      const keys = rows.map((r) => Array.from(r).join());
      let n = keys.length;
      while (n > 1 && keys[n - 2] === keys.at(-1)) n--;
      const final = new Set(rows.at(-1));
      return { slices: n, key: keys.at(-1), firstSlice: Array.from(rows[0]!).filter((id) => final.has(id)).length / final.size };
    };
    const sums = { plain: 0, all: 0, top: 0, plainFirst: 0, allFirst: 0, topFirst: 0 };
    for (const question of questions) {
      const q1 = await setup.embedder.embed([question]);
      const first = await index.search(q1, { k, nprobe });
      const chunks = await index.chunks(Array.from(first.ids));
      const held = [...new Set(chunks.map((c) => c!.list))];
      const q2 = await setup.embedder.embed([`${question} ${chunks[0]!.text}`]);
      const a = await until(q2);
      const b = await until(q2, held);
      const c = await until(q2, [...new Set(chunks.slice(0, 3).map((ch) => ch!.list))]);
      if (a.key !== b.key || a.key !== c.key) throw new Error('reordering changed a top-k');
      sums.plain += a.slices;
      sums.all += b.slices;
      sums.top += c.slices;
      sums.plainFirst += a.firstSlice;
      sums.allFirst += b.firstSlice;
      sums.topFirst += c.firstSlice;
    }
    const per = (x: number) => x / questions.length;
    return {
      nprobe,
      k,
      slicesUntilStable: per(sums.plain),
      slicesUntilStableReordered: per(sums.all),
      slicesUntilStableTop3: per(sums.top),
      firstSliceRecall: per(sums.plainFirst),
      firstSliceRecallReordered: per(sums.allFirst),
      firstSliceRecallTop3: per(sums.topFirst),
    };
  } finally {
    await opened.close();
  }
}
