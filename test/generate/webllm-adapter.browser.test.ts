// The WebLLM adapter end to end in Chromium with WebGPU, over the stand-in MLCEngine
// (test/support/webllm-stand-in.ts: stories260K on Weft's llama2.c generator behind MLCEngine's
// methods and semantics, since WebLLM weights cannot be downloaded here), with the model's
// tokenizer.json and mlc-chat-config.json read from WebLLM's caches as for a real model. The
// reference generator, run on the same prompt, is the oracle.
import { afterAll, describe, expect, inject, test } from 'vitest';
import { CreateWebWorkerMLCEngine } from '@mlc-ai/web-llm';
import { createWebLlmGenerator, createWebLlmSampler, type WebLlmGenerator, type WebLlmGeneratorOptions } from '../../src/generate/webllm.js';
import { loadLlama2c, type Llama2cGenerator } from '../../src/generate/llama2c-gpu.js';
import type { Generator, SamplingOptions } from '../../src/generate/types.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { createStandInEngine, createStandInMLCEngine, deleteStandInFiles, type StandInEngine, type StandInRecord } from '../support/webllm-stand-in.js';
import { gpuTest } from '../support/gpu-harness.js';

const folder = `${new URL(inject('sharedAssets'), location.href).href}/lm-stories260K/`;
const record: StandInRecord = { model: folder, model_id: 'stories260K-stand-in-MLC', model_lib: `${folder}stand-in.wasm` };
const model = { record: { model: record.model, modelLib: record.model_lib, modelId: record.model_id } };
const appConfig = { model_list: [record] };
afterAll(() => deleteStandInFiles(record));

const PROMPT = 'Once upon a time, there was a little girl named Lily. She';

/** The adapter over a stand-in engine it loads itself (as engine-host does with WebLLM). */
async function adapter(ctx: GpuContext, options: Partial<WebLlmGeneratorOptions> = {}): Promise<{ gen: WebLlmGenerator; engine: StandInEngine }> {
  let engine: StandInEngine | undefined;
  const gen = await createWebLlmGenerator({
    model,
    engineFactory: async (id, config, chatOptions) => {
      engine = await createStandInMLCEngine(id, { ...config, gpu: ctx }, chatOptions);
      return engine;
    },
    ...options,
  });
  return { gen, engine: engine! };
}

const reference = (ctx: GpuContext) => loadLlama2c({ gpu: ctx, model: `${folder}stories260K.bin`, tokenizer: `${folder}tok512.bin` });

/** Up to n steps, as the runtime's decode loop takes them. */
async function decode(g: Generator, n: number) {
  const tokens: number[] = [];
  let text = '';
  for (let i = 0; i < n; i++) {
    const t = await g.step();
    if (t.done) break;
    tokens.push(t.token);
    text += t.piece;
  }
  return { tokens, text };
}

const forwards = (engine: StandInEngine) => engine.probes.calls.filter((c) => c.method === 'forwardTokensAndSample');

async function cleanup(gen: Generator | undefined, engine: StandInEngine | undefined, ref?: Llama2cGenerator) {
  gen?.destroy();
  await engine?.unload(); // destroy() unloads in the background; the leak check needs it done
  ref?.destroy();
}

