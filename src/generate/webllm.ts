// The WebLLM adapter: a Generator over @mlc-ai/web-llm's MLCEngine. WebLLM decodes one step
// each time the next chunk of its stream is pulled and leaves the GPU idle until the next pull,
// so step() is exactly one pull. interrupt() calls interruptGenerate() and drains the stream
// (breaking out of it early would leave the engine locked). WebLLM's failures become WeftErrors.

import { percentile } from '../util/stats.js';
import { WeftError, type WeftErrorCode } from '../errors.js';
import type { ChatMessage, GeneratedToken, Generator, GeneratorTimings, LoadProgress, SamplingOptions } from './types.js';

export type { ChatMessage };

/** The chunk shape of WebLLM's streaming chat completions (the fields the adapter reads). */
export interface StreamChunk {
  choices: { delta: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; extra?: { prefill_tokens_per_s?: number; decode_tokens_per_s?: number } } | null;
}


/** The part of MLCEngine the adapter drives: the real engine, or a stand-in with its pull semantics. */
export interface WebLlmEngineLike {
  chat: { completions: { create(request: Record<string, unknown>): Promise<AsyncIterable<StreamChunk>> } };
  interruptGenerate(): void | Promise<void>;
  unload(): Promise<void>;
}

export interface WebLlmInitReport { progress: number; timeElapsed: number; text: string }

export type WebLlmEngineFactory = (modelId: string, config: { initProgressCallback?: (r: WebLlmInitReport) => void; appConfig?: unknown }) => Promise<WebLlmEngineLike>;

export interface WebLlmModel {
  /** A model id from WebLLM's prebuilt list, e.g. 'Llama-3.2-1B-Instruct-q4f16_1-MLC'. */
  id?: string;
  /** Or a custom model: where its weights and its compiled model library are. */
  record?: { model: string; modelLib: string; modelId?: string };
}

