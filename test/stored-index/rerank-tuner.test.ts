// How a 'pq' index picks the candidates it re-ranks by default (src/stored-index/rerank-tuner.ts):
// the target quantile of what recent searches needed, explored upward every eighth search, with
// needs at the limit of what was used counted as twice it (they may have needed more).
import { describe, expect, test } from 'vitest';
import { createRerankTuner } from '../../src/stored-index/rerank-tuner.js';

describe('rerank tuner', () => {
  test('starts generous, then settles on the target quantile of the needs it saw', () => {
    const t = createRerankTuner(0.9);
    expect(t.next()).toBe(16);
    // 40 searches of one query each: 36 needed 2 candidates per result, 4 needed 5.
    for (let i = 0; i < 40; i++) t.observe([i % 10 === 0 ? 5 : 2], 16);
    expect(t.state).toEqual({ candidates: 2, samples: 40 });
    const t99 = createRerankTuner(0.99);
    for (let i = 0; i < 40; i++) t99.observe([i % 10 === 0 ? 5 : 2], 16);
    expect(t99.state.candidates).toBe(5);
  });

  test('every eighth search explores twice the choice; a need at the limit counts double', () => {
    const t = createRerankTuner(0.5);
    for (let i = 0; i < 40; i++) t.observe([3], 16);
    expect(t.state.candidates).toBe(3);
    const used = Array.from({ length: 16 }, () => t.next());
    expect(used.filter((u) => u === 6)).toHaveLength(2);
    expect(used.filter((u) => u === 3)).toHaveLength(14);
    // Searches at 3 that needed all 3 may have needed more: the choice doubles until needs fit under it.
    for (let i = 0; i < 100; i++) t.observe([3], 3);
    expect(t.state.candidates).toBe(6);
    for (let i = 0; i < 600; i++) t.observe([4], 6);
    expect(t.state).toEqual({ candidates: 4, samples: 512 });
  });

  test('stays within 2 and 128 candidates per result', () => {
    const low = createRerankTuner(0.99);
    for (let i = 0; i < 64; i++) low.observe([1], 16);
    expect(low.state.candidates).toBe(2);
    const high = createRerankTuner(0.99);
    for (let i = 0; i < 64; i++) high.observe([128], 128);
    expect(high.state.candidates).toBe(128);
  });
});
