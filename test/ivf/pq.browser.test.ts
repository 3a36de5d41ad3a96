// Product quantisation on the GPU, on fresh random data: the sub-space k-means (the project's
// k-means kernels) learns the same codebook, bit for bit, as the CPU fallback; the scan kernel's
// PQ variant (shaders/scan.wgsl, STORAGE 3) finds the top-k that pq.ts's CPU scan finds, and
// its 4-bit tables in workgroup memory give the same bits as in storage.
import { expect } from 'vitest';
import { encodePq, pqLayout, pqRecord, pqScan, pqTable, trainPq, type PqEncoded } from '../../src/ivf/pq.js';
import { trainKmeans } from '../../src/ivf/kmeans.js';
import { uploadLists } from '../../src/ivf/gpu-lists.js';
import { openSession, pqTableFloats, sortSize } from '../../src/ivf/scan.js';
import { createGpuContext, type GpuContext } from '../../src/gpu/context.js';
import { NO_ID, type ListRecord } from '../../src/ivf/types.js';
import { bufferFrom } from '../../src/gpu/kernels.js';
import { createRng, gaussianMixture } from '../../src/random.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';

gpuTest('the GPU-trained codebook equals the CPU-trained one, and so do the codes (8- and 4-bit)', async (ctx) => {
  const seed = freshSeed();
  const dim = 16;
  const residuals = gaussianMixture(700, dim, { centers: 12, seed });
  for (const [nbits, m] of [
    [8, 4],
    [4, 8],
  ] as const) {
    const gpu = await trainPq(ctx, residuals, dim, { m, nbits, seed, niter: 5 });
    const cpu = await trainPq(undefined, residuals, dim, { m, nbits, seed, niter: 5 });
    expect(new Uint32Array(gpu.centroids.buffer), `seed ${seed}, ${nbits}-bit`).toEqual(new Uint32Array(cpu.centroids.buffer));
    const zero = new Float32Array(dim);
    expect(encodePq(gpu, residuals, zero, 'l2').codes).toEqual(encodePq(cpu, residuals, zero, 'l2').codes);
  }
});

