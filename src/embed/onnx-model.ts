// What every onnxruntime-web model in Weft (the sentence embedder, the cross-encoder reranker, the
// ONNX decoder reranker) does to load and run: download (cached, hash-checked) the model, its
// Hugging Face tokenizer (through @huggingface/tokenizers, patterns checked first) and config;
// pick the execution provider (WebGPU on a given device or onnxruntime's own, falling back to
// WASM; or WASM); create the session and run it in turns with every other session in this realm;
// report a lost shared device as such; check the model's inputs and outputs.

import * as ort from 'onnxruntime-web/webgpu';
import { Tokenizer } from '@huggingface/tokenizers';
import { WeftError } from '../errors.js';
import { createSerialQueue } from '../util/serial-queue.js';
import type { GpuContext } from '../gpu/context.js';
import type { GpuHold } from '../gpu/budget.js';
import { contextFrom, type GpuDeviceOrContext, type GpuOption } from '../gpu/option.js';
import type { LoadProgress } from '../util/progress.js';
import { fetchBytes, MODEL_CACHE_NAME } from '../util/fetch-bytes.js';
import { checkTokenizerPatterns } from './regex-guard.js';

export const ONNX_DEVICES = ['webgpu', 'wasm'] as const;
export type OnnxDevice = (typeof ONNX_DEVICES)[number];

