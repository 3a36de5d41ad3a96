// `npm run bench -- growth`: an index that grows from 10 vectors to `n` in batches of varied sizes
// (1 to half the index; each batch a new topic: its own Gaussian mixture, shifted), as a person
// adding folders and files one after another. After chosen batches it measures recall@k at a fixed
// nprobe against the exact neighbours, beside an index trained from scratch on the same vectors,
// and it reports what growing cost: the time of every add (lists split in the add's commit
// included) against building the index once at its final size, and the share of that time the
// adds whose commit split lists took beyond a plain add of their size. Lists live in IndexedDB
// (the demo's store), or under Deno in its file store (bench/deno.ts: the run for a GPU machine
// without Chromium); the GPU is whatever the runtime offers (SwiftShader here).

import { createFlatIndex, createGpuContext, createRng, gaussianMixture, type GpuContext, type SearchResult, type StorageType } from '../src/weft.js';
import { recallAtK } from '../src/ivf/reference.js';
import { layoutFor } from '../src/ivf/codec.js';
import { nlistFor, splitBound } from '../src/ivf/sizing.js';
import { createStoredIndex, type StoredIndex } from '../src/stored-index/stored-index.js';
import { indexedDbStores, type BenchStores } from './stores.js';
import { deviceName } from './device-name.js';

export interface GrowthBenchOptions {
  n: number;
  dim: number;
  storage: StorageType;
  nprobe: number;
  k: number;
  queries: number;
  seed: number;
}

export interface GrowthRow {
  batch: number;
  added: number;
  n: number;
  nlist: number;
  maxList: number;
  bound: number;
  addMs: number;
  split: boolean;
  recall?: number;
  scratchRecall?: number;
  scratchNlist?: number;
}

/** Batch sizes from 10 to n: mostly growing by a factor, with small ones in between (a note, a file, a folder). */
function batchSizes(n: number, seed: number): number[] {
  const rng = createRng(seed);
  const sizes = [10];
  let total = 10;
  while (total < n) {
    const kind = rng.int(4);
    const want = kind === 0 ? 1 + rng.int(5) : kind === 1 ? 20 + rng.int(200) : Math.ceil(total * (0.2 + rng.next() * 0.8));
    const size = Math.min(n - total, want);
    sizes.push(size);
    total += size;
  }
  return sizes;
}

/** The queries' exact k nearest (the flat f32 search on the GPU, as the search benchmarks' ground truth). */
async function exactTopK(ctx: GpuContext, base: Float32Array, dim: number, queries: Float32Array, k: number): Promise<SearchResult> {
  const flat = await createFlatIndex({ gpu: ctx, dim, metric: 'l2' });
  try {
    await flat.add(base);
    return await flat.search(queries, { k });
  } finally {
    flat.destroy();
  }
}

async function recallOf(index: StoredIndex, queries: Float32Array, truth: SearchResult, k: number, nprobe: number): Promise<number> {
  return recallAtK(await index.search(queries, { k, nprobe: Math.min(nprobe, index.nlist) }), truth);
}

