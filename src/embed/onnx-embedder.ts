// Sentence embeddings with onnxruntime-web: the model's own Hugging Face tokenizer (through
// @huggingface/tokenizers), truncation to the model's maximum length, batching, mean pooling
// over the attention mask and L2 normalisation (all-MiniLM-L6-v2's recipe). The execution
// provider is WebGPU or WASM, chosen by option; the WASM binaries are served by the app.

import * as ort from 'onnxruntime-web/webgpu';
import { Tokenizer } from '@huggingface/tokenizers';
import { WeftError } from '../errors.js';
import type { LoadProgress } from '../util/progress.js';
import { fetchBytes } from '../util/fetch-bytes.js';
import { checkTokenizerPatterns } from './regex-guard.js';

export const EMBEDDER_DEVICES = ['webgpu', 'wasm'] as const;
export type EmbedderDevice = (typeof EMBEDDER_DEVICES)[number];

/** all-MiniLM-L6-v2, quantised, from the Hugging Face Hub (22,972,370 bytes). */
export const DEFAULT_EMBEDDING_MODEL = {
  id: 'sentence-transformers/all-MiniLM-L6-v2',
  model: 'https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/main/onnx/model_quantized.onnx',
  tokenizer: 'https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/main/tokenizer.json',
  tokenizerConfig: 'https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/main/tokenizer_config.json',
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
  /** 'webgpu' (default where WebGPU exists) or 'wasm'. */
  device?: EmbedderDevice;
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
  /** Cache downloads with the Cache API. Default true. */
  cache?: boolean;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

export interface Embedder {
  readonly modelId: string;
  readonly dim: number;
  readonly maxLength: number;
  readonly device: EmbedderDevice;
  /** Token ids (with special tokens) the model sees for `text`, after truncation. */
  tokenize(text: string): number[];
  /** Tokens (with special tokens) `text` takes before any truncation: what chunking must fit into maxLength. */
  countTokens(text: string): number;
  /** One row of `dim` floats per text. */
  embed(texts: readonly string[]): Promise<Float32Array>;
  destroy(): Promise<void>;
}

function download(src: string | URL, what: string, opts: OnnxEmbedderOptions): Promise<ArrayBuffer> {
  return fetchBytes(src, what, { onProgress: opts.onProgress, signal: opts.signal, cacheName: opts.cache === false ? undefined : 'weft-models' });
}

async function json(src: string | URL | object, what: string, opts: OnnxEmbedderOptions): Promise<object> {
  if (typeof src === 'object' && !(src instanceof URL)) return src;
  try {
    return JSON.parse(new TextDecoder().decode(await download(src, what, opts))) as object;
  } catch (e) {
    if (e instanceof WeftError) throw e;
    throw new WeftError('INVALID_MODEL', `${what} at ${String(src)} is not valid JSON.`, { cause: e });
  }
}

export async function createOnnxEmbedder(options: OnnxEmbedderOptions = {}): Promise<Embedder> {
  const device = options.device ?? (typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu ? 'webgpu' : 'wasm');
  if (!EMBEDDER_DEVICES.includes(device)) {
    throw new WeftError('INVALID_OPTION', `Unknown embedder device '${String(device)}'. Valid values: ${EMBEDDER_DEVICES.join(', ')}.`);
  }
  const pooling = options.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new WeftError('INVALID_OPTION', `Unknown pooling '${String(pooling)}'. Valid values: mean, cls.`);
  const tokenizerJson = await json(options.tokenizer ?? DEFAULT_EMBEDDING_MODEL.tokenizer, 'tokenizer.json', options);
  const tokenizerConfig = await json(options.tokenizerConfig ?? (options.tokenizer ? {} : DEFAULT_EMBEDDING_MODEL.tokenizerConfig), 'tokenizer_config.json', options);
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
  const modelBytes = options.model instanceof ArrayBuffer ? options.model : await download(options.model ?? DEFAULT_EMBEDDING_MODEL.model, 'model.onnx', options);
  if (options.signal?.aborted) throw new WeftError('ABORTED', 'Loading the embedder was aborted.');
  if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
  if (typeof crossOriginIsolated === 'undefined' || !crossOriginIsolated) ort.env.wasm.numThreads = 1;
  let session: ort.InferenceSession;
  try {
    // With 'webgpu', onnxruntime falls back to its WASM provider where WebGPU cannot run the model.
    session = await ort.InferenceSession.create(new Uint8Array(modelBytes), { executionProviders: device === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'] });
  } catch (e) {
    throw new WeftError('INVALID_MODEL', `onnxruntime-web could not load the embedding model on '${device}': ${(e as Error).message}. Try device: 'wasm', or check the file.`, { cause: e });
  }
  const outputName = options.outputName ?? 'last_hidden_state';
  if (!session.outputNames.includes(outputName)) {
    await session.release();
    throw new WeftError('INVALID_MODEL', `The model has no output '${outputName}' (it has ${session.outputNames.join(', ')}). Pass outputName.`);
  }
  const batchSize = options.batchSize ?? 16;
  let dim = 0;
  let queue: Promise<unknown> = Promise.resolve();

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
    const out = (await session.run(feeds))[outputName]!;
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

  const embedder: Embedder = {
    modelId: options.modelId ?? (options.model ? String(options.model instanceof ArrayBuffer ? 'custom' : options.model) : DEFAULT_EMBEDDING_MODEL.id),
    get dim() { return dim; },
    maxLength, device,
    tokenize,
    countTokens: (text) => tokenizer.encode(text).ids.length,
    embed(texts) {
      const run = queue.then(async () => {
        if (!Array.isArray(texts) || texts.length === 0) throw new WeftError('INVALID_INPUT', 'embed() needs a non-empty array of texts.');
        texts.forEach((t, i) => {
          if (typeof t !== 'string' || t.trim() === '') throw new WeftError('INVALID_INPUT', `Text ${i} is empty; there is nothing to embed. Drop empty passages before embedding.`, { details: { index: i } });
        });
        const parts: Float32Array[] = [];
        for (let i = 0; i < texts.length; i += batchSize) parts.push(await runBatch(texts.slice(i, i + batchSize)));
        const out = new Float32Array(texts.length * dim);
        let at = 0;
        for (const p of parts) { out.set(p, at); at += p.length; }
        return out;
      });
      queue = run.catch(() => undefined);
      return run;
    },
    async destroy() { await queue; await session.release(); },
  };
  return embedder;
}
