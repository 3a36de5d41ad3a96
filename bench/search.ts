// `npm run bench -- search`: recall and queries/s of the IVF index over nprobe, against the exact
// flat search, plus how close the scan kernel runs to this device's copy bandwidth. Runs in the
// page (headless Chromium), so every figure is for the WebGPU device the browser exposes.

import { nlistFor } from '../src/ivf/sizing.js';
import {
  createFlatIndex,
  createGpuContext,
  createIvfIndex,
  createRng,
  recallAtK,
  type GpuContext,
  type IvfIndex,
  type Metric,
  type SearchResult,
  type StorageType,
} from '../src/weft.js';
import { bufferFrom } from '../src/gpu/kernels.js';
import { encodeRows, layoutFor, packRows, padRows, normalizeRows } from '../src/ivf/codec.js';
import { uploadLists } from '../src/ivf/gpu-lists.js';
import { timeScanKernel } from '../src/ivf/scan.js';
import { parseVectors, type Matrix } from './formats.js';
import { heldInQueries, mixtureSplit } from './data.js';
import { deviceName } from './device-name.js';

export interface SearchBenchOptions {
  dataUrl?: string;
  dataName?: string;
  queriesUrl?: string;
  queriesName?: string;
  metric: Metric;
  dim: number;
  n: number;
  nlist?: number;
  nprobe?: number[];
  k: number;
  storage: StorageType;
  queries: number;
  seed: number;
  niter: number;
  /** Scan workgroup size (default: the context's choice for this adapter). */
  wg?: 32 | 64 | 128;
}

export interface SearchBenchResult {
  device: string;
  scanWorkgroupSize: number;
  n: number;
  dim: number;
  nlist: number;
  k: number;
  storage: StorageType;
  metric: Metric;
  queries: number;
  trainMs: number;
  addMs: number;
  flatQps: number;
  rows: { nprobe: number; recall: number; qps: number; speedupVsFlat: number }[];
  scanGBps: number;
  copyGBps: number;
  scanEfficiency: number;
  targets: { name: string; want: string; got: number; met: boolean }[];
}

