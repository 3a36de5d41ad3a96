// The WebLLM adapter's parts that need no GPU, against a scripted engine with MLCEngine's
// token-level surface (forwardTokensAndSample appends to a KV cache and samples from logits that
// go through the registered logit processor; resetChat empties it): the tokenizer.json the
// stand-in engine serves, formatChat against WebLLM's own renderings, incremental detokenization
// of multi-byte characters, stop handling, the context's end, loading options and error mapping.
// test/generate/webllm-adapter.browser.test.ts runs the adapter end to end on WebGPU.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { createWebLlmGenerator, mapWebLlmError, type WebLlmChatConfig, type WebLlmEngineConfig, type WebLlmEngineLike } from '../../src/generate/webllm.js';
import { tokenizerFromJson } from '../../src/generate/webllm-tokenizer.js';
import { createBpeTokenizer } from '../../src/generate/bpe.js';
import { parseTokenizer } from '../../src/generate/llama2c-format.js';
import { createRng } from '../../src/random.js';
import { llama2cTokenizerJson } from '../support/llama2c-tokenizer-json.js';

const tokBin = (() => {
  const b = readFileSync(resolve(import.meta.dirname, '../../../shared/assets/lm-stories260K/tok512.bin'));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
})();
const tokenizerJson = llama2cTokenizerJson(tokBin, 512);
const bpe = createBpeTokenizer(parseTokenizer(tokBin, 512));

const LM: WebLlmChatConfig = {
  vocab_size: 512,
  context_window_size: 64,
  prefill_chunk_size: 16,
  tokenizer_files: ['tokenizer.json'],
  conv_template: {
    system_template: '{system_message}',
    system_message: '',
    system_prefix_token_ids: [1],
    roles: { user: '', assistant: '' },
    seps: [''],
    role_content_sep: '',
    role_empty_sep: '',
    stop_str: [],
    stop_token_ids: [2],
  },
};

/**
 * An engine whose model continues with `script` (token ids, in order, whatever the context) and
 * then EOS, through logits that are one-hot at the scripted token.
 */
function scripted(script: number[], config: WebLlmEngineConfig = {}) {
  const state = { kv: [] as number[], calls: [] as { ids: number[]; isPrefill: boolean }[], resets: 0, unloaded: false };
  let drawn = 0;
  const engine: WebLlmEngineLike = {
    async forwardTokensAndSample(ids, isPrefill) {
      state.calls.push({ ids: [...ids], isPrefill });
      state.kv.push(...ids);
      if (!isPrefill) drawn++;
      let logits: Float32Array = new Float32Array(512).fill(-10);
      logits[script[drawn] ?? 2] = 10;
      const processor = [...(config.logitProcessorRegistry?.values() ?? [])][0];
      if (processor) logits = processor.processLogits(logits);
      let best = 0;
      logits.forEach((v, i) => {
        if (v > logits[best]!) best = i;
      });
      processor?.processSampledToken(best);
      return best;
    },
    async resetChat() {
      state.kv = [];
      drawn = 0;
      state.resets++;
    },
    async unload() {
      state.unloaded = true;
    },
  };
  return { engine, state };
}

const files = (chatConfig: WebLlmChatConfig = LM) => ({ chatConfig, tokenizer: tokenizerJson });
const custom = { record: { model: 'https://example.invalid/m/', modelLib: 'https://example.invalid/m.wasm', modelId: 'm' } };

async function generator(script: number[], chatConfig: WebLlmChatConfig = LM, extra: { maxTokens?: number } = {}) {
  let made: ReturnType<typeof scripted> | undefined;
  const gen = await createWebLlmGenerator({
    model: custom,
    modelFiles: files(chatConfig),
    ...extra,
    engineFactory: async (_id, config) => {
      made = scripted(script, config);
      return made.engine;
    },
  });
  return { gen, state: made!.state };
}

describe("the tokenizer.json made from tok512.bin (the stand-in engine's)", () => {
  test("encodes to llama2.c's BPE ids and decodes back, on random texts", () => {
    const hf = tokenizerFromJson(tokenizerJson);
    const story = readFileSync(resolve(import.meta.dirname, '../../../shared/assets/lm-stories260K/expected_greedy_n200.txt'), 'utf8');
    const words = [...story.split(/\b/), 'é', '中', '🙂', '“', '—', '\n', '  ', '\t', 'ñ', '€', 'x'];
    const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
    const rng = createRng(seed);
    for (let i = 0; i < 2000; i++) {
      let text = '';
      for (let j = 1 + rng.int(30); j > 0; j--) text += words[rng.int(words.length)];
      expect(hf.encode(text), `seed ${seed}: ${JSON.stringify(text)}`).toEqual(bpe.encode(text, { bos: false }));
      expect(hf.decode(hf.encode(text))).toBe(text);
    }
    expect(hf.encode(story)).toEqual(bpe.encode(story, { bos: false }));
    expect(hf.encode('')).toEqual([]);
    // Unlike llama2.c, which spells it out, a tokenizer.json reads its special tokens in text (WebLLM's does too).
    expect(hf.encode('a<s>b')).toContain(1);
  });
});

