// Bringing lists into the GPU cache before a search needs them: the lookahead prefetch of the
// lists a query will probe (TeleRAG), streamed while the LLM is still busy, and the preload of
// the hottest lists when an index is opened. On the CPU backend the same code fills the
// decoded-list cache (cpu-list-cache.ts), ranking on the CPU.

import { WeftError } from '../errors.js';
import { cpuQueries, cpuRank } from '../ivf/cpu-search.js';
import { createQuadScanner } from '../ivf/cpu-simd.js';
import { prepareRows, queryBuffer, rankLists } from '../ivf/probe.js';
import type { ListCache } from './cache/list-cache.js';
import type { Manifest } from '../storage/contract.js';
import { onGpu, type IndexEnv, type IndexSnapshot } from './snapshot.js';
import { readsWith } from './bound-reads.js';

/** What prefetch and preload need of an index: where its lists are, and a cache (GPU or CPU) to put them in. */
export interface PrefetchEnv extends IndexEnv {
  cache: Pick<ListCache, 'has' | 'bytesFor' | 'insert' | 'noteStreamed' | 'touch' | 'budget' | 'fill'>;
}

/** The `nprobe` lists `query` probes, best first: on the GPU with a context, else on the CPU. */
async function rankOne(env: PrefetchEnv, snap: IndexSnapshot, query: Float32Array, nprobe: number): Promise<Uint32Array> {
  const { ctx } = env;
  if (!ctx)
    return cpuRank(
      createQuadScanner(),
      snap.trained.centroids,
      cpuQueries(prepareRows(env.metric, query, env.layout.dim), env.layout),
      env.layout,
      env.metric,
      nprobe,
    );
  const qbuf = queryBuffer(ctx, 'weft.prefetch.query', env.layout, env.metric, query);
  try {
    const r = await rankLists(ctx, {
      centroids: onGpu(snap.trained).coarse,
      dim: env.layout.dim,
      nlist: snap.manifest.nlist,
      metric: env.metric,
      queries: qbuf,
      queryUnits: env.layout.queryUnits,
      numQueries: 1,
      nprobe,
    });
    ctx.destroyBuffer(r.buffer);
    return r.lists;
  } finally {
    ctx.destroyBuffer(qbuf);
  }
}

/** A prefetch in progress: the lists planned and arrived so far, `done`, and cancel(). */
export interface PrefetchHandle {
  /** Lists in the order they will be streamed. */
  readonly planned: readonly number[];
  /** Lists that have arrived in the cache so far. */
  readonly arrived: readonly number[];
  readonly done: Promise<{ arrived: number[]; bytes: number; cancelled: boolean }>;
  cancel(): void;
}

export interface PrefetchInit {
  /** Checks the query and returns the nprobe to rank with; a throw rejects `done`. */
  check: () => number;
  /** Stops the prefetch like cancel(). */
  signal?: AbortSignal | undefined;
  byteBudget: number;
  /** Ranks the query as the index's next operation, on the snapshot current then. */
  exclusive: <T>(fn: (snap: IndexSnapshot) => Promise<T>) => Promise<T>;
  /** The index's generation now (a commit since the ranking stops the streaming). */
  generation: () => number;
  /** The index was closed. */
  closed: () => boolean;
}

/** Streams the lists `query` will probe, best first, into the cache, up to the byte budget. */
export function prefetchLists(env: PrefetchEnv, query: Float32Array, o: PrefetchInit): PrefetchHandle {
  const { cache } = env;
  const planned: number[] = [];
  const arrived: number[] = [];
  let cancelled = false;
  // cancel() (or the caller's signal) also stops the reads in flight over a slow tier.
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([stop.signal, o.signal]) : stop.signal;
  const store = readsWith(env.store, signal);
  const done = (async () => {
    const nprobe = o.check();
    // Ranking goes through the index's queue: it must not race a rebuild swapping the centroids.
    // The streaming below runs beside whatever comes next.
    const { order, generation, counts } = await o.exclusive(async (snap) => ({
      order: await rankOne(env, snap, query, nprobe),
      generation: snap.manifest.generation,
      counts: snap.manifest.listCounts,
    }));
    let bytes = 0;
    for (const l of order) {
      if (cache.has(l) || counts[l] === 0) continue;
      const b = cache.bytesFor(counts[l]!);
      if (bytes + b > o.byteBudget) break;
      planned.push(l);
      bytes += b;
    }
    // Issue every read now, a few lists per transaction: IndexedDB serves them in order while
    // the earlier ones are being uploaded.
    const groups: number[][] = [];
    for (let i = 0, g = 1; i < planned.length; i += g, g = Math.min(g * 2, 16)) groups.push(planned.slice(i, i + g));
    const reads = groups.map((g) => store.readLists(env.name, g));
    reads.forEach((p) => p.catch(() => undefined));
    const keep = new Set(planned);
    let got = 0;
    for (const p of reads) {
      // A read stopped by cancel() or the signal ends the prefetch as cancelled.
      for (const rec of await p.catch((e: unknown) => {
        if (signal.aborted) {
          cancelled = true;
          return [];
        }
        throw e;
      })) {
        if (cancelled || o.closed()) break;
        if (o.generation() !== generation) {
          cancelled = true;
          break;
        } // the index changed under us
        if (cache.has(rec.list)) continue;
        if (cache.insert(rec, keep)) {
          arrived.push(rec.list);
          got += cache.bytesFor(rec.count);
          cache.noteStreamed([rec]);
        }
      }
      if (cancelled || o.closed()) break;
    }
    return { arrived: arrived.slice(), bytes: got, cancelled };
  })();
  return {
    planned,
    arrived,
    done,
    cancel() {
      cancelled = true;
      stop.abort();
    },
  };
}

/** Loads the hottest lists that fit (the ones this index used most before it was closed). */
export async function preloadHottest(env: PrefetchEnv, manifest: Manifest, access: Float64Array): Promise<void> {
  const { cache } = env;
  const order = manifest.listCounts.flatMap((n, l) => (access[l]! > 0 && n > 0 ? [l] : [])).sort((a, b) => access[b]! - access[a]! || a - b);
  const pick: number[] = [];
  let bytes = 0;
  for (const l of order) {
    const b = cache.bytesFor(manifest.listCounts[l]!);
    if (bytes + b > cache.fill * cache.budget) continue;
    pick.push(l);
    bytes += b;
  }
  for (const l of pick) {
    try {
      const [rec] = await env.store.readLists(env.name, [l]);
      if (rec && cache.insert(rec)) cache.touch([l]);
    } catch (e) {
      if (!(e instanceof WeftError && e.code === 'CORRUPT_RECORD')) throw e; // a damaged list is reported when a search needs it
    }
  }
}