export async function runGrowthBench(o: GrowthBenchOptions, log: (s: string) => void, stores: BenchStores = indexedDbStores) {
  const ctx = await createGpuContext();
  const dbName = `weft-bench-growth-${o.seed}`;
  await stores.remove(dbName).catch(() => undefined);
  const store = await stores.open(dbName);
  const layout = layoutFor(o.dim, o.storage);
  const sizes = batchSizes(o.n, o.seed);
  const data = new Float32Array(o.n * o.dim);
  let at = 0;
  sizes.forEach((size, b) => {
    const part = gaussianMixture(size, o.dim, { centers: Math.max(1, Math.round(Math.sqrt(size) / 2)), seed: o.seed + 1000 * b });
    const shift = createRng(o.seed + b).normal() * 0.5;
    for (let i = 0; i < part.length; i++) data[at + i] = part[i]! + shift;
    at += part.length;
  });
  // Measure after the batches that bring the index past each power of 4 (and at the end).
  const checkpoints = new Set<number>();
  let total = 0,
    next = 1000;
  sizes.forEach((s, b) => {
    total += s;
    if (total >= next || b === sizes.length - 1) {
      checkpoints.add(b);
      while (next <= total) next *= 4;
    }
  });
  const queryRng = createRng(o.seed ^ 0x51ed);
  const rows: GrowthRow[] = [];
  let index: StoredIndex | undefined;
  let n = 0;
  let growMs = 0;
  const splitBatches: { ms: number; added: number }[] = [],
    plainBatches: { ms: number; added: number }[] = [];
  try {
    const first = data.subarray(0, sizes[0]! * o.dim);
    const t0 = performance.now();
    index = await createStoredIndex(first, {
      gpu: ctx,
      store,
      name: 'grown',
      dim: o.dim,
      nlist: nlistFor(sizes[0]!),
      storage: o.storage,
      metric: 'l2',
      seed: o.seed,
      preload: false,
    });
    growMs += performance.now() - t0;
    for (const [b, size] of sizes.entries()) {
      const part = data.subarray(n * o.dim, (n + size) * o.dim);
      const nlistBefore = index.nlist;
      let split = false;
      const t = performance.now();
      await index.add(part, {
        onProgress: (p) => {
          if (p.status === 'split') split = true;
        },
      });
      const addMs = performance.now() - t;
      growMs += addMs;
      n += size;
      (split ? splitBatches : plainBatches).push({ ms: addMs, added: size });
      const row: GrowthRow = {
        batch: b,
        added: size,
        n,
        nlist: index.nlist,
        maxList: Math.max(...index.manifest.listCounts),
        bound: splitBound(n, ctx, layout),
        addMs,
        split: split || index.nlist !== nlistBefore,
      };
      if (checkpoints.has(b) && n >= 100) {
        const all = data.subarray(0, n * o.dim);
        const queries = new Float32Array(o.queries * o.dim);
        for (let q = 0; q < o.queries; q++) {
          const src = queryRng.int(n);
          for (let j = 0; j < o.dim; j++) queries[q * o.dim + j] = all[src * o.dim + j]! + 0.05 * queryRng.normal();
        }
        const truth = await exactTopK(ctx, all, o.dim, queries, o.k);
        const scratch = await createStoredIndex(all, {
          gpu: ctx,
          store,
          name: `scratch-${b}`,
          dim: o.dim,
          nlist: nlistFor(n),
          storage: o.storage,
          metric: 'l2',
          seed: o.seed,
          preload: false,
          splitLists: 'oversized',
        });
        try {
          await scratch.add(all);
          row.recall = await recallOf(index, queries, truth, o.k, o.nprobe);
          row.scratchRecall = await recallOf(scratch, queries, truth, o.k, o.nprobe);
          row.scratchNlist = scratch.nlist;
        } finally {
          await scratch.close();
          await store.deleteIndex(`scratch-${b}`);
        }
      }
      rows.push(row);
      log(
        `batch ${b}: +${size} -> ${n}, nlist ${row.nlist}, largest list ${row.maxList} (bound ${row.bound}), add ${addMs.toFixed(0)} ms${row.split ? ' (split)' : ''}${row.recall !== undefined ? `, recall@${o.k} nprobe ${o.nprobe} ${row.recall.toFixed(3)} vs scratch ${row.scratchRecall!.toFixed(3)} (nlist ${row.scratchNlist})` : ''}`,
      );
    }
    // Building it once at its final size, for the cost of growing.
    const t1 = performance.now();
    const once = await createStoredIndex(data, {
      gpu: ctx,
      store,
      name: 'once',
      dim: o.dim,
      nlist: nlistFor(n),
      storage: o.storage,
      metric: 'l2',
      seed: o.seed,
      preload: false,
      splitLists: 'oversized',
    });
    await once.add(data);
    const onceMs = performance.now() - t1;
    await once.close();
    // What a plain add costs per vector (batches that split nothing), and what the splitting ones cost beyond it.
    const perVector =
      plainBatches.reduce((a, x) => a + x.ms, 0) /
      Math.max(
        1,
        plainBatches.reduce((a, x) => a + x.added, 0),
      );
    const splitExtraMs = splitBatches.reduce((a, x) => a + Math.max(0, x.ms - x.added * perVector), 0);
    const measured = rows.filter((r) => r.recall !== undefined);
    const worstGap = Math.max(...measured.map((r) => r.scratchRecall! - r.recall!));
    return {
      device: deviceName(ctx.device),
      store: stores.kind,
      ...o,
      batches: sizes.length,
      rows,
      growMs,
      onceMs,
      growOverOnce: growMs / onceMs,
      splitExtraMs,
      splitShare: splitExtraMs / growMs,
      worstRecallGap: worstGap,
      targets: [
        { name: 'recall@10 at fixed nprobe within 0.02 of scratch after every measured batch', want: '<= 0.02', got: worstGap, met: worstGap <= 0.02 },
        {
          name: 'no list over its bound after any batch',
          want: 'true',
          got: rows.every((r) => r.maxList <= r.bound),
          met: rows.every((r) => r.maxList <= r.bound),
        },
      ],
    };
  } finally {
    await index?.close();
    store.close();
    await stores.remove(dbName).catch(() => undefined);
    ctx.destroy();
  }
}