async function load(url: string, name: string, dim?: number): Promise<Matrix> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Could not read ${name}: HTTP ${res.status}`);
  return parseVectors(await res.arrayBuffer(), name, dim);
}

/** Queries per second of `index.search` over `queries`, after a warm-up, for about 0.6 s. */
export async function timeQps(
  index: { search(q: Float32Array, o: object): Promise<SearchResult> },
  queries: Float32Array,
  nq: number,
  opts: object,
): Promise<number> {
  await index.search(queries, opts); // warm-up: pipelines compiled, buffers touched
  let reps = 0;
  const t0 = performance.now();
  do {
    await index.search(queries, opts);
    reps++;
  } while (performance.now() - t0 < 600 && reps < 50);
  return (nq * reps) / ((performance.now() - t0) / 1000);
}

/** The device's own buffer-copy bandwidth (bytes read + written per second), one submission of many copies. */
async function copyBandwidth(ctx: GpuContext, bytes: number): Promise<number> {
  const size = Math.max(1 << 20, Math.min(ctx.limits.maxBufferSize, bytes) & ~255);
  const src = ctx.createBuffer({ label: 'weft.bench.copySrc', size, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.STORAGE });
  const dst = ctx.createBuffer({ label: 'weft.bench.copyDst', size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE });
  try {
    const run = async (reps: number) => {
      const enc = ctx.device.createCommandEncoder({ label: 'weft.bench.copy' });
      for (let r = 0; r < reps; r++) enc.copyBufferToBuffer(src, 0, dst, 0, size);
      const cmd = enc.finish();
      await ctx.device.queue.onSubmittedWorkDone();
      const t0 = performance.now();
      ctx.device.queue.submit([cmd]);
      await ctx.device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    await run(1);
    let reps = 2;
    let ms = await run(reps);
    while (ms < 300 && reps < 4096) {
      reps *= 2;
      ms = await run(reps);
    }
    return (2 * size * reps) / (ms / 1000);
  } finally {
    ctx.destroyBuffer(src);
    ctx.destroyBuffer(dst);
  }
}

/** Bytes/s of stored vectors the scan kernel reads: one query against every list, repeated. */
async function scanBandwidth(ctx: GpuContext, ivf: IvfIndex, query: Float32Array, k: number): Promise<number> {
  const layout = layoutFor(ivf.dim, ivf.storage);
  const quantizer = ivf.quantizer();
  const host = ivf
    .lists()
    .map((l, list) => ({ list, count: l.ids.length, ids: l.ids, codes: packRows(encodeRows(l.vectors, layout, quantizer), l.ids.length, layout.units) }));
  const lists = uploadLists(ctx, 'weft.bench.lists', host, layout);
  const sqData = quantizer ? new Float32Array([...quantizer.vmin, ...quantizer.scale]) : undefined;
  const sq = sqData ? bufferFrom(ctx, 'weft.bench.sq', sqData) : undefined;
  const q = ivf.metric === 'cosine' ? normalizeRows(query, ivf.dim) : query;
  const queries = bufferFrom(ctx, 'weft.bench.query', padRows(q, ivf.dim, layout.dimPad));
  const all = new Uint32Array(ivf.nlist * 2);
  for (let c = 0; c < ivf.nlist; c++) all[2 * c + 1] = c;
  const probes = bufferFrom(ctx, 'weft.bench.probes', all);
  try {
    const init = {
      target: { layout, metric: ivf.metric, lists, ...(sq ? { sq } : {}) },
      queries,
      queryUnits: layout.queryUnits,
      numQueries: 1,
      k,
      probes,
      probeStride: 0,
      nprobe: ivf.nlist,
      owned: [],
    };
    await timeScanKernel(ctx, init, 1);
    let reps = 2;
    let ms = await timeScanKernel(ctx, init, reps);
    while (ms < 300 && reps < 4096) {
      reps *= 2;
      ms = await timeScanKernel(ctx, init, reps);
    }
    return (ivf.size * layout.bytesPerVector * reps) / (ms / 1000);
  } finally {
    for (const b of [queries, probes, sq]) ctx.destroyBuffer(b);
    lists.destroy();
  }
}

/** The benchmark's vectors and queries: a file (with its queries, or held-in rows with noise), or a generated mixture. */
export async function benchData(
  o: Pick<SearchBenchOptions, 'dataUrl' | 'dataName' | 'queriesUrl' | 'queriesName' | 'dim' | 'n' | 'queries' | 'seed'>,
): Promise<{ base: Matrix; queries: Float32Array }> {
  let base: Matrix;
  let queries: Float32Array;
  const rng = createRng(o.seed);
  if (o.dataUrl) {
    base = await load(o.dataUrl, o.dataName ?? 'data', o.dim);
    if (o.queriesUrl) {
      const qm = await load(o.queriesUrl, o.queriesName ?? 'queries', base.dim);
      if (qm.dim !== base.dim) throw new Error(`queries have dimension ${qm.dim}, the data ${base.dim}`);
      queries = qm.data.slice(0, Math.min(qm.n, o.queries) * qm.dim);
    } else {
      // Held-in rows with a little noise stand in for queries when none are given.
      queries = heldInQueries(base, Math.min(o.queries, base.n), rng);
    }
  } else {
    ({ base, queries } = mixtureSplit(o.n, o.queries, o.dim, o.seed));
  }
  return { base, queries };
}

export async function runSearchBench(o: SearchBenchOptions, log: (s: string) => void): Promise<SearchBenchResult> {
  const { base, queries } = await benchData(o);
  const { n, dim } = base;
  const nq = queries.length / dim;
  const nlist = o.nlist ?? nlistFor(n);
  const nprobes = (o.nprobe ?? [1, 2, 4, 8, 16, 32, 64, 128, 256].filter((p) => p <= nlist)).filter((p) => p <= nlist);
  const ctx = await createGpuContext(o.wg ? { scanWorkgroupSize: o.wg } : {});
  const device = deviceName(ctx.device);
  log(`device: ${device} (scan workgroup ${ctx.scanWorkgroupSize}); ${n} x ${dim} ${o.storage}, ${o.metric}, nlist ${nlist}, ${nq} queries, k ${o.k}`);
  try {
    const ivf = await createIvfIndex({
      gpu: ctx,
      dim,
      nlist,
      metric: o.metric,
      storage: o.storage,
      seed: o.seed,
      niter: o.niter,
      maxTrainPointsPerCentroid: 64,
    });
    let t0 = performance.now();
    await ivf.train(base.data);
    const trainMs = performance.now() - t0;
    log(`trained in ${trainMs.toFixed(0)} ms`);
    t0 = performance.now();
    await ivf.add(base.data);
    const addMs = performance.now() - t0;
    log(`added in ${addMs.toFixed(0)} ms`);

    // Ground truth: exact f32 flat search on the GPU. Baseline speed: flat search over the same storage.
    const exact = await createFlatIndex({ gpu: ctx, dim, metric: o.metric, storage: 'f32' });
    await exact.add(base.data);
    const truth = await exact.search(queries, { k: o.k });
    let flatQps: number;
    if (o.storage === 'f32') {
      flatQps = await timeQps(exact, queries, nq, { k: o.k });
      exact.destroy();
    } else {
      exact.destroy();
      const same = await createFlatIndex({ gpu: ctx, dim, metric: o.metric, storage: o.storage });
      await same.train(base.data);
      await same.add(base.data);
      flatQps = await timeQps(same, queries, nq, { k: o.k });
      same.destroy();
    }
    log(`flat: ${flatQps.toFixed(1)} queries/s`);

    const rows: SearchBenchResult['rows'] = [];
    for (const nprobe of nprobes) {
      const recall = recallAtK(await ivf.search(queries, { k: o.k, nprobe }), truth);
      const qps = await timeQps(ivf, queries, nq, { k: o.k, nprobe });
      rows.push({ nprobe, recall, qps, speedupVsFlat: qps / flatQps });
      log(`nprobe ${nprobe}: recall ${recall.toFixed(4)}, ${qps.toFixed(1)} queries/s`);
    }
    const scanGBps = (await scanBandwidth(ctx, ivf, queries.subarray(0, dim), o.k)) / 1e9;
    const copyGBps = (await copyBandwidth(ctx, n * layoutFor(dim, o.storage).bytesPerVector)) / 1e9;
    ivf.destroy();

    const at = (p: number) => rows.find((r) => r.nprobe === p);
    const targets: SearchBenchResult['targets'] = [];
    const r8 = at(Math.max(1, Math.floor(nlist / 8)));
    if (r8) targets.push({ name: `recall@${o.k} at nprobe = nlist/8 (${r8.nprobe})`, want: '>= 0.95', got: r8.recall, met: r8.recall >= 0.95 });
    targets.push({ name: 'scanEfficiency (scan GB/s / copy GB/s)', want: '>= 0.5', got: scanGBps / copyGBps, met: scanGBps / copyGBps >= 0.5 });
    const r16 = at(Math.max(1, Math.floor(nlist / 16)));
    if (r16)
      targets.push({ name: `IVF qps at nprobe = nlist/16 (${r16.nprobe}) over flat qps`, want: '>= 4', got: r16.speedupVsFlat, met: r16.speedupVsFlat >= 4 });
    return {
      device,
      scanWorkgroupSize: ctx.scanWorkgroupSize,
      n,
      dim,
      nlist,
      k: o.k,
      storage: o.storage,
      metric: o.metric,
      queries: nq,
      trainMs,
      addMs,
      flatQps,
      rows,
      scanGBps,
      copyGBps,
      scanEfficiency: scanGBps / copyGBps,
      targets,
    };
  } finally {
    ctx.destroy();
  }
}