describe("formatChat renders WebLLM's conversation templates as WebLLM does", () => {
  // conv_templates as in WebLLM's tests/constants.ts (web-llm c51c9c0) and mlc-chat-config.json files.
  const llama2 = {
    system_template: '[INST] <<SYS>>\n{system_message}\n<</SYS>>\n\n',
    system_message: 'You are a helpful, respectful and honest assistant.',
    system_prefix_token_ids: [1],
    add_role_after_system_message: false,
    roles: { user: '[INST]', assistant: '[/INST]', tool: '[INST]' },
    role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
    seps: [' '],
    role_content_sep: ' ',
    role_empty_sep: ' ',
    stop_str: ['[INST]'],
    stop_token_ids: [2],
  };
  const llama31 = {
    system_template: '<|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|>',
    system_message: 'You are a helpful, respectful and honest assistant.',
    system_prefix_token_ids: [128000],
    add_role_after_system_message: true,
    roles: { user: '<|start_header_id|>user', assistant: '<|start_header_id|>assistant', tool: '<|start_header_id|>ipython' },
    role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
    seps: ['<|eot_id|>'],
    role_content_sep: '<|end_header_id|>\n\n',
    role_empty_sep: '<|end_header_id|>\n\n',
    stop_str: [],
    stop_token_ids: [128001, 128008, 128009],
  };
  const qwen2 = {
    system_template: '<|im_start|>system\n{system_message}<|im_end|>\n',
    system_message: 'You are a helpful assistant.',
    system_prefix_token_ids: null,
    add_role_after_system_message: true,
    roles: { user: '<|im_start|>user', assistant: '<|im_start|>assistant' },
    role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
    seps: ['<|im_end|>\n'],
    role_content_sep: '\n',
    role_empty_sep: '\n',
    stop_str: ['<|endoftext|>', '<|im_end|>'],
    stop_token_ids: [151643, 151645],
  };
  const chat = async (conv_template: object) => (await generator([], { ...LM, conv_template } as WebLlmChatConfig)).gen;
  const turns = [
    { role: 'user', content: 'test1' },
    { role: 'assistant', content: 'test2' },
    { role: 'user', content: 'test3' },
  ] as const;

  test("Llama-2: WebLLM's own expected prompt (tests/conversation.test.ts)", async () => {
    const gen = await chat(llama2);
    expect(gen.formatChat(turns)).toBe(
      '[INST] <<SYS>>\nYou are a helpful, respectful and honest assistant.\n<</SYS>>\n\ntest1 [/INST] test2 [INST] test3 [/INST] ',
    );
  });

  test('Llama-3.1 and ChatML (Qwen2): their documented formats, with the system message replaced', async () => {
    const l3 = await chat(llama31);
    expect(l3.formatChat([{ role: 'system', content: 'Be brief.' }, ...turns])).toBe(
      '<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\ntest1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\ntest2<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\ntest3<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(l3.stopTokens).toEqual([128001, 128008, 128009]);
    const qw = await chat(qwen2);
    expect(qw.formatChat(turns)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\ntest1<|im_end|>\n<|im_start|>assistant\ntest2<|im_end|>\n' +
        '<|im_start|>user\ntest3<|im_end|>\n<|im_start|>assistant\n',
    );
    // Message text is inserted as it is (String.replace would expand $& and $1).
    expect(qw.formatChat([{ role: 'user', content: 'cost: $& and $1' }])).toContain('<|im_start|>user\ncost: $& and $1<|im_end|>');
    expect(() => qw.formatChat([...turns, { role: 'system', content: 'late' }])).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  test("a plain language model (MLC's LM template): the turns' text; prefill puts the system prefix (BOS) first", async () => {
    const { gen, state } = await generator([]);
    const prompt = gen.formatChat([{ role: 'user', content: 'Once upon a time' }]);
    expect(prompt).toBe('Once upon a time');
    await gen.prefill(prompt);
    expect(state.calls).toEqual([{ ids: [1, ...bpe.encode(prompt, { bos: false })], isPrefill: true }]);
  });
});

describe('decoding', () => {
  test('multi-byte characters split over byte tokens come out whole, and the pieces add up to the decoded answer', async () => {
    const hf = tokenizerFromJson(tokenizerJson);
    const answer = bpe.encode(' a 中 é 🙂 b', { bos: false });
    expect(answer.filter((t) => t >= 3 && t < 259).length).toBeGreaterThanOrEqual(7); // byte fallback
    const { gen } = await generator(answer);
    await gen.prefill('Say');
    const pieces: string[] = [];
    for (let t = await gen.step(); !t.done; t = await gen.step()) pieces.push(t.piece);
    expect(pieces).toHaveLength(answer.length);
    expect(pieces.every((p) => !p.includes('\uFFFD'))).toBe(true);
    expect(pieces.filter((p) => p === '').length).toBeGreaterThan(0);
    expect(pieces.join('')).toBe(hf.decode([...hf.encode('Say'), ...answer]).slice('Say'.length));
  });

  test("a refresh in the middle of a character re-prefills the answer's finished tokens only", async () => {
    const answer = bpe.encode(' x 中', { bos: false }); // ' x' then three byte tokens
    const { gen, state } = await generator(answer);
    await gen.prefill('Say');
    let text = '';
    for (let i = 0; i < answer.length - 1; i++) text += (await gen.step()).piece; // two of the three bytes
    gen.reset();
    await gen.prefill(`Say${text}`);
    const refill = state.calls.at(-1)!;
    expect(refill).toEqual({ ids: [1, ...bpe.encode('Say', { bos: false }), ...answer.slice(0, answer.length - 3)], isPrefill: true });
  });

  test("stop tokens end the answer; so does the context's end; a prompt that does not fit is refused", async () => {
    const { gen } = await generator([100, 101, 2, 102]);
    await gen.prefill('Hi');
    expect((await gen.step()).token).toBe(100);
    expect((await gen.step()).token).toBe(101);
    expect(await gen.step()).toEqual({ token: 2, piece: '', done: true });
    expect(await gen.step()).toMatchObject({ done: true });
    const long = await generator(Array.from({ length: 100 }, () => 300));
    await long.gen.prefill('Hi');
    let steps = 0;
    while (!(await long.gen.step()).done) steps++;
    expect(long.gen.position).toBe(64);
    expect(steps).toBe(64 - 1 - bpe.encode('Hi', { bos: false }).length);
    long.gen.reset();
    const calls = long.state.calls.length;
    await expect(long.gen.prefill('word '.repeat(80))).rejects.toMatchObject({ code: 'CONTEXT_FULL' });
    expect(long.state.calls.length).toBe(calls); // nothing was forwarded
  });

  test("a long prompt goes in prefill chunks (of the config's prefill_chunk_size); an aborted prefill stops before its next chunk", async () => {
    const { gen, state } = await generator([]);
    const prompt = 'the dog and the cat ran '.repeat(4);
    const ids = [1, ...bpe.encode(prompt, { bos: false })];
    await gen.prefill(prompt);
    const sizes: number[] = [];
    for (let i = 0; i < ids.length; i += 16) sizes.push(Math.min(16, ids.length - i));
    expect(sizes.length).toBeGreaterThan(1);
    expect(state.calls.map((c) => c.ids.length)).toEqual(sizes);
    expect(state.calls.flatMap((c) => c.ids)).toEqual(ids);
    gen.reset();
    const calls = state.calls.length;
    await expect(gen.prefill(prompt, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(state.calls.length).toBe(calls);
  });
});

describe('loading', () => {
  test("a custom record becomes WebLLM appConfig, Weft's sampler is registered for it; failures map to Weft codes", async () => {
    let seen: WebLlmEngineConfig | undefined;
    const progress: string[] = [];
    await expect(
      createWebLlmGenerator({
        model: { record: { model: 'http://127.0.0.1:9/nowhere/', modelLib: 'http://127.0.0.1:9/lib.wasm', modelId: 'mine' } },
        onProgress: (p) => progress.push(p.status === 'init' ? `${p.done} ${p.text}` : p.status),
        engineFactory: async (_id, cfg) => {
          seen = cfg;
          cfg.initProgressCallback?.({ progress: 0.5, timeElapsed: 1, text: 'Fetching param cache[1/2]' });
          throw new TypeError('Failed to fetch');
        },
      }),
    ).rejects.toMatchObject({ code: 'MODEL_UNREACHABLE' });
    expect(seen?.appConfig).toEqual({ model_list: [{ model: 'http://127.0.0.1:9/nowhere/', model_id: 'mine', model_lib: 'http://127.0.0.1:9/lib.wasm' }] });
    expect([...seen!.logitProcessorRegistry!.keys()]).toEqual(['mine']);
    expect(progress).toEqual(['500 Fetching param cache[1/2]']);
    const named = (name: string, message: string) => Object.assign(new Error(message), { name });
    expect(mapWebLlmError(named('WebGPUNotAvailableError', 'WebGPU is not supported in your current environment'), 'm').code).toBe('WEBGPU_UNAVAILABLE');
    expect(mapWebLlmError(named('DeviceLostError', 'The WebGPU device was lost'), 'm').code).toBe('DEVICE_LOST');
    expect(mapWebLlmError(named('QuotaExceededError', 'The quota has been exceeded.'), 'm').code).toBe('STORAGE_FULL');
    expect(mapWebLlmError(new Error('Out of memory while allocating buffer'), 'm').code).toBe('GPU_OUT_OF_MEMORY');
    expect(mapWebLlmError(named('ModelNotFoundError', 'Cannot find model record in appConfig for x'), 'm').code).toBe('UNKNOWN_MODEL');
    expect(mapWebLlmError(new Error('something else'), 'm')).toMatchObject({ code: 'GENERATION_FAILED', message: expect.stringContaining('something else') });
    // A WebWorkerMLCEngine's errors arrive as strings.
    expect(mapWebLlmError('Error: The WebGPU device was lost', 'm').code).toBe('DEVICE_LOST');
  });

  test("integrity hashes go into the record WebLLM verifies (prebuilt or custom); WebLLM's IntegrityError is CHECKSUM_MISMATCH", async () => {
    const { IntegrityError, prebuiltAppConfig } = await import('@mlc-ai/web-llm');
    const integrity = { config: 'sha256-AAAA', model_lib: 'sha256-BBBB', tokenizer: { 'tokenizer.json': 'sha256-CCCC' } };
    const prebuilt = prebuiltAppConfig.model_list[0]!;
    let seen: WebLlmEngineConfig | undefined;
    const mismatch = new IntegrityError('https://huggingface.co/x/resolve/main/mlc-chat-config.json', 'sha256-AAAA', 'sha256-DDDD');
    await expect(
      createWebLlmGenerator({
        model: { id: prebuilt.model_id, integrity },
        engineFactory: async (_id, cfg) => {
          seen = cfg;
          throw mismatch;
        },
      }),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect(seen?.appConfig?.model_list).toEqual([{ ...prebuilt, integrity }]);
    await expect(
      createWebLlmGenerator({
        model: { record: { model: 'http://127.0.0.1:9/m/', modelLib: 'http://127.0.0.1:9/lib.wasm', modelId: 'mine' }, integrity },
        engineFactory: async (_id, cfg) => {
          seen = cfg;
          throw new Error(mismatch.message);
        }, // across a worker: the message only
      }),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect(seen?.appConfig?.model_list[0]?.integrity).toEqual(integrity);
  });

  test('options are checked: a model is named, engine and engineFactory exclude each other, unknown prebuilt ids are refused', async () => {
    await expect(createWebLlmGenerator({})).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    const { engine } = scripted([]);
    await expect(createWebLlmGenerator({ engine })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(createWebLlmGenerator({ engine, engineFactory: async () => engine, model: custom })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(createWebLlmGenerator({ model: { id: 'No-Such-Model-MLC' }, engineFactory: async () => engine })).rejects.toMatchObject({
      code: 'UNKNOWN_MODEL',
    });
  });

  test("an app's engine: sampled by it unless a sampler is given; Weft empties its context first and never unloads it", async () => {
    const { engine, state } = scripted([50, 51]);
    await expect(createWebLlmGenerator({ engine, model: custom, modelFiles: files(), sampling: { seed: 3 } })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
    const gen = await createWebLlmGenerator({ engine, model: custom, modelFiles: files() });
    expect(gen.sampledBy).toBe('engine');
    expect(() => gen.setSampling({ temperature: 1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    state.kv.push(9, 9, 9); // the app's own conversation
    await gen.prefill('Hi');
    expect(state.resets).toBe(1);
    expect(state.kv).toEqual([1, ...bpe.encode('Hi', { bos: false })]);
    expect((await gen.step()).token).toBe(50);
    gen.destroy();
    await gen.interrupt();
    expect(state.unloaded).toBe(false);
    expect(state.resets).toBe(2);
  });

  test('loading can be aborted; the engine it ends with is unloaded', async () => {
    const ctl = new AbortController();
    let finish!: () => void;
    const { engine, state } = scripted([]);
    const pending = createWebLlmGenerator({
      model: custom,
      modelFiles: files(),
      signal: ctl.signal,
      engineFactory: () =>
        new Promise((r) => {
          finish = () => r(engine);
        }),
    });
    await new Promise((r) => setTimeout(r, 10));
    ctl.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    finish();
    await new Promise((r) => setTimeout(r, 10));
    expect(state.unloaded).toBe(true);
  });
});
