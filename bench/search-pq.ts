// `npm run bench -- search --storage pq`: the IVF-PQ index (src/ivf/ivf-pq.ts) against IVF-Flat
// with f16 lists on the same data and centroids: recall@k at each nprobe from the codes alone and
// after re-ranking, queries per second, and bytes per vector. Issue 24's targets: re-ranked recall
// within 0.01 of IVF-Flat f16 at the same nprobe, at most 1/8 of its bytes. With 4-bit codes it
// times the scan twice, its tables in workgroup memory (the default) and in storage, on the same
// device (a second index with the same seed: the same codebook and codes).

import { createFlatIndex, createGpuContext, createIvfIndex, layoutFor, type Metric } from '../src/weft.js';
import { createIvfPqIndex } from '../src/ivf/ivf-pq.js';
import { defaultPq, type PqBits } from '../src/ivf/pq.js';
import { recallAtK } from '../src/ivf/reference.js';
import { nlistFor } from '../src/ivf/sizing.js';
import { benchData, timeQps, type SearchBenchOptions } from './search.js';
import { deviceName } from './device-name.js';

export interface PqSearchBenchOptions
  extends Pick<
    SearchBenchOptions,
    'dataUrl' | 'dataName' | 'queriesUrl' | 'queriesName' | 'metric' | 'dim' | 'n' | 'nlist' | 'nprobe' | 'k' | 'queries' | 'seed' | 'niter'
  > {
  /** Sub-quantisers and bits per code (default: defaultPq's, 4 bits and 4 dimensions a sub-quantiser). */
  m?: number;
  bits?: PqBits;
  /** Candidates re-scored per result. Default 10. */
  rerank?: number;
  /** 4-bit codes: where the scan reads its tables, or 'both' (default: a second index times the storage read). */
  tables?: 'both' | 'workgroup' | 'storage';
}

export interface PqSearchBenchResult {
  device: string;
  n: number;
  dim: number;
  nlist: number;
  k: number;
  metric: Metric;
  queries: number;
  m: number;
  bits: PqBits;
  rerank: number;
  /** 4-bit codes: where the scan read its tables (PQ q/s), and with 'both' the storage read beside it. */
  tables: 'both' | 'workgroup' | 'storage';
  bytesPerVector: { pq: number; f16: number };
  trainMs: { pq: number; flat: number };
  rows: {
    nprobe: number;
    recallF16: number;
    recallCodes: number;
    recall: number;
    qps: number;
    qpsF16: number;
    /** 4-bit codes: queries per second with the scan's tables read from storage instead of workgroup memory. */
    qpsTablesInStorage?: number;
  }[];
  targets: { name: string; want: string; got: number; met: boolean }[];
}

export async function runPqSearchBench(o: PqSearchBenchOptions, log: (s: string) => void): Promise<PqSearchBenchResult> {
  const { base, queries } = await benchData(o);
  const { n, dim } = base;
  const nq = queries.length / dim;
  const nlist = o.nlist ?? nlistFor(n);
  const bits = o.bits ?? 4;
  const m = o.m ?? defaultPq(dim, bits).m;
  const rerank = o.rerank ?? 10;
  const nprobes = (o.nprobe ?? [1, 2, 4, 8, 16, 32, 64, 128].filter((p) => p <= nlist)).filter((p) => p <= nlist);
  const tables = o.tables ?? 'both';
  const ctx = await createGpuContext({ pqTablesInWorkgroup: tables !== 'storage' });
  const device = deviceName(ctx.device);
  log(`device: ${device}; ${n} x ${dim} (${o.metric}), nlist ${nlist}, PQ m ${m} x ${bits} bits, rerank ${rerank}, ${nq} queries, k ${o.k}`);
  try {
    const exact = await createFlatIndex({ gpu: ctx, dim, metric: o.metric });
    await exact.add(base.data);
    const truth = await exact.search(queries, { k: o.k });
    exact.destroy();

    const common = { gpu: ctx, dim, nlist, metric: o.metric, seed: o.seed, niter: o.niter, maxTrainPointsPerCentroid: 64 };
    let t0 = performance.now();
    const f16 = await createIvfIndex({ ...common, storage: 'f16' });
    await f16.train(base.data);
    await f16.add(base.data);
    const flatMs = performance.now() - t0;
    t0 = performance.now();
    const pq = await createIvfPqIndex({ ...common, m, bits, rerank });
    await pq.train(base.data);
    await pq.add(base.data);
    const pqMs = performance.now() - t0;
    log(`built: IVF-Flat f16 ${flatMs.toFixed(0)} ms, IVF-PQ ${pqMs.toFixed(0)} ms`);
    const storageCtx = bits === 4 && tables === 'both' ? await createGpuContext({ device: ctx.device, pqTablesInWorkgroup: false }) : undefined;
    const pqStorage = storageCtx ? await createIvfPqIndex({ ...common, gpu: storageCtx, m, bits, rerank }) : undefined;
    if (pqStorage) {
      await pqStorage.train(base.data);
      await pqStorage.add(base.data);
    }
    const rows: PqSearchBenchResult['rows'] = [];
    try {
      for (const nprobe of nprobes) {
        const opts = { k: o.k, nprobe };
        const row = {
          nprobe,
          recallF16: recallAtK(await f16.search(queries, opts), truth),
          recallCodes: recallAtK(await pq.searchCodes(queries, opts), truth),
          recall: recallAtK(await pq.search(queries, opts), truth),
          qps: await timeQps(pq, queries, nq, opts),
          qpsF16: await timeQps(f16, queries, nq, opts),
          ...(pqStorage ? { qpsTablesInStorage: await timeQps(pqStorage, queries, nq, opts) } : {}),
        };
        rows.push(row);
        const storageQps = row.qpsTablesInStorage === undefined ? '' : ` (tables in storage: ${row.qpsTablesInStorage.toFixed(1)})`;
        log(
          `nprobe ${nprobe}: recall@${o.k} f16 ${row.recallF16.toFixed(4)}, PQ codes ${row.recallCodes.toFixed(4)}, re-ranked ${row.recall.toFixed(4)}; ${row.qps.toFixed(1)}${storageQps} vs ${row.qpsF16.toFixed(1)} queries/s`,
        );
      }
    } finally {
      f16.destroy();
      pq.destroy();
      pqStorage?.destroy();
      storageCtx?.destroy();
    }
    const bytesPerVector = { pq: pq.bytesPerVector, f16: layoutFor(dim, 'f16').bytesPerVector + 4 };
    const targets: PqSearchBenchResult['targets'] = [];
    const r8 = rows.find((r) => r.nprobe === Math.max(1, Math.floor(nlist / 8)));
    if (r8) {
      const gap = r8.recallF16 - r8.recall;
      targets.push({ name: `re-ranked recall@${o.k} below IVF-Flat f16's at nprobe ${r8.nprobe}`, want: '<= 0.01', got: gap, met: gap <= 0.01 });
    }
    const share = bytesPerVector.pq / bytesPerVector.f16;
    targets.push({ name: 'bytes per vector over IVF-Flat f16', want: '<= 0.125', got: share, met: share <= 0.125 });
    return {
      device,
      n,
      dim,
      nlist,
      k: o.k,
      metric: o.metric,
      queries: nq,
      m,
      bits,
      rerank,
      tables,
      bytesPerVector,
      trainMs: { pq: pqMs, flat: flatMs },
      rows,
      targets,
    };
  } finally {
    ctx.destroy();
  }
}
