// The onnxruntime-web cross-encoder reranker, on a cross-encoder graph this test writes itself,
// with the real all-MiniLM-L6-v2 (BERT WordPiece) tokenizer: pair encoding, truncation, scores
// against a CPU computation of the graph, batched = unbatched, WASM and WebGPU.
import { describe, expect, inject, test } from 'vitest';
import { createCrossEncoder } from '../../src/rerank/cross-encoder.js';
import { createGpuContext } from '../../src/gpu/context.js';
import { rerank, type RerankPassage } from '../../src/rerank/types.js';
import { createRng } from '../../src/random.js';
import { buildTinyCrossEncoder, crossEncoderReference, type CrossEncoderWeights } from '../support/tiny-rerank-onnx.js';

const tokDir = `${inject('sharedAssets')}/minilm-tokenizer`;
const getJson = async (f: string) => (await fetch(`${tokDir}/${f}`)).json() as Promise<object>;
const WASM = '/node_modules/onnxruntime-web/dist/';
const WORDS =
  'vector search runs on the gpu with webgpu kernels while the index lives in indexeddb and passages are embedded by minilm then reranked by a cross encoder that reads the query and passage together'.split(
    ' ',
  );

function weights(K: number, seed: number): CrossEncoderWeights {
  const rng = createRng(seed);
  const V = 30522,
    D = 12;
  const r = (n: number, s: number) => Float32Array.from({ length: n }, () => rng.normal() * s);
  return { V, D, K, E: r(V * D, 0.5), T: r(2 * D, 0.5), W: r(D * D, 0.4), b: r(D, 0.1), U: r(D * K, 0.5), c: r(K, 0.1) };
}

