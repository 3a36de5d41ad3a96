// A stand-in for WebLLM's MLCEngine (web-llm 0.2.86 src/engine.ts, src/llm_chat.ts), for tests:
// real WebLLM weights cannot be downloaded here, so the model is stories260K run by Weft's WebGPU
// llama2.c generator, behind the MLCEngine methods the WebLLM adapter and the tests use, with
// their semantics as WebLLM implements them:
// - reload(modelId, chatOpts): unloads first, finds the record in appConfig (ModelNotFoundError),
//   "downloads" the model with initProgressCallback reports and leaves mlc-chat-config.json and
//   tokenizer.json in WebLLM's Cache API buckets ('webllm/config', 'webllm/model') under the
//   URLs reloadInternal uses (cleanModelUrl of the record's `model`); the config is the file's
//   with the record's overrides and chatOpts over it; the logit processor registered for the
//   model (logitProcessorRegistry, read at reload) is attached; unload() aborts a running reload.
// - forwardTokensAndSample(ids, isPrefill): appends the ids to the KV cache, then samples the
//   next token from the logits after the last one with the chat config's temperature and top_p
//   (no GenerationConfig: LLMChatPipeline.forwardTokensAndSample passes none), the logits passed
//   through the logit processor first and the draw reported to it; isPrefill only feeds the stats.
// - resetChat(): empties the KV cache (and the processor's state and, unless keepStats, the stats).
// - completions.create / completion(): WebLLM's text completion, under the model's lock: resetChat,
//   prefill the prompt's ids (no system prefix), then decode until a stop token, max_tokens, the
//   context's end or interruptGenerate(), which stops the running generation ('abort').
// Probes that MLCEngine does not have (`calls`, `inFlight`, `kvLength`, `generating`) let tests
// see what ran. The stories260K files are read from the record's `model` folder.

import { Tokenizer } from '@huggingface/tokenizers';
import { loadLlama2c, type Llama2cGenerator } from '../../src/generate/llama2c-gpu.js';
import { createSampler, type Sampler } from '../../src/generate/sampler.js';
import type { GpuContext } from '../../src/gpu/context.js';
import type { WebLlmEngineConfig, WebLlmInitReport, WebLlmLogitProcessor } from '../../src/generate/webllm.js';
import type { WebLlmModelRecord } from '../../src/generate/webllm-files.js';
import { llama2cTokenizerJson } from './llama2c-tokenizer-json.js';

/** WebLLM's ModelRecord: `model` is the folder that holds stories260K.bin and tok512.bin. */
export type StandInRecord = WebLlmModelRecord;
type InitProgressReport = WebLlmInitReport;
type LogitProcessor = WebLlmLogitProcessor;

/** MLCEngineConfig (so createStandInMLCEngine is a WebLlmEngineFactory), and where the model runs. */
export interface StandInEngineConfig extends WebLlmEngineConfig {
  /** Default: a device of its own. Not an MLCEngine option: WebLLM always makes its own device. */
  gpu?: GpuContext | GPUDevice;
}

/**
 * stories260K's mlc-chat-config.json: MLC's 'LM' conversation template (a plain language model:
 * no roles, BOS as the system prefix, EOS as the stop token) and greedy sampling.
 */
export const STAND_IN_CHAT_CONFIG = {
  model_type: 'llama',
  vocab_size: 512,
  context_window_size: 512,
  sliding_window_size: -1,
  attention_sink_size: -1,
  prefill_chunk_size: 64,
  temperature: 0,
  top_p: 1,
  repetition_penalty: 1,
  frequency_penalty: 0,
  presence_penalty: 0,
  bos_token_id: 1,
  eos_token_id: 2,
  tokenizer_files: ['tokenizer.json'],
  conv_template: {
    name: 'LM',
    system_template: '{system_message}',
    system_message: '',
    system_prefix_token_ids: [1],
    add_role_after_system_message: true,
    roles: { user: '', assistant: '' },
    role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
    seps: [''],
    role_content_sep: '',
    role_empty_sep: '',
    stop_str: [],
    stop_token_ids: [2],
  },
};