export interface WebLlmGeneratorOptions {
  model: WebLlmModel;
  engineFactory?: WebLlmEngineFactory;
  sampling?: SamplingOptions;
  /** Tokens generated at most per answer. Default 512. */
  maxTokens?: number;
  /** Where WebLLM caches downloaded weights (its own backends). Default: WebLLM's (the Cache API). */
  cacheBackend?: 'cache' | 'indexeddb' | 'cross-origin' | 'opfs';
  contextLength?: number;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

export interface WebLlmGenerator extends Generator {
  readonly modelId: string;
  /** Sets the conversation the next generation answers (replaces prefill's text for chat models). */
  setMessages(messages: readonly ChatMessage[]): void;
  /** Stops the current generation; the stream is drained so the engine stays usable. */
  interrupt(): Promise<void>;
  setSampling(options: SamplingOptions): void;
}

/** Maps a WebLLM (or fetch, or WebGPU) failure to a Weft error with an actionable message. */
export function mapWebLlmError(e: unknown, modelId: string): WeftError {
  if (e instanceof WeftError) return e;
  const name = (e as { name?: string } | null)?.name ?? '';
  const ctor = (e as { constructor?: { name?: string } } | null)?.constructor?.name ?? '';
  const message = (e as { message?: string } | null)?.message ?? String(e);
  const kind = `${name} ${ctor}`;
  const make = (code: WeftErrorCode, text: string) => new WeftError(code, text, { cause: e, details: { model: modelId, original: message } });
  if (/WebGPUNotAvailable|WebGPUNotFound/.test(kind) || /WebGPU is not (supported|available)|navigator\.gpu/i.test(message)) {
    return make('WEBGPU_UNAVAILABLE', `WebLLM needs WebGPU, which this browser does not offer (${message}). Use Chrome/Edge 113+ on a secure page.`);
  }
  if (/DeviceLost/.test(kind) || /device (was |is )?lost/i.test(message)) {
    return make('DEVICE_LOST', `The GPU device was lost while running ${modelId} (${message}). Reload the model.`);
  }
  if (/QuotaExceeded/.test(kind) || /quota/i.test(message)) {
    return make('STORAGE_FULL', `There is not enough storage to cache ${modelId} (${message}). Free space or choose a smaller model.`);
  }
  if (/out of memory|OOM|allocation failed|Buffer.*too large|exceeds.*(limit|size)/i.test(message)) {
    return make('GPU_OUT_OF_MEMORY', `${modelId} does not fit in this GPU's memory (${message}). Choose a smaller (more quantised) model.`);
  }
  if (/ModelNotFound|UnsupportedModelId/.test(kind) || /cannot find model record|not found in appConfig|model_id/i.test(message)) {
    return make('UNKNOWN_MODEL', `'${modelId}' is not a WebLLM model id (${message}). Use an id from WebLLM's prebuilt list or pass a custom model record.`);
  }
  if (/Failed to fetch|NetworkError|fetch|HTTP|404|403|ERR_|Load failed|TypeError/i.test(`${message} ${kind}`)) {
    return make('MODEL_UNREACHABLE', `The files of ${modelId} could not be downloaded (${message}). Check the model URL and the network; once cached, models load offline.`);
  }
  return make('GENERATION_FAILED', `WebLLM failed running ${modelId}: ${message}.`);
}

async function prebuiltList(): Promise<{ model_list: unknown[] }> {
  const webllm = await import('@mlc-ai/web-llm');
  return { model_list: webllm.prebuiltAppConfig.model_list };
}

async function defaultFactory(): Promise<WebLlmEngineFactory> {
  const webllm = await import('@mlc-ai/web-llm');
  return async (modelId, config) => webllm.CreateMLCEngine(modelId, config as never) as unknown as WebLlmEngineLike;
}

export async function createWebLlmGenerator(options: WebLlmGeneratorOptions): Promise<WebLlmGenerator> {
  const { model } = options;
  const modelId = model.record ? (model.record.modelId ?? model.record.model) : model.id;
  if (!modelId) throw new WeftError('INVALID_OPTION', 'Pass model.id (a WebLLM prebuilt model id) or model.record ({ model, modelLib }).');
  const factory = options.engineFactory ?? await defaultFactory();
  const appConfig = model.record
    ? { model_list: [{ model: model.record.model, model_id: modelId, model_lib: model.record.modelLib }], ...(options.cacheBackend ? { cacheBackend: options.cacheBackend } : {}) }
    : options.cacheBackend ? { ...(await prebuiltList()), cacheBackend: options.cacheBackend } : undefined;
  let engine: WebLlmEngineLike;
  try {
    const loading = factory(modelId, {
      initProgressCallback: (r) => {
        options.onProgress?.({ status: 'init', done: Math.round(r.progress * 1000), total: 1000 });
      },
      ...(appConfig ? { appConfig } : {}),
    });
    engine = await (options.signal
      ? Promise.race([loading, new Promise<never>((_, reject) => {
        const fail = () => reject(new WeftError('ABORTED', `Loading ${modelId} was aborted.`));
        if (options.signal!.aborted) fail(); else options.signal!.addEventListener('abort', fail, { once: true });
      })])
      : loading);
  } catch (e) {
    throw mapWebLlmError(e, modelId);
  }
  options.onProgress?.({ status: 'ready' });

  let messages: ChatMessage[] = [];
  let iterator: AsyncIterator<StreamChunk> | undefined;
  let position = 0;
  let sampling = options.sampling ?? {};
  const decodeMs: number[] = [];
  let prefillRate = 0;
  let interrupted = false;

  const finish = async () => {
    const it = iterator;
    iterator = undefined;
    if (!it) return;
    try { for (let r = await it.next(); !r.done; r = await it.next()) { /* drain */ } } catch { /* an interrupted stream may end with an error */ }
  };

  const gen: WebLlmGenerator = {
    modelId,
    contextLength: options.contextLength ?? 4096,
    get position() { return position; },

    setMessages(m) { messages = m.map((x) => ({ ...x })); },

    async prefill(prompt) {
      await finish();
      const text = typeof prompt === 'string' ? prompt : prompt.join(' ');
      messages = [...messages, { role: 'user', content: text }];
      position = 0;
    },

    async step(): Promise<GeneratedToken> {
      try {
        if (!iterator) {
          if (messages.length === 0) throw new WeftError('INVALID_INPUT', 'Nothing to answer: call prefill() with a prompt first.');
          interrupted = false;
          const stream = await engine.chat.completions.create({
            messages, stream: true, stream_options: { include_usage: true },
            max_tokens: options.maxTokens ?? 512,
            temperature: sampling.temperature ?? 0, top_p: sampling.topP ?? 1,
            ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}),
          });
          iterator = stream[Symbol.asyncIterator]();
        }
        const t0 = performance.now();
        for (;;) {
          const r = await iterator.next();
          if (r.done) { iterator = undefined; messages = []; return { token: -1, piece: '', done: true }; }
          const chunk = r.value;
          if (chunk.usage?.extra?.prefill_tokens_per_s) prefillRate = chunk.usage.extra.prefill_tokens_per_s;
          const choice = chunk.choices[0];
          if (!choice) continue; // the usage-only final chunk
          decodeMs.push(performance.now() - t0);
          position++;
          return { token: position, piece: choice.delta.content ?? '', done: interrupted };
        }
      } catch (e) {
        iterator = undefined;
        throw mapWebLlmError(e, modelId);
      }
    },

    async interrupt() {
      interrupted = true;
      if (!iterator) return;
      await engine.interruptGenerate();
      await finish();
      messages = [];
    },

    reset() { void finish(); messages = []; position = 0; },

    timings(): GeneratorTimings {
      const steps = decodeMs.slice(1); // the first pull includes prefill
      return { prefillTokensPerSecond: prefillRate, decodeMsMedian: percentile(steps, 0.5), decodeMsP99: percentile(steps, 0.99), steps: decodeMs.length };
    },

    setSampling(s) { sampling = s; },

    // WebLLM does not expose its tokenizer; about four characters per token for English text.
    countTokens(text) { return Math.ceil(text.length / 4); },
    formatChat(m) { return m.map((x) => x.content).join('\n\n'); },

    destroy() { void finish().then(() => engine.unload()).catch(() => undefined); },
  };
  return gen;
}
