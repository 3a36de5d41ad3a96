// `npm run bench -- peers`: Weft (GPU, and its CPU fallback) against the browser vector-search
// libraries people use instead (hnswlib-wasm, voy-search, MeMemo, Orama), on the same vectors in
// one Chromium page. Per system: build time, recall@k, one-query latency at the first setting of
// its search knob that reaches recall 0.95 (or its best), batch queries/s, the memory it keeps,
// and cold open from browser storage to the first answer (in a fresh iframe: bench/peers-open.ts).
// A system that fails gets `error` in its row and the others still run.

import { nlistFor } from '../src/ivf/sizing.js';
import { createRng } from '../src/random.js';
import { parseVectors, type Matrix } from './formats.js';
import { heldInQueries, mixtureSplit } from './data.js';
import { createAdapter, SYSTEM_NAMES, type BuildInput, type Searchable, type SystemAdapter, type SystemName } from './peers-systems.js';
import type { ColdOpenRequest, ColdOpenResult } from './peers-open.js';
import { adapterInfoName } from './device-name.js';

export interface PeersBenchOptions {
  n: number;
  dim: number;
  queries: number;
  k: number;
  seed: number;
  systems?: SystemName[];
  dataUrl?: string;
  dataName?: string;
  queriesUrl?: string;
  queriesName?: string;
}

/**
 * Memory the system holds once built and searched (caches filled). The JS figures are what the
 * heap gives back when the index is closed and dropped (after forced garbage collections):
 * growth since before the build would also count what the previous system left for the GC.
 */
export interface MemoryFigures {
  /** Growth of V8's used JS heap (objects, strings, arrays of numbers). */
  jsHeapBytes: number;
  /** Growth of ArrayBuffer backing stores (typed arrays). NaN where the source cannot see them. */
  backingBytes: number;
  /** The system's WASM linear memory, whole (free space inside included; it never shrinks). */
  wasmBytes: number;
  /** GPU buffers the system holds (Weft's own byte count); the browser's figures do not see these. */
  gpuBytes: number;
}

export interface SweepPoint {
  knob: number;
  recall: number;
  p50Ms: number;
  p99Ms: number;
}

export interface PeerRow {
  system: SystemName;
  config: string;
  knobName: string;
  error?: string;
  buildMs?: number;
  /** The knob setting reported: the first reaching recall ≥ 0.95, else the best swept. */
  knob?: number;
  reached?: boolean;
  recall?: number;
  p50Ms?: number;
  p99Ms?: number;
  batchQps?: number;
  memory?: MemoryFigures;
  persistMs?: number;
  /** Open from storage + first answer, in a fresh iframe with the library already started. */
  coldOpenMs?: number;
  openMs?: number;
  firstQueryMs?: number;
  /** Recall@k of that first answer (is the opened index the built one?). */
  coldRecall?: number;
  sweep?: SweepPoint[];
}

export interface PeersBenchResult {
  /** WebGPU's adapter in words ('none' without one), and the machine's logical cores. */
  device: string;
  cores: number;
  data: string;
  n: number;
  dim: number;
  queries: number;
  k: number;
  nlist: number;
  memorySource: string;
  rows: PeerRow[];
  targets: { name: string; want: string; got: number; met: boolean }[];
}

declare global {
  interface Window {
    /** Set by bench/run.mjs: CDP HeapProfiler.collectGarbage, then Runtime.getHeapUsage. */
    weftBenchHeap?: () => Promise<{ usedSize: number; totalSize: number; backingStorageSize?: number }>;
  }
}

const RECALL_TARGET = 0.95;
/** No step of one system may hold up the others longer than this. */
const STEP_LIMIT_MS = 10 * 60_000;

async function limited<T>(what: string, p: Promise<T>, ms = STEP_LIMIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${Math.round(ms / 1000)} s`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function load(url: string, name: string): Promise<Matrix> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Could not read ${name}: HTTP ${res.status}`);
  return parseVectors(await res.arrayBuffer(), name);
}