/** Nearest of `centroids` (k x dim) to row i of `x`. */
function nearestList(x: Float32Array, i: number, centroids: Float32Array, dim: number): number {
  let best = 0,
    bestD = Number.POSITIVE_INFINITY;
  for (let c = 0; c < centroids.length / dim; c++) {
    let d = 0;
    for (let t = 0; t < dim; t++) d += (x[i * dim + t]! - centroids[c * dim + t]!) ** 2;
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

gpuTest('the PQ scan kernel equals the CPU scan: the same top-k, keys within float rounding (l2 and ip; 8- and 4-bit; tombstones skipped)', async (ctx) => {
  const seed = freshSeed();
  const rng = createRng(seed);
  const dim = 32,
    nlist = 5,
    n = 1200,
    nq = 6,
    k = 10,
    nprobe = 3;
  const x = gaussianMixture(n, dim, { centers: 10, seed });
  const queries = gaussianMixture(nq, dim, { centers: 10, seed: seed + 1 });
  const centroids = await trainKmeans(undefined, x, { dim, k: nlist, metric: 'l2', spherical: false, niter: 5, seed });
  const listOf = Array.from({ length: n }, (_, i) => nearestList(x, i, centroids, dim));
  const centroid = (l: number) => centroids.subarray(l * dim, (l + 1) * dim);
  for (const metric of ['l2', 'ip'] as const) {
    for (const [nbits, m] of [
      [8, 8],
      [4, 16],
    ] as const) {
      const residuals = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) for (let t = 0; t < dim; t++) residuals[i * dim + t] = x[i * dim + t]! - centroids[listOf[i]! * dim + t]!;
      const book = await trainPq(undefined, residuals, dim, { m, nbits, seed, niter: 4 });
      const layout = pqLayout(dim, m, nbits);
      const encoded: { ids: Uint32Array; enc: PqEncoded }[] = [];
      const records: ListRecord[] = [];
      for (let l = 0; l < nlist; l++) {
        const rows = listOf.flatMap((c, i) => (c === l ? [i] : []));
        const r = new Float32Array(rows.length * dim);
        rows.forEach((i, j) => r.set(residuals.subarray(i * dim, (i + 1) * dim), j * dim));
        const enc = encodePq(book, r, centroid(l), metric);
        const ids = Uint32Array.from(rows);
        if (ids.length > 3) ids[rng.int(ids.length)] = NO_ID; // a deleted vector keeps its slot
        encoded.push({ ids, enc });
        records.push(pqRecord(l, ids, enc, layout));
      }
      // Each query's lists by the coarse key (l2: ||q - c||^2; ip: -<q, c>), as the coarse step leaves them.
      const probes = new Uint32Array(nq * nlist * 2);
      const coarse = new Float32Array(nq * nlist);
      for (let q = 0; q < nq; q++) {
        const qv = queries.subarray(q * dim, (q + 1) * dim);
        for (let l = 0; l < nlist; l++) {
          let key = 0;
          for (let t = 0; t < dim; t++) key += metric === 'l2' ? (qv[t]! - centroid(l)[t]!) ** 2 : -qv[t]! * centroid(l)[t]!;
          coarse[q * nlist + l] = key;
        }
        const order = [...Array(nlist).keys()].sort((a, b) => coarse[q * nlist + a]! - coarse[q * nlist + b]!);
        order.forEach((l, r) => {
          probes[(q * nlist + r) * 2] = new Uint32Array(Float32Array.of(coarse[q * nlist + l]!).buffer)[0]!;
          probes[(q * nlist + r) * 2 + 1] = l;
        });
      }
      const tables = new Float32Array(nq * m * 2 ** nbits);
      for (let q = 0; q < nq; q++) tables.set(pqTable(book, queries.subarray(q * dim, (q + 1) * dim)), q * m * 2 ** nbits);
      const scanOn = async (c: GpuContext) => {
        const qbuf = bufferFrom(c, 'test.pq.queries', new Float32Array(nq * dim));
        const lists = uploadLists(c, 'test.pq.lists', records, layout);
        const tablesBuf = bufferFrom(c, 'test.pq.tables', tables);
        const probesBuf = bufferFrom(c, 'test.pq.probes', probes);
        const session = openSession(c, {
          target: { layout, metric, lists, pq: { m, nbits, tables: tablesBuf } },
          queries: qbuf,
          queryUnits: layout.queryUnits,
          numQueries: nq,
          k,
          probes: probesBuf,
          probeStride: nlist,
          nprobe,
          owned: [tablesBuf, probesBuf, qbuf],
        });
        session.submit();
        const got = await session.read();
        lists.destroy();
        return got;
      };
      const got = await scanOn(ctx);
      if (nbits === 4) {
        // 4-bit tables are read from workgroup memory; from storage the results are the same bits.
        expect(pqTableFloats(ctx, { m, nbits }, sortSize(ctx, k).sortN)).toBe(m * 16);
        const plain = await createGpuContext({ device: ctx.device, pqTablesInWorkgroup: false });
        try {
          const fromStorage = await scanOn(plain);
          expect(fromStorage.ids, `seed ${seed}, ${metric}`).toEqual(got.ids);
          expect(new Uint32Array(fromStorage.distances.buffer), `seed ${seed}, ${metric}`).toEqual(new Uint32Array(got.distances.buffer));
        } finally {
          plain.destroy();
        }
      }
      // The CPU reference: every vector of the nprobe best lists, by (key, id).
      for (let q = 0; q < nq; q++) {
        const table = pqTable(book, queries.subarray(q * dim, (q + 1) * dim));
        const all: { key: number; id: number }[] = [];
        for (let r = 0; r < nprobe; r++) {
          const l = probes[(q * nlist + r) * 2 + 1]!;
          const { ids, enc } = encoded[l]!;
          const c = coarse[q * nlist + l]!;
          const keys = pqScan(book, table, enc, ids.length, metric === 'l2' ? c : -c, metric);
          ids.forEach((id, i) => {
            if (id !== NO_ID) all.push({ key: keys[i]!, id });
          });
        }
        all.sort((a, b) => a.key - b.key || a.id - b.id);
        const keyOf = new Map(all.map((e) => [e.id, e.key]));
        for (let r = 0; r < k; r++) {
          const want = all[r]!;
          const gotId = got.ids[q * k + r]!;
          const gotKey = metric === 'l2' ? got.distances[q * k + r]! : -got.distances[q * k + r]!;
          const tol = 1e-4 * Math.max(1, Math.abs(want.key));
          const label = `seed ${seed}, ${metric}, ${nbits}-bit, query ${q} rank ${r}`;
          expect(Math.abs(gotKey - want.key), label).toBeLessThanOrEqual(tol);
          // A different id only as a near-tie (its own CPU key within rounding of this rank's).
          if (gotId !== want.id) expect(Math.abs(keyOf.get(gotId)! - want.key), `${label}: id ${gotId} vs ${want.id}`).toBeLessThanOrEqual(tol);
        }
      }
    }
  }
});
