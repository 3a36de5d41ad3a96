// Sentence embeddings with onnxruntime-web: the model's own Hugging Face tokenizer (through
// @huggingface/tokenizers), truncation to the model's maximum length, batching, mean pooling
// over the attention mask and L2 normalisation (all-MiniLM-L6-v2's recipe). The execution
// provider is WebGPU or WASM, chosen by option; the WASM binaries are served by the app. On
// WebGPU it runs on the device it is given (the one the index and generator share) or on
// onnxruntime's own.

import * as ort from 'onnxruntime-web/webgpu';
import { Tokenizer } from '@huggingface/tokenizers';
import { WeftError } from '../errors.js';
import { createSerialQueue } from '../util/serial-queue.js';
import { batchedEmbed } from './batches.js';
import { contextFrom, type GpuContext } from '../gpu/context.js';
import type { LoadProgress } from '../util/progress.js';
import { fetchBytes, MODEL_CACHE_NAME } from '../util/fetch-bytes.js';
import { checkTokenizerPatterns } from './regex-guard.js';

export const EMBEDDER_DEVICES = ['webgpu', 'wasm'] as const;
export type EmbedderDevice = (typeof EMBEDDER_DEVICES)[number];

/**
 * The Hub commit of Xenova/all-MiniLM-L6-v2 the default model is downloaded from: a fixed
 * revision, so the files (and their sha256 below) cannot change under an app. To move to a newer
 * revision, take the commit id from the repository's "Files and versions" history on
 * huggingface.co, replace it here, and replace the three sha256 values with the new files'
 * (`sha256sum`, or `listCachedModels()` after one download, which reports each file's hash).
 */
export const DEFAULT_EMBEDDING_REVISION = '751bff37182d3f1213fa05d7196b954e230abad9';
const HUB = `https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/${DEFAULT_EMBEDDING_REVISION}`;

/** all-MiniLM-L6-v2, quantised, from the Hugging Face Hub at a pinned revision (22,972,370 bytes), with each file's sha256. */
export const DEFAULT_EMBEDDING_MODEL = {
  id: 'sentence-transformers/all-MiniLM-L6-v2',
  model: `${HUB}/onnx/model_quantized.onnx`,
  tokenizer: `${HUB}/tokenizer.json`,
  tokenizerConfig: `${HUB}/tokenizer_config.json`,
  sha256: {
    model: 'afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1',
    tokenizer: 'da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0',
    tokenizerConfig: '9261e7d79b44c8195c1cada2b453e55b00aeb81e907a6664974b4d7776172ab3',
  },
  dim: 384,
} as const;