function normalize(data: Float32Array, dim: number): Float32Array {
  for (let i = 0; i < data.length; i += dim) {
    let s = 0;
    for (let j = i; j < i + dim; j++) s += data[j]! * data[j]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = i; j < i + dim; j++) data[j]! *= inv;
  }
  return data;
}

/** Exact top-k by inner product on unit vectors (cosine), on the CPU: the ground truth. */
function exactTopK(data: Float32Array, n: number, queries: Float32Array, dim: number, k: number): Uint32Array {
  const nq = queries.length / dim;
  const out = new Uint32Array(nq * k);
  const bestS = new Float32Array(k),
    bestI = new Uint32Array(k);
  for (let q = 0; q < nq; q++) {
    bestS.fill(-Infinity);
    const qo = q * dim;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * dim;
      for (let j = 0; j < dim; j++) s += data[o + j]! * queries[qo + j]!;
      if (s <= bestS[k - 1]!) continue;
      let r = k - 1;
      while (r > 0 && bestS[r - 1]! < s) {
        bestS[r] = bestS[r - 1]!;
        bestI[r] = bestI[r - 1]!;
        r--;
      }
      bestS[r] = s;
      bestI[r] = i;
    }
    out.set(bestI, q * k);
  }
  return out;
}

function recallOf(got: readonly ArrayLike<number>[], truth: Uint32Array, k: number): number {
  let hit = 0;
  got.forEach((ids, q) => {
    const want = new Set(truth.subarray(q * k, (q + 1) * k));
    for (let r = 0; r < Math.min(k, ids.length); r++) if (want.has(ids[r]!)) hit++;
  });
  return hit / (got.length * k);
}

const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

async function heapNow(): Promise<{ js: number; backing: number }> {
  if (window.weftBenchHeap) {
    // Twice, a moment apart: a removed iframe's realm (the last cold open) goes in a later cycle.
    await window.weftBenchHeap();
    await new Promise((r) => setTimeout(r, 300));
    const u = await window.weftBenchHeap();
    return { js: u.usedSize, backing: u.backingStorageSize ?? NaN };
  }
  const m = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory;
  return { js: m?.usedJSHeapSize ?? NaN, backing: NaN };
}

async function coldOpen(req: ColdOpenRequest): Promise<ColdOpenResult> {
  const frame = document.createElement('iframe');
  // Under Vitest's browser runner (bench/peers.browser.test.ts) modules' dynamic imports
  // call the runner's global, which the iframe has to borrow from this page.
  const runner = '__vitest_browser_runner__' in window ? '<script>window.__vitest_browser_runner__ = parent.__vitest_browser_runner__;</script>' : '';
  frame.srcdoc = `<!doctype html>${runner}<script type="module" src="${new URL('./peers-open.ts', import.meta.url).href}"></script>`;
  document.body.append(frame);
  try {
    const w = frame.contentWindow!;
    const t0 = performance.now();
    while (typeof w.weftPeersOpen !== 'function') {
      if (performance.now() - t0 > 120_000) throw new Error('the cold-open page did not load in 2 minutes');
      await new Promise((r) => setTimeout(r, 50));
    }
    return await w.weftPeersOpen(req);
  } finally {
    // Unload its document first: a removed iframe's realm can outlive a few collections and
    // would count against the next system's memory figures.
    await new Promise<void>((resolve) => {
      frame.addEventListener('load', () => resolve(), { once: true });
      frame.removeAttribute('srcdoc');
      frame.src = 'about:blank';
      setTimeout(resolve, 2000);
    });
    frame.remove();
  }
}

