// `npm run bench -- rag`: the same stream of questions through the sequential baseline and the
// woven schedule (reference generator stories260K, an index of ≥ 100k vectors): end-to-end latency
// and time to first token per request, and the inter-token latency that weaving retrieval into
// decoding costs, in one of three regimes (`--regime`): `cached` (every list resident on the GPU),
// `idb` (the GPU cache an eighth of the index, lists cold in IndexedDB) and `remote` (the index
// published as one file behind a range-request host, fetched through an emulated network:
// Chromium's, or under Deno bench/deno-host.ts's; 20 Mbit/s, 40 ms RTT, the local tier empty at
// the start). Beside them, the same
// requests run sequentially with every list resident: the latency if retrieval cost nothing,
// which bounds what hiding it can gain. `--storage pq` keeps the lists as PQ codes (defaultPq:
// 4 bits, m = dim / 4) instead of f16 vectors.
import type { SearchMode } from '../src/runtime/fusion.js';
import type { PeriodicOptions, RagEvent } from '../src/runtime/types.js';
import { indexedDbStores, type BenchStores } from './stores.js';
import { percentile } from '../src/util/stats.js';
import { REMOTE_NETWORK, setUpRagBench, type RagStorage, type Regime } from './rag-setup.js';

export interface RagBenchOptions {
  assets: string;
  n: number;
  requests: number;
  maxTokens: number;
  nprobe: number;
  arrivalMs: number;
  /** Which part to run: the request stream (sequential vs woven), periodic retrieval, or both. */
  part?: 'all' | 'stream' | 'periodic';
  /** Periodic retrieval: answers per interval, their length, and the share of decode time search may take. */
  periodicRequests?: number;
  periodicTokens?: number;
  periodicSlowdown?: number;
  /** The runtime's search mode (default: the runtime's default, hybrid). */
  mode?: SearchMode;
  /** Where the lists are when a request needs them (see the header). Default 'idb'. */
  regime?: Regime;
  /** How the lists keep their vectors: f16 (default) or PQ codes. */
  storage?: RagStorage;
  /** Where onnxruntime-web finds its .wasm (the page's path by default); null: its own default (Deno: beside its module). */
  onnxWasmPaths?: string | null;
}

export type { RagStorage, Regime };

export interface PeriodicFigure {
  interval: number;
  /** nprobe the performance model chose (median over windows); blocking runs with the same. */
  nprobe: number;
  /** Pipelined answer latency, median over requests. */
  latencyMs: number;
  blockingLatencyMs: number;
  /** Blocking over pipelined time per generated token (answers may differ in length). */
  speedupVsBlocking: number;
  /** The same with the context refreshes (identical work in both) left out: what pipelining the search saves. */
  speedupVsBlockingExRefresh: number;
  /**
   * The bound: blocking over blocking less the time decoding waited for its searches (what
   * hiding every search entirely would give), and the share of it pipelining reached.
   */
  idealSpeedupVsBlocking: number;
  ofIdeal: number;
  refreshMsMedian: number;
  searchMsMedian: number;
  waitedMsMedian: number;
  refreshes: number;
  blockingRefreshes: number;
}

const median = (v: number[]) => percentile(v, 0.5);
const p95 = (v: number[]) => percentile(v, 0.95);
const p99 = (v: number[]) => percentile(v, 0.99);
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);