describe('WebLLM adapter over the stand-in MLCEngine', () => {
  gpuTest('greedy decoding equals the reference generator token for token, text included', async (ctx) => {
    const progress: string[] = [];
    const { gen, engine } = await adapter(ctx, { onProgress: (p) => progress.push(p.status === 'init' ? `init ${p.done} ${p.text ?? ''}` : p.status) });
    const ref = await reference(ctx);
    try {
      expect(progress.at(-1)).toBe('ready');
      expect(progress.some((p) => p.startsWith('init 1000 Finish loading'))).toBe(true);
      expect(gen.sampledBy).toBe('weft');
      await gen.prefill(PROMPT);
      await ref.prefill(PROMPT);
      expect(gen.position).toBe(ref.position);
      const [a, b] = [await decode(gen, 120), await decode(ref, 120)];
      expect(a.tokens.length).toBeGreaterThan(20);
      expect(a.tokens).toEqual(b.tokens);
      expect(a.text).toBe(b.text);
      expect(gen.position).toBe(ref.position);
      expect(engine.kvLength).toBe(gen.position);
      expect(gen.timings().steps).toBe(a.tokens.length);
    } finally {
      await cleanup(gen, engine, ref);
    }
  });

  gpuTest('prefill forwards the prompt (and only the prompt) at prefill time; each step is one decode forward', async (ctx) => {
    const { gen, engine } = await adapter(ctx);
    try {
      await gen.prefill(PROMPT);
      const ids = [1, ...gen.encode(PROMPT)];
      // The KV cache was emptied first (the engine's state is not the generator's until then).
      expect(engine.probes.calls.map((c) => c.method)).toEqual(['reload', 'unload', 'resetChat', 'forwardTokensAndSample']);
      expect(forwards(engine)).toEqual([{ method: 'forwardTokensAndSample', inputIds: ids, isPrefill: true }]);
      expect(engine.kvLength).toBe(ids.length);
      expect(gen.position).toBe(ids.length);
      const t = await gen.step();
      expect(forwards(engine).slice(1)).toEqual([{ method: 'forwardTokensAndSample', inputIds: [t.token], isPrefill: false }]);
      expect(engine.kvLength).toBe(ids.length + 1);
      // A prompt longer than the model's prefill chunk (64) goes in chunks, all of them prefill.
      gen.reset();
      const long = `${PROMPT} ${'the dog ran to the park and played with the ball. '.repeat(10)}`;
      const before = forwards(engine).length;
      await gen.prefill(long);
      const chunks = forwards(engine).slice(before);
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.every((c) => c.isPrefill)).toBe(true);
      expect(chunks.flatMap((c) => c.inputIds)).toEqual([1, ...gen.encode(long)]);
      expect(engine.kvLength).toBe(gen.position);
    } finally {
      await cleanup(gen, engine);
    }
  });

  gpuTest('speculation: a prefill replaced by another (reset, prefill) decodes what the second alone does', async (ctx) => {
    const { gen, engine } = await adapter(ctx);
    try {
      const other = 'Tom had a big red ball. One day';
      await gen.prefill(other);
      const fresh = await decode(gen, 40);
      gen.reset();
      await gen.prefill(PROMPT); // the speculative prefill on a partial top-k
      gen.reset();
      await gen.prefill(other); // restart on the final one
      expect(engine.kvLength).toBe(1 + gen.countTokens(other));
      expect(await decode(gen, 40)).toEqual(fresh);
    } finally {
      await cleanup(gen, engine);
    }
  });

  gpuTest('an answer stopped at maxTokens or by interrupt leaves nothing decoding', async (ctx) => {
    const { gen, engine } = await adapter(ctx);
    try {
      await gen.prefill(PROMPT);
      await decode(gen, 10); // the runtime stops at its maxTokens
      const calls = engine.probes.calls.length;
      await new Promise((r) => setTimeout(r, 300));
      expect(engine.probes.calls.length).toBe(calls);
      expect(engine.probes.inFlight).toBe(0);
      // interrupt() during a step: it resolves once that step is over; the next step is done without a forward.
      const stepping = gen.step();
      await expect.poll(() => engine.probes.inFlight, { interval: 1 }).toBe(1);
      await gen.interrupt();
      expect(engine.probes.inFlight).toBe(0);
      expect((await stepping).done).toBe(false);
      const n = forwards(engine).length;
      expect(await gen.step()).toMatchObject({ done: true });
      expect(forwards(engine).length).toBe(n);
      await new Promise((r) => setTimeout(r, 300));
      expect(forwards(engine).length).toBe(n);
      expect(engine.probes.inFlight).toBe(0);
    } finally {
      await cleanup(gen, engine);
    }
    // The adapter's own cap ends an answer (across a refresh) with done.
    const capped = await adapter(ctx, { maxTokens: 7 });
    try {
      await capped.gen.prefill(PROMPT);
      const first = await decode(capped.gen, 4);
      capped.gen.reset();
      await capped.gen.prefill(PROMPT + first.text);
      expect((await decode(capped.gen, 100)).tokens).toHaveLength(3);
    } finally {
      await cleanup(capped.gen, capped.engine);
    }
  });

  gpuTest('refresh: reset and a prefill of the prompt plus the answer so far continue the same text as never resetting', async (ctx) => {
    const { gen, engine } = await adapter(ctx);
    try {
      await gen.prefill(PROMPT);
      const whole = await decode(gen, 60);
      gen.reset();
      await gen.prefill(PROMPT);
      const head = await decode(gen, 20);
      gen.reset();
      const before = forwards(engine).length;
      await gen.prefill(PROMPT + head.text);
      // The same assistant turn: the prompt's ids, then the answer's own ids (no new turn, no re-encoding).
      expect(
        forwards(engine)
          .slice(before)
          .flatMap((c) => c.inputIds),
      ).toEqual([1, ...gen.encode(PROMPT), ...head.tokens]);
      const tail = await decode(gen, 40);
      expect([...head.tokens, ...tail.tokens]).toEqual(whole.tokens);
      expect(head.text + tail.text).toBe(whole.text);
      // New passages in front of the same answer: the new prompt's ids, then the answer's.
      gen.reset();
      await gen.prefill(PROMPT);
      const h2 = await decode(gen, 10);
      gen.reset();
      const other = 'Tom had a big red ball. One day, he';
      const at = forwards(engine).length;
      await gen.prefill(other + h2.text);
      expect(
        forwards(engine)
          .slice(at)
          .flatMap((c) => c.inputIds),
      ).toEqual([1, ...gen.encode(other), ...h2.tokens]);
    } finally {
      await cleanup(gen, engine);
    }
  });

  gpuTest("countTokens equals the tokenizer's count; the prompt fills 1 + countTokens positions", async (ctx) => {
    const { gen, engine } = await adapter(ctx);
    const ref = await reference(ctx);
    try {
      for (const text of ['', 'a', PROMPT, 'Lily said, "Mom, look!" — café, 中文 🙂\n\tThe end.', '  spaced   out  ']) {
        expect(gen.countTokens(text), text).toBe(ref.tokenizer.encode(text, { bos: false }).length);
        expect(gen.encode(text)).toEqual(ref.tokenizer.encode(text, { bos: false }));
      }
      await gen.prefill(PROMPT);
      expect(gen.position).toBe(1 + gen.countTokens(PROMPT));
      expect(gen.contextLength).toBe(512);
    } finally {
      await cleanup(gen, engine, ref);
    }
  });

  gpuTest("seeded sampling set per call gives the reference generator's tokens with the same settings", async (ctx) => {
    const { gen, engine } = await adapter(ctx, { sampling: { temperature: 0.9, topP: 0.8, seed: 7 } });
    const ref = await reference(ctx);
    try {
      const run = async (g: Generator, s: SamplingOptions) => {
        g.reset();
        g.setSampling(s);
        await g.prefill(PROMPT);
        return (await decode(g, 50)).tokens;
      };
      for (const s of [{ temperature: 0.9, topP: 0.8, seed: 7 }, { temperature: 1.2, topP: 1, seed: 12345 }, { temperature: 0 }]) {
        expect(await run(gen, s), JSON.stringify(s)).toEqual(await run(ref, s));
      }
      expect(await run(gen, { temperature: 1, seed: 1 })).not.toEqual(await run(gen, { temperature: 1, seed: 2 }));
    } finally {
      await cleanup(gen, engine, ref);
    }
  });

  gpuTest('stop tokens and stop strings of the model config end the answer', async (ctx) => {
    const steps = async (g: Generator) => {
      const out: { token: number; piece: string }[] = [];
      for (let i = 0; i < 200; i++) {
        const t = await g.step();
        if (t.done) return { out, last: t };
        out.push(t);
      }
      throw new Error('no stop within 200 tokens');
    };
    const plain = await adapter(ctx, { maxTokens: 80 });
    let period: number, full: { token: number; piece: string }[];
    try {
      period = plain.gen.encode('.').at(-1)!;
      await plain.gen.prefill(PROMPT);
      full = (await steps(plain.gen)).out;
    } finally {
      await cleanup(plain.gen, plain.engine);
    }
    const cut = full.findIndex((t) => t.token === period);
    expect(cut).toBeGreaterThan(0);
    // A stop token (ChatOptions' conv_config over conv_template, as WebLLM applies it).
    const byToken = await adapter(ctx, { chatOptions: { conv_config: { stop_token_ids: [2, period] } } });
    try {
      expect(byToken.gen.stopTokens).toEqual([2, period]);
      await byToken.gen.prefill(PROMPT);
      const r = await steps(byToken.gen);
      expect(r.out).toEqual(full.slice(0, cut));
      expect(r.last).toEqual({ token: period, piece: '', done: true });
      expect(await byToken.gen.step()).toMatchObject({ done: true });
    } finally {
      await cleanup(byToken.gen, byToken.engine);
    }
    // A stop string: the answer ends where it starts. Pieces returned before the one that
    // completes it stay returned (as WebLLM's stream sent them).
    const text = full.map((t) => t.piece).join('');
    const starts = full.map(
      (_, i) =>
        full
          .slice(0, i)
          .map((t) => t.piece)
          .join('').length,
    );
    const k = full.findIndex((t, i) => i >= 6 && t.piece.trim().length >= 3 && text.indexOf(t.piece) === starts[i]);
    expect(k).toBeGreaterThan(0);
    for (const [stop, emitted] of [
      [full[k]!.piece, text.slice(0, starts[k])],
      [full[k]!.piece + full[k + 1]!.piece, text.slice(0, starts[k + 1])],
    ] as const) {
      const byString = await adapter(ctx, { chatOptions: { conv_config: { stop_str: [stop] } } });
      try {
        await byString.gen.prefill(PROMPT);
        const r = await steps(byString.gen);
        expect(r.out.map((t) => t.piece).join(''), stop).toBe(emitted);
      } finally {
        await cleanup(byString.gen, byString.engine);
      }
    }
  });

  gpuTest("an app's own MLCEngine: Weft drives it, leaves it usable for the app's completions and does not unload it", async (ctx) => {
    const sampler = createWebLlmSampler();
    const engine = await createStandInMLCEngine(record.model_id, {
      appConfig,
      gpu: ctx,
      logitProcessorRegistry: new Map([[record.model_id, sampler.processor]]),
    });
    const ref = await reference(ctx);
    let gen: WebLlmGenerator | undefined;
    try {
      const own = (await engine.completions.create({ prompt: PROMPT, max_tokens: 30 })) as { choices: { text: string }[] };
      gen = await createWebLlmGenerator({ engine, sampler, model });
      await gen.prefill(PROMPT);
      await ref.prefill(PROMPT);
      expect((await decode(gen, 40)).tokens).toEqual((await decode(ref, 40)).tokens);
      gen.destroy();
      await gen.interrupt().catch(() => undefined);
      expect(engine.probes.calls.filter((c) => c.method === 'unload')).toHaveLength(1); // the one inside reload()
      expect(engine.probes.calls.at(-1)?.method).toBe('resetChat');
      const again = (await engine.completions.create({ prompt: PROMPT, max_tokens: 30 })) as { choices: { text: string }[] };
      expect(again.choices[0]!.text).toBe(own.choices[0]!.text);
      await expect(gen.step()).rejects.toMatchObject({ code: 'DESTROYED' });
    } finally {
      await cleanup(undefined, engine, ref);
    }
  });

  gpuTest("an app's engine without Weft's sampler samples with its chat config; setSampling says how to enable it", async (ctx) => {
    const engine = await createStandInMLCEngine(record.model_id, { appConfig, gpu: ctx });
    const ref = await reference(ctx);
    try {
      await expect(createWebLlmGenerator({ engine, model, sampling: { temperature: 0.5 } })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      const gen = await createWebLlmGenerator({ engine, model });
      expect(gen.sampledBy).toBe('engine');
      expect(() => gen.setSampling({ temperature: 0.7 })).toThrow(/logitProcessorRegistry/);
      gen.setSampling({});
      await gen.prefill(PROMPT);
      await ref.prefill(PROMPT);
      expect((await decode(gen, 40)).tokens).toEqual((await decode(ref, 40)).tokens); // the config is greedy
      // A sampler that was never registered is caught at the first forward.
      const unregistered = await createWebLlmGenerator({ engine, model, sampler: createWebLlmSampler() });
      await expect(unregistered.prefill(PROMPT)).rejects.toThrow(/logitProcessorRegistry/);
    } finally {
      await cleanup(undefined, engine, ref);
    }
  });

  gpuTest("the stand-in's interruptGenerate stops a running completion, which releases the model's lock", async (ctx) => {
    const engine = await createStandInMLCEngine(record.model_id, { appConfig, gpu: ctx });
    try {
      const stream = (await engine.completions.create({ prompt: PROMPT, max_tokens: 400, stream: true })) as AsyncIterable<{
        choices: { text: string; finish_reason: string | null }[];
      }>;
      let chunks = 0;
      let finish: string | null = null;
      for await (const c of stream) {
        if (++chunks === 3) await engine.interruptGenerate();
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      expect(finish).toBe('abort');
      expect(chunks).toBeLessThan(8);
      expect(engine.probes.generating).toBe(false);
      const after = (await engine.completions.create({ prompt: PROMPT, max_tokens: 5 })) as { choices: { finish_reason: string }[] };
      expect(after.choices[0]!.finish_reason).toBe('length');
    } finally {
      await engine.unload();
    }
  });

  gpuTest('loading can be aborted, and the engine that finishes loading afterwards is unloaded', async (ctx) => {
    const ctl = new AbortController();
    let engine: StandInEngine | undefined;
    const loading = createWebLlmGenerator({
      model,
      signal: ctl.signal,
      engineFactory: async (id, config) => {
        engine = createStandInEngine({ ...config, gpu: ctx });
        const reloading = engine.reload(id);
        ctl.abort(); // mid-load
        await reloading;
        return engine;
      },
    });
    await expect(loading).rejects.toMatchObject({ code: 'ABORTED' });
    await expect.poll(() => engine?.probes.calls.filter((c) => c.method === 'unload').length ?? 0, { timeout: 30_000 }).toBe(2);
    expect(engine!.kvLength).toBe(0);
  });
});

describe('WebLLM adapter over a WebWorkerMLCEngine', () => {
  test("the app's own WebLLM worker: forwardTokensAndSample and resetChat work through it the same way", async () => {
    const worker = new Worker(new URL('../support/webllm-stand-in.worker.ts', import.meta.url), { type: 'module' });
    const reports: string[] = [];
    try {
      const engine = await CreateWebWorkerMLCEngine(worker, record.model_id, {
        appConfig: appConfig as never,
        initProgressCallback: (r) => reports.push(r.text),
      });
      expect(reports.at(-1)).toMatch(/^Finish loading/);
      const gen = await createWebLlmGenerator({ engine, model });
      expect(gen.modelId).toBe(record.model_id);
      expect(gen.sampledBy).toBe('engine');
      const ref = await loadLlama2c({ model: `${folder}stories260K.bin`, tokenizer: `${folder}tok512.bin` });
      try {
        await gen.prefill(PROMPT);
        await ref.prefill(PROMPT);
        const whole = await decode(ref, 50);
        const head = await decode(gen, 20);
        gen.reset(); // resetChat in the worker, then the refresh's prefill
        await gen.prefill(PROMPT + head.text);
        const tail = await decode(gen, 30);
        expect([...head.tokens, ...tail.tokens]).toEqual(whole.tokens);
        expect(gen.countTokens(PROMPT)).toBe(ref.tokenizer.encode(PROMPT, { bos: false }).length);
      } finally {
        ref.destroy();
        gen.destroy();
        await engine.unload();
      }
    } finally {
      worker.terminate();
    }
  }, 120_000);
});
