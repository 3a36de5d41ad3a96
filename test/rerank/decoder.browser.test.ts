// The decoder reranker with document KV reuse on the reference generator (stories260K): its
// log-probs against the CPU float32 forward pass, scores with a restored passage KV bitwise equal
// to scores computed from scratch, the KV tier (GPU hits, IndexedDB hits after the GPU budget
// evicts and after reopening, the IndexedDB byte budget, a tampered record recomputed), steps in
// any order, abort.
import { describe, expect, inject } from 'vitest';
import { deleteDB } from 'idb';
import { createLlama2cReranker, type DecoderReranker } from '../../src/rerank/llama2c-reranker.js';
import { openKvDatabase } from '../../src/rerank/kv-tier.js';
import { rerank, type RerankPassage } from '../../src/rerank/types.js';
import { parseCheckpoint } from '../../src/generate/llama2c-format.js';
import { createCpuLlama } from '../../src/generate/llama2c-cpu.js';
import { createRng } from '../../src/random.js';
import { loadLlama2c, type Llama2cGenerator } from '../../src/generate/llama2c-gpu.js';
import { gpuTest } from '../support/gpu-harness.js';
import type { GpuContext } from '../../src/gpu/context.js';

const base = `${inject('sharedAssets')}/lm-stories260K`;
const bytes = async (f: string) => (await fetch(`${base}/${f}`)).arrayBuffer();
const WORDS =
  'the a little girl boy dog cat park tree ball big red happy sad sun day played ran saw found friend mom said was and to with in on her his they it'.split(
    ' ',
  );

function story(rng: ReturnType<typeof createRng>, words: number): string {
  return Array.from({ length: words }, (_, i) => WORDS[rng.int(WORDS.length)]! + (i % 9 === 8 ? '.' : '')).join(' ');
}

let dbSeq = 0;
const freshDb = () => `weft-kv-test-${Date.now()}-${dbSeq++}`;

async function open(ctx: GpuContext, o: Partial<Parameters<typeof createLlama2cReranker>[0]> = {}): Promise<DecoderReranker> {
  return createLlama2cReranker({ gpu: ctx, model: await bytes('stories260K.bin'), tokenizer: await bytes('tok512.bin'), ...o });
}

/** The query's mean log-prob computed in one pass over [prefix, query] from an empty context. */
async function fromScratch(r: DecoderReranker, passage: string, query: string): Promise<{ mean: number; lp: Float32Array }> {
  const all = [...r.prefixTokens(passage), ...r.queryTokens(query)];
  const m = r.queryTokens(query).length;
  r.generator.reset();
  const lp = (await r.generator.logProbs(all.slice(0, -1), all.slice(1))).slice(-m);
  let s = 0;
  for (const x of lp) s += x;
  return { mean: s / m, lp };
}

/**
 * A random llama2.c checkpoint (and a tokenizer of as many tokens) whose 1,024-token vocabulary is
 * larger than one activation row (x..att: 32 x 4 + 64 x 2 + 4 x 64 floats), so logProbs takes its
 * row-by-row classifier path; stories260K's 512 fit in a row and take the all-rows path.
 */
function wideVocabModel(seed: number): { model: ArrayBuffer; tokenizer: ArrayBuffer } {
  const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = [32, 64, 2, 4, 2, 1024, 64];
  const kvDim = (dim * kvHeads) / heads,
    headSize = dim / heads;
  const floats = vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * dim * kvDim + 3 * dim * hidden) + dim + seqLen * headSize;
  const rng = createRng(seed);
  const model = new ArrayBuffer(28 + floats * 4);
  new Int32Array(model, 0, 7).set([dim, hidden, layers, heads, kvHeads, vocab, seqLen]);
  const w = new Float32Array(model, 28);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.3;
  const names = Array.from({ length: vocab }, (_, i) => new TextEncoder().encode(`t${i}`));
  const tokenizer = new ArrayBuffer(4 + names.reduce((a, n) => a + 8 + n.length, 0));
  const view = new DataView(tokenizer);
  view.setInt32(0, 8, true);
  let at = 4;
  for (const n of names) {
    view.setFloat32(at, 0, true);
    view.setInt32(at + 4, n.length, true);
    new Uint8Array(tokenizer, at + 8, n.length).set(n);
    at += 8 + n.length;
  }
  return { model, tokenizer };
}

