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
    expect(holderOf('weft.webllm.model')).toBe('generator');
    expect(holderOf('weft.embedder')).toBe('embedder');
    expect(holderOf('weft.reranker.crossEncoder1')).toBe('reranker');
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
    expect(b.report()).toEqual({ budget: 1000, used: 900, holders: { generator: 600, 'list cache': 300 }, reclaimable: 0 });
    b.add('weft.docs.cache.codes[0]', 200); // within the claim
    expect(b.report().used).toBe(900);
    b.add('weft.docs.cache.codes[1]', 200); // past it: the buffers count
    expect(b.report().used).toBe(1000);
    expect(() => b.claim('weft.other.cache', 1, 'another cache')).toThrow(expect.objectContaining({ code: 'DEVICE_LIMIT' }));
    b.remove('weft.docs.cache.codes[0]', 200);
    b.remove('weft.docs.cache.codes[1]', 200);
    b.claim('weft.docs.cache', 0, '');
    expect(b.report()).toEqual({ budget: 1000, used: 600, holders: { generator: 600 }, reclaimable: 0 });
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

  /** A cache that holds whole pieces of `piece` bytes, like the list cache's shards. */
  function cache(b: ReturnType<typeof createGpuBudget>, label: string, o: { min: number; want: number; piece: number }) {
    const sizes: number[] = [];
    const hold = b.hold(label, o.want, `cache ${label}`, {
      min: o.min,
      want: o.want,
      resize(bytes) {
        const size = Math.max(o.min, Math.floor(bytes / o.piece) * o.piece);
        sizes.push(size);
        return size;
      },
    });
    return { hold, sizes };
  }
  const tick = () => new Promise((r) => setTimeout(r, 0));

  test('elastic holds give memory back for a load, largest spare first, and take it again once it is freed', async () => {
    const b = createGpuBudget(1000);
    const list = cache(b, 'weft.docs.cache', { min: 100, want: 600, piece: 100 });
    const kv = cache(b, 'weft.llama.kvSnapshot', { min: 0, want: 200, piece: 50 });
    expect(b.report()).toMatchObject({ used: 800, reclaimable: 700 });
    // 650 for the generator: 450 must come back; the list cache (500 spare) goes first, in whole pieces.
    b.reserve(650, 'The generator');
    expect(list.hold.bytes).toBe(100);
    expect(kv.hold.bytes).toBe(200);
    b.add('weft.llama.weights', 650);
    expect(b.report()).toMatchObject({ used: 950, holders: { generator: 650, 'list cache': 100, 'rerank KV': 200 } });
    // More than the caches at their minimum leave: refused, and nothing was taken from them.
    expect(() => b.reserve(300, 'A second model')).toThrow(
      expect.objectContaining({ code: 'DEVICE_LIMIT', message: expect.stringMatching(/A second model needs 0\.0 MiB .*caches' 0\.0 MiB given back/) }),
    );
    expect([list.hold.bytes, kv.hold.bytes]).toEqual([100, 200]);
    // The generator goes: the caches grow back to what they want, on the next task.
    b.remove('weft.llama.weights', 650);
    expect(list.hold.bytes).toBe(100);
    await tick();
    expect([list.hold.bytes, kv.hold.bytes]).toEqual([600, 200]);
    expect(b.report().used).toBe(800);
    list.hold.release();
    kv.hold.release();
    expect(b.report().used).toBe(0);
  });

  test('a hold grows only where the rest leaves room, shrinking other caches but never itself; holds of one label add up', async () => {
    const b = createGpuBudget(1000);
    const list = cache(b, 'weft.docs.cache', { min: 200, want: 800, piece: 200 });
    const other = b.hold('weft.docs.cache', 100, 'a second index named docs'); // same label, its own hold
    expect(b.report()).toMatchObject({ used: 900, holders: { 'list cache': 900 } });
    expect(list.hold.bytes).toBe(800);
    other.resize(400, 'more'); // 300 more, 200 over: the elastic one gives back one piece
    expect([list.hold.bytes, other.bytes]).toEqual([600, 400]);
    expect(() => other.resize(900, 'too much')).toThrow(expect.objectContaining({ code: 'DEVICE_LIMIT' }));
    expect([list.hold.bytes, other.bytes]).toEqual([600, 400]);
    other.release();
    await tick();
    expect(list.hold.bytes).toBe(800);
    // The claim API: one hold per label.
    b.claim('weft.webllm.model', 150, 'The model');
    expect(list.hold.bytes).toBe(800);
    b.claim('weft.webllm.model', 300, 'The model'); // 100 over: the cache gives a piece back
    expect(list.hold.bytes).toBe(600);
    b.claim('weft.webllm.model', 0, '');
    await tick();
    expect(list.hold.bytes).toBe(800);
    b.dispose();
  });

  test("growing back, the caches leave the last twentieth of the budget free (for the searches' working buffers)", async () => {
    const b = createGpuBudget(1000);
    const c = cache(b, 'weft.docs.cache', { min: 10, want: 1000, piece: 10 });
    expect(c.hold.bytes).toBe(1000); // what it asked for at first, it got
    b.reserve(500, 'A load');
    b.add('weft.llama.weights', 500);
    expect(c.hold.bytes).toBe(500);
    b.remove('weft.llama.weights', 500); // the model goes
    await tick();
    expect(c.hold.bytes).toBe(950);
    b.set(1600); // a larger budget: room for all it wants
    await tick();
    expect(c.hold.bytes).toBe(1000);
    b.dispose();
  });
});
