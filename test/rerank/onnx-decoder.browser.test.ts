// The decoder reranker on an ONNX decoder with past_key_values (one attention layer, built by the
// test in the Optimum / transformers.js convention) and the real MiniLM tokenizer: scores with the
// passage's KV fed back as past equal scores from scratch on the same graph and a CPU reference;
// the KV comes from memory, then from IndexedDB after reopening; a decoder without
// past_key_values is refused.
import { describe, expect, inject, test } from 'vitest';
import { deleteDB } from 'idb';
import { createOnnxDecoderReranker } from '../../src/rerank/onnx-decoder-reranker.js';
import { rerank, type RerankPassage } from '../../src/rerank/types.js';
import { createRng } from '../../src/random.js';
import { buildTinyDecoder, decoderReference, type DecoderWeights } from '../support/tiny-rerank-onnx.js';
import { buildTinyCrossEncoder } from '../support/tiny-rerank-onnx.js';

const tokDir = `${inject('sharedAssets')}/minilm-tokenizer`;
const getJson = async (f: string) => (await fetch(`${tokDir}/${f}`)).json() as Promise<object>;
const WASM = '/node_modules/onnxruntime-web/dist/';
const WORDS = 'the little dog ran to the park and found a red ball under a big tree then the girl said hello to her friend'.split(' ');

describe('ONNX decoder reranker (past_key_values)', () => {
  const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
  const rng = createRng(seed);
  const V = 30522,
    D = 16,
    maxPos = 512;
  const r = (n: number, s: number) => Float32Array.from({ length: n }, () => rng.normal() * s);
  const w: DecoderWeights = {
    V,
    D,
    maxPos,
    E: r(V * D, 0.5),
    P: r(maxPos * D, 0.3),
    Wq: r(D * D, 0.4),
    Wk: r(D * D, 0.4),
    Wv: r(D * D, 0.4),
    Wo: r(D * V, 0.5),
  };
  const model = buildTinyDecoder(w);
  const text = (n: number) => Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]).join(' ');

  // WebGPU on SwiftShader is slow with a 30,522-word classifier: fewer passages there.
  for (const [device, count] of [
    ['wasm', 5],
    ['webgpu', 2],
  ] as const)
    test(`scores with the passage KV fed back as past equal scores from scratch and a CPU reference; KV from memory, then IndexedDB after reopening (${device})`, async () => {
      const db = `weft-kv-onnx-test-${device}-${Date.now()}`;
      const base = {
        model,
        tokenizer: await getJson('tokenizer.json'),
        tokenizerConfig: await getJson('tokenizer_config.json'),
        device,
        wasmPaths: WASM,
        cache: false,
      };
      let rr = await createOnnxDecoderReranker({ ...base, kv: { database: db } });
      const plain = await createOnnxDecoderReranker({ ...base, reuse: false });
      try {
        expect(rr.layers).toBe(1);
        expect(rr.device).toBe(device);
        const passages: RerankPassage[] = Array.from({ length: count }, (_, i) => ({ id: i, text: text(10 + rng.int(40)) }));
        const query = text(3 + rng.int(5));
        const q = rr.queryTokens(query);
        const scores = async (x: typeof rr) => {
          const s = x.session(query, passages);
          while (!s.done) await s.step();
          return Array.from(s.read());
        };
        const first = await scores(rr); // computes and keeps each passage's KV
        const second = await scores(rr); // reuses it from memory
        expect(rr.kvStats()).toMatchObject({ misses: count, gpuHits: count });
        const recomputed = await scores(plain);
        for (let i = 0; i < passages.length; i++) {
          const all = [...rr.prefixTokens(passages[i]!.text), ...q];
          const scratch = (await rr.logProbsFromScratch(all.slice(0, -1), all.slice(1))).slice(-q.length);
          const cpu = decoderReference(w, all.slice(0, -1), all.slice(1)).slice(-q.length);
          const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;
          expect(Math.abs(second[i]! - mean(scratch)), `seed ${seed}, passage ${i}: reused vs scratch`).toBeLessThan(1e-4);
          expect(Math.abs(second[i]! - mean(cpu)), `seed ${seed}, passage ${i}: reused vs CPU`).toBeLessThan(1e-3);
          expect(second[i]).toBe(first[i]);
          expect(Math.abs(recomputed[i]! - second[i]!)).toBeLessThan(1e-5);
        }
        await rr.flush();
        await rr.close();
        rr = await createOnnxDecoderReranker({ ...base, kv: { database: db } });
        const third = await scores(rr);
        expect(rr.kvStats()).toMatchObject({ idbHits: count, misses: 0 });
        expect(third).toEqual(second);
        const ranked = await rerank(rr, query, passages);
        expect(ranked.map((x) => x.id)).toEqual(
          passages
            .map((p, i) => ({ id: p.id, s: second[i]! }))
            .sort((a, b) => b.s - a.s)
            .map((x) => x.id),
        );
      } finally {
        await rr.close();
        await plain.close();
        await deleteDB(db);
      }
    });

  test('a model without past_key_values is refused with INVALID_MODEL', async () => {
    const tokenizer = await getJson('tokenizer.json'),
      tokenizerConfig = await getJson('tokenizer_config.json');
    const crossEncoder = buildTinyCrossEncoder(
      {
        V,
        D: 4,
        K: 1,
        E: new Float32Array(V * 4),
        T: new Float32Array(8),
        W: new Float32Array(16),
        b: new Float32Array(4),
        U: new Float32Array(4),
        c: new Float32Array(1),
      },
      'logits',
    );
    await expect(
      createOnnxDecoderReranker({ model: crossEncoder, tokenizer, tokenizerConfig, device: 'wasm', wasmPaths: WASM, cache: false }),
    ).rejects.toMatchObject({ code: 'INVALID_MODEL', message: expect.stringContaining('past_key_values') });
  });
});
