// Bringing lists into the GPU cache before a search needs them: the lookahead prefetch of the
// lists a query will probe (TeleRAG), streamed while the LLM is still busy, and the preload of
// the hottest lists when an index is opened. On the CPU backend the same code fills the
// decoded-list cache (cpu-list-cache.ts), ranking on the CPU.

import { WeftError } from '../errors.js';
import { cpuQueries, cpuRank } from '../ivf/cpu-search.js';
import { createQuadScanner } from '../ivf/cpu-simd.js';
import { prepareRows, queryBuffer, rankLists } from '../ivf/probe.js';
import type { ListCache } from './cache/list-cache.js';
import type { ListRecord } from '../ivf/types.js';
import type { Manifest } from '../storage/contract.js';
import { gpuCoarse, type IndexEnv, type IndexSnapshot } from './snapshot.js';
import { hostRank } from './host-rank.js';
import { readsWith } from './bound-reads.js';

/** What prefetch and preload need of an index: where its lists are, and a cache (GPU or CPU) to put them in. */
export interface PrefetchEnv extends IndexEnv {
  cache: Pick<ListCache, 'has' | 'bytesFor' | 'insert' | 'noteStreamed' | 'touch' | 'budget' | 'fill'>;
  /** On the GPU: the first search's pipelines compiling (warm-up.ts); until they are ready, prefetch ranks on the CPU. */
  warm?: { readonly ready: boolean };
}

/**
 * The `nprobe` lists `query` probes, best first: on the GPU with a context, else on the CPU (and
 * on the CPU while the GPU's pipelines are still compiling: the same ranking, without a second compile).
 */
async function rankOne(env: PrefetchEnv, snap: IndexSnapshot, query: Float32Array, nprobe: number): Promise<Uint32Array> {
  const { ctx } = env;
  if (snap.trained.onHost) return hostRank(env, snap.trained, prepareRows(env.metric, query, env.layout.dim), 1, nprobe, nprobe);
  if (!ctx || (env.warm && !env.warm.ready))
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
      centroids: gpuCoarse(snap.trained),
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

/** Bytes of stored records the read open waits for takes at most: the hottest lists (one at least). */
const PRELOAD_FIRST_BYTES = 64 * 2 ** 10;
/** Bytes of stored records each later preload read takes (one IndexedDB transaction, one request over HTTP). */
const PRELOAD_READ_BYTES = 512 * 2 ** 10;

/**
 * `pick` cut into reads: the first up to PRELOAD_FIRST_BYTES of records, each later one up to
 * PRELOAD_READ_BYTES (one list at least each).
 */
function preloadGroups(pick: readonly number[], recordBytes: (list: number) => number): number[][] {
  const groups: number[][] = [];
  let group: number[] = [];
  let bytes = 0;
  for (const l of pick) {
    const b = recordBytes(l);
    if (group.length > 0 && bytes + b > (groups.length === 0 ? PRELOAD_FIRST_BYTES : PRELOAD_READ_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(l);
    bytes += b;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** Reads `lists`; a damaged list (CORRUPT_RECORD) is left out, reported when a search needs it. */
async function readSound(env: PrefetchEnv, lists: number[]): Promise<ListRecord[]> {
  try {
    return await env.store.readLists(env.name, lists);
  } catch (e) {
    if (!(e instanceof WeftError && e.code === 'CORRUPT_RECORD')) throw e;
  }
  if (lists.length === 1) return [];
  const sound: ListRecord[] = [];
  for (const l of lists) sound.push(...(await readSound(env, [l])));
  return sound;
}

/** What a preload that goes on after open needs to know of the index. */
export interface PreloadInit {
  /** The index's generation now: a commit since open stops the preload (its lists may be stale). */
  generation: () => number;
  /** The index was closed. */
  closed: () => boolean;
  /** Settles once the index has no operation queued or running: each read after the first waits for it. */
  idle: () => Promise<void>;
}

/** A preload under way: `first` settles once the hottest lists are in, `rest` when the others are (it never rejects). */
export interface Preload {
  first: Promise<void>;
  rest: Promise<void>;
}

/**
 * Loads the hottest lists that fit (the ones this index used most before it was closed), hottest
 * first, a few reads in all: one read per list made opening a 10k x 128 index whose 211 lists were
 * all hot take 780-930 ms (bench peers, SwiftShader), and reading all 5 MB before the first
 * search 190-330 ms. So open waits only for the first read (the hottest lists, up to 64 KiB);
 * the rest stream in beside the searches, one read at a time (a search's own read waits behind
 * one at most), and stop at a commit or close.
 */
export function preloadHottest(env: PrefetchEnv, manifest: Manifest, access: Float64Array, o: PreloadInit): Preload {
  const { cache, layout } = env;
  const order = manifest.listCounts.flatMap((n, l) => (access[l]! > 0 && n > 0 ? [l] : [])).sort((a, b) => access[b]! - access[a]! || a - b);
  const pick: number[] = [];
  let bytes = 0;
  for (const l of order) {
    const b = cache.bytesFor(manifest.listCounts[l]!);
    if (bytes + b > cache.fill * cache.budget) continue;
    pick.push(l);
    bytes += b;
  }
  const [head = [], ...tail] = preloadGroups(pick, (l) => manifest.listCounts[l]! * (layout.bytesPerVector + 4));
  const generation = o.generation();
  /** Reads `lists` into the cache; false once the index changed or closed meanwhile. */
  const load = async (lists: number[]): Promise<boolean> => {
    const records = await readSound(env, lists);
    if (o.closed() || o.generation() !== generation) return false;
    for (const rec of records) if (!cache.has(rec.list) && cache.insert(rec)) cache.touch([rec.list]);
    return true;
  };
  const first = head.length > 0 ? load(head).then(() => undefined) : Promise.resolve();
  const rest = first.then(async () => {
    for (const lists of tail) {
      await o.idle();
      if (!(await load(lists))) return;
    }
  });
  // Best effort: a failed read after open costs only the lists it would have brought in.
  return { first, rest: rest.catch(() => undefined) };
}
