// A stored index on the GPU between open and its first GPU search. That search's scan and merge
// pipelines used to compile on its first submission, which waited 400-600 ms for them on
// SwiftShader (bench peers); here they compile in the GPU process (createComputePipelineAsync),
// and searches that arrive before they are ready are answered by the CPU backend's search
// (stored-cpu-search.ts), which scores exactly as the kernels do, so they return what the GPU
// would. The compile does not start at open: on a machine with few cores it competed with open's
// reads and the first CPU search for the processor (bench peers, 2 cores: 183 ms to the first
// answer with it started at open, 113 ms with it started after). It starts once the first answer
// is out: when the first CPU search ends, when the index is first idle, or at once for a search
// too large for the CPU, which waits for it. The lists the CPU searches read go into the GPU
// cache as well, so the first GPU search finds them there. Once they are in, what a filtered
// search adds compiles too (its deeper coarse ranking, its scan with an allow bitmap), without
// holding up the GPU searches. A 'pq' index's scan is compiled with
// its codes' shape for the candidates its first search keeps (k x its re-rank figure, which a
// published file says), and its CPU searches score the codes as the kernel does; both re-rank
// their candidates the same way after.

import type { GpuContext } from '../gpu/context.js';
import type { ScalarQuantizer } from '../ivf/codec.js';
import { createQuadScanner } from '../ivf/cpu-simd.js';
import { layoutFor } from '../ivf/codec.js';
import { compileScan, scanCompiled, type ScanShape } from '../ivf/scan.js';
import type { Manifest } from '../storage/contract.js';
import type { ListCache } from './cache/list-cache.js';
import { createCpuListCache, type CpuListCache } from './cache/cpu-list-cache.js';
import type { CpuSearchEnv } from './stored-cpu-search.js';
import type { IndexEnv } from './snapshot.js';

/**
 * Multiply-adds (queries x probed vectors x padded dimensions) above which a search that arrives
 * before the compile has finished waits for it rather than run on the CPU: about 2^26 take the
 * CPU scan 100-300 ms on two cores, less than the compile's 400-600 ms on SwiftShader.
 */
const CPU_WORK_LIMIT = 2 ** 26;
/** Decoded lists a CPU search of the warm-up keeps while it runs. */
const CPU_CACHE_BYTES = 4 * 2 ** 20;

/** What the warm-up needs of its index. */
export interface WarmUpEnv extends IndexEnv {
  ctx: GpuContext;
  /** Settles once the index has no operation queued or running. */
  idle: () => Promise<void>;
  /** The index's GPU list cache: lists the CPU searches read go in there too. */
  cache: ListCache;
  /** The int8 range lists are decoded with now. */
  quantizer: () => ScalarQuantizer | undefined;
  /** As SearchEnv's: each query's probed lists, best first. */
  onProbed(lists: number[]): void;
  /**
   * The candidates the first search's scan keeps: k 10, the default (one k stands for every k
   * up to twice the scan workgroup size, sortSize); a 'pq' index keeps k x its re-rank figure.
   */
  firstK: number;
  /** How deep a filtered search's coarse step ranks: min(nlist, the device's largest k). */
  filterDepth: number;
  /** Whether the coarse step runs on the GPU (not where it runs on the host, host-rank.ts: nothing of it to compile). */
  gpuCoarse: boolean;
}

/** A stored index's pipelines compiling after open, and the CPU search that stands in meanwhile. */
export interface KernelWarmUp {
  /** The pipelines are compiled (or their compile failed: the first GPU search then compiles and reports it as before). */
  readonly ready: boolean;
  /** Settles when `ready` becomes true; never rejects. */
  readonly done: Promise<void>;
  /** Settles once a filtered search's pipelines are compiled as well, after `done`; never rejects. */
  readonly filtered: Promise<void>;
  /**
   * Where a search of `queries` queries probing `nprobe` lists of the index as `manifest` says
   * runs: the CPU search's environment while the compile is under way and the work is small;
   * undefined for the GPU (after waiting for the compile when the work is large).
   */
  cpuFor(queries: number, nprobe: number, manifest: Manifest): Promise<CpuSearchEnv | undefined>;
}

/** What the first search's pipelines depend on: the index's layout, metric and codes' shape, and the candidates its scan keeps. */
type FirstSearch = Pick<WarmUpEnv, 'layout' | 'metric' | 'pq' | 'firstK' | 'gpuCoarse'>;

/** The list scan's shape for `first` (a 'pq' index's codes: m and bits). */
const listShape = (first: FirstSearch): ScanShape => ({
  layout: first.layout,
  metric: first.metric,
  ...(first.pq ? { pq: { m: first.pq.m, nbits: first.pq.bits } } : {}),
});

/**
 * Compiles what an index's first search runs: the coarse step's scan over the centroids (f32,
 * the index's metric, for the smallest k, which stands for every nprobe up to twice the scan
 * workgroup size; none where the lists are ranked on the host), the list scan for its
 * storage, metric and the candidates it keeps, and their merges. Settles once they are cached; never rejects (a failed compile is the first search's to
 * report).
 */
