// The GPU list cache with the 'frequency' policy: a search's missed list goes in only if the
// policy finds it worth the lists it would evict (refused: the search scans it from scratch),
// while insert() (prefetch, preload) places a list unconditionally.
import { describe, expect } from 'vitest';
import { createListCache } from '../../src/stored-index/cache/list-cache.js';
import { layoutFor } from '../../src/ivf/codec.js';
import type { ListRecord } from '../../src/ivf/types.js';
import { createRng } from '../../src/random.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';

const layout = layoutFor(4, 'f32');

function record(list: number, rng: ReturnType<typeof createRng>, count = 32 /* one block */): ListRecord {
  const codes = new Uint32Array(count * layout.words);
  for (let i = 0; i < codes.length; i++) codes[i] = rng.int(2 ** 32);
  return { list, count, codes, ids: Uint32Array.from({ length: count }, (_, i) => list * 100 + i) };
}

/** Three one-block lists and a cache with room for two of them under `policy`. */
function twoOfThree(ctx: Parameters<typeof createListCache>[0], policy: 'frequency' | 'lru') {
  const rng = createRng(freshSeed());
  const rec = [0, 1, 2].map((l) => record(l, rng));
  const cache = createListCache(ctx, 'test.listCache', {
    layout,
    nlist: 3,
    budgetBytes: 2 * layout.bytesPerVector * 32 + 2 * 4 * 32,
    policy,
    hotnessDecay: 0.5,
    fill: 1,
  });
  return { rec, cache };
}

describe('GPU list cache admission', () => {
  gpuTest('a list used once is refused over hot lists, a prefetch is not, and a list used often gets in', async (ctx) => {
    const { rec, cache } = twoOfThree(ctx, 'frequency');
    try {
      for (let i = 0; i < 5; i++) cache.touch([0, 1]);
      let lease = cache.lease();
      expect(lease.admit([rec[0]!, rec[1]!], new Set([0, 1]))).toEqual([]);
      lease.release();
      expect(cache.resident().sort()).toEqual([0, 1]);

      cache.touch([2]);
      lease = cache.lease();
      expect(lease.pinCached([2])).toEqual([2]);
      expect(lease.admit([rec[2]!], new Set([2]))).toEqual([rec[2]]); // left out: scanned from scratch
      lease.release();
      expect(cache.resident().sort()).toEqual([0, 1]);

      // A prefetch is a prediction for a search about to run: it goes in whatever the counts say.
      expect(cache.insert(rec[2]!)).toBe(true);
      expect(cache.has(2)).toBe(true);
      cache.invalidate([2]);

      for (let i = 0; i < 20; i++) cache.touch([2]);
      lease = cache.lease();
      expect(lease.admit([rec[2]!], new Set([2]))).toEqual([]);
      lease.release();
      expect(cache.has(2)).toBe(true);
      expect(cache.resident().length).toBe(2);
    } finally {
      cache.destroy();
    }
  });

  gpuTest('a list that finds the free blocks in pieces evicts the coldest run that makes room, not the coldest lists one by one', async (ctx) => {
    const rng = createRng(freshSeed());
    const block = layout.bytesPerVector * 32 + 4 * 32;
    const cache = createListCache(ctx, 'test.listCache', { layout, nlist: 8, budgetBytes: 6 * block, policy: 'frequency', hotnessDecay: 0.5, fill: 1 });
    try {
      // Lists 0-5 one block each, in that order; 2 and 4 leave: [0][1][ ][3][ ][5].
      for (let l = 0; l < 6; l++) expect(cache.insert(record(l, rng))).toBe(true);
      cache.invalidate([2, 4]);
      // Heat: 0 the coldest (but next to no free block), then 3; 1 and 5 hot.
      cache.touch([0]);
      for (let i = 0; i < 2; i++) cache.touch([3]);
      for (let i = 0; i < 5; i++) cache.touch([1, 5]);
      // A two-block list: evicting 3 alone joins the free blocks; evicting 0 first would not help.
      expect(cache.insert(record(6, rng, 64))).toBe(true);
      expect(cache.resident().sort()).toEqual([0, 1, 5, 6]);
    } finally {
      cache.destroy();
    }
  });

  gpuTest('LRU has no admission control: the missed list always goes in', async (ctx) => {
    const { rec, cache } = twoOfThree(ctx, 'lru');
    try {
      for (let i = 0; i < 5; i++) cache.touch([0, 1]);
      let lease = cache.lease();
      lease.admit([rec[0]!, rec[1]!], new Set([0, 1]));
      lease.release();
      cache.touch([2]);
      lease = cache.lease();
      expect(lease.admit([rec[2]!], new Set([2]))).toEqual([]);
      lease.release();
      expect(cache.has(2)).toBe(true);
    } finally {
      cache.destroy();
    }
  });
});
