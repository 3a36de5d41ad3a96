// The WebLLM adapter: a Generator over MLCEngine's token-level API, forwardTokensAndSample(ids,
// isPrefill) (web-llm src/llm_chat.ts: it appends the ids to the KV cache, prefill in chunks, and
// returns a token sampled from the logits after the last one). prefill() forwards the prompt's
// ids and nothing else; step() takes the next token, feeds it (one decode step) and returns its
// id and text; resetChat() empties the KV cache, so a refresh or a speculative prefill re-prefills
// ids of the new prompt and of the answer so far, in the same assistant turn. No WebLLM
// generation loop ever runs, so nothing is left decoding after an answer ends.
//
// Sampling: forwardTokensAndSample samples with the chat config the model was loaded with (it
// passes no GenerationConfig to sampleFromRawLogits), so per-call temperature/top-p/seed cannot be
// given to it. Instead a logit processor (MLCEngineConfig.logitProcessorRegistry) hands the
// logits to Weft, which samples them with llama2.c's sampler (sampler.ts, as the reference
// generator does) and ignores the engine's draw. An engine the app brings samples on its own
// unless the app registered createWebLlmSampler()'s processor when it created it.
//
// One GPU device: WebLLM cannot be given the app's GPUDevice. MLCEngine.reloadInternal (web-llm
// src/engine.ts) always calls tvmjs's detectGPUDevice(), which requests its own adapter and
// device, and hands that to tvm.initWebGPU(); MLCEngineConfig and ChatOptions have no device
// field, and neither exposes the device it made. unload() destroys that device
// (LLMChatPipeline.dispose -> tvm.dispose -> WebGPUContext.dispose -> device.destroy()), and
// tvmjs's tryCreateBuffer destroys it on any buffer error, so a device shared with it would die
// with the model. WebLLM therefore runs on a device of its own, beside the engine's.
// Over 400 lines: the adapter around one WebLLM engine (load, prefill, decode, the sampler hook);
// its chat template and tokenizer are apart already.

import { percentile } from '../util/stats.js';
import { WeftError } from '../errors.js';
import { mapWebLlmError } from './webllm-errors.js';
import { createSerialQueue } from '../util/serial-queue.js';
import { createSampler, tokenProbability, type Sampler } from './sampler.js';
import {
  loadChatConfig,
  loadTokenizerJson,
  type WebLlmCacheBackend,
  type WebLlmChatConfig,
  type WebLlmIntegrity,
  type WebLlmModelRecord,
} from './webllm-files.js';
import { renderConversation, type WebLlmConvTemplate } from './webllm-template.js';
import { createDetokenizer, tokenizerFromJson, type Detokenizer, type WebLlmTokenizer } from './webllm-tokenizer.js';
import type { ChatMessage, GeneratedToken, Generator, GeneratorTimings, LoadProgress, SamplingOptions } from './types.js';

export type { ChatMessage, WebLlmChatConfig, WebLlmCacheBackend, WebLlmIntegrity };
export { mapWebLlmError };

/**
 * The part of MLCEngine the adapter drives. MLCEngine and WebWorkerMLCEngine both have it (the
 * worker's forwards each call to the MLCEngine in its worker).
 */
export interface WebLlmEngineLike {
  forwardTokensAndSample(inputIds: number[], isPrefill: boolean, modelId?: string): Promise<number>;
  resetChat(keepStats?: boolean, modelId?: string): Promise<void>;
  unload(): Promise<void>;
  /** A WebWorkerMLCEngine's loaded model ids and their ChatOptions (MLCEngine keeps its own private). */
  modelId?: string[] | undefined;
  chatOpts?: object[] | undefined;
}

/** WebLLM's LogitProcessor. */
export interface WebLlmLogitProcessor {
  processLogits(logits: Float32Array): Float32Array;
  processSampledToken(token: number): void;
  resetState(): void;
}

/** Lets Weft sample a model's tokens (per-call temperature, top-p, seed). */
export interface WebLlmSampler {
  /** Register this for the model in the engine's `logitProcessorRegistry` (it passes the logits through unchanged). */
  readonly processor: WebLlmLogitProcessor;
  /** The logits the processor saw last, once (undefined if it saw none since the last call). */
  takeLogits(): Float32Array | undefined;
}