/** One pass of single queries at the current knob: recall and per-query latencies. */
async function singleQueries(index: Searchable, queries: Float32Array, dim: number, k: number, truth: Uint32Array) {
  const nq = queries.length / dim;
  for (let q = 0; q < Math.min(3, nq); q++) await index.search(queries.subarray(q * dim, (q + 1) * dim), k); // warm-up
  const got: ArrayLike<number>[] = [];
  const ms: number[] = [];
  for (let q = 0; q < nq; q++) {
    const t0 = performance.now();
    const ids = await index.search(queries.subarray(q * dim, (q + 1) * dim), k);
    ms.push(performance.now() - t0);
    got.push(Array.from(ids));
  }
  return { recall: recallOf(got, truth, k), p50Ms: quantile(ms, 0.5), p99Ms: quantile(ms, 0.99) };
}

/**
 * Builds, sweeps the knob, times the batch and persists; returns the heap as it stands with the
 * index built, searched (caches filled) and persisted. The index is closed and unreachable on return.
 */
async function buildAndSearch(
  adapter: SystemAdapter,
  input: BuildInput,
  queries: Float32Array,
  k: number,
  truth: Uint32Array,
  row: PeerRow,
  log: (s: string) => void,
) {
  const { name } = adapter;
  const { dim, nlist } = input;
  const nq = queries.length / dim;
  let prepared: unknown = adapter.prepare(input);
  let t0 = performance.now();
  const built = await limited('build', adapter.build(prepared, input));
  row.buildMs = performance.now() - t0;
  prepared = undefined;
  log(`${name}: built in ${row.buildMs.toFixed(0)} ms`);
  try {
    row.sweep = [];
    const knob = adapter.knob;
    for (const v of knob.values.filter((x) => knob.name !== 'nprobe' || x <= nlist)) {
      built.setKnob(v);
      const s = await singleQueries(built, queries, dim, k, truth);
      row.sweep.push({ knob: v, ...s });
      log(`${name}: ${knob.name} ${v}: recall ${s.recall.toFixed(4)}, p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms`);
      if (s.recall >= RECALL_TARGET) break;
    }
    const chosen = row.sweep.find((s) => s.recall >= RECALL_TARGET) ?? row.sweep.reduce((a, b) => (b.recall > a.recall ? b : a));
    Object.assign(row, { knob: chosen.knob, reached: chosen.recall >= RECALL_TARGET, recall: chosen.recall, p50Ms: chosen.p50Ms, p99Ms: chosen.p99Ms });
    built.setKnob(chosen.knob);
    let reps = 0;
    t0 = performance.now();
    do {
      await built.searchBatch(queries, k);
      reps++;
    } while (performance.now() - t0 < 1000 && reps < 100);
    row.batchQps = (reps * nq) / ((performance.now() - t0) / 1000);
    log(`${name}: batch ${row.batchQps.toFixed(1)} queries/s`);
    log(`${name}: persisting…`);
    t0 = performance.now();
    await limited('persist', built.persist(), 120_000);
    row.persistMs = performance.now() - t0;
    // After persisting, so that what persisting leaves behind for good (hnswlib-wasm's copy of
    // the file in Emscripten's in-memory file system) is on both sides of the difference.
    row.memory = { jsHeapBytes: NaN, backingBytes: NaN, wasmBytes: built.wasmBytes(), gpuBytes: built.gpuBytes() };
    return await heapNow();
  } finally {
    await built.close();
  }
}

