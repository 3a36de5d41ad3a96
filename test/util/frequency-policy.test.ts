import { describe, expect, test } from 'vitest';
import {
  beladyHitRate,
  createFrequencyPolicy,
  createHotnessPolicy,
  createLruPolicy,
  planEviction,
  simulateHitRate,
  staticHitRate,
  type CachePolicy,
} from '../../src/util/cache-policy.js';
import { referenceProbes } from '../../src/ivf/reference.js';
import { createRng } from '../../src/random.js';

/**
 * Probe sets shaped like bench tiers': queries near list centres, the centre drawn by a Zipf law
 * over a random ranking of the lists, each request probing its query's `nprobe` nearest
 * centroids (so popular lists pull their neighbours along). With `shiftAt`, the ranking is drawn
 * afresh at that request: popularity moves to other lists.
 */
function probeStream(o: { nlist: number; dim: number; requests: number; nprobe: number; zipf: number; noise: number; seed: number; shiftAt?: number }) {
  const rng = createRng(o.seed);
  const centroids = new Float32Array(o.nlist * o.dim);
  for (let i = 0; i < centroids.length; i++) centroids[i] = rng.normal();
  const sizes = Array.from({ length: o.nlist }, () => 32 * (1 + rng.int(24)));
  const ranking = () => {
    const r = Array.from({ length: o.nlist }, (_, i) => i);
    for (let i = o.nlist - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [r[i], r[j]] = [r[j]!, r[i]!];
    }
    return r;
  };
  let rank = ranking();
  const w = rank.map((_, i) => 1 / (i + 1) ** o.zipf);
  const total = w.reduce((a, b) => a + b, 0);
  const pick = () => {
    let u = rng.next() * total;
    for (let i = 0; i < o.nlist; i++) {
      u -= w[i]!;
      if (u <= 0) return rank[i]!;
    }
    return rank[o.nlist - 1]!;
  };
  const queries = new Float32Array(o.requests * o.dim);
  for (let q = 0; q < o.requests; q++) {
    if (q === o.shiftAt) rank = ranking();
    const c = pick();
    for (let j = 0; j < o.dim; j++) queries[q * o.dim + j] = centroids[c * o.dim + j]! + o.noise * rng.normal();
  }
  return { sizes, requests: referenceProbes(centroids, queries, o.dim, 'l2', o.nprobe) };
}

const capacityOf = (sizes: number[], fraction: number) => Math.floor(sizes.reduce((a, b) => a + b, 0) * fraction);

