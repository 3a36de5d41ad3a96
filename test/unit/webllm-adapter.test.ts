// The WebLLM adapter against a stand-in engine with MLCEngine's interface and pull semantics
// (one decode step per pulled chunk, a lock while a stream is open, interruptGenerate ending
// the stream): real weights cannot be downloaded here.
import { describe, expect, test } from 'vitest';
import { createWebLlmGenerator, mapWebLlmError, type StreamChunk, type WebLlmEngineLike } from '../../src/generate/webllm.js';

function standIn(pieces: string[]) {
  const state = { locked: false, interrupted: false, pulls: 0, unloaded: false, requests: [] as Record<string, unknown>[] };
  const engine: WebLlmEngineLike = {
    chat: {
      completions: {
        async create(request) {
          if (state.locked) throw new Error('MLCEngine is busy: a previous stream was not finished');
          state.locked = true;
          state.interrupted = false;
          state.requests.push(request);
          async function* stream(): AsyncGenerator<StreamChunk> {
            try {
              for (const p of pieces) {
                state.pulls++; // one decode step per pull
                if (state.interrupted) { yield { choices: [{ delta: { content: '' }, finish_reason: 'abort' }] }; return; }
                yield { choices: [{ delta: { content: p }, finish_reason: null }] };
              }
              yield { choices: [], usage: { prompt_tokens: 5, completion_tokens: pieces.length, extra: { prefill_tokens_per_s: 123, decode_tokens_per_s: 45 } } };
            } finally {
              state.locked = false;
            }
          }
          return stream();
        },
      },
    },
    interruptGenerate() { state.interrupted = true; },
    async unload() { state.unloaded = true; },
  };
  return { engine, state };
}

describe('WebLLM adapter', () => {
  test('one step is one pull: pieces arrive one by one, then done; timings and the request are passed through', async () => {
    const { engine, state } = standIn(['Once', ' upon', ' a', ' time']);
    const progress: string[] = [];
    const gen = await createWebLlmGenerator({
      model: { id: 'Stand-In-q4f16_1-MLC' },
      engineFactory: async (_id, cfg) => { cfg.initProgressCallback?.({ progress: 0.5, timeElapsed: 1, text: 'loading' }); return engine; },
      onProgress: (p) => progress.push(p.status),
      sampling: { temperature: 0 },
    });
    expect(progress).toEqual(['init', 'ready']);
    await gen.prefill('Tell me a story');
    const got: string[] = [];
    for (;;) {
      const before = state.pulls;
      const t = await gen.step();
      if (t.done) break;
      expect(state.pulls).toBe(before + 1);
      got.push(t.piece);
    }
    expect(got.join('')).toBe('Once upon a time');
    expect(state.requests[0]).toMatchObject({ stream: true, temperature: 0, messages: [{ role: 'user', content: 'Tell me a story' }] });
    expect(gen.timings()).toMatchObject({ prefillTokensPerSecond: 123, steps: 4 });
    expect(state.locked).toBe(false);
    gen.destroy();
  });

  test('interrupt drains the stream so the engine is not left locked', async () => {
    const { engine, state } = standIn(Array.from({ length: 50 }, (_, i) => ` w${i}`));
    const gen = await createWebLlmGenerator({ model: { record: { model: 'https://example.invalid/m/', modelLib: 'https://example.invalid/m.wasm', modelId: 'custom' } }, engineFactory: async () => engine });
    await gen.prefill('first');
    await gen.step();
    await gen.step();
    expect(state.locked).toBe(true);
    await gen.interrupt();
    expect(state.locked).toBe(false);
    expect(state.pulls).toBeLessThan(50);
    await gen.prefill('second'); // a new generation works
    expect((await gen.step()).piece).toBe(' w0');
    await gen.interrupt();
  });

  test('a custom model record becomes WebLLM appConfig; failures map to Weft codes', async () => {
    let seen: unknown;
    await expect(createWebLlmGenerator({
      model: { record: { model: 'http://127.0.0.1:9/nowhere/', modelLib: 'http://127.0.0.1:9/lib.wasm', modelId: 'mine' } },
      engineFactory: async (_id, cfg) => { seen = cfg.appConfig; throw new TypeError('Failed to fetch'); },
    })).rejects.toMatchObject({ code: 'MODEL_UNREACHABLE' });
    expect(seen).toEqual({ model_list: [{ model: 'http://127.0.0.1:9/nowhere/', model_id: 'mine', model_lib: 'http://127.0.0.1:9/lib.wasm' }] });
    const named = (name: string, message: string) => Object.assign(new Error(message), { name });
    expect(mapWebLlmError(named('WebGPUNotAvailableError', 'WebGPU is not supported in your current environment'), 'm').code).toBe('WEBGPU_UNAVAILABLE');
    expect(mapWebLlmError(named('DeviceLostError', 'The WebGPU device was lost'), 'm').code).toBe('DEVICE_LOST');
    expect(mapWebLlmError(named('QuotaExceededError', 'The quota has been exceeded.'), 'm').code).toBe('STORAGE_FULL');
    expect(mapWebLlmError(new Error('Out of memory while allocating buffer'), 'm').code).toBe('GPU_OUT_OF_MEMORY');
    expect(mapWebLlmError(named('ModelNotFoundError', 'Cannot find model record in appConfig for x'), 'm').code).toBe('UNKNOWN_MODEL');
    expect(mapWebLlmError(new Error('something else'), 'm')).toMatchObject({ code: 'GENERATION_FAILED', message: expect.stringContaining('something else') });
    await expect(createWebLlmGenerator({ model: {} })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  test('loading can be aborted', async () => {
    const ctl = new AbortController();
    const pending = createWebLlmGenerator({ model: { id: 'slow' }, engineFactory: () => new Promise(() => {}), signal: ctl.signal });
    ctl.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
