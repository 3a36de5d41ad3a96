// The GPU memory ledger (gpu/budget.ts) alone: holders named by label, a reservation refused with
// DEVICE_LIMIT naming the holders, a claim that counts as held until its buffers outgrow it and
// is given back with 0, no budget meaning accounting only, a bad budget INVALID_OPTION.
import { describe, expect, test } from 'vitest';
import { createGpuBudget, holderOf } from '../../src/gpu/budget.js';

describe('gpu budget', () => {
  test('holders by label', () => {
    expect(holderOf('weft.llama.weights')).toBe('generator');
    expect(holderOf('weft.notes.cache.codes[0]')).toBe('list cache');
    expect(holderOf('weft.notes')).toBe('index');
    expect(holderOf('weft.kmeans.labels')).toBe('training');
    expect(holderOf('weft.llama.kvSnapshot')).toBe('rerank KV');
    expect(holderOf('weft.webllm')).toBe('generator');
    expect(holderOf('weft.embedder')).toBe('embedder');
    expect(holderOf(undefined)).toBe('other');
  });

  test('reserve refuses what would pass the budget, naming the holders; claims count until outgrown and go with 0', () => {
    const b = createGpuBudget(1000);
    b.add('weft.llama.weights', 600);
    expect(() => b.reserve(400, 'X')).not.toThrow();
    expect(() => b.reserve(401, 'The thing')).toThrow(
      expect.objectContaining({ code: 'DEVICE_LIMIT', message: expect.stringMatching(/The thing needs .*held: generator/) }),
    );
    b.claim('weft.docs.cache', 300, 'cache');
    expect(b.report()).toEqual({ budget: 1000, used: 900, holders: { generator: 600, 'list cache': 300 } });
    b.add('weft.docs.cache.codes[0]', 200); // within the claim
    expect(b.report().used).toBe(900);
    b.add('weft.docs.cache.codes[1]', 200); // past it: the buffers count
    expect(b.report().used).toBe(1000);
    expect(() => b.claim('weft.other.cache', 1, 'another cache')).toThrow(expect.objectContaining({ code: 'DEVICE_LIMIT' }));
    b.remove('weft.docs.cache.codes[0]', 200);
    b.remove('weft.docs.cache.codes[1]', 200);
    b.claim('weft.docs.cache', 0, '');
    expect(b.report()).toEqual({ budget: 1000, used: 600, holders: { generator: 600 } });
    expect(b.left()).toBe(400);
  });

  test('without a budget it only accounts; a bad budget is INVALID_OPTION', () => {
    const b = createGpuBudget();
    b.add('weft.llama.kv', 2 ** 40);
    expect(() => b.reserve(2 ** 40, 'more')).not.toThrow();
    expect(b.report().budget).toBe(Number.POSITIVE_INFINITY);
    expect(() => b.set(0)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => createGpuBudget(-1)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});
