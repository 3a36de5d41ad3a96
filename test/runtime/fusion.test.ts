// Hybrid fusion: reciprocal rank fusion against its formula on random rankings, the weighted
// form's normalisation, and the options it refuses.
import { expect, test } from 'vitest';
import { checkMode, fuse, type Ranking } from '../../src/runtime/fusion.js';
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
    const got = fuse(v, l, 10, { weights: { vector: wv, lexical: wl } });
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

test('an id found by both sides outranks ids found by one; one empty side gives the other ranking', () => {
  const v: Ranking = { ids: [1, 2, 3], scores: [0.1, 0.2, 0.3], better: 'lower' };
  const l: Ranking = { ids: [4, 3, 5], scores: [9, 8, 7], better: 'higher' };
  expect(fuse(v, l, 5)[0]!.id).toBe(3);
  const none: Ranking = { ids: [], scores: [], better: 'higher' };
  expect(fuse(v, none, 5).map((f) => f.id)).toEqual([1, 2, 3]);
  expect(fuse(none, l, 2).map((f) => f.id)).toEqual([4, 3]);
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
    { rrfK: -1 },
    { weights: { vector: -1 } },
    { weights: { vector: 0, lexical: 0 } },
    { weights: { lexical: Number.NaN } },
  ]) {
    expect(() => fuse(v, v, 1, bad as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  }
});
