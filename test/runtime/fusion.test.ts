// Hybrid fusion: the default adaptive weights against hand-computed examples (agreement beyond
// chance, the clamp, ties, empty halves, one half only), reciprocal rank fusion against its
// formula on random rankings, the weighted form's normalisation, and the options it refuses.
import { expect, test } from 'vitest';
import { AGREEMENT_DEPTH, adaptiveWeights, agreement, checkMode, fuse, type Ranking } from '../../src/runtime/fusion.js';
import { createRng } from '../../src/random.js';

function randomRanking(rand: () => number, pool: number, n: number, better: Ranking['better']): Ranking {
  const ids = [...new Set(Array.from({ length: n * 2 }, () => Math.floor(rand() * pool)))].slice(0, n);
  const raw = ids.map(() => rand() * 10).sort((a, b) => (better === 'higher' ? b - a : a - b));
  return { ids, scores: raw, better };
}

test('RRF equals Σ w / (60 + rank) over both rankings, best first, ties by id, on random rankings', () => {
  const rng = createRng(7);
  const rand = () => rng.next();
  for (let trial = 0; trial < 50; trial++) {
    const v = randomRanking(rand, 60, 20, 'lower');
    const l = randomRanking(rand, 60, 15, 'higher');
    const wv = trial % 3 === 0 ? 1 : rand() * 2,
      wl = trial % 3 === 0 ? 1 : rand() * 2;
    const got = fuse(v, l, 10, { method: 'rrf', weights: { vector: wv, lexical: wl } });
    const expected = new Map<number, number>();
    Array.from(v.ids).forEach((id, r) => expected.set(id, (expected.get(id) ?? 0) + wv / (61 + r)));
    Array.from(l.ids).forEach((id, r) => expected.set(id, (expected.get(id) ?? 0) + wl / (61 + r)));
    const want = [...expected].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 10);
    expect(got.map((f) => f.id)).toEqual(want.map(([id]) => id));
    got.forEach((f, i) => expect(f.score).toBeCloseTo(want[i]![1], 12));
    for (const f of got) {
      const vi = Array.from(v.ids).indexOf(f.id),
        li = Array.from(l.ids).indexOf(f.id);
      expect(f.vector).toBe(vi >= 0 ? v.scores[vi] : undefined);
      expect(f.lexical).toBe(li >= 0 ? l.scores[li] : undefined);
    }
  }
});

test('RRF: an id found by both sides outranks ids found by one; one empty side gives the other ranking', () => {
  const v: Ranking = { ids: [1, 2, 3], scores: [0.1, 0.2, 0.3], better: 'lower' };
  const l: Ranking = { ids: [4, 3, 5], scores: [9, 8, 7], better: 'higher' };
  expect(fuse(v, l, 5, { method: 'rrf' })[0]!.id).toBe(3);
  const none: Ranking = { ids: [], scores: [], better: 'higher' };
  expect(fuse(v, none, 5, { method: 'rrf' }).map((f) => f.id)).toEqual([1, 2, 3]);
  expect(fuse(none, l, 2, { method: 'rrf' }).map((f) => f.id)).toEqual([4, 3]);
});

const ranking = (ids: number[], better: Ranking['better'] = 'higher'): Ranking => ({
  ids,
  scores: ids.map((_, i) => (better === 'higher' ? ids.length - i : i)),
  better,
});
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

test('agreement: the share of the two top-20 lists in common beyond what two random rankings of the index would share', () => {
  expect(AGREEMENT_DEPTH).toBe(20);
  // The same top 20 (in another order): full agreement; disjoint tops: none.
  expect(agreement(ranking(range(0, 30)), ranking(range(0, 20).reverse()))).toBe(1);
  expect(agreement(ranking(range(0, 20)), ranking(range(20, 20)))).toBe(0);
  // 5 of 20 in common: 0.25 without an index size; in an index of 400 passages two random tops
  // share 20/400 = 0.05 by chance, so (0.25 - 0.05) / 0.95.
  const v = ranking(range(0, 20));
  const l = ranking([...range(15, 5), ...range(100, 15)]);
  expect(agreement(v, l)).toBe(0.25);
  expect(agreement(v, l, 400)).toBeCloseTo(0.2 / 0.95, 12);
  // No more than chance is none (not negative); an index no larger than the tops says nothing.
  expect(agreement(ranking(range(0, 20)), ranking([0, ...range(50, 19)]), 200)).toBe(0);
  expect(agreement(v, ranking(range(0, 20)), 20)).toBe(0);
  // Short rankings count against 20: one shared id of a 3-long list is 1/20.
  expect(agreement(ranking([7, 8, 9]), ranking([9]))).toBe(0.05);
  // Ids repeated in a ranking count once.
  expect(agreement(ranking([1, 1, 2]), ranking([1, 2, 2]))).toBe(0.1);
});

test('adaptive weights: the vector side gets the agreement, clamped to [0.05, 0.5]; the keywords the rest', () => {
  expect(adaptiveWeights(ranking(range(0, 20)), ranking(range(20, 20)))).toEqual({ vector: 0.05, lexical: 0.95 });
  expect(adaptiveWeights(ranking(range(0, 20)), ranking(range(0, 20)))).toEqual({ vector: 0.5, lexical: 0.5 });
  const w = adaptiveWeights(ranking(range(0, 20)), ranking([...range(14, 6), ...range(100, 14)]));
  expect(w.vector).toBeCloseTo(0.3, 12);
  expect(w.lexical).toBeCloseTo(0.7, 12);
});