export async function runPeersBench(o: PeersBenchOptions, log: (s: string) => void): Promise<PeersBenchResult> {
  let base: Matrix;
  let queries: Float32Array;
  let dataName: string;
  if (o.dataUrl) {
    const file = await load(o.dataUrl, o.dataName ?? 'data');
    const n = Math.min(file.n, o.n);
    base = { data: file.data.slice(0, n * file.dim), n, dim: file.dim };
    dataName = `${o.dataName ?? 'data'}${n < file.n ? ` (first ${n} of ${file.n})` : ''}`;
    if (o.queriesUrl) {
      const qm = await load(o.queriesUrl, o.queriesName ?? 'queries');
      if (qm.dim !== base.dim) throw new Error(`queries have dimension ${qm.dim}, the data ${base.dim}`);
      queries = qm.data.slice(0, Math.min(qm.n, o.queries) * qm.dim);
    } else {
      // Held-in rows with a little noise stand in for queries when none are given.
      queries = heldInQueries(base, Math.min(o.queries, base.n), createRng(o.seed));
    }
  } else {
    const split = mixtureSplit(o.n, o.queries, o.dim, o.seed);
    base = { ...split.base, data: split.base.data.slice() };
    queries = split.queries;
    dataName = `Gaussian mixture (seed ${o.seed})`;
  }
  const { n, dim } = base;
  const data = normalize(base.data, dim);
  normalize(queries, dim);
  const nq = queries.length / dim;
  const k = o.k;
  const nlist = nlistFor(n);
  log(`${n} x ${dim} (${dataName}), unit length; ${nq} queries, k ${k}; ground truth by exact CPU search…`);
  const truth = exactTopK(data, n, queries, dim, k);
  const memorySource = window.weftBenchHeap
    ? 'CDP Runtime.getHeapUsage after HeapProfiler.collectGarbage: usedSize (JS heap) and backingStorageSize (ArrayBuffer backing stores)'
    : 'performance.memory.usedJSHeapSize (JS heap only, coarse; no ArrayBuffers)';

  const rows: PeerRow[] = [];
  for (const name of o.systems ?? SYSTEM_NAMES) {
    const row: PeerRow = { system: name, config: '', knobName: '' };
    rows.push(row);
    let adapter: SystemAdapter | undefined;
    try {
      adapter = createAdapter(name);
      Object.assign(row, { config: adapter.config, knobName: adapter.knob.name });
      log(`${name}: ${adapter.config}`);
      await limited('init', adapter.init(), 120_000);
      await limited('cleanup', adapter.cleanup(), 60_000);
      const held = await buildAndSearch(adapter, { data, n, dim, nlist }, queries, k, truth, row, log);
      // What the index held: the heap it gives back once it is closed and unreachable (measured
      // before the cold open, whose iframe's realm can outlive a few collections).
      const dropped = await heapNow();
      Object.assign(row.memory!, { jsHeapBytes: held.js - dropped.js, backingBytes: held.backing - dropped.backing });
      log(`${name}: cold open in a fresh iframe…`);
      const cold = await limited(
        'cold open',
        coldOpen({ system: name, n, dim, nlist, knob: chosen(row), k, query: Array.from(queries.subarray(0, dim)) }),
        300_000,
      );
      Object.assign(row, {
        openMs: cold.openMs,
        firstQueryMs: cold.firstQueryMs,
        coldOpenMs: cold.openMs + cold.firstQueryMs,
        coldRecall: recallOf([cold.ids], truth, k),
      });
      log(`${name}: cold open ${cold.openMs.toFixed(0)} ms + first answer ${cold.firstQueryMs.toFixed(0)} ms`);
    } catch (e) {
      row.error = e instanceof Error ? e.message : String(e);
      log(`${name}: error: ${row.error}`);
    } finally {
      if (adapter) await limited('cleanup', adapter.cleanup(), 60_000).catch(() => {});
    }
  }

  const targets: PeersBenchResult['targets'] = [];
  for (const r of rows.filter((x) => x.system.startsWith('weft'))) {
    targets.push({
      name: `${r.system} reaches recall@${k} >= ${RECALL_TARGET}`,
      want: `>= ${RECALL_TARGET}`,
      got: r.recall ?? NaN,
      met: (r.recall ?? 0) >= RECALL_TARGET,
    });
  }
  return { device: await adapterName(), cores: navigator.hardwareConcurrency, data: dataName, n, dim, queries: nq, k, nlist, memorySource, rows, targets };
}

async function adapterName(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return 'none';
  return adapterInfoName(adapter.info);
}

function chosen(row: PeerRow): number {
  if (row.knob === undefined) throw new Error('no knob setting was chosen');
  return row.knob;
}