describe('cross-encoder reranker (onnxruntime-web)', () => {
  const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  const rng = createRng(seed);
  const text = (n: number) => Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]).join(' ');
  const passages: RerankPassage[] = Array.from({ length: 7 }, (_, i) => ({ id: 10 + i, text: text(5 + rng.int(40)) }));
  const query = 'which kernels run the vector search';

  for (const [device, K] of [
    ['wasm', 1],
    ['webgpu', 1],
    ['wasm', 2],
  ] as const) {
    test(`scores equal a CPU computation of the graph on the same token ids; batched = unbatched (${device}, [batch, ${K}] logits)`, async () => {
      const w = weights(K, seed);
      const base = {
        model: buildTinyCrossEncoder(w),
        tokenizer: await getJson('tokenizer.json'),
        tokenizerConfig: await getJson('tokenizer_config.json'),
        device,
        wasmPaths: WASM,
        cache: false,
      };
      const batched = await createCrossEncoder({ ...base, batchSize: 3 });
      const single = await createCrossEncoder({ ...base, batchSize: 1 });
      try {
        // BERT pair encoding: [CLS] query [SEP] passage [SEP], token types 0 then 1.
        const pair = batched.encodePair('hello world', 'vector search');
        expect(pair.ids[0]).toBe(101);
        expect(pair.ids.filter((t) => t === 102).length).toBe(2);
        expect(pair.types).toEqual(pair.ids.map((_, i) => (i <= pair.ids.indexOf(102) ? 0 : 1)));
        const s = batched.session(query, passages);
        let steps = 0;
        while (!s.done) {
          expect((await s.step()).scored).toBeLessThanOrEqual(3);
          steps++;
        }
        expect(steps).toBe(3);
        const got = s.read();
        const one = single.session(query, passages);
        while (!one.done) await one.step();
        const unbatched = one.read();
        passages.forEach((p, i) => {
          const e = batched.encodePair(query, p.text);
          const logits = crossEncoderReference(w, e.ids, e.types);
          const want = K === 1 ? logits[0]! : logits[1]! - Math.max(...logits) - Math.log(logits.reduce((a, l) => a + Math.exp(l - Math.max(...logits)), 0));
          expect(Math.abs(got[i]! - want), `seed ${seed}, passage ${i}`).toBeLessThan(1e-4);
          expect(Math.abs(got[i]! - unbatched[i]!), `seed ${seed}, passage ${i}: batched vs unbatched`).toBeLessThan(1e-5);
        });
        const ranked = await rerank(batched, query, passages);
        expect(ranked.map((r) => r.id)).toEqual(
          passages
            .map((p, i) => ({ id: p.id, s: got[i]! }))
            .sort((a, b) => b.s - a.s)
            .map((r) => r.id),
        );
      } finally {
        await batched.close();
        await single.close();
      }
    });
  }

  test('a pair over maxLength loses passage tokens first, then query tokens, keeping the specials; abort, bad input, a missing output and a closed reranker are refused', async () => {
    const w = weights(1, seed);
    const tokenizer = await getJson('tokenizer.json'),
      tokenizerConfig = await getJson('tokenizer_config.json');
    const r = await createCrossEncoder({
      model: buildTinyCrossEncoder(w),
      tokenizer,
      tokenizerConfig,
      device: 'wasm',
      wasmPaths: WASM,
      cache: false,
      maxLength: 16,
    });
    try {
      const full = r.encodePair('vector search', text(40));
      expect(full.ids.length).toBe(16);
      expect(full.ids[0]).toBe(101);
      expect(full.ids[15]).toBe(102);
      expect(full.ids.slice(0, 4)).toEqual(r.encodePair('vector search', 'x').ids.slice(0, 4)); // the query is whole
      expect(full.types.slice(4)).toEqual(Array(12).fill(1));
      const longQuery = r.encodePair(text(30), text(30));
      expect(longQuery.ids.length).toBe(16);
      expect(longQuery.ids.filter((t) => t === 102).length).toBe(2);
      expect(longQuery.types[15]).toBe(1);
      const s = r.session(query, passages, { signal: AbortSignal.abort() });
      await expect(s.step()).rejects.toMatchObject({ code: 'ABORTED' });
      expect(() => r.session(query, [{ id: 1, text: '' }])).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    } finally {
      await r.close();
    }
    expect(() => r.session(query, passages)).toThrow(expect.objectContaining({ code: 'DESTROYED' }));
    await expect(
      createCrossEncoder({ model: buildTinyCrossEncoder(w, 'scores'), tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, cache: false }),
    ).rejects.toMatchObject({ code: 'INVALID_MODEL', message: expect.stringContaining('logits') });
    await expect(createCrossEncoder({ tokenizer, device: 'wasm' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  test("on WebGPU on a given context its weights count in the context's memory budget, as the 'reranker', until it is closed", async () => {
    const ctx = await createGpuContext();
    try {
      const model = buildTinyCrossEncoder(weights(1, 7));
      const bytes = model.byteLength;
      const tokenizer = await getJson('tokenizer.json');
      const tokenizerConfig = await getJson('tokenizer_config.json');
      const r = await createCrossEncoder({ model, tokenizer, tokenizerConfig, device: 'webgpu', gpu: ctx, wasmPaths: WASM, cache: false });
      expect(ctx.memory().holders.reranker).toBe(bytes);
      await r.close();
      expect(ctx.memory().holders.reranker).toBeUndefined();
      // One that would pass the budget is refused before onnxruntime allocates.
      ctx.setBudget(bytes / 2);
      await expect(
        createCrossEncoder({
          model: buildTinyCrossEncoder(weights(1, 7)),
          tokenizer,
          tokenizerConfig,
          device: 'webgpu',
          gpu: ctx,
          wasmPaths: WASM,
          cache: false,
        }),
      ).rejects.toMatchObject({ code: 'DEVICE_LIMIT', message: expect.stringMatching(/The cross-encoder needs/) });
      expect(ctx.memory().used).toBe(0);
    } finally {
      ctx.destroy();
    }
  });
});