export interface OnnxEmbedderOptions {
  /** The ONNX model: URL or bytes. Default: all-MiniLM-L6-v2 (quantised) from the Hub. */
  model?: string | URL | ArrayBuffer;
  /** tokenizer.json: URL or parsed JSON. */
  tokenizer?: string | URL | object;
  /** tokenizer_config.json: URL or parsed JSON. */
  tokenizerConfig?: string | URL | object;
  /** Recorded in index manifests, so queries and documents are embedded alike. */
  modelId?: string;
  /** 'webgpu' (default where WebGPU exists, and whenever `gpu` is given) or 'wasm'. */
  device?: EmbedderDevice;
  /**
   * The GPU for onnxruntime's WebGPU execution provider: a GpuContext (e.g. the one the index and
   * the generator run on, so all three share one device and queue) or a GPUDevice. It is not
   * destroyed by destroy(). Default: onnxruntime-web creates a device of its own. For 'webgpu' only.
   */
  gpu?: GPUDevice | GpuContext;
  /** Tokens per input, special tokens included. Default: the tokenizer config's model_max_length, at most 512. */
  maxLength?: number;
  /** Cut over-long inputs to maxLength (default) or reject them with INPUT_TOO_LONG. */
  truncate?: boolean;
  pooling?: 'mean' | 'cls';
  normalize?: boolean;
  /** Name of the token-embedding output. Default 'last_hidden_state'. */
  outputName?: string;
  /** The dimension the caller's index expects; a model that disagrees is refused. */
  expectedDim?: number;
  batchSize?: number;
  /** Where the app serves onnxruntime-web's .wasm files (no CDN at run time). */
  wasmPaths?: string;
  /** Cache downloads with the Cache API (bucket 'weft-models'; see listCachedModels). Default true. */
  cache?: boolean;
  /**
   * Expected SHA-256 (64 hex digits) of each downloaded file, checked after the download: a
   * mismatch is CHECKSUM_MISMATCH and the file is not cached. Default: DEFAULT_EMBEDDING_MODEL's
   * pinned hashes for the files that come from it, none for the app's own URLs.
   */
  sha256?: { model?: string; tokenizer?: string; tokenizerConfig?: string };
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

export interface Embedder {
  readonly modelId: string;
  readonly dim: number;
  readonly maxLength: number;
  readonly device: EmbedderDevice;
  /** The GPUDevice onnxruntime runs this model on, when it was given one (undefined on onnxruntime's own device or on 'wasm'). */
  readonly gpuDevice?: GPUDevice | undefined;
  /** Token ids (with special tokens) the model sees for `text`, after truncation. */
  tokenize(text: string): number[];
  /** Tokens (with special tokens) `text` takes before any truncation: what chunking must fit into maxLength. */
  countTokens(text: string): number;
  /** One row of `dim` floats per text. */
  embed(texts: readonly string[]): Promise<Float32Array>;
  destroy(): Promise<void>;
}

function download(src: string | URL, what: string, sha256: string | undefined, opts: OnnxEmbedderOptions): Promise<ArrayBuffer> {
  return fetchBytes(src, what, { onProgress: opts.onProgress, signal: opts.signal, cacheName: opts.cache === false ? undefined : MODEL_CACHE_NAME, sha256 });
}

async function json(src: string | URL | object, what: string, sha256: string | undefined, opts: OnnxEmbedderOptions): Promise<object> {
  if (typeof src === 'object' && !(src instanceof URL)) return src;
  try {
    return JSON.parse(new TextDecoder().decode(await download(src, what, sha256, opts))) as object;
  } catch (e) {
    if (e instanceof WeftError) throw e;
    throw new WeftError('INVALID_MODEL', `${what} at ${String(src)} is not valid JSON.`, { cause: e });
  }
}

/**
 * onnxruntime-web is one WebAssembly instance per JS realm, with global state: its WebGPU
 * execution provider registers the device of the session being created globally (a second
 * creation before the first is done fails: "another WebGPU EP inference session is being
 * created"), and its asyncify build cannot interleave two sessions' async calls (two embedders
 * running at once crashed it: "memory access out of bounds"). So every embedder in a realm takes
 * turns on this one chain for creating, running and releasing sessions: the only module-level
 * state here, mirroring onnxruntime's own. Devices are per session (onnxruntime-web 1.30 takes one
 * through the execution provider option `{ name: 'webgpu', device }` and keeps a WebGPU context
 * per device), so embedders given different devices in one worker share onnxruntime and each run
 * on its own device. Nothing is written to `ort.env.webgpu.device`: in this build it only reports
 * the device onnxruntime created for sessions given none, and setting it does not change theirs.
 */
const ortTurns = createSerialQueue();
const inTurn = <T>(work: () => Promise<T>): Promise<T> => ortTurns.run(work);

export async function createOnnxEmbedder(options: OnnxEmbedderOptions = {}): Promise<Embedder> {
  const device = options.device ?? (options.gpu || (typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu) ? 'webgpu' : 'wasm');
  if (!EMBEDDER_DEVICES.includes(device)) {
    throw new WeftError('INVALID_OPTION', `Unknown embedder device '${String(device)}'. Valid values: ${EMBEDDER_DEVICES.join(', ')}.`);
  }
  if (options.gpu && device !== 'webgpu') {
    throw new WeftError('INVALID_OPTION', `The gpu option is for device 'webgpu'; this embedder runs on '${device}'. Leave out gpu, or use device: 'webgpu'.`);
  }
  const pooling = options.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new WeftError('INVALID_OPTION', `Unknown pooling '${String(pooling)}'. Valid values: mean, cls.`);
  // The pinned hashes apply to the default files only; an app's own URLs take the hashes it passes.
  const sha = options.sha256 ?? {};
  const tokenizerJson = await json(options.tokenizer ?? DEFAULT_EMBEDDING_MODEL.tokenizer, 'tokenizer.json',
    sha.tokenizer ?? (options.tokenizer ? undefined : DEFAULT_EMBEDDING_MODEL.sha256.tokenizer), options);
  const tokenizerConfig = await json(options.tokenizerConfig ?? (options.tokenizer ? {} : DEFAULT_EMBEDDING_MODEL.tokenizerConfig), 'tokenizer_config.json',
    sha.tokenizerConfig ?? (options.tokenizerConfig || options.tokenizer ? undefined : DEFAULT_EMBEDDING_MODEL.sha256.tokenizerConfig), options);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new WeftError('INVALID_MODEL', `The tokenizer could not be built: ${(e as Error).message}.`, { cause: e });
  }
  // Before the model is downloaded: a pattern that backtracks catastrophically would hang embed().
  checkTokenizerPatterns(tokenizerJson);
  const configured = (tokenizerConfig as { model_max_length?: number }).model_max_length;
  const maxLength = options.maxLength ?? Math.min(512, configured && configured < 1e6 ? configured : 512);
  const modelBytes = options.model instanceof ArrayBuffer ? options.model
    : await download(options.model ?? DEFAULT_EMBEDDING_MODEL.model, 'model.onnx', sha.model ?? (options.model ? undefined : DEFAULT_EMBEDDING_MODEL.sha256.model), options);
  if (options.signal?.aborted) throw new WeftError('ABORTED', 'Loading the embedder was aborted.');
  if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
  if (typeof crossOriginIsolated === 'undefined' || !crossOriginIsolated) ort.env.wasm.numThreads = 1;
  // A given device is wrapped in a context (borrowed, never destroyed here) for its loss and error routing.
  const gpu = options.gpu ? await contextFrom(options.gpu) : undefined;
  const ctx = gpu?.ctx;
  const release = () => { if (gpu?.owns) gpu.ctx.destroy(); };
  let session: ort.InferenceSession;
  try {
    ctx?.check();
    // With 'webgpu', onnxruntime falls back to its WASM provider where WebGPU cannot run the model.
    const webgpu: ort.InferenceSession.ExecutionProviderConfig = ctx ? { name: 'webgpu', device: ctx.device } : 'webgpu';
    const providers = device === 'webgpu' ? [webgpu, 'wasm'] : ['wasm'];
    session = await inTurn(() => ort.InferenceSession.create(new Uint8Array(modelBytes), { executionProviders: providers }));
  } catch (e) {
    release();
    if (ctx?.lostError) throw ctx.lostError;
    if (e instanceof WeftError) throw e;
    throw new WeftError('INVALID_MODEL', `onnxruntime-web could not load the embedding model on '${device}': ${(e as Error).message}. Try device: 'wasm', or check the file.`, { cause: e });
  }
  const outputName = options.outputName ?? 'last_hidden_state';
  if (!session.outputNames.includes(outputName)) {
    await inTurn(() => session.release());
    release();
    throw new WeftError('INVALID_MODEL', `The model has no output '${outputName}' (it has ${session.outputNames.join(', ')}). Pass outputName.`);
  }
  const batchSize = options.batchSize ?? 16;
  let dim = 0;