test('adaptive fusion by hand: min-max scores times the adaptive weights, ties by id, either half alone, nothing from nothing', () => {
  // Two ids in common out of 20: agreement 0.1, weights 0.1 / 0.9 (no index size given).
  const v: Ranking = { ids: [1, 2, 3], scores: [0.9, 0.7, 0.5], better: 'higher' };
  const l: Ranking = { ids: [3, 4, 2], scores: [12, 6, 0], better: 'higher' };
  // vector units 1, 0.5, 0; lexical units 1, 0.5, 0.
  // 1: 0.1 · 1 = 0.1; 2: 0.1 · 0.5 + 0.9 · 0 = 0.05; 3: 0.1 · 0 + 0.9 · 1 = 0.9; 4: 0.9 · 0.5 = 0.45.
  const f = fuse(v, l, 4);
  expect(f.map((x) => x.id)).toEqual([3, 4, 1, 2]);
  [0.9, 0.45, 0.1, 0.05].forEach((want, i) => expect(f[i]!.score).toBeCloseTo(want, 12));
  expect(f[0]).toMatchObject({ id: 3, vector: 0.5, lexical: 12 });
  expect(f[1]!.vector).toBeUndefined();
  // Distances (smaller is better) normalise the other way round: the same fusion.
  const asDistances: Ranking = { ids: [1, 2, 3], scores: [0.1, 0.3, 0.5], better: 'lower' };
  expect(fuse(asDistances, l, 4).map((x) => x.id)).toEqual([3, 4, 1, 2]);
  // Equal fused scores: the smaller id first.
  const tie = fuse({ ids: [8, 5], scores: [1, 1], better: 'higher' }, { ids: [], scores: [], better: 'higher' }, 2);
  expect(tie.map((x) => x.id)).toEqual([5, 8]);
  // One half alone gives its own order; two empty halves give nothing.
  const none: Ranking = { ids: [], scores: [], better: 'higher' };
  expect(fuse(v, none, 5).map((x) => x.id)).toEqual([1, 2, 3]);
  expect(fuse(none, l, 5).map((x) => x.id)).toEqual([3, 4, 2]);
  expect(fuse(none, none, 5)).toEqual([]);
  // `weights` scale the adaptive weights: the keywords silenced leaves the vector order.
  expect(fuse(v, l, 4, { weights: { vector: 1, lexical: 0 } }).map((x) => x.id)).toEqual([1, 2, 3, 4]);
});

test('adaptive fusion: a random vector ranking leaves the keyword ranking as it was; one that agrees gets an equal say', () => {
  const rng = createRng(11);
  const lexical = ranking(range(0, 50));
  // Vectors that find nothing the keywords find: the keyword order is kept (at weight 0.95 against 0.05, the tail aside).
  const noise = ranking(range(1000, 50));
  const fusedNoise = fuse(noise, lexical, 50, undefined, 100_000);
  expect(fusedNoise.slice(0, 45).map((x) => x.id)).toEqual(range(0, 45));
  // Vectors whose top 20 are the keywords' top 20 in another order: full agreement, an equal say.
  const shuffled = [...range(0, 20).sort(() => rng.next() - 0.5), ...range(20, 30).sort(() => rng.next() - 0.5)];
  const agreeing = ranking(shuffled);
  expect(adaptiveWeights(agreeing, lexical, 100_000).vector).toBe(0.5);
  const rrfLike = fuse(agreeing, lexical, 50, { method: 'weighted' }, 100_000);
  expect(fuse(agreeing, lexical, 50, undefined, 100_000).map((x) => x.id)).toEqual(rrfLike.map((x) => x.id));
});

test('weighted fusion normalises each side (distances: smaller is better; BM25: larger) and adds the weights', () => {
  const v: Ranking = { ids: [1, 2, 3], scores: [0, 0.5, 1], better: 'lower' };
  const l: Ranking = { ids: [3, 2], scores: [10, 0], better: 'higher' };
  const f = fuse(v, l, 3, { method: 'weighted', weights: { vector: 1, lexical: 3 } });
  expect(f.map((x) => [x.id, x.score])).toEqual([
    [3, 3],
    [1, 1],
    [2, 0.5],
  ]);
  expect(fuse(v, l, 3, { method: 'weighted', weights: { vector: 1, lexical: 0 } }).map((x) => x.id)).toEqual([1, 2, 3]);
});

test('unknown modes and methods, negative or zero weights are INVALID_OPTION', () => {
  expect(checkMode(undefined)).toBe('vector');
  expect(checkMode('hybrid')).toBe('hybrid');
  expect(() => checkMode('bm25')).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  const v: Ranking = { ids: [1], scores: [0], better: 'lower' };
  for (const bad of [
    { method: 'max' },
    { method: 'weighted-ish' },
    { rrfK: -1 },
    { weights: { vector: -1 } },
    { weights: { vector: 0, lexical: 0 } },
    { weights: { lexical: Number.NaN } },
  ]) {
    expect(() => fuse(v, v, 1, bad as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  }
});