export async function runRagBench(o: RagBenchOptions, log: (s: string) => void, stores: BenchStores = indexedDbStores) {
  const regime = o.regime ?? 'idb';
  const setup = await setUpRagBench(
    {
      assets: o.assets,
      n: o.n,
      regime,
      ...(o.storage ? { storage: o.storage } : {}),
      ...(o.onnxWasmPaths !== undefined ? { onnxWasmPaths: o.onnxWasmPaths } : {}),
    },
    log,
    stores,
    'weft-bench-rag',
  );
  try {
    const { texts, dim, storage, indexBytes, cacheBytes, network } = setup;
    const questions = Array.from({ length: o.requests }, (_, i) => texts[(i * 37) % texts.length]!.split(' ').slice(0, 12).join(' '));

    // Decode-only inter-token latency: the same generator, answering the same questions' prompts
    // with no retrieval going on, timed token to token as the streams below are.
    const decodeOnly = await setup.decodeOnlyItl(questions, o.maxTokens);
    /** A runtime over regime `r`'s store; resident: every list on the GPU before the first request. */
    const openFor = (r: Regime, schedule?: 'sequential' | 'woven', performanceModel?: { intercept: number; slope: number }) =>
      setup.open(r, { ...(schedule ? { schedule } : {}), ...(performanceModel ? { performanceModel } : {}), ...(o.mode ? { mode: o.mode } : {}) });
    const runStream = async (schedule: 'sequential' | 'woven', r: Regime = regime) => {
      const src = await openFor(r, schedule);
      const { rag } = src;
      const before = (await rag.info()).cache;
      await network(r === 'remote');
      const lat: number[] = [],
        ttft: number[] = [],
        itl: number[] = [];
      // Per request, the time each kind of stage took (summed over its slices): where latency goes.
      const byKind: Record<string, number[]> = {};
      const jobs = questions.map(async (q, i) => {
        await new Promise((r) => setTimeout(r, i * o.arrivalMs));
        const t0 = performance.now();
        let first = 0,
          last = 0;
        for await (const e of rag.generate(q, { k: 3, nprobe: o.nprobe, maxTokens: o.maxTokens })) {
          if (e.type === 'trace') {
            const sums: Record<string, number> = {};
            for (const st of e.stages) sums[st.kind] = (sums[st.kind] ?? 0) + st.end - st.start;
            for (const [kind, ms] of Object.entries(sums)) (byKind[kind] ??= []).push(ms);
          }
          if (e.type !== 'token') continue;
          const now = performance.now();
          if (!first) first = now;
          else itl.push(now - last);
          last = now;
        }
        lat.push(performance.now() - t0);
        ttft.push(first - t0);
      });
      await Promise.all(jobs);
      await network(false);
      const after = (await rag.info()).cache;
      const remoteStats = src.remote?.stats();
      await src.close();
      const stageMs = Object.fromEntries(Object.entries(byKind).map(([kind, v]) => [kind, median(v)]));
      // Probed lists found on the GPU when their search came (resident, or brought ahead by prefetch).
      const gpuHitRate = after && before ? (after.hits - before.hits) / Math.max(1, after.hits - before.hits + after.misses - before.misses) : NaN;
      log(
        `${r} ${schedule}: e2e median ${median(lat).toFixed(0)} ms, TTFT median ${median(ttft).toFixed(0)} ms, ITL p99 ${p99(itl).toFixed(1)} ms, GPU hit rate ${gpuHitRate.toFixed(3)}${remoteStats ? `, ${remoteStats.requests} HTTP requests (${(remoteStats.bytesFetched / 2 ** 20).toFixed(1)} MiB)` : ''}; per request (median ms): ${Object.entries(
          stageMs,
        )
          .map(([k, v]) => `${k} ${v.toFixed(0)}`)
          .join(', ')}`,
      );
      return { lat, ttft, itl, stageMs, gpuHitRate, ...(remoteStats ? { remote: remoteStats } : {}) };
    };
    const part = o.part ?? 'all';
    const seq = part === 'periodic' ? undefined : await runStream('sequential');
    const wov = part === 'periodic' ? undefined : await runStream('woven');
    // The bound: the same requests, sequential, with every list resident (retrieval nearly free).
    const bound = part === 'periodic' ? undefined : regime === 'cached' ? seq : await runStream('sequential', 'cached');

    // PipeRAG periodic retrieval: the same answers with the search for the next window pipelined
    // (one window stale, nprobe from the performance model) and blocking (same nprobe). Each
    // measured answer runs on a runtime of its own, its lists where the regime keeps them: an
    // answer must not find the lists the one before it brought in (the second of a pair would
    // then search from the GPU cache whatever the regime).
    const periodic: PeriodicFigure[] = [];
    if (part !== 'stream') {
      const src = await openFor(regime);
      const { rag } = src;
      const line = await rag.profile();
      await network(true);
      log(`performance model: search ≈ ${line.intercept.toFixed(2)} ms + ${line.slope.toFixed(3)} ms x nprobe`);
      const asks = questions.slice(0, o.periodicRequests ?? 4);
      const maxTokens = o.periodicTokens ?? 192;
      const one = async (runtime: typeof rag, q: string, periodicOpts: PeriodicOptions) => {
        let done: Extract<RagEvent, { type: 'done' }> | undefined;
        const t0 = performance.now();
        let first = 0;
        for await (const e of runtime.generate(q, { k: 1, nprobe: o.nprobe, maxTokens, periodic: periodicOpts })) {
          if (e.type === 'token' && !first) first = performance.now();
          if (e.type === 'done') done = e;
        }
        // Time from the first token on: the periodic part of the answer.
        return { ms: performance.now() - t0, decodeMs: performance.now() - first, tokens: done!.tokens.generated, report: done!.periodic! };
      };
      /** One answer on a fresh runtime over the regime's store (for `remote`, an empty IndexedDB tier), with the model's line as a page would keep it. */
      const cold = async (q: string, periodicOpts: PeriodicOptions) => {
        await network(false);
        const fresh = await openFor(regime, undefined, { intercept: line.intercept, slope: line.slope });
        await network(true);
        try {
          return await one(fresh.rag, q, periodicOpts);
        } finally {
          await fresh.close();
        }
      };
      for (const interval of [8, 16, 32, 64]) {
        const slowdown = o.periodicSlowdown !== undefined ? { maxSlowdown: o.periodicSlowdown } : {};
        // The nprobe the performance model picks for this interval, then the same retrievals
        // (fixed nprobe, one window stale) pipelined and blocking: the answers are identical.
        const nprobe = median((await one(rag, asks[0]!, { interval, ...slowdown })).report.windows.map((w) => w.nprobe)) || 1;
        const piped: Awaited<ReturnType<typeof one>>[] = [];
        const blocking: Awaited<ReturnType<typeof one>>[] = [];
        for (const q of asks) {
          piped.push(await cold(q, { interval, nprobe, ...slowdown }));
          blocking.push(await cold(q, { interval, nprobe, pipeline: false }));
        }
        const perToken = (rs: typeof piped) => median(rs.map((r) => r.decodeMs / Math.max(1, r.tokens)));
        const perTokenEx = (rs: typeof piped) => median(rs.map((r) => (r.decodeMs - r.report.refreshMs) / Math.max(1, r.tokens)));
        const waited = (r: (typeof piped)[number]) => r.report.windows.reduce((a, w) => a + w.waitedMs, 0);
        const idealSpeedupVsBlocking = perToken(blocking) / median(blocking.map((r) => (r.decodeMs - waited(r)) / Math.max(1, r.tokens)));
        const fig: PeriodicFigure = {
          interval,
          nprobe,
          latencyMs: median(piped.map((r) => r.ms)),
          blockingLatencyMs: median(blocking.map((r) => r.ms)),
          speedupVsBlocking: perToken(blocking) / perToken(piped),
          speedupVsBlockingExRefresh: perTokenEx(blocking) / perTokenEx(piped),
          idealSpeedupVsBlocking,
          ofIdeal: perToken(blocking) / perToken(piped) / idealSpeedupVsBlocking,
          refreshMsMedian: median(piped.map((r) => r.report.refreshMs / Math.max(1, r.report.refreshes))),
          searchMsMedian: median(piped.flatMap((r) => r.report.windows.map((w) => w.searchMs))),
          waitedMsMedian: median(piped.flatMap((r) => r.report.windows.map((w) => w.waitedMs))),
          refreshes: piped.reduce((x, r) => x + r.report.refreshes, 0),
          blockingRefreshes: blocking.reduce((x, r) => x + r.report.refreshes, 0),
        };
        periodic.push(fig);
        log(
          `${regime} periodic interval ${interval}: nprobe ${nprobe}, pipelined ${fig.latencyMs.toFixed(0)} ms vs blocking ${fig.blockingLatencyMs.toFixed(0)} ms per answer; speedupVsBlocking ${fig.speedupVsBlocking.toFixed(2)} (bound ${fig.idealSpeedupVsBlocking.toFixed(2)}: ${fig.ofIdeal.toFixed(2)} of it), without refreshes ${fig.speedupVsBlockingExRefresh.toFixed(2)} (search ${fig.searchMsMedian.toFixed(1)} ms, waited ${fig.waitedMsMedian.toFixed(1)} ms, refreshes ${fig.refreshes} vs ${fig.blockingRefreshes} of ${fig.refreshMsMedian.toFixed(0)} ms)`,
        );
      }
      await network(false);
      await src.close();
    }
    const decodeOnlyP99 = p99(decodeOnly);
    const decodeOnlyMean = mean(decodeOnly);
    const e2eSpeedup = seq && wov ? median(seq.lat) / median(wov.lat) : NaN;
    const ttftSpeedup = seq && wov ? median(seq.ttft) / median(wov.ttft) : NaN;
    const itlP99Inflation = wov ? p99(wov.itl) / decodeOnlyP99 - 1 : NaN;
    const p16 = periodic.find((p) => p.interval === 16);
    const at16 = p16?.speedupVsBlocking ?? NaN;
    // Retrieval's share of a request's latency: what it takes above the same request with every list resident.
    const boundMs = bound ? median(bound.lat) : NaN;
    const share = (lat: number[] | undefined) => (lat ? Math.max(0, median(lat) - boundMs) / median(lat) : NaN);
    const idealSpeedup = seq ? median(seq.lat) / boundMs : NaN;
    const ofIdeal = e2eSpeedup / idealSpeedup;
    return {
      regime,
      n: o.n,
      dim,
      storage,
      ...(setup.pq ? { pq: setup.pq } : {}),
      ...(setup.file ? { file: setup.file } : {}),
      requests: o.requests,
      maxTokens: o.maxTokens,
      nprobe: o.nprobe,
      arrivalMs: o.arrivalMs,
      cacheFraction: cacheBytes / indexBytes,
      indexBytes,
      ...(regime === 'remote' ? { network: REMOTE_NETWORK } : {}),
      boundE2eMedianMs: boundMs,
      idealSpeedup,
      ofIdeal,
      retrievalShareSequential: share(seq?.lat),
      retrievalShareWoven: share(wov?.lat),
      prefetchHitRate: wov?.gpuHitRate ?? NaN,
      sequentialGpuHitRate: seq?.gpuHitRate ?? NaN,
      ...(wov?.remote ? { remoteWoven: wov.remote } : {}),
      ...(seq
        ? {
            sequential: {
              e2eMedianMs: median(seq.lat),
              e2eP95Ms: p95(seq.lat),
              ttftMedianMs: median(seq.ttft),
              ttftP95Ms: p95(seq.ttft),
              itlP99Ms: p99(seq.itl),
              itlMeanMs: mean(seq.itl),
              stageMs: seq.stageMs,
            },
          }
        : {}),
      ...(wov
        ? {
            woven: {
              e2eMedianMs: median(wov.lat),
              e2eP95Ms: p95(wov.lat),
              ttftMedianMs: median(wov.ttft),
              ttftP95Ms: p95(wov.ttft),
              itlP99Ms: p99(wov.itl),
              itlMeanMs: mean(wov.itl),
              stageMs: wov.stageMs,
            },
          }
        : {}),
      decodeOnlyItlMeanMs: decodeOnlyMean,
      itlMeanInflation: wov ? mean(wov.itl) / decodeOnlyMean - 1 : NaN,
      decodeOnlyItlP99Ms: decodeOnlyP99,
      e2eSpeedup,
      ttftSpeedup,
      itlP99Inflation,
      periodic,
      periodicTokens: o.periodicTokens ?? 192,
      targets: [
        { name: 'e2eSpeedup (sequential / woven, median)', want: '>= 1.5', got: e2eSpeedup, met: e2eSpeedup >= 1.5 },
        { name: 'e2eSpeedup / idealSpeedup (retrieval fully hidden)', want: '>= 0.9', got: ofIdeal, met: ofIdeal >= 0.9 },
        { name: 'itlP99Inflation', want: '<= 0.10', got: itlP99Inflation, met: itlP99Inflation <= 0.1 },
        { name: 'speedupVsBlocking at interval 16 (periodic retrieval)', want: '>= 2', got: at16, met: at16 >= 2 },
        {
          name: 'speedupVsBlocking / its bound (every search hidden) at interval 16',
          want: '>= 0.9',
          got: p16?.ofIdeal ?? NaN,
          met: (p16?.ofIdeal ?? NaN) >= 0.9,
        },
      ],
    };
  } finally {
    await setup.dispose();
  }
}
