// Multi-query dispatch ≡ separate searches (issue 22), one body for both backends: the CPU index
// under Node (test/runtime/search-batches.test.ts) and the GPU index in Chromium
// (test/runtime/search-batches.browser.test.ts). Several callers search at once through the
// batcher — different queries, several per caller, with and without filters — and each gets
// exactly the ids and distances a search of its own returns, on every storage type; those with
// the same settings share one session; one caller's abort leaves the others' results whole. And
// semantic reordering: scanning a related search's lists first changes nothing but how soon the
// top-k is found.
import { expect } from 'vitest';
import type { GpuOrCpu } from '../../src/gpu/option.js';
import type { StorageType } from '../../src/ivf/types.js';
import { compileFilter } from '../../src/runtime/filter.js';
import { direct } from '../../src/runtime/runner.js';
import { createSearchBatches, type BatchSearchOptions } from '../../src/runtime/search-batches.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { createStoredIndex, type StoredIndex } from '../../src/stored-index/stored-index.js';
import type { SearchResult } from '../../src/ivf/types.js';
import { createRng } from '../../src/random.js';

export async function batchedEqualsSeparate(store: WeftStore, gpu: GpuOrCpu, storage: StorageType, seed: number): Promise<void> {
  const rng = createRng(seed);
  const dim = 24,
    n = 1500,
    nlist = 24,
    k = 10,
    nprobe = 6;
  const vectors = Float32Array.from({ length: n * dim }, () => rng.normal());
  const index = await createStoredIndex(vectors.subarray(0, 600 * dim), {
    store,
    name: `b-${storage}`,
    dim,
    nlist,
    metric: 'l2',
    storage,
    gpu,
    seed,
    niter: 6,
  });
  try {
    await index.add(vectors, { chunks: Array.from({ length: n }, (_, i) => ({ docId: `doc-${i % 5}`, text: `passage ${i}`, metadata: { page: i % 11 } })) });
    const filters = [undefined, compileFilter({ docId: ['doc-1', 'doc-3'] }), compileFilter({ metadata: { page: { gte: 4, lt: 7 } } })];
    // Six callers: three settings (no filter, two filters), one or three queries each.
    const callers = Array.from({ length: 6 }, (_, c) => ({
      filter: filters[c % 3],
      queries: Float32Array.from({ length: (c < 3 ? 1 : 3) * dim }, () => rng.normal()),
    }));
    const batches = createSearchBatches();
    const options = (filter: (typeof filters)[number]): BatchSearchOptions => ({
      k,
      nprobe,
      run: direct,
      listsPerSlice: 2,
      ...(filter ? { filter: { filter: filter.filter, key: filter.key } } : {}),
    });
    const together = await Promise.all(callers.map((c) => batches.search(index, c.queries, options(c.filter))));
    expect(batches.stats.batches).toBe(3); // one per setting
    expect(batches.stats.queries).toBe(12);
    for (const [c, caller] of callers.entries()) {
      const alone = await index.search(caller.queries, { k, nprobe, ...(caller.filter ? { filter: caller.filter.filter } : {}) });
      const got = together[c]!;
      expect(got.numQueries, `caller ${c}`).toBe(caller.queries.length / dim);
      expect(Array.from(got.ids), `caller ${c} ids (${storage})`).toEqual(Array.from(alone.ids));
      expect(Array.from(got.distances), `caller ${c} distances (${storage})`).toEqual(Array.from(alone.distances));
    }

    // Unbatched (the baseline batching is measured against): a session per caller, the same rows.
    const unbatched = createSearchBatches({ batch: false });
    const apart = await Promise.all(callers.map((c) => unbatched.search(index, c.queries, options(c.filter))));
    expect(unbatched.stats.batches).toBe(callers.length);
    for (const [c, got] of apart.entries()) expect(Array.from(got!.ids), `caller ${c} unbatched`).toEqual(Array.from(together[c]!.ids));

    // One caller aborts while its batch is open; the others' rows are still their own.
    const ctl = new AbortController();
    const runs = callers.slice(0, 3).map((c, i) => batches.search(index, c.queries, { ...options(undefined), ...(i === 1 ? { signal: ctl.signal } : {}) }));
    ctl.abort();
    const settled = await Promise.allSettled(runs);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'ABORTED' });
    for (const i of [0, 2]) {
      const alone = await index.search(callers[i]!.queries, { k, nprobe });
      expect(Array.from((settled[i] as PromiseFulfilledResult<{ ids: Uint32Array }>).value.ids)).toEqual(Array.from(alone.ids));
    }
    // A caller that no longer wants its search (cancelled) gets undefined.
    expect(await batches.search(index, callers[0]!.queries, { ...options(undefined), cancelled: () => true })).toBeUndefined();
  } finally {
    await index.close();
  }
}

