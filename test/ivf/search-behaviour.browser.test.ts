import { describe, expect } from 'vitest';
import { createFlatIndex, createIvfIndex, gaussianMixture, recallAtK, referenceSearch, STORAGE_TYPES, type SearchResult } from '../../src/weft.js';
import { expectSameTopK, freshSeed, gpuTest, normalized, sharedContext } from '../support/gpu-harness.js';

function expectIdentical(a: SearchResult, b: SearchResult) {
  expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
  expect(Array.from(a.distances)).toEqual(Array.from(b.distances));
}

describe('IVF search behaviour', () => {
  for (const storage of STORAGE_TYPES) {
    gpuTest(`nprobe = nlist equals the flat search (${storage})`, async (ctx) => {
      const seed = freshSeed();
      const dim = 24,
        n = 1200,
        nlist = 10,
        k = 15;
      const data = gaussianMixture(n, dim, { centers: 30, seed });
      const queries = gaussianMixture(13, dim, { centers: 30, seed: seed + 3 });
      const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, storage, metric: 'l2', seed });
      const flat = await createFlatIndex({ gpu: ctx, dim, storage, metric: 'l2' });
      try {
        await ivf.train(data); // n < 256 * nlist: every point trains, so the int8 range equals the flat one's
        await flat.train(data);
        await ivf.add(data);
        await flat.add(data);
        expectIdentical(await ivf.search(queries, { k, nprobe: nlist }), await flat.search(queries, { k }));
      } finally {
        ivf.destroy();
        flat.destroy();
      }
    });
  }

  gpuTest('recall is non-decreasing in nprobe and reaches 1 at nprobe = nlist', async (ctx) => {
    const seed = freshSeed();
    const dim = 32,
      n = 3000,
      nlist = 32,
      k = 10;
    const data = gaussianMixture(n, dim, { centers: 40, seed });
    const queries = gaussianMixture(40, dim, { centers: 40, seed: seed + 1 });
    const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, seed });
    try {
      await ivf.train(data);
      await ivf.add(data);
      const truth = referenceSearch(ivf.lists(), queries, dim, 'l2', k);
      const recalls: number[] = [];
      for (const nprobe of [1, 2, 4, 8, 16, 32]) recalls.push(recallAtK(await ivf.search(queries, { k, nprobe }), truth));
      for (let i = 1; i < recalls.length; i++) expect(recalls[i]!).toBeGreaterThanOrEqual(recalls[i - 1]!);
      expect(recalls[0]!).toBeLessThan(1); // one list of 32 cannot hold every neighbour
      expect(recalls.at(-1)).toBe(1);
    } finally {
      ivf.destroy();
    }
  });

  for (const storage of STORAGE_TYPES) {
    gpuTest(`sliced search equals the one-shot search (${storage})`, async (ctx) => {
      const seed = freshSeed();
      const dim = 20,
        n = 2000,
        nlist = 16,
        k = 12,
        nprobe = 11;
      const data = gaussianMixture(n, dim, { centers: 25, seed });
      const queries = gaussianMixture(21, dim, { centers: 25, seed: seed + 5 });
      const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, storage, metric: 'ip', seed });
      try {
        await ivf.train(data);
        await ivf.add(data);
        const oneShot = await ivf.search(queries, { k, nprobe });
        const session = await ivf.searchSession(queries, { k, nprobe });
        const partials: SearchResult[] = [];
        for (const slice of [1, 3, 2, 4, 5]) {
          if (session.done) break;
          await session.step(slice);
          partials.push(await session.read());
        }
        expect(session.done).toBe(true);
        expect(session.scanned).toBe(nprobe);
        expectIdentical(partials.at(-1)!, oneShot);
        // The running top-k only improves slice by slice: each query's k-th score never gets worse.
        for (let i = 1; i < partials.length; i++) {
          for (let q = 0; q < queries.length / dim; q++) {
            expect(partials[i]!.distances[q * k + k - 1]!).toBeGreaterThanOrEqual(partials[i - 1]!.distances[q * k + k - 1]!);
          }
        }
        await expect(session.step(1)).rejects.toMatchObject({ code: 'SEARCH_FINISHED' });
      } finally {
        ivf.destroy();
      }
    });
  }

  for (const storage of STORAGE_TYPES) {
    gpuTest(`sharded storage gives the same results as unsharded (${storage})`, async (ctx) => {
      const seed = freshSeed();
      const dim = 40,
        n = 2500,
        nlist = 8,
        k = 20;
      const data = gaussianMixture(n, dim, { centers: 8, seed });
      const queries = gaussianMixture(11, dim, { centers: 8, seed: seed + 9 });
      // Shards of a few 32-vector blocks: every list is split across several shards.
      const small = await sharedContext({ maxShardBytes: 16384 });
      const whole = await createIvfIndex({ gpu: ctx, dim, nlist, storage, metric: 'cosine', seed });
      const sharded = await createIvfIndex({ gpu: small, dim, nlist, storage, metric: 'cosine', seed });
      const before = small.liveBytes;
      try {
        await whole.train(data);
        await sharded.setTrained(whole.centroids(), whole.quantizer());
        await whole.add(data);
        await sharded.add(data);
        expect(Array.from(sharded.listSizes())).toEqual(Array.from(whole.listSizes()));
        expect(whole.stats().shards).toBe(1);
        expect(sharded.stats().shards).toBeGreaterThanOrEqual(nlist); // ~300-vector lists in shards of 96 to 320: lists are split
        for (const nprobe of [1, 3, nlist]) {
          expectIdentical(await sharded.search(queries, { k, nprobe }), await whole.search(queries, { k, nprobe }));
        }
        const flatSharded = await createFlatIndex({ gpu: small, dim, storage, metric: 'cosine' });
        await flatSharded.train(data);
        await flatSharded.add(data);
        const lists = flatSharded.lists();
        const q = normalized(queries, dim);
        expectSameTopK(await flatSharded.search(queries, { k }), referenceSearch(lists, q, dim, 'cosine', k), lists, q, dim, 'cosine');
        flatSharded.destroy();
      } finally {
        whole.destroy();
        sharded.destroy();
      }
      expect(small.liveBytes).toBe(before);
    });
  }

  gpuTest('batches of 1 to 100 queries and k up to 100 match the reference', async (ctx) => {
    const seed = freshSeed();
    const dim = 16,
      n = 4000,
      nlist = 20;
    const data = gaussianMixture(n, dim, { centers: 50, seed });
    const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, seed });
    try {
      await ivf.train(data);
      await ivf.add(data);
      const lists = ivf.lists();
      for (const [nq, k] of [
        [1, 1],
        [64, 100],
        [100, 37],
        [3, 256],
      ] as const) {
        const queries = gaussianMixture(nq, dim, { centers: 50, seed: seed + nq });
        const got = await ivf.search(queries, { k, nprobe: nlist });
        expect(got.numQueries).toBe(nq);
        expectSameTopK(got, referenceSearch(lists, queries, dim, 'l2', k), lists, queries, dim, 'l2');
      }
    } finally {
      ivf.destroy();
    }
  });

  gpuTest('training is deterministic for a seed', async (ctx) => {
    const seed = freshSeed();
    const dim = 12,
      n = 900,
      nlist = 9;
    const data = gaussianMixture(n, dim, { centers: 12, seed });
    const make = async (s: number) => {
      const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, seed: s, niter: 8 });
      await ivf.train(data);
      const c = ivf.centroids();
      ivf.destroy();
      return c;
    };
    const a = await make(seed),
      b = await make(seed),
      c = await make(seed + 1);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    // Centroids are real means: finite, and no two identical.
    expect(a.every(Number.isFinite)).toBe(true);
    const rows = new Set(Array.from({ length: nlist }, (_, i) => Array.from(a.subarray(i * dim, (i + 1) * dim)).join()));
    expect(rows.size).toBe(nlist);
  });

  gpuTest('every scan workgroup size gives the same result', async () => {
    const seed = freshSeed();
    const dim = 24,
      n = 3000,
      nlist = 12,
      k = 40;
    const data = gaussianMixture(n, dim, { centers: 20, seed });
    const queries = gaussianMixture(9, dim, { centers: 20, seed: seed + 2 });
    let centroids: Float32Array | undefined;
    const results: SearchResult[] = [];
    for (const wg of [32, 64, 128] as const) {
      const c = await sharedContext({ scanWorkgroupSize: wg });
      const before = c.liveBytes;
      const ivf = await createIvfIndex({ gpu: c, dim, nlist, seed });
      if (centroids) await ivf.setTrained(centroids);
      else {
        await ivf.train(data);
        centroids = ivf.centroids();
      }
      await ivf.add(data);
      results.push(await ivf.search(queries, { k, nprobe: 5 }));
      ivf.destroy();
      expect(c.liveBytes).toBe(before);
    }
    expectIdentical(results[1]!, results[0]!);
    expectIdentical(results[2]!, results[0]!);
  });

  gpuTest('k-means re-seeds empty clusters (many duplicate points)', async (ctx) => {
    const dim = 8,
      nlist = 16;
    // 400 points on only 20 distinct locations (plus a 21st far away): empty clusters appear and must be re-seeded.
    const base = gaussianMixture(21, dim, { centers: 21, seed: freshSeed(), spread: 1 });
    const data = new Float32Array(400 * dim);
    for (let i = 0; i < 400; i++) data.set(base.subarray((i % 21) * dim, ((i % 21) + 1) * dim), i * dim);
    const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, niter: 10 });
    try {
      await ivf.train(data);
      await ivf.add(data);
      const sizes = ivf.listSizes();
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(400);
      // With 21 distinct locations and 16 lists, a good clustering leaves at most a few lists empty.
      expect(Array.from(sizes).filter((s) => s === 0).length).toBeLessThanOrEqual(3);
      expect(ivf.centroids().every(Number.isFinite)).toBe(true);
    } finally {
      ivf.destroy();
    }
  });

  gpuTest('training reports every k-means iteration and stops between them on abort, leaving the index untrained', async (ctx) => {
    const dim = 8,
      nlist = 8,
      niter = 6;
    const data = gaussianMixture(800, dim, { centers: 8, seed: freshSeed() });
    const ivf = await createIvfIndex({ gpu: ctx, dim, nlist, niter });
    try {
      const ctl = new AbortController();
      const seen: number[] = [];
      await expect(
        ivf.train(data, {
          signal: ctl.signal,
          onProgress: (p) => {
            seen.push(p.done);
            if (p.done === 2) ctl.abort();
          },
        }),
      ).rejects.toMatchObject({ code: 'ABORTED' });
      expect(seen).toEqual([1, 2]); // stopped before the third iteration
      expect(ivf.trained).toBe(false);
      const all: { done: number; total: number }[] = [];
      await ivf.train(data, { onProgress: (p) => all.push({ done: p.done, total: p.total }) });
      expect(all).toEqual(Array.from({ length: niter }, (_, i) => ({ done: i + 1, total: niter })));
      expect(ivf.trained).toBe(true);
    } finally {
      ivf.destroy();
    }
  });
});