/** log-probs against the CPU reference; after a restored prefix, bitwise those of one pass; the logits left behind as after prefill. */
async function checkLogProbs(gen: Llama2cGenerator, model: ArrayBuffer, tokens: number[], split: number, label: string) {
  const cpu = createCpuLlama(parseCheckpoint(model));
  gen.reset();
  const all = await gen.logProbs(tokens.slice(0, -1), tokens.slice(1));
  tokens.slice(0, -1).forEach((t, pos) => {
    const logits = cpu.forward(t, pos);
    let max = -Infinity,
      sum = 0;
    for (const v of logits) max = Math.max(max, v);
    for (const v of logits) sum += Math.exp(v - max);
    expect(Math.abs(all[pos]! - (logits[tokens[pos + 1]!]! - max - Math.log(sum))), `${label}, position ${pos}`).toBeLessThan(1e-4);
  });
  const afterScoring = await gen.logits();
  gen.reset();
  await gen.prefill(tokens.slice(0, -1));
  expect(new Uint32Array(afterScoring.buffer), `${label}: logits after logProbs`).toEqual(new Uint32Array((await gen.logits()).buffer));
  gen.reset();
  await gen.prefill(tokens.slice(0, split));
  const snap = await gen.snapshotOnGpu();
  gen.reset();
  await gen.restore(snap, { logits: false });
  gen.releaseSnapshot(snap);
  const tail = await gen.logProbs(tokens.slice(split, -1), tokens.slice(split + 1));
  expect(new Uint32Array(tail.buffer), `${label}: restored prefix of ${split}`).toEqual(new Uint32Array(all.slice(split).buffer));
}