/** Slices (one probe rank each) after which a session's running top-k is its final one. */
async function slicesUntilStable(
  index: StoredIndex,
  q: Float32Array,
  o: { k: number; nprobe: number; scanFirst?: number[][] },
): Promise<{ slices: number; final: SearchResult }> {
  const session = await index.searchSession(q, { k: o.k, nprobe: o.nprobe, ...(o.scanFirst ? { scanFirst: o.scanFirst } : {}) });
  const partial: string[] = [];
  let final!: SearchResult;
  while (!session.done) {
    await session.step(1);
    final = await session.read(); // the last read, once done, is the result (and releases the session)
    partial.push(Array.from(final.ids).join());
  }
  const key = Array.from(final.ids).join();
  let slices = partial.length;
  while (slices > 1 && partial[slices - 2] === key) slices--;
  return { slices, final };
}

/**
 * Semantic reordering: a session told to scan first the lists that held a related search's
 * results finds the same final top-k (ids and distances), and where those lists hold it, holds it
 * after no more slices than they number. Returns the mean slices until the top-k is stable, both
 * ways (printed: how much it gains depends on how related the searches are).
 */
export async function reorderedEqualsUnordered(store: WeftStore, gpu: GpuOrCpu, seed: number): Promise<{ plain: number; reordered: number }> {
  const rng = createRng(seed);
  const dim = 16,
    n = 2000,
    nlist = 32,
    k = 5,
    nprobe = 12;
  // Unclustered: a query's top-k lies in several lists, some of them ranked low (where reordering matters).
  const vectors = Float32Array.from({ length: n * dim }, () => rng.normal());
  const index = await createStoredIndex(vectors.subarray(0, 800 * dim), {
    store,
    name: 'reorder',
    dim,
    nlist,
    metric: 'l2',
    storage: 'f32',
    gpu,
    seed,
    niter: 6,
  });
  try {
    await index.add(vectors, { chunks: Array.from({ length: n }, (_, i) => ({ docId: `doc-${i}`, text: `passage ${i}` })) });
    let plainSlices = 0,
      reorderedSlices = 0,
      contained = 0;
    for (let t = 0; t < 12; t++) {
      // A first search, then a related one (the first query moved a little: HyDE's passage, IRG's draft).
      const base = rng.int(n);
      const q1 = vectors.slice(base * dim, (base + 1) * dim).map((x) => x + 0.3 * rng.normal());
      const q2 = q1.map((x) => x + 0.1 * rng.normal());
      const first = await index.search(q1, { k, nprobe });
      const held = [...new Set((await index.chunks(Array.from(first.ids))).map((c) => c!.list))];
      const plain = await slicesUntilStable(index, q2, { k, nprobe });
      const reordered = await slicesUntilStable(index, q2, { k, nprobe, scanFirst: [held] });
      expect(Array.from(reordered.final.ids)).toEqual(Array.from(plain.final.ids));
      expect(Array.from(reordered.final.distances)).toEqual(Array.from(plain.final.distances));
      // Where the held lists hold the new top-k, it is found within them.
      const finalLists = new Set((await index.chunks(Array.from(plain.final.ids))).map((c) => c!.list));
      if ([...finalLists].every((l) => held.includes(l))) {
        contained++;
        expect(reordered.slices).toBeLessThanOrEqual(held.length);
      }
      plainSlices += plain.slices;
      reorderedSlices += reordered.slices;
    }
    expect(contained).toBeGreaterThan(0);
    return { plain: plainSlices / 12, reordered: reorderedSlices / 12 };
  } finally {
    await index.close();
  }
}
