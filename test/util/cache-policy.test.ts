import { describe, expect, test } from 'vitest';
import { beladyHitRate, createHotnessPolicy, createLruPolicy, HOTNESS_GAIN, simulateHitRate } from '../../src/util/cache-policy.js';
import { createRng } from '../../src/random.js';

function zipfStream(n: number, lists: number, perRequest: number, s: number, seed: number): number[][] {
  const rng = createRng(seed);
  const w = Array.from({ length: lists }, (_, i) => 1 / (i + 1) ** s);
  const total = w.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  w.reduce((acc, x, i) => (cdf[i] = acc + x / total), 0);
  const pick = () => {
    const u = rng.next();
    let lo = 0,
      hi = lists - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return Array.from({ length: n }, () => {
    const r = new Set<number>();
    while (r.size < perRequest) r.add(pick());
    return [...r];
  });
}

describe('hotness policy (TeleRAG)', () => {
  test('halves every list on each request, +1024 for probed lists, new lists enter at 1024', () => {
    const p = createHotnessPolicy();
    p.admit(7);
    expect(p.score(7)).toBe(HOTNESS_GAIN);
    p.touch([3]);
    expect(p.score(7)).toBe(512);
    expect(p.score(3)).toBe(1024);
    p.touch([3, 7]);
    expect(p.score(7)).toBe(256 + 1024);
    expect(p.score(3)).toBe(512 + 1024);
    p.touch([]);
    expect(p.victims([3, 7], new Set())).toEqual([7, 3]); // 640 < 768: coldest first
    expect(p.victims([3, 7], new Set([7]))).toEqual([3]);
    p.forget(7); // evicted: its history stays for when it comes back
    expect(p.score(7)).toBe(640);
  });

  test('LRU evicts the least recently probed', () => {
    const p = createLruPolicy();
    p.touch([1, 2]);
    p.touch([3]);
    p.touch([1]);
    expect(p.victims([1, 2, 3], new Set())).toEqual([2, 3, 1]);
  });

  test('on a Zipf stream both policies beat nothing, and none beats Belady', () => {
    const lists = 200;
    const sizes = Array.from({ length: lists }, (_, i) => 1000 + ((i * 37) % 500));
    const stream = zipfStream(3000, lists, 8, 1.0, 11);
    const capacity = sizes.reduce((a, b) => a + b, 0) * 0.25;
    const opt = beladyHitRate(stream, sizes, capacity);
    const hot = simulateHitRate(stream, sizes, capacity, createHotnessPolicy(), 0.9);
    const lru = simulateHitRate(stream, sizes, capacity, createLruPolicy());
    expect(hot).toBeGreaterThan(0.3);
    expect(lru).toBeGreaterThan(0.3);
    expect(opt).toBeGreaterThanOrEqual(hot);
    expect(opt).toBeGreaterThanOrEqual(lru);
    expect(opt).toBeLessThanOrEqual(1);
  });

  test('Belady on equal sizes matches a hand-checked stream', () => {
    // Capacity 2: a b c a b c → optimal hits: a b (miss) c (miss, evict b: next use of a sooner) a (hit) b (miss) c (hit).
    const reqs = [[0], [1], [2], [0], [1], [2]];
    expect(beladyHitRate(reqs, [1, 1, 1], 2)).toBeCloseTo(2 / 6);
  });
});