/** WebLLM's cleanModelUrl, resolved against the page as reloadInternal does. */
export function webllmModelUrl(model: string): string {
  let url = model + (model.endsWith('/') ? '' : '/');
  if (!url.match(/.+\/resolve\/.+\//)) url += 'resolve/main/';
  return new URL(url, typeof document !== 'undefined' ? document.URL : globalThis.location.origin).href;
}

/** Deletes what reload() left in WebLLM's caches for a record. */
export async function deleteStandInFiles(record: StandInRecord): Promise<void> {
  const base = webllmModelUrl(record.model);
  await (await caches.open('webllm/config')).delete(new URL('mlc-chat-config.json', base).href);
  await (await caches.open('webllm/model')).delete(new URL('tokenizer.json', base).href);
}

class CustomLock {
  private acquired = false;
  private readonly queue: (() => void)[] = [];
  async acquire() {
    if (!this.acquired) {
      this.acquired = true;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }
  async release() {
    if (!this.acquired) throw Error('InternalError: expect lock is acquired upon release()');
    const next = this.queue.shift();
    if (next) next();
    else this.acquired = false;
  }
}

const named = (name: string, message: string) => Object.assign(new Error(message), { name });

interface Loaded {
  modelId: string;
  gen: Llama2cGenerator;
  tokenizer: Tokenizer;
  config: typeof STAND_IN_CHAT_CONFIG;
  contextWindow: number;
  processor: LogitProcessor | undefined;
  sampler: Sampler;
  lock: CustomLock;
  stats: { prefillTokens: number; prefillSec: number; decodeTokens: number; decodeSec: number };
}

interface CompletionRequest {
  prompt: string;
  stream?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stream_options?: { include_usage?: boolean };
}

interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: { index: number; text: string; finish_reason: string | null; logprobs: null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export type StandInEngine = ReturnType<typeof createStandInEngine>;

export function createStandInEngine(engineConfig: StandInEngineConfig = {}) {
  let appConfig = engineConfig.appConfig;
  let progress = engineConfig.initProgressCallback;
  let registry = engineConfig.logitProcessorRegistry;
  let loaded: Loaded | undefined;
  let reloadController: AbortController | undefined;
  let interruptSignal = false;
  const seed = () => crypto.getRandomValues(new Uint32Array(1))[0]! || 1;

  const probes = {
    /** Every MLCEngine method called, in order. */
    calls: [] as { method: string; inputIds?: number[]; isPrefill?: boolean }[],
    /** forwardTokensAndSample calls running now. */
    inFlight: 0,
    /** A completion's decode loop is running. */
    generating: false,
  };

  const states = (requestName: string, modelId?: string): Loaded => {
    if (!loaded)
      throw named(
        'ModelNotLoadedError',
        `Model not loaded before trying to complete ${requestName}. Please ensure you have called MLCEngine.reload(model) to load the model before initiating APIs, or initialize your engine using CreateMLCEngine() with a valid model configuration.`,
      );
    if (modelId !== undefined && modelId !== loaded.modelId) {
      throw named(
        'SpecifiedModelNotFoundError',
        `Specified model ${modelId} for ${requestName} is not found in loaded models. Please check if the correct model is loaded/specified. Currently loaded models are:\n${loaded.modelId}`,
      );
    }
    return loaded;
  };

  /** LLMChatPipeline's forward of `ids` and sampleFromRawLogits (+ commitSamplerState). */
  const forwardAndSample = async (m: Loaded, ids: number[], isPrefill: boolean, sampler: Sampler) => {
    if (ids.length === 0) throw new Error('inputIds must not be empty');
    if (m.gen.position + ids.length > m.contextWindow) {
      throw new Error(`Check failed: the KV cache holds ${m.gen.position} of ${m.contextWindow} tokens and cannot append ${ids.length} more.`);
    }
    const t0 = performance.now();
    await m.gen.prefill(ids);
    let logits = await m.gen.logits();
    if (m.processor) logits = m.processor.processLogits(logits);
    const token = sampler.sample(logits);
    m.processor?.processSampledToken(token);
    const sec = (performance.now() - t0) / 1000;
    if (isPrefill) {
      m.stats.prefillTokens += ids.length;
      m.stats.prefillSec += sec;
    } else {
      m.stats.decodeTokens += 1;
      m.stats.decodeSec += sec;
    }
    return token;
  };

  const resetChat = (m: Loaded, keepStats: boolean) => {
    m.gen.reset();
    m.processor?.resetState();
    if (!keepStats) m.stats = { prefillTokens: 0, prefillSec: 0, decodeTokens: 0, decodeSec: 0 };
  };

  const samplerFor = (m: Loaded, temperature: number | undefined, topP: number | undefined) => {
    // softmax at max(1e-6, t) is one-hot: greedy.
    const t = temperature ?? m.config.temperature;
    return t <= 1e-6 ? createSampler(m.config.vocab_size, 0) : createSampler(m.config.vocab_size, t, topP ?? m.config.top_p, seed());
  };

  /** engine.asyncGenerate for a text completion: yields chunks, holds the lock until the end. */
  async function* generate(m: Loaded, request: CompletionRequest): AsyncGenerator<Completion> {
    const id = crypto.randomUUID();
    const created = Date.now();
    const chunk = (text: string, finish: string | null): Completion => ({
      id,
      object: 'text_completion',
      created,
      model: m.modelId,
      choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
    });
    interruptSignal = false;
    const sampler = samplerFor(m, request.temperature, request.top_p);
    const outputIds: number[] = [];
    let message = '';
    let sent = 0;
    let finish: string | undefined;
    let promptTokens = 0;
    // processNextToken: stop token, then max_tokens, then the context's end.
    const accept = (token: number) => {
      if (m.config.conv_template.stop_token_ids.includes(token)) {
        finish = 'stop';
        return;
      }
      outputIds.push(token);
      message = m.tokenizer.decode(outputIds, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      if (request.max_tokens && outputIds.length >= request.max_tokens) finish = 'length';
      else if (m.gen.position === m.contextWindow) finish = 'length';
    };
    const delta = () => {
      // A message ending in U+FFFD is mid-character: wait (WebLLM's _getChunk).
      if (message.endsWith('\uFFFD')) return undefined;
      const d = message.slice(sent);
      sent = message.length;
      return chunk(d, null);
    };
    probes.generating = true;
    try {
      resetChat(m, false);
      const ids = m.tokenizer.encode(request.prompt, { add_special_tokens: false }).ids;
      promptTokens = ids.length;
      accept(await forwardAndSample(m, ids, true, sampler));
      const first = delta();
      if (first) yield first;
      while (finish === undefined) {
        if (interruptSignal) {
          finish = 'abort';
          break;
        }
        accept(await forwardAndSample(m, [outputIds[outputIds.length - 1]!], false, sampler));
        const next = delta();
        if (next) yield next;
      }
    } catch (e) {
      probes.generating = false;
      await m.lock.release();
      throw e;
    }
    probes.generating = false;
    yield chunk('', finish);
    if (request.stream_options?.include_usage) {
      yield {
        ...chunk('', null),
        choices: [],
        usage: { prompt_tokens: promptTokens, completion_tokens: outputIds.length, total_tokens: promptTokens + outputIds.length },
      };
    }
    await m.lock.release();
  }

  const engine = {
    setAppConfig(c: StandInEngineConfig['appConfig']) {
      appConfig = c;
    },
    setInitProgressCallback(cb?: (r: InitProgressReport) => void) {
      progress = cb;
    },
    getInitProgressCallback() {
      return progress;
    },
    /** Read at the next reload(), as MLCEngine does. */
    setLogitProcessorRegistry(r?: Map<string, LogitProcessor>) {
      registry = r;
    },

    async reload(modelId: string | string[], chatOpts?: object | object[]) {
      probes.calls.push({ method: 'reload' });
      await engine.unload();
      const ids = Array.isArray(modelId) ? modelId : [modelId];
      if (ids.length !== 1) throw new Error('The stand-in engine loads one model at a time.');
      const id = ids[0]!;
      const opts = Array.isArray(chatOpts) ? chatOpts[0] : chatOpts;
      const record = appConfig?.model_list.find((r) => r.model_id === id);
      if (!record)
        throw named(
          'ModelNotFoundError',
          `Cannot find model record in appConfig for ${id}. Please check if the model ID is correct and included in the model_list configuration.`,
        );
      const controller = new AbortController();
      reloadController = controller;
      const t0 = performance.now();
      const elapsed = () => (performance.now() - t0) / 1000;
      try {
        const folder = record.model.endsWith('/') ? record.model : `${record.model}/`;
        const files = ['stories260K.bin', 'tok512.bin'];
        const bytes: ArrayBuffer[] = [];
        let fetched = 0;
        for (const [i, f] of files.entries()) {
          const res = await fetch(new URL(f, new URL(folder, location.href)), { signal: controller.signal });
          if (!res.ok) throw new Error(`Failed to fetch ${f}: HTTP ${res.status}`);
          bytes.push(await res.arrayBuffer());
          fetched += bytes[i]!.byteLength;
          progress?.({
            progress: (i + 1) / (files.length + 1),
            timeElapsed: elapsed(),
            text: `Fetching param cache[${i + 1}/${files.length}]: ${(fetched / 2 ** 20).toFixed(1)}MB fetched. ${Math.round(((i + 1) / files.length) * 100)}% completed, ${Math.round(elapsed())} secs elapsed.`,
          });
        }
        const config = { ...STAND_IN_CHAT_CONFIG, ...record.overrides, ...opts } as typeof STAND_IN_CHAT_CONFIG;
        const tokenizerJson = llama2cTokenizerJson(bytes[1]!, config.vocab_size);
        // What WebLLM's fetchWithCache leaves behind.
        const base = webllmModelUrl(record.model);
        const json = (o: unknown) => new Response(JSON.stringify(o), { headers: { 'content-type': 'application/json' } });
        await (await caches.open('webllm/config')).put(new URL('mlc-chat-config.json', base).href, json(config));
        await (await caches.open('webllm/model')).put(new URL('tokenizer.json', base).href, json(tokenizerJson));
        const gen = await loadLlama2c({ model: bytes[0]!, tokenizer: bytes[1]!, ...(engineConfig.gpu ? { gpu: engineConfig.gpu } : {}) });
        if (controller.signal.aborted) {
          gen.destroy();
          return;
        } // reload() returns quietly when unload() aborts it
        const m: Loaded = {
          modelId: id,
          gen,
          config,
          tokenizer: new Tokenizer(tokenizerJson, { clean_up_tokenization_spaces: false }),
          contextWindow: Math.min(config.context_window_size, gen.contextLength),
          processor: registry?.get(id),
          sampler: undefined as unknown as Sampler,
          lock: new CustomLock(),
          stats: { prefillTokens: 0, prefillSec: 0, decodeTokens: 0, decodeSec: 0 },
        };
        m.sampler = samplerFor(m, undefined, undefined);
        resetChat(m, false);
        loaded = m;
        progress?.({ progress: 1, timeElapsed: elapsed(), text: 'Finish loading on WebGPU - stand-in (llama2.c on Weft)' });
      } catch (e) {
        if (controller.signal.aborted) return;
        throw e;
      } finally {
        if (reloadController === controller) reloadController = undefined;
      }
    },

    async unload() {
      probes.calls.push({ method: 'unload' });
      loaded?.gen.destroy();
      loaded = undefined;
      reloadController?.abort('Engine.unload() is called.');
      reloadController = undefined;
    },

    async forwardTokensAndSample(inputIds: number[], isPrefill: boolean, modelId?: string): Promise<number> {
      probes.calls.push({ method: 'forwardTokensAndSample', inputIds: [...inputIds], isPrefill });
      const m = states('forwardTokensAndSample', modelId);
      probes.inFlight++;
      try {
        return await forwardAndSample(m, inputIds, isPrefill, m.sampler);
      } finally {
        probes.inFlight--;
      }
    },

    async resetChat(keepStats = false, modelId?: string) {
      probes.calls.push({ method: 'resetChat' });
      // Before a model is loaded this is a no-op, as in MLCEngine.resetChat.
      if (!loaded) return;
      resetChat(states('resetChat', modelId), keepStats);
    },

    async interruptGenerate() {
      probes.calls.push({ method: 'interruptGenerate' });
      interruptSignal = true;
    },

    async completion(request: CompletionRequest): Promise<AsyncGenerator<Completion> | Completion> {
      probes.calls.push({ method: 'completion' });
      const m = states('completion');
      await m.lock.acquire();
      const chunks = generate(m, request);
      if (request.stream) return chunks;
      let text = '';
      let finish: string | null = null;
      for await (const c of chunks) {
        text += c.choices[0]?.text ?? '';
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      return {
        id: crypto.randomUUID(),
        object: 'text_completion',
        created: Date.now(),
        model: m.modelId,
        choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
      };
    },

    completions: {
      create: (request: CompletionRequest) => engine.completion(request),
    },

    async runtimeStatsText(modelId?: string) {
      const { stats } = states('runtimeStatsText', modelId);
      return `prefill: ${(stats.prefillTokens / Math.max(stats.prefillSec, 1e-9)).toFixed(1)} tokens/sec, decoding: ${(stats.decodeTokens / Math.max(stats.decodeSec, 1e-9)).toFixed(1)} tokens/sec`;
    },

    /** Test probes (not MLCEngine's). */
    probes,
    /** Tokens in the KV cache (LLMChatPipeline.filledKVCacheLength). */
    get kvLength() {
      return loaded?.gen.position ?? 0;
    },
  };
  return engine;
}

/** CreateMLCEngine for the stand-in: create, then reload. */
export async function createStandInMLCEngine(modelId: string, engineConfig: StandInEngineConfig, chatOpts?: object): Promise<StandInEngine> {
  const engine = createStandInEngine(engineConfig);
  await engine.reload(modelId, chatOpts);
  return engine;
}