  const tokenize = (text: string): number[] => {
    const ids = tokenizer.encode(text).ids;
    if (ids.length <= maxLength) return ids;
    if (options.truncate === false) {
      throw new WeftError('INPUT_TOO_LONG', `An input has ${ids.length} tokens; this model takes at most ${maxLength}. Chunk the text, or allow truncation.`, { details: { tokens: ids.length, maxLength } });
    }
    // Keep the closing special token (e.g. [SEP]) as the tokenizer placed it.
    return [...ids.slice(0, maxLength - 1), ids[ids.length - 1]!];
  };

  const runBatch = async (texts: readonly string[]): Promise<Float32Array> => {
    const encoded = texts.map(tokenize);
    const seq = Math.max(...encoded.map((e) => e.length));
    const n = texts.length;
    const ids = new BigInt64Array(n * seq), mask = new BigInt64Array(n * seq), types = new BigInt64Array(n * seq);
    encoded.forEach((e, b) => e.forEach((id, t) => { ids[b * seq + t] = BigInt(id); mask[b * seq + t] = 1n; }));
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      const data = name === 'input_ids' ? ids : name === 'attention_mask' ? mask : name === 'token_type_ids' ? types : undefined;
      if (!data) throw new WeftError('INVALID_MODEL', `The model wants an input '${name}' that a sentence embedder does not provide.`);
      feeds[name] = new ort.Tensor('int64', data, [n, seq]);
    }
    let out: ort.Tensor;
    try {
      ctx?.check();
      out = (await inTurn(() => session.run(feeds)))[outputName]!;
    } catch (e) {
      // A run that failed because the shared device was lost (or destroyed) says so.
      throw ctx?.lostError ?? e;
    }
    const [, outSeq, d] = out.dims as [number, number, number];
    if (dim === 0) dim = d;
    if (options.expectedDim !== undefined && d !== options.expectedDim) {
      throw new WeftError('DIMENSION_MISMATCH', `The embedding model gives ${d}-dimensional vectors but the index holds ${options.expectedDim}-dimensional ones. Use the model the index was built with.`, { details: { model: d, index: options.expectedDim } });
    }
    const hidden = (await out.getData()) as Float32Array;
    out.dispose?.();
    const res = new Float32Array(n * d);
    for (let b = 0; b < n; b++) {
      const row = res.subarray(b * d, (b + 1) * d);
      if (pooling === 'cls') {
        row.set(hidden.subarray(b * outSeq * d, b * outSeq * d + d));
      } else {
        let count = 0;
        for (let t = 0; t < outSeq; t++) {
          if (mask[b * seq + t] !== 1n) continue;
          count++;
          for (let j = 0; j < d; j++) row[j]! += hidden[(b * outSeq + t) * d + j]!;
        }
        for (let j = 0; j < d; j++) row[j] = row[j]! / Math.max(1, count);
      }
      if (options.normalize ?? true) {
        let s = 0;
        for (let j = 0; j < d; j++) s += row[j]! * row[j]!;
        const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
        for (let j = 0; j < d; j++) row[j] = row[j]! * inv;
      }
    }
    return res;
  };

  const batches = batchedEmbed(batchSize, runBatch, () => dim);
  const embedder: Embedder = {
    modelId: options.modelId ?? (options.model ? String(options.model instanceof ArrayBuffer ? 'custom' : options.model) : DEFAULT_EMBEDDING_MODEL.id),
    get dim() { return dim; },
    maxLength, device,
    gpuDevice: ctx?.device,
    tokenize,
    countTokens: (text) => tokenizer.encode(text).ids.length,
    embed: batches.embed,
    async destroy() { await batches.settled(); await inTurn(() => session.release()); release(); },
  };
  return embedder;
}