describe('frequency policy (aged counts per byte, admission control)', () => {
  test('counts age by half every halfLife requests, and evicts the fewest uses per byte first', () => {
    const p = createFrequencyPolicy(4);
    p.touch([1, 2]);
    p.touch([1]);
    p.admit(1, 100);
    p.admit(2, 10);
    // List 1: two uses in 100 bytes; list 2: one use in 10 bytes: 2 is denser and stays.
    expect(p.victims([1, 2], new Set())).toEqual([1, 2]);
    expect(p.victims([1, 2], new Set([1]))).toEqual([2]);
    const before = p.score(2);
    for (let i = 0; i < 4; i++) p.touch([]);
    expect(p.score(2) / before).toBeCloseTo(0.5, 10);
    // History outlives eviction: a list that comes back is judged by its past uses, above a
    // list of its size used once.
    p.forget(1);
    p.touch([1, 3]);
    p.admit(1, 100);
    p.admit(3, 100);
    expect(p.victims([1, 3], new Set())).toEqual([3, 1]);
  });

  test('admission refuses a one-hit wonder over a hot list, and admits it once it is used more', () => {
    const p = createFrequencyPolicy();
    for (let i = 0; i < 5; i++) p.touch([0]);
    p.admit(0, 1);
    p.touch([9]);
    expect(p.shouldAdmit!(9, [0])).toBe(false);
    expect(p.shouldAdmit!(9, [])).toBe(true); // nothing to displace
    for (let i = 0; i < 5; i++) p.touch([9]);
    expect(p.shouldAdmit!(9, [0])).toBe(true);

    // The same through a cache: two hot lists and a scan of lists used once. LRU lets the scan
    // push the hot lists out; admission keeps them.
    const requests: number[][] = [];
    for (let i = 0; i < 200; i++) requests.push(i % 2 === 0 ? [0, 1] : [1000 + 2 * i, 1001 + 2 * i]);
    const sizes = Array.from({ length: 1500 }, () => 1);
    const freq = simulateHitRate(requests, sizes, 2, createFrequencyPolicy());
    const lru = simulateHitRate(requests, sizes, 2, createLruPolicy());
    expect(freq).toBeGreaterThan(0.48); // hot lookups hit from the third round on (196 of 400)
    expect(lru).toBe(0);
  });

  test('aging lets a shifted popularity take over', () => {
    const { sizes, requests } = probeStream({ nlist: 128, dim: 16, requests: 3000, nprobe: 4, zipf: 1.2, noise: 0.05, seed: 5, shiftAt: 1500 });
    const capacity = capacityOf(sizes, 0.2);
    const second = requests.slice(1500);
    // Hit rate over the second half only: the whole stream minus what the first half scored.
    const secondHalf = (make: () => CachePolicy) => {
      const all = simulateHitRate(requests, sizes, capacity, make()) * requests.flat().length;
      const first = simulateHitRate(requests.slice(0, 1500), sizes, capacity, make()) * requests.slice(0, 1500).flat().length;
      return (all - first) / second.flat().length;
    };
    const aged = secondHalf(() => createFrequencyPolicy());
    const unaged = secondHalf(() => createFrequencyPolicy(1e12));
    // Measured: 0.68 aged, 0.60 without aging, 0.52 LRU, 0.53 hotness.
    expect(aged).toBeGreaterThan(unaged + 0.05);
    expect(aged).toBeGreaterThan(secondHalf(() => createLruPolicy()) + 0.1);
    expect(simulateHitRate(requests, sizes, capacity, createFrequencyPolicy()) / beladyHitRate(requests, sizes, capacity)).toBeGreaterThan(0.9);
  });

  test('on Zipf probe streams it beats hotness and LRU, near the best static set and Belady', () => {
    // Measured (frequency, hotness, LRU, static set; all / Belady): 0.86 0.47 0.45 0.89;
    // 0.95 0.74 0.73 0.97; 0.94 0.57 0.56 0.96. Lists differ in size 24-fold here, which a
    // policy blind to size (hotness, LRU) pays for; Belady is above the static set by what
    // knowing the order is worth, which no online policy can match on these IID streams.
    for (const [zipf, fraction, seed] of [
      [0.8, 0.1, 1],
      [1.0, 0.25, 2],
      [1.2, 0.1, 3],
    ] as const) {
      const { sizes, requests } = probeStream({ nlist: 256, dim: 32, requests: 2000, nprobe: 8, zipf, noise: 0.05, seed });
      const capacity = capacityOf(sizes, fraction);
      const opt = beladyHitRate(requests, sizes, capacity);
      const freq = simulateHitRate(requests, sizes, capacity, createFrequencyPolicy());
      const hot = simulateHitRate(requests, sizes, capacity, createHotnessPolicy());
      const lru = simulateHitRate(requests, sizes, capacity, createLruPolicy());
      expect(freq / opt).toBeGreaterThan(0.84);
      expect(freq / staticHitRate(requests, sizes, capacity)).toBeGreaterThan(0.95);
      expect(freq).toBeGreaterThan(hot + 0.15);
      expect(freq).toBeGreaterThan(lru + 0.15);
    }
  }, 60_000);

  test('planEviction takes the coldest until the bytes fit; none when keep blocks it', () => {
    const p = createLruPolicy();
    p.touch([1]);
    p.touch([2]);
    p.touch([3]);
    const size = (l: number) => l * 10; // 10, 20, 30 bytes
    expect(planEviction(p, [1, 2, 3], new Set(), size, 60, 0, 60)).toEqual([]);
    expect(planEviction(p, [1, 2, 3], new Set(), size, 60, 25, 60)).toEqual([1, 2]);
    expect(planEviction(p, [1, 2, 3], new Set([2, 3]), size, 60, 25, 60)).toBeUndefined();
  });

  test('the static top-popularity bound: the best set per byte, each list missing on first use', () => {
    // Capacity 1: list 0 (used 3 times) is the static set; its first use misses.
    expect(staticHitRate([[0], [1], [0], [0]], [1, 1], 1)).toBeCloseTo(2 / 4);
    // A phase per half: list 0 in the first, list 1 in the second.
    expect(staticHitRate([[0], [0], [1], [1]], [1, 1], 1, [2])).toBeCloseTo(2 / 4);
  });
});