/** Where a model's files come from and how it runs: the options every onnxruntime-web model takes. */
export interface OnnxModelOptions extends GpuOption {
  /** The ONNX model: URL or bytes. */
  model?: string | URL | ArrayBuffer;
  /** tokenizer.json: URL or parsed JSON. */
  tokenizer?: string | URL | object;
  /** tokenizer_config.json: URL or parsed JSON. */
  tokenizerConfig?: string | URL | object;
  /** 'webgpu' (default where WebGPU exists, and whenever `gpu` is given) or 'wasm'. */
  device?: OnnxDevice;
  /**
   * The GPU for onnxruntime's WebGPU execution provider: a GpuContext (e.g. the one the index and
   * the generator run on, so all share one device and queue) or a GPUDevice. It is not
   * destroyed with the model. Default: onnxruntime-web creates a device of its own. For 'webgpu' only.
   */
  gpu?: GpuDeviceOrContext;
  /** Tokens per input, special tokens included. Default: the tokenizer config's model_max_length, at most 512. */
  maxLength?: number;
  /** Where the app serves onnxruntime-web's .wasm files (no CDN at run time). */
  wasmPaths?: string;
  /** Cache downloads with the Cache API (bucket 'weft-models'; see listCachedModels). Default true. */
  cache?: boolean;
  /** Expected SHA-256 (64 hex digits) of each downloaded file: a mismatch is CHECKSUM_MISMATCH and the file is not cached. */
  sha256?: { model?: string; tokenizer?: string; tokenizerConfig?: string };
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

/** A model's default files (a pinned Hub revision) and their hashes, used where the options name none. */
export interface OnnxModelDefaults {
  model: string;
  tokenizer: string;
  tokenizerConfig: string;
  sha256: { model: string; tokenizer: string; tokenizerConfig: string };
}

export interface LoadedOnnxModel {
  readonly session: ort.InferenceSession;
  readonly tokenizer: Tokenizer;
  readonly maxLength: number;
  readonly device: OnnxDevice;
  /** The shared GPU it runs on, when it was given one. */
  readonly ctx: GpuContext | undefined;
  /** One session.run, in turn with every other onnxruntime call in this realm. */
  run(feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType>;
  /** Any other onnxruntime work, in turn. */
  inTurn<T>(work: () => Promise<T>): Promise<T>;
  /** Releases the session (in turn) and the context it created. */
  release(): Promise<void>;
}

/**
 * onnxruntime-web is one WebAssembly instance per JS realm, with global state: its WebGPU
 * execution provider registers the device of the session being created globally (a second
 * creation before the first is done fails: "another WebGPU EP inference session is being
 * created"), and its asyncify build cannot interleave two sessions' async calls (two embedders
 * running at once crashed it: "memory access out of bounds"). So every model in a realm takes
 * turns on this one chain for creating, running and releasing sessions: the only module-level
 * state here, mirroring onnxruntime's own. Devices are per session (onnxruntime-web 1.30 takes one
 * through the execution provider option `{ name: 'webgpu', device }` and keeps a WebGPU context
 * per device), so models given different devices in one worker share onnxruntime and each run
 * on its own device. Nothing is written to `ort.env.webgpu.device`: in this build it only reports
 * the device onnxruntime created for sessions given none, and setting it does not change theirs.
 */
const ortTurns = createSerialQueue();
export const inOrtTurn = <T>(work: () => Promise<T>): Promise<T> => ortTurns.run(work);

function download(src: string | URL, what: string, sha256: string | undefined, opts: OnnxModelOptions): Promise<ArrayBuffer> {
  return fetchBytes(src, what, { onProgress: opts.onProgress, signal: opts.signal, cacheName: opts.cache === false ? undefined : MODEL_CACHE_NAME, sha256 });
}

async function json(src: string | URL | object, what: string, sha256: string | undefined, opts: OnnxModelOptions): Promise<object> {
  if (typeof src === 'object' && !(src instanceof URL)) return src;
  try {
    return JSON.parse(new TextDecoder().decode(await download(src, what, sha256, opts))) as object;
  } catch (e) {
    if (e instanceof WeftError) throw e;
    throw new WeftError('INVALID_MODEL', `${what} at ${String(src)} is not valid JSON.`, { cause: e });
  }
}

/** The execution device an options object asks for (checked). */
export function onnxDevice(options: Pick<OnnxModelOptions, 'device' | 'gpu'>): OnnxDevice {
  const device = options.device ?? (options.gpu || (typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu) ? 'webgpu' : 'wasm');
  if (!ONNX_DEVICES.includes(device)) {
    throw new WeftError('INVALID_OPTION', `Unknown device '${String(device)}'. Valid values: ${ONNX_DEVICES.join(', ')}.`);
  }
  if (options.gpu && device !== 'webgpu') {
    throw new WeftError('INVALID_OPTION', `The gpu option is for device 'webgpu'; this model runs on '${device}'. Leave out gpu, or use device: 'webgpu'.`);
  }
  return device;
}

/**
 * Loads a tokenizer and an ONNX model. `what` names the model in errors ('embedding model',
 * 'cross-encoder', …); `defaults` are its pinned files, if it has any (else model and tokenizer
 * are required). With `memoryLabel`, a model on WebGPU on a given context holds its memory there
 * under that label (see below; several models of one label add up) until it is released;
 * without it, nothing is held.
 */
export async function loadOnnxModel(options: OnnxModelOptions, what: string, defaults?: OnnxModelDefaults, memoryLabel?: string): Promise<LoadedOnnxModel> {
  const device = onnxDevice(options);
  if (!defaults && (!options.model || !options.tokenizer)) {
    throw new WeftError('INVALID_OPTION', `The ${what} needs model (an ONNX file) and tokenizer (tokenizer.json): there is no default.`);
  }
  // The pinned hashes apply to the default files only; an app's own URLs take the hashes it passes.
  const sha = options.sha256 ?? {};
  const tokenizerJson = await json(
    options.tokenizer ?? defaults!.tokenizer,
    'tokenizer.json',
    sha.tokenizer ?? (options.tokenizer ? undefined : defaults?.sha256.tokenizer),
    options,
  );
  const tokenizerConfig = await json(
    options.tokenizerConfig ?? (options.tokenizer || !defaults ? {} : defaults.tokenizerConfig),
    'tokenizer_config.json',
    sha.tokenizerConfig ?? (options.tokenizerConfig || options.tokenizer ? undefined : defaults?.sha256.tokenizerConfig),
    options,
  );
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new WeftError('INVALID_MODEL', `The tokenizer could not be built: ${(e as Error).message}.`, { cause: e });
  }
  // Before the model is downloaded: a pattern that backtracks catastrophically would hang every call.
  checkTokenizerPatterns(tokenizerJson);
  const configured = (tokenizerConfig as { model_max_length?: number }).model_max_length;
  const maxLength = options.maxLength ?? Math.min(512, configured && configured < 1e6 ? configured : 512);
  const modelBytes =
    options.model instanceof ArrayBuffer
      ? options.model
      : await download(options.model ?? defaults!.model, 'model.onnx', sha.model ?? (options.model ? undefined : defaults?.sha256.model), options);
  if (options.signal?.aborted) throw new WeftError('ABORTED', `Loading the ${what} was aborted.`);
  if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
  if (typeof crossOriginIsolated === 'undefined' || !crossOriginIsolated) ort.env.wasm.numThreads = 1;
  // A given device is wrapped in a context (borrowed, never destroyed here) for its loss and error routing.
  const gpu = options.gpu ? await contextFrom(options.gpu) : undefined;
  const ctx = gpu?.ctx;
  // The model's share of the context's memory budget, an estimate: onnxruntime-web does not report
  // its GPU allocations (its buffers are not the context's), so the share is the model file's
  // bytes, the weights its WebGPU provider uploads as initialisers; activations come and go per
  // run. Claimed before the session is created, so a model that does not fit is DEVICE_LIMIT
  // before onnxruntime allocates anything. On 'wasm' (or onnxruntime's own device) it holds
  // nothing on the context, and claims nothing.
  let hold: GpuHold | undefined;
  const dropContext = () => {
    hold?.release();
    if (gpu?.owns) gpu.ctx.destroy();
  };
  let session: ort.InferenceSession;
  try {
    ctx?.check();
    if (memoryLabel !== undefined && device === 'webgpu') hold = ctx?.hold(memoryLabel, modelBytes.byteLength, `The ${what}`);
    // With 'webgpu', onnxruntime falls back to its WASM provider where WebGPU cannot run the model.
    const webgpu: ort.InferenceSession.ExecutionProviderConfig = ctx ? { name: 'webgpu', device: ctx.device } : 'webgpu';
    const providers = device === 'webgpu' ? [webgpu, 'wasm'] : ['wasm'];
    session = await inOrtTurn(() => ort.InferenceSession.create(new Uint8Array(modelBytes), { executionProviders: providers }));
  } catch (e) {
    dropContext();
    if (ctx?.lostError) throw ctx.lostError;
    if (e instanceof WeftError) throw e;
    throw new WeftError(
      'INVALID_MODEL',
      `onnxruntime-web could not load the ${what} on '${device}': ${(e as Error).message}. Try device: 'wasm', or check the file.`,
      { cause: e },
    );
  }
  return {
    session,
    tokenizer,
    maxLength,
    device,
    ctx,
    async run(feeds) {
      try {
        ctx?.check();
        return await inOrtTurn(() => session.run(feeds));
      } catch (e) {
        // A run that failed because the shared device was lost (or destroyed) says so.
        throw ctx?.lostError ?? e;
      }
    },
    inTurn: inOrtTurn,
    async release() {
      await inOrtTurn(() => session.release());
      dropContext();
    },
  };
}

/** Refuses a model without `name` among its outputs (releasing it). */
export async function requireOutput(m: LoadedOnnxModel, name: string, what: string, hint: string): Promise<void> {
  if (m.session.outputNames.includes(name)) return;
  await m.release();
  throw new WeftError('INVALID_MODEL', `The ${what} has no output '${name}' (it has ${m.session.outputNames.join(', ')}). ${hint}`);
}

/**
 * The int64 [batch, seq] feeds of a BERT-style model: each input the session names must be one
 * of `available`; anything else is INVALID_MODEL naming what the model wants.
 */
export function int64Feeds(m: LoadedOnnxModel, available: Record<string, BigInt64Array>, dims: readonly number[], what: string): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of m.session.inputNames) {
    const data = available[name];
    if (!data) throw new WeftError('INVALID_MODEL', `The model wants an input '${name}' that a ${what} does not provide.`);
    feeds[name] = new ort.Tensor('int64', data, dims);
  }
  return feeds;
}