describe('reference generator logProbs', () => {
  gpuTest(
    'match the CPU float32 reference and are bitwise the same after a restored prefix, with a vocabulary inside an activation row and one larger',
    async (ctx) => {
      const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
      const rng = createRng(seed);
      const stories = await bytes('stories260K.bin');
      const small = await loadLlama2c({ gpu: ctx, model: stories, tokenizer: await bytes('tok512.bin') });
      const wide = wideVocabModel(seed);
      const large = await loadLlama2c({ gpu: ctx, ...wide });
      try {
        // More than one batch of 64 rows for stories260K.
        await checkLogProbs(small, stories, [1, ...Array.from({ length: 90 }, () => 3 + rng.int(509))], 37, `seed ${seed}, stories260K`);
        await checkLogProbs(large, wide.model, [1, ...Array.from({ length: 50 }, () => 3 + rng.int(1021))], 21, `seed ${seed}, 1,024-token vocabulary`);
        await expect(small.logProbs([1, 2], [3])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
        await expect(small.logProbs([1], [512])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      } finally {
        small.destroy();
        large.destroy();
      }
    },
  );
});

describe('decoder reranker (query likelihood) with passage KV reuse', () => {
  gpuTest('log-probs match the CPU float32 forward pass; restored-KV scores equal from-scratch scores bitwise', async (ctx) => {
    const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
    const rng = createRng(seed);
    const db = freshDb();
    const reuse = await open(ctx, { kv: { database: db } });
    const plain = await open(ctx, { reuse: false });
    try {
      const passages: RerankPassage[] = Array.from({ length: 4 }, (_, i) => ({ id: 100 + i, text: story(rng, 20 + rng.int(60)) }));
      const query = story(rng, 4 + rng.int(6));
      // CPU reference for one passage: log-softmax of llama2.c's float32 logits, position by position.
      const all = [...reuse.prefixTokens(passages[0]!.text), ...reuse.queryTokens(query)];
      const cpu = createCpuLlama(parseCheckpoint(await bytes('stories260K.bin')));
      const want: number[] = [];
      for (let pos = 0; pos + 1 < all.length; pos++) {
        const logits = cpu.forward(all[pos]!, pos);
        let max = -Infinity,
          sum = 0;
        for (const v of logits) max = Math.max(max, v);
        for (const v of logits) sum += Math.exp(v - max);
        want.push(logits[all[pos + 1]!]! - max - Math.log(sum));
      }
      reuse.generator.reset();
      const got = await reuse.generator.logProbs(all.slice(0, -1), all.slice(1));
      want.forEach((w, i) => expect(Math.abs(got[i]! - w), `seed ${seed}, position ${i}`).toBeLessThan(1e-4));

      const first = reuse.session(query, passages); // computes and keeps every passage's KV
      while (!first.done) await first.step();
      const second = reuse.session(query, passages); // restores them from the GPU tier
      while (!second.done) await second.step();
      const recomputed = plain.session(query, passages);
      while (!recomputed.done) await recomputed.step();
      expect(reuse.kvStats()).toMatchObject({ misses: 4, gpuHits: 4 });
      const s1 = first.read(),
        s2 = second.read(),
        s3 = recomputed.read();
      for (let i = 0; i < passages.length; i++) {
        const scratch = await fromScratch(plain, passages[i]!.text, query);
        expect(Object.is(s2[i], scratch.mean), `seed ${seed}, passage ${i}: restored ${s2[i]} vs scratch ${scratch.mean}`).toBe(true);
        expect(Object.is(s1[i], s2[i]) && Object.is(s3[i], s2[i]), `seed ${seed}, passage ${i}`).toBe(true);
        expect(Number.isFinite(s2[i]!) && s2[i]! < 0).toBe(true);
      }
      // rerank() orders by score.
      const ranked = await rerank(reuse, query, passages);
      expect(ranked.map((r) => r.id)).toEqual(
        passages
          .map((p, i) => ({ id: p.id, s: s2[i]! }))
          .sort((a, b) => b.s - a.s)
          .map((r) => r.id),
      );
    } finally {
      await reuse.close();
      await plain.close();
      await deleteDB(db);
    }
  });

  gpuTest(
    'KV tier: GPU hits, IndexedDB hits after the GPU budget evicts and after reopening, the IndexedDB budget, a tampered record recomputed',
    async (ctx) => {
      const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
      const rng = createRng(seed);
      const db = freshDb();
      const passages: RerankPassage[] = Array.from({ length: 5 }, (_, i) => ({ id: i, text: story(rng, 30 + rng.int(20)) }));
      const query = story(rng, 6);
      // stories260K: 5 layers x 32 KV dims x 4 bytes x 2 (K, V) = 1,280 bytes per cached token.
      const perToken = 1280;
      let r = await open(ctx, { kv: { database: db, gpuBytes: 2.5 * 60 * perToken, idbBytes: 1e9 } });
      const plain = await open(ctx, { reuse: false });
      try {
        const want = (await rerank(plain, query, passages)).sort((a, b) => a.id - b.id).map((x) => x.score);
        const scores = async () => {
          const s = r.session(query, passages);
          while (!s.done) await s.step();
          return Array.from(s.read());
        };
        expect(await scores()).toEqual(want);
        await r.flush();
        let st = r.kvStats();
        expect(st).toMatchObject({ misses: 5, idbWrites: 5, corrupt: 0 });
        expect(st.gpuEntries).toBeLessThan(5); // the GPU budget holds about two passages
        expect(st.gpuBytes).toBeLessThanOrEqual(2.5 * 60 * perToken);
        expect(st.gpuEvictions).toBeGreaterThan(0);
        // A second pass: hits in both tiers, no recomputation, the same scores bitwise.
        expect(await scores()).toEqual(want);
        st = r.kvStats();
        expect(st.misses).toBe(5);
        expect(st.idbHits).toBeGreaterThan(0);
        expect(st.gpuHits + st.idbHits).toBe(5);
        // The last passage scored is still on the GPU.
        const one = r.session(query, [passages[4]!]);
        await one.step();
        expect(r.kvStats().gpuHits).toBe(st.gpuHits + 1);
        await r.close();

        // Reopened (as after a reload): every passage comes from IndexedDB.
        r = await open(ctx, { kv: { database: db, gpuBytes: 1e9, idbBytes: 1e9 } });
        expect(await scores()).toEqual(want);
        expect(r.kvStats()).toMatchObject({ idbHits: 5, misses: 0, gpuHits: 0 });
        await r.close();

        // A tampered record (one byte of its KV flipped; its checksum no longer matches): recomputed.
        const key = `${r.modelId}|${Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', Int32Array.from(r.prefixTokens(passages[2]!.text)).buffer)), (b) => b.toString(16).padStart(2, '0')).join('')}`;
        const raw = await openKvDatabase(db);
        const rec = (await raw.get('kv', key))!;
        expect(rec).toBeDefined();
        new Uint8Array(rec.data)[17]! ^= 0x40;
        await raw.put('kv', rec);
        raw.close();
        r = await open(ctx, { kv: { database: db, gpuBytes: 1e9, idbBytes: 1e9 } });
        expect(await scores()).toEqual(want);
        await r.flush();
        expect(r.kvStats()).toMatchObject({ corrupt: 1, misses: 1, idbHits: 4, idbWrites: 1 });
        await r.close();

        // The IndexedDB budget: room for two passages' KV; older records are evicted on write.
        const small = freshDb();
        r = await open(ctx, { kv: { database: small, gpuBytes: 0, idbBytes: 2.2 * 50 * perToken } });
        try {
          expect(await scores()).toEqual(want);
          await r.flush();
          const check = await openKvDatabase(small);
          const metas = await check.getAll('meta');
          const total = metas.reduce((s, m) => s + m.bytes, 0);
          expect(total).toBeLessThanOrEqual(2.2 * 50 * perToken);
          expect(metas.length).toBeGreaterThan(0);
          expect(metas.length).toBeLessThan(5);
          expect((await check.getAllKeys('kv')).sort()).toEqual(metas.map((m) => m.key).sort());
          check.close();
          expect(r.kvStats().idbEvictions).toBeGreaterThan(0);
        } finally {
          await r.close();
          await deleteDB(small);
        }
      } finally {
        await r.close();
        await plain.close();
        await deleteDB(db);
      }
    },
  );

  gpuTest(
    'steps in any order (overlapping, interleaved with another session, shuffled passages) give the same scores; abort → ABORTED; bad input and a closed reranker are refused',
    async (ctx) => {
      const rng = createRng(crypto.getRandomValues(new Uint32Array(1))[0]!);
      const db = freshDb();
      const r = await open(ctx, { kv: { database: db, gpuBytes: 3 * 40 * 1280 } });
      try {
        const passages: RerankPassage[] = Array.from({ length: 6 }, (_, i) => ({ id: i, text: story(rng, 15 + rng.int(25)) }));
        const q1 = story(rng, 5),
          q2 = story(rng, 7);
        const ref1 = new Map((await rerank(r, q1, passages)).map((x) => [x.id, x.score]));
        const ref2 = new Map((await rerank(r, q2, passages)).map((x) => [x.id, x.score]));
        const shuffled = [...passages].sort(() => rng.next() - 0.5);
        const a = r.session(q1, shuffled),
          b = r.session(q2, passages);
        // All of a's steps at once, b's one by one in between.
        const all = Promise.all(shuffled.map(() => a.step()));
        while (!b.done) await b.step();
        await all;
        expect(a.done).toBe(true);
        const sa = a.read(),
          sb = b.read();
        shuffled.forEach((p, i) => expect(sa[i]).toBe(ref1.get(p.id)));
        passages.forEach((p, i) => expect(sb[i]).toBe(ref2.get(p.id)));
        expect((await a.step()).scored).toBe(0);

        const ac = new AbortController();
        const c = r.session(q1, passages, { signal: ac.signal });
        await c.step();
        expect(Number.isNaN(c.read()[1]!)).toBe(true);
        ac.abort();
        await expect(c.step()).rejects.toMatchObject({ code: 'ABORTED' });
        expect(c.done).toBe(false);

        expect(() => r.session('', passages)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
        expect(() => r.session(q1, [{ id: 1, text: ' ' }])).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
      } finally {
        await r.close();
        await deleteDB(db);
      }
      expect(() => r.session('a query', [{ id: 1, text: 'a passage' }])).toThrow(expect.objectContaining({ code: 'DESTROYED' }));
    },
  );

  gpuTest(
    'the GPU KV tier is an elastic share of the memory budget: a load takes it back (the coldest passages stay in IndexedDB), it returns when memory is free; scores unchanged',
    async (ctx) => {
      const rng = createRng(crypto.getRandomValues(new Uint32Array(1))[0]!);
      const db = freshDb();
      const perToken = 1280;
      const want = 10 * 60 * perToken;
      const r = await open(ctx, { kv: { database: db, gpuBytes: want, idbBytes: 1e9 } });
      try {
        const passages: RerankPassage[] = Array.from({ length: 6 }, (_, i) => ({ id: i, text: story(rng, 30 + rng.int(20)) }));
        const query = story(rng, 6);
        const first = await rerank(r, query, passages);
        expect(r.kvStats().gpuEntries).toBe(6);
        expect(ctx.memory().holders['rerank KV']).toBe(want);
        const kept = r.kvStats().gpuBytes;
        // A load that fits only if the tier gives back all but what two passages' KV needs.
        ctx.setBudget(ctx.memory().used + 1024);
        ctx.reserve(1024 + want - 2 * 60 * perToken, 'A load');
        const m = ctx.memory();
        expect(m.holders['rerank KV']).toBeLessThanOrEqual(2 * 60 * perToken);
        expect(r.kvStats().gpuBytes).toBeLessThan(kept);
        expect(r.kvStats().gpuEvictions).toBeGreaterThan(0);
        // Evicted passages come back from IndexedDB (or are recomputed): the same scores.
        await r.flush();
        expect(await rerank(r, query, passages)).toEqual(first);
        // Memory free again: the tier takes its share back on the next task.
        ctx.setBudget(Number.POSITIVE_INFINITY);
        await new Promise((done) => setTimeout(done, 20));
        expect(ctx.memory().holders['rerank KV']).toBe(want);
        await r.close();
        expect(ctx.memory().holders['rerank KV']).toBeUndefined();
      } finally {
        ctx.setBudget(Number.POSITIVE_INFINITY);
        await r.close();
        await deleteDB(db);
      }
    },
  );
});