/**
 * A logit processor for an app's own WebLLM engine: register its `processor` for the model when
 * creating the engine, hand it to createWebLlmGenerator, and Weft sets temperature, topP and seed per
 * answer.
 */
export function createWebLlmSampler(): WebLlmSampler {
  let seen: Float32Array | undefined;
  return {
    processor: {
      // WebLLM hands over a copy (Tensor.toArray), so keeping it is safe.
      processLogits(logits) {
        seen = logits;
        return logits;
      },
      processSampledToken() {
        /* Weft samples by itself */
      },
      resetState() {
        seen = undefined;
      },
    },
    takeLogits() {
      const l = seen;
      seen = undefined;
      return l;
    },
  };
}

export interface WebLlmInitReport {
  progress: number;
  timeElapsed: number;
  text: string;
}

/**
 * The engine configuration Weft passes to a WebLlmEngineFactory: progress callback, model list and
 * cache backend, logit processors.
 */
export interface WebLlmEngineConfig {
  initProgressCallback?: (r: WebLlmInitReport) => void;
  appConfig?: { model_list: WebLlmModelRecord[]; cacheBackend?: WebLlmCacheBackend };
  logitProcessorRegistry?: Map<string, WebLlmLogitProcessor>;
}

/** Creates and loads an engine (default: WebLLM's CreateMLCEngine). */
export type WebLlmEngineFactory = (modelId: string, config: WebLlmEngineConfig, chatOptions?: object) => Promise<WebLlmEngineLike>;

/**
 * A WebLLM model: a prebuilt id, or a custom record (weights and model library URLs), with optional
 * integrity hashes.
 */
export interface WebLlmModel {
  /** A model id from WebLLM's prebuilt list, e.g. 'Llama-3.2-1B-Instruct-q4f16_1-MLC'. */
  id?: string;
  /**
   * Or a custom model: where its weights and its compiled model library are. Pin a revision by
   * giving `model` as a Hugging Face URL with `/resolve/<commit>/` (the default is `main`).
   */
  record?: {
    model: string;
    modelLib: string;
    modelId?: string;
    /**
     * GPU memory the model needs, in MiB (WebLLM's vram_required_MB; its prebuilt records carry it).
     * In the engine worker it counts against gpuBudgetBytes before the model loads; without it the
     * model's memory is not counted.
     */
    vramRequiredMB?: number;
  };
  /** Hashes WebLLM checks the model's files against (prebuilt or custom); a mismatch is CHECKSUM_MISMATCH and the load fails. */
  integrity?: WebLlmIntegrity;
}

/**
 * Options of createWebLlmGenerator: the model to load (or an engine the app already has, with its
 * sampler), the engine factory, sampling, cache backend, progress and abort.
 */