function compileFirstSearch(ctx: GpuContext, first: FirstSearch): Promise<void> {
  if (firstSearchCompiled(ctx, first)) return Promise.resolve();
  const coarse = { layout: layoutFor(first.layout.dim, 'f32'), metric: first.metric };
  return Promise.all([...(first.gpuCoarse ? [compileScan(ctx, coarse, 1)] : []), compileScan(ctx, listShape(first), first.firstK)]).then(
    () => undefined,
    () => undefined,
  );
}

/**
 * Compiles what a filtered search adds to the first search's pipelines: its coarse step ranks as
 * deep as one ranking goes (`depth`), and its list scan honours an allow bitmap. Never rejects.
 */
function compileFilteredSearch(ctx: GpuContext, first: FirstSearch, depth: number): Promise<void> {
  const coarse = { layout: layoutFor(first.layout.dim, 'f32'), metric: first.metric };
  return Promise.all([...(first.gpuCoarse ? [compileScan(ctx, coarse, depth)] : []), compileScan(ctx, listShape(first), first.firstK, true)]).then(
    () => undefined,
    () => undefined,
  );
}

/** Whether compileFirstSearch has nothing to do: the context compiled those pipelines already. */
function firstSearchCompiled(ctx: GpuContext, first: FirstSearch): boolean {
  return (
    (!first.gpuCoarse || scanCompiled(ctx, { layout: layoutFor(first.layout.dim, 'f32'), metric: first.metric }, 1)) &&
    scanCompiled(ctx, listShape(first), first.firstK)
  );
}

/** Starts the warm-up of an index on the GPU: its first search's pipelines compile once its first answer is out. */
export function warmUpKernels(env: WarmUpEnv): KernelWarmUp {
  const { layout, metric } = env;
  // A context that ran such a search before has them: nothing to wait for.
  let ready = firstSearchCompiled(env.ctx, env);
  let cpuEnv: CpuSearchEnv | undefined;
  let began: (() => void) | undefined;
  const begin = new Promise<void>((resolve) => {
    began = resolve;
  });
  const start = () => began?.();
  const done = begin
    .then(() => compileFirstSearch(env.ctx, env))
    .then(() => {
      ready = true;
    });
  // Then, not holding up `ready`, what a filtered search adds (its first one would otherwise wait for it).
  const filtered = done.then(() => compileFilteredSearch(env.ctx, env, env.filterDepth));
  if (!ready) void env.idle().then(start);
  else start();

  /** The CPU backend's search environment, made on first use; its cache hands each list it decodes to the GPU cache too. */
  const onCpu = (): CpuSearchEnv => {
    if (cpuEnv) return cpuEnv;
    const decoded = createCpuListCache({ layout, budgetBytes: CPU_CACHE_BYTES, policy: 'lru', hotnessDecay: 0.5, fill: 1, quantizer: env.quantizer });
    // Every CPU search ends with the cache's trim(): the first one ending starts the compile. Its
    // lists are dropped then: a commit before the next search may rewrite them (the GPU cache,
    // which commits keep current, holds them for later searches).
    const trim = () => {
      decoded.clear();
      start();
    };
    // Each list a CPU search probes is looked up in the GPU cache as a GPU search's would be (a
    // hit where it is resident, a miss where not), and one the GPU cache lacks is admitted as a
    // streamed list would be, so that the cache's statistics do not depend on which backend
    // searched. (Hits went uncounted while the compile ran on: a second search on the CPU left
    // them at 0.)
    const get: CpuListCache['get'] = (list) => {
      const lease = env.cache.lease();
      lease.pinCached([list]);
      lease.release();
      return decoded.get(list);
    };
    const take: CpuListCache['take'] = (record, keep) => {
      if (!env.cache.has(record.list)) {
        const lease = env.cache.lease();
        lease.admit([record], keep);
        lease.release();
      }
      return decoded.take(record, keep);
    };
    const noteStreamed: CpuListCache['noteStreamed'] = (records) => env.cache.noteStreamed(records);
    const cache: CpuListCache = Object.create(decoded, {
      get: { value: get },
      take: { value: take },
      trim: { value: trim },
      noteStreamed: { value: noteStreamed },
    });
    cpuEnv = { ctx: undefined, store: env.store, name: env.name, layout, metric, pq: env.pq, cache, scanner: createQuadScanner(), onProbed: env.onProbed };
    return cpuEnv;
  };

  return {
    get ready() {
      return ready;
    },
    done,
    filtered,
    async cpuFor(queries, nprobe, manifest) {
      if (ready) return undefined;
      const work = queries * nprobe * Math.ceil(manifest.count / Math.max(1, manifest.nlist)) * layout.dimPad;
      if (work <= CPU_WORK_LIMIT) return onCpu();
      start();
      await done;
      return undefined;
    },
  };
}
