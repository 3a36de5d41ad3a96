// The WGSL reference generator against llama2.c's own output and the CPU float32 reference.
import { describe, expect, inject } from 'vitest';
import { loadLlama2c, PREFILL_ROWS } from '../../src/generate/llama2c-gpu.js';
import { parseCheckpoint } from '../../src/generate/llama2c-format.js';
import { argmax, createCpuLlama } from '../../src/generate/llama2c-cpu.js';
import { createRng } from '../../src/random.js';
import { gpuTest } from '../support/gpu-harness.js';
import type { GpuContext } from '../../src/gpu/context.js';

const base = `${inject('sharedAssets')}/lm-stories260K`;
const bytes = async (f: string) => (await fetch(`${base}/${f}`)).arrayBuffer();

describe('llama2.c reference generator on WebGPU', () => {
  gpuTest("greedy, 200 steps from BOS, prints exactly llama2.c's output for stories260K", async (ctx) => {
    const gen = await loadLlama2c({ gpu: ctx, model: `${base}/stories260K.bin`, tokenizer: `${base}/tok512.bin` });
    try {
      let text = '';
      for (let i = 0; i < 200; i++) {
        const t = await gen.step();
        if (t.done) break;
        text += t.piece;
      }
      expect(text).toBe(new TextDecoder().decode(await bytes('expected_greedy_n200.txt')));
      expect(gen.position).toBe(201); // BOS and the 200 tokens fed back
      const tm = gen.timings();
      expect(tm.steps).toBeGreaterThan(0);
      expect(tm.decodeMsMedian).toBeGreaterThan(0);
    } finally {
      gen.destroy();
    }
  });

  gpuTest('logits match the CPU float32 forward pass within 1e-4 on random prompts', async (ctx) => {
    const model = await bytes('stories260K.bin');
    const gen = await loadLlama2c({ gpu: ctx, model, tokenizer: await bytes('tok512.bin') });
    try {
      const rng = createRng(crypto.getRandomValues(new Uint32Array(1))[0]!);
      for (let trial = 0; trial < 3; trial++) {
        gen.reset();
        const cpu = createCpuLlama(parseCheckpoint(model));
        // The last trial's prompt spans more than one prefill batch.
        const prompt = [1, ...Array.from({ length: (trial === 2 ? PREFILL_ROWS : 0) + 5 + rng.int(20) }, () => 3 + rng.int(509))];
        let want = new Float32Array(0);
        prompt.forEach((t, pos) => {
          want = cpu.forward(t, pos).slice();
        });
        await gen.prefill(prompt);
        const got = await gen.logits();
        const scale = Math.max(...Array.from(want, Math.abs));
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / scale);
        expect(worst).toBeLessThan(1e-4);
        expect(argmax(got)).toBe(argmax(want));
      }
    } finally {
      gen.destroy();
    }
  });

  gpuTest('batched prefill gives bitwise the logits, KV cache and greedy tokens of feeding one token at a time', async (ctx) => {
    const src = { model: await bytes('stories260K.bin'), tokenizer: await bytes('tok512.bin') };
    const batched = await loadLlama2c({ gpu: ctx, ...src });
    const single = await loadLlama2c({ gpu: ctx, ...src });
    try {
      const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
      const rng = createRng(seed);
      const random = (n: number) => Array.from({ length: n }, () => 3 + rng.int(509));
      const bits = (a: ArrayBuffer | Float32Array) => new Uint32Array(a instanceof Float32Array ? a.slice().buffer : a);
      const greedy = async (g: typeof batched) => {
        const out: number[] = [];
        for (let i = 0; i < 8; i++) {
          const t = await g.step();
          if (t.done) break;
          out.push(t.token);
        }
        return out;
      };
      // One token, less than a batch (not a multiple of it), exactly one, more than two; and a
      // prompt in two calls, the second starting mid-context and crossing a batch boundary.
      const cases = [
        [[1]],
        [[1, ...random(36)]],
        [random(PREFILL_ROWS)],
        [[1, ...random(2 * PREFILL_ROWS + 18)]],
        [[1, ...random(10)], random(PREFILL_ROWS + 3)],
      ];
      for (const parts of cases) {
        batched.reset();
        single.reset();
        for (const part of parts) {
          await batched.prefill(part);
          for (const t of part) await single.prefill([t]);
        }
        const n = parts.flat().length;
        expect(batched.position, `seed ${seed}, ${n} tokens`).toBe(n);
        expect(bits(await batched.logits()), `seed ${seed}, ${n} tokens: logits`).toEqual(bits(await single.logits()));
        expect(bits((await batched.snapshot()).data), `seed ${seed}, ${n} tokens: KV cache`).toEqual(bits((await single.snapshot()).data));
        expect(await greedy(batched), `seed ${seed}, ${n} tokens: greedy tokens`).toEqual(await greedy(single));
      }
      expect(batched.timings().prefillTokensPerSecond).toBeGreaterThan(0);
      // Checks before any batch is fed: nothing changes.
      batched.reset();
      const aborted = AbortSignal.abort();
      await expect(batched.prefill(random(5), { signal: aborted })).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(batched.prefill([1, 512])).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      await expect(batched.prefill(random(batched.contextLength + 1))).rejects.toMatchObject({ code: 'CONTEXT_FULL' });
      expect(batched.position).toBe(0);
    } finally {
      batched.destroy();
      single.destroy();
    }
  });

  gpuTest('a restored KV snapshot generates exactly what generating from scratch does', async (ctx) => {
    const src = { model: await bytes('stories260K.bin'), tokenizer: await bytes('tok512.bin') };
    const a = await loadLlama2c({ gpu: ctx, ...src });
    const b = await loadLlama2c({ gpu: ctx, ...src });
    try {
      await a.prefill('Once upon a time, there was a dog');
      const snap = await a.snapshot();
      const run = async (g: typeof a) => {
        const out: number[] = [];
        for (let i = 0; i < 40; i++) {
          const t = await g.step();
          if (t.done) break;
          out.push(t.token);
        }
        return out;
      };
      const fromScratch = await run(a);
      // Through bytes, as if stored in IndexedDB and read back in another session.
      await b.restore({ tokens: snap.tokens.slice(), data: snap.data.slice(0) });
      expect(b.position).toBe(snap.tokens.length);
      expect(await run(b)).toEqual(fromScratch);
      await expect(b.restore({ tokens: [1, 2], data: new ArrayBuffer(8) })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  /**
   * stories260K with its header's seq_len raised to `seqLen` (and the file grown by the RoPE table
   * that llama2.c stores for every position): a working model with a longer context.
   */
  const longContext = (model: ArrayBuffer, seqLen: number) => {
    const [dim, , , nHeads, , , oldSeqLen] = Array.from(new Int32Array(model, 0, 7)) as number[];
    const headSize = dim! / nHeads!;
    const weights = model.byteLength - oldSeqLen! * headSize * 4; // shared classifier: the RoPE table ends the file
    const out = new Uint8Array(weights + seqLen * headSize * 4);
    out.set(new Uint8Array(model, 0, weights));
    new Int32Array(out.buffer, 0, 7)[6] = seqLen;
    return out.buffer;
  };

  /**
   * A checkpoint of stories260K's shape whose header asks for a 65,536-token context and enough
   * layers that the KV cache (2 x n_layers x seq_len x kv_dim floats) passes `limit` bytes; its
   * weights (zeros) stay a few MB, far inside the limit.
   */
  const hugeKvCache = (model: ArrayBuffer, limit: number) => {
    const [dim, hidden, , nHeads, nKvHeads, vocab] = Array.from(new Int32Array(model, 0, 7)) as number[];
    const seqLen = 1 << 16,
      kvDim = (dim! * nKvHeads!) / nHeads!;
    const nLayers = Math.floor(limit / (2 * seqLen * kvDim * 4)) + 1;
    const perLayer = 2 * dim! + 2 * dim! * dim! + 2 * dim! * kvDim + 3 * dim! * hidden!;
    const floats = vocab! * dim! + nLayers * perLayer + dim! + seqLen * (dim! / nHeads!);
    const out = new ArrayBuffer(28 + floats * 4);
    new Int32Array(out, 0, 7).set([dim!, hidden!, nLayers, nHeads!, nKvHeads!, vocab!, seqLen]);
    return out;
  };

  const refusesHugeKvCache = async (ctx: GpuContext) => {
    const model = await bytes('stories260K.bin'),
      tokenizer = await bytes('tok512.bin');
    const before = ctx.liveBytes;
    await expect(loadLlama2c({ gpu: ctx, model: hugeKvCache(model, ctx.maxShardBytes), tokenizer })).rejects.toMatchObject({
      code: 'DEVICE_LIMIT',
      message: expect.stringContaining('KV cache'),
    });
    expect(ctx.liveBytes, 'nothing left allocated').toBe(before);
    // A longer context that fits still loads and generates.
    const gen = await loadLlama2c({ gpu: ctx, model: longContext(model, 1024), tokenizer });
    try {
      expect(gen.contextLength).toBe(1024);
      expect((await gen.step()).token).toBeGreaterThan(0);
    } finally {
      gen.destroy();
    }
  };

  gpuTest("a header asking for a KV cache over the device's buffer limits is refused with DEVICE_LIMIT before anything is allocated", async (ctx) => {
    await refusesHugeKvCache(ctx);
  });

  gpuTest('the same on a context with smaller storage shards', refusesHugeKvCache, { maxShardBytes: 48 << 20 });

  gpuTest('an unreachable or bad model gets a clear error', async (ctx) => {
    await expect(loadLlama2c({ gpu: ctx, model: `${base}/no-such-model.bin`, tokenizer: `${base}/tok512.bin` })).rejects.toMatchObject({
      code: 'INVALID_MODEL',
    });
    const model = await bytes('stories260K.bin');
    await expect(loadLlama2c({ gpu: ctx, model: model.slice(0, 5000), tokenizer: await bytes('tok512.bin') })).rejects.toMatchObject({ code: 'INVALID_MODEL' });
  });
});