export interface WebLlmGeneratorOptions {
  /** The model to load; with `engine`, the model that engine has loaded (default: a WebWorkerMLCEngine's own modelId). */
  model?: WebLlmModel;
  /**
   * An MLCEngine or WebWorkerMLCEngine the app already has, with the model loaded. Weft drives it
   * between its own calls (do not run the app's completions on it during an answer), empties its
   * context before its first prefill and when destroyed, and never unloads it.
   */
  engine?: WebLlmEngineLike;
  /** With `engine`: the sampler whose `processor` the app registered for the model. Without it, the engine samples with its chat config and setSampling refuses settings. */
  sampler?: WebLlmSampler;
  engineFactory?: WebLlmEngineFactory;
  /** Sampling of the answers (default greedy); setSampling() changes it per answer. */
  sampling?: SamplingOptions;
  /** Tokens generated at most per answer (it continues across a refresh); then step() reports done. Default: no cap. */
  maxTokens?: number;
  /**
   * Where WebLLM caches downloaded weights (its own backends). Default: WebLLM's (the Cache API),
   * which the model's tokenizer.json and mlc-chat-config.json are also read from; with another
   * backend they come from the network (or `modelFiles`).
   */
  cacheBackend?: WebLlmCacheBackend;
  /** Context window to load the model with (ChatOptions.context_window_size). Default: the model's. */
  contextLength?: number;
  /** ChatOptions over the model's mlc-chat-config.json: passed to the engine Weft loads; with `engine`, the ones it was loaded with (a WebWorkerMLCEngine's are read from it). */
  chatOptions?: object;
  /** The model's mlc-chat-config.json and tokenizer.json, when the app has them (otherwise read from WebLLM's cache or the model's URL). */
  modelFiles?: { chatConfig?: WebLlmChatConfig; tokenizer?: object | ArrayBuffer | string };
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

/**
 * WebLLM driven at the token level: a Generator on MLCEngine's forwardTokensAndSample with the model's
 * own tokenizer and conversation template.
 */
export interface WebLlmGenerator extends Generator {
  readonly modelId: string;
  /** Who samples: Weft (setSampling applies) or the engine (its chat config's temperature and top_p). */
  readonly sampledBy: 'weft' | 'engine';
  /** The model's stop token ids (its conv_template's stop_token_ids). */
  readonly stopTokens: readonly number[];
  /** Token ids of `text` (no special tokens added). */
  encode(text: string): number[];
  /** Ends the current answer: the next step() reports done; resolves once no step is running. */
  interrupt(): Promise<void>;
}

async function defaultFactory(): Promise<WebLlmEngineFactory> {
  const webllm = await import('@mlc-ai/web-llm');
  return async (modelId, config, chatOptions) => webllm.CreateMLCEngine(modelId, config as never, chatOptions as never) as unknown as WebLlmEngineLike;
}

/** The model's id and record: a custom one, or WebLLM's prebuilt entry. */
async function resolveModel(
  model: WebLlmModel | undefined,
  engine: WebLlmEngineLike | undefined,
): Promise<{ modelId: string; record: WebLlmModelRecord; custom: boolean }> {
  if (model?.record) {
    const modelId = model.record.modelId ?? model.record.model;
    const record = {
      model: model.record.model,
      model_id: modelId,
      model_lib: model.record.modelLib,
      ...(model.integrity ? { integrity: model.integrity } : {}),
      ...(model.record.vramRequiredMB !== undefined ? { vram_required_MB: model.record.vramRequiredMB } : {}),
    };
    return { modelId, record, custom: true };
  }
  const modelId = model?.id ?? engine?.modelId?.[0];
  if (!modelId) {
    throw new WeftError(
      'INVALID_OPTION',
      engine
        ? 'Pass model.id (the WebLLM prebuilt id the engine has loaded) or model.record ({ model, modelLib }) with the engine.'
        : 'Pass model.id (a WebLLM prebuilt model id) or model.record ({ model, modelLib }).',
    );
  }
  const { prebuiltAppConfig } = await import('@mlc-ai/web-llm');
  const record = prebuiltAppConfig.model_list.find((r) => r.model_id === modelId);
  if (!record)
    throw new WeftError('UNKNOWN_MODEL', `'${modelId}' is not in WebLLM's prebuilt model list. Use a prebuilt id, or pass model.record ({ model, modelLib }).`);
  // A prebuilt record with hashes is a record of the app's own (WebLLM reads integrity from the record).
  if (model?.integrity) return { modelId, record: { ...(record as WebLlmModelRecord), integrity: model.integrity }, custom: true };
  return { modelId, record: record as WebLlmModelRecord, custom: false };
}

/**
 * The id and WebLLM record of the model createWebLlmGenerator would load for `model` (WebLLM's
 * prebuilt entry, or the custom record): what the engine reads the model's memory from before
 * loading it. INVALID_OPTION without a model, UNKNOWN_MODEL for an id WebLLM does not list.
 */
export async function webLlmModelRecord(model: WebLlmModel): Promise<{ modelId: string; record: WebLlmModelRecord }> {
  const { modelId, record } = await resolveModel(model, undefined);
  return { modelId, record };
}

const hasSettings = (s: SamplingOptions | undefined) => s !== undefined && (s.temperature !== undefined || s.topP !== undefined || s.seed !== undefined);

/**
 * Loads a WebLLM model (prebuilt or custom, with download progress), or adopts an engine the app
 * already has, as a token-level Generator. Failures are WeftErrors: WEBGPU_UNAVAILABLE, DEVICE_LOST,
 * GPU_OUT_OF_MEMORY, STORAGE_FULL, MODEL_UNREACHABLE, UNKNOWN_MODEL, CHECKSUM_MISMATCH.
 */
export async function createWebLlmGenerator(options: WebLlmGeneratorOptions): Promise<WebLlmGenerator> {
  if (options.engine && options.engineFactory)
    throw new WeftError('INVALID_OPTION', 'Pass either engine (an engine you loaded) or engineFactory (how Weft loads one), not both.');
  const { modelId, record, custom } = await resolveModel(options.model, options.engine);
  const brought = options.engine;
  const sampler = brought ? options.sampler : createWebLlmSampler();
  if (brought && !sampler && hasSettings(options.sampling)) throw samplingRefused(modelId);
  const fileOpts = { cacheBackend: options.cacheBackend, signal: options.signal };
  const chatOptions = {
    ...(brought ? brought.chatOpts?.[brought.modelId?.indexOf(modelId) ?? -1] : options.contextLength ? { context_window_size: options.contextLength } : {}),
    ...options.chatOptions,
  };
  const aborted = () => new WeftError('ABORTED', `Loading ${modelId} was aborted.`);
  try {
    let engine = brought;
    if (!engine) {
      const factory = options.engineFactory ?? (await defaultFactory());
      const appConfig =
        custom || options.cacheBackend
          ? {
              model_list: custom ? [record] : ((await import('@mlc-ai/web-llm')).prebuiltAppConfig.model_list as WebLlmModelRecord[]),
              ...(options.cacheBackend ? { cacheBackend: options.cacheBackend } : {}),
            }
          : undefined;
      if (options.signal?.aborted) throw aborted();
      const loading = factory(
        modelId,
        {
          initProgressCallback: (r) => options.onProgress?.({ status: 'init', done: Math.round(r.progress * 1000), total: 1000, text: r.text }),
          ...(appConfig ? { appConfig } : {}),
          logitProcessorRegistry: new Map([[modelId, sampler!.processor]]),
        },
        Object.keys(chatOptions).length > 0 ? chatOptions : undefined,
      );
      engine = await (options.signal
        ? Promise.race([
            loading,
            new Promise<never>((_, reject) => {
              const fail = () => {
                reject(aborted());
                // The load goes on inside WebLLM: unload whatever it ends with.
                loading.then((e) => e.unload()).catch(() => undefined);
              };
              if (options.signal!.aborted) fail();
              else options.signal!.addEventListener('abort', fail, { once: true });
            }),
          ])
        : loading);
    }
    try {
      // Read once the model is loaded: WebLLM has cached both files by then (no second download).
      const config = options.modelFiles?.chatConfig
        ? { ...options.modelFiles.chatConfig, ...chatOptions }
        : await loadChatConfig(record, chatOptions, fileOpts);
      const tokenizer = tokenizerFromJson(options.modelFiles?.tokenizer ?? (await loadTokenizerJson(record, config, fileOpts)));
      options.onProgress?.({ status: 'ready' });
      return createGenerator({
        engine,
        owns: !brought,
        modelId,
        config,
        tokenizer,
        sampler,
        sampling: options.sampling ?? {},
        maxTokens: options.maxTokens ?? Infinity,
      });
    } catch (e) {
      if (!brought) await engine.unload().catch(() => undefined);
      throw e;
    }
  } catch (e) {
    throw mapWebLlmError(e, modelId);
  }
}

function samplingRefused(modelId: string): WeftError {
  return new WeftError(
    'INVALID_OPTION',
    `This engine samples ${modelId} with its own chat config, so Weft cannot set temperature, topP or seed. Create the engine with logitProcessorRegistry: new Map([['${modelId}', sampler.processor]]) for a sampler from createWebLlmSampler(), and pass that sampler with the engine; or load the model with the ChatOptions you want (temperature, top_p).`,
  );
}

interface GeneratorParts {
  engine: WebLlmEngineLike;
  owns: boolean;
  modelId: string;
  config: WebLlmChatConfig;
  tokenizer: WebLlmTokenizer;
  sampler: WebLlmSampler | undefined;
  sampling: SamplingOptions;
  maxTokens: number;
}

const DONE: GeneratedToken = Object.freeze({ token: -1, piece: '', done: true });

function createGenerator(p: GeneratorParts): WebLlmGenerator {
  const { engine, modelId, config, tokenizer } = p;
  const template: WebLlmConvTemplate = { ...config.conv_template, ...config.conv_config };
  const prefix = template.system_prefix_token_ids ?? [];
  const stopTokens = template.stop_token_ids ?? [];
  const stops = new Set(stopTokens);
  const stopStrings = (template.stop_str ?? []).filter((s) => s !== '');
  const contextLength =
    (config.context_window_size ?? -1) > 0 ? config.context_window_size! : (config.sliding_window_size ?? -1) > 0 ? config.sliding_window_size! : 4096;
  const chunk = Math.max(1, config.prefill_chunk_size ?? 2048);
  const vocabSize = config.vocab_size;

  let position = 0;
  /** The engine's draw after the last forward (used when the engine samples). */
  let pending: number | undefined;
  /** The logits after the last forward (when Weft samples). */
  let logits: Float32Array | undefined;
  let answer: Detokenizer | undefined;
  let ended = false;
  let interrupted = false;
  let destroyed = false;
  /** The engine's KV cache may hold tokens that are not this generator's: resetChat before the next forward. */
  let dirty = true;
  let sampling = p.sampling;
  let draw: Sampler | undefined;
  const decodeMs: number[] = [];
  let prefillTokens = 0,
    prefillMs = 0;

  // Engine calls run one at a time, in the order they were asked for.
  const engineCalls = createSerialQueue();
  const serial = <T>(f: () => Promise<T>): Promise<T> => engineCalls.run(f);

  const empty = () => {
    position = 0;
    pending = undefined;
    logits = undefined;
    ended = false;
    dirty = true;
  };
  const alive = () => {
    if (destroyed) throw new WeftError('DESTROYED', `This WebLLM generator (${modelId}) was destroyed; create it again.`);
  };
  const clean = async () => {
    if (!dirty) return;
    try {
      await engine.resetChat(false, modelId);
    } catch (e) {
      throw mapWebLlmError(e, modelId);
    }
    dirty = false;
  };

  const forward = async (ids: number[], isPrefill: boolean) => {
    let next: number;
    try {
      next = await engine.forwardTokensAndSample(ids, isPrefill, modelId);
    } catch (e) {
      // What the KV cache holds after a failed forward is unknown.
      dirty = true;
      throw mapWebLlmError(e, modelId);
    }
    position += ids.length;
    pending = next;
    if (p.sampler) {
      logits = p.sampler.takeLogits();
      if (!logits) {
        throw new WeftError(
          'INVALID_OPTION',
          `The sampler's processor was not called for ${modelId}: register sampler.processor for '${modelId}' in the engine's logitProcessorRegistry before the model is loaded (WebLLM reads it in reload()).`,
        );
      }
    }
  };

  /** The next token: Weft's draw from the logits, or the engine's. */
  const next = (): number => {
    if (!p.sampler) return pending!;
    if (!draw) draw = createSampler(logits!.length, sampling.temperature ?? 0, sampling.topP ?? 0.9, sampling.seed ?? 1);
    return draw.sample(logits!);
  };

  const gen: WebLlmGenerator = {
    modelId,
    sampledBy: p.sampler ? 'weft' : 'engine',
    stopTokens,
    contextLength,
    get position() {
      return position;
    },

    prefill(prompt, opts = {}) {
      return serial(async () => {
        alive();
        await clean();
        const atStart = position === 0;
        const previous = answer;
        answer = undefined;
        let ids: number[];
        let continues = false;
        if (typeof prompt === 'string') {
          // The prompt plus the answer so far (a refresh): the answer's own ids, not a re-encoding,
          // so the model continues exactly where it was.
          const said = previous?.text ?? '';
          if (atStart && previous && said !== '' && prompt.endsWith(said)) {
            ids = [...tokenizer.encode(prompt.slice(0, prompt.length - said.length)), ...previous.tokens];
            continues = true;
          } else {
            ids = tokenizer.encode(prompt);
          }
        } else {
          ids = [...prompt];
          const bad = ids.find((t) => !Number.isInteger(t) || t < 0 || (vocabSize !== undefined && t >= vocabSize));
          if (bad !== undefined) throw new WeftError('INVALID_OPTION', `Token ${bad} is outside the vocabulary (0..${(vocabSize ?? 0) - 1}).`);
        }
        if (opts.bos ?? atStart) ids = [...prefix, ...ids];
        if (position + ids.length > contextLength) {
          throw new WeftError(
            'CONTEXT_FULL',
            `The prompt needs ${ids.length} tokens but only ${contextLength - position} of the ${contextLength}-token context are left.`,
          );
        }
        if (ids.length === 0) {
          answer = previous;
          return;
        }
        const t0 = performance.now();
        for (let i = 0; i < ids.length; i += chunk) {
          if (opts.signal?.aborted) throw new WeftError('ABORTED', 'Prefill was aborted; the context holds the tokens fed so far.');
          await forward(ids.slice(i, i + chunk), true);
        }
        prefillTokens += ids.length;
        prefillMs += performance.now() - t0;
        ended = false;
        if (continues) {
          previous!.dropHeld();
          answer = previous;
        } else answer = createDetokenizer(tokenizer, ids);
      });
    },

    step(options = {}) {
      return serial(async (): Promise<GeneratedToken> => {
        alive();
        if (interrupted) {
          interrupted = false;
          return DONE;
        }
        if (ended) return DONE;
        await clean();
        if (position === 0) {
          // Nothing prefilled: generate from the template's prefix (BOS), as llama2.c does.
          if (prefix.length === 0) throw new WeftError('INVALID_INPUT', 'Nothing to continue: call prefill() with a prompt first.');
          await forward([...prefix], true);
          answer = createDetokenizer(tokenizer, prefix);
        }
        answer ??= createDetokenizer(tokenizer, []);
        if (answer.count >= p.maxTokens) {
          ended = true;
          return DONE;
        }
        const t0 = performance.now();
        const token = next();
        // Where Weft samples, it sees the logits: the token's probability goes with it (FLARE).
        const prob = options.probability && logits ? tokenProbability(logits, token) : undefined;
        if (stops.has(token) || position >= contextLength) {
          ended = true;
          return { token, piece: '', done: true };
        }
        await forward([token], false);
        decodeMs.push(performance.now() - t0);
        let piece = answer.push(token);
        if (stopStrings.length > 0 && piece !== '') {
          // A stop string ends the answer where it starts (WebLLM's processNextToken cuts its message there).
          const text = answer.text;
          const from = text.length - piece.length;
          const at = Math.min(
            ...stopStrings.map((s) => {
              const i = text.indexOf(s, Math.max(0, from - s.length + 1));
              return i < 0 ? Infinity : i;
            }),
          );
          if (at !== Infinity) {
            ended = true;
            piece = at > from ? text.slice(from, at) : '';
          }
        }
        return { token, piece, done: false, ...(prob !== undefined ? { prob } : {}) };
      });
    },

    async interrupt() {
      interrupted = true;
      await engineCalls.settled();
    },

    reset() {
      interrupted = false;
      empty();
      // Again once a step still running has ended; resetChat's failure shows at the next prefill or step.
      void serial(async () => {
        empty();
        await clean();
      }).catch(() => undefined);
    },

    encode: (text) => tokenizer.encode(text),
    countTokens: (text) => tokenizer.encode(text).length,
    formatChat: (messages: readonly ChatMessage[]) => renderConversation(template, messages),

    setSampling(s) {
      if (!p.sampler) {
        if (hasSettings(s)) throw samplingRefused(modelId);
        return;
      }
      sampling = s;
      draw = undefined;
    },

    timings(): GeneratorTimings {
      return {
        prefillTokensPerSecond: prefillMs > 0 ? (prefillTokens / prefillMs) * 1000 : 0,
        decodeMsMedian: percentile(decodeMs, 0.5),
        decodeMsP99: percentile(decodeMs, 0.99),
        steps: decodeMs.length,
      };
    },

    destroy() {
      if (destroyed) return;
      destroyed = true;
      // Weft unloads the engine it loaded; an app's engine is left with an empty context.
      void serial(() => (p.owns ? engine.unload() : engine.resetChat(false, modelId))).catch(() => undefined);
    },
  };
  return gen;
}
