// Sentence embeddings with onnxruntime-web: the model's own Hugging Face tokenizer (through
// @huggingface/tokenizers), truncation to the model's maximum length, batching, mean pooling
// over the attention mask and L2 normalisation (all-MiniLM-L6-v2's recipe). The execution
// provider is WebGPU or WASM, chosen by option; the WASM binaries are served by the app. On
// WebGPU it runs on the device it is given (the one the index and generator share) or on
// onnxruntime's own. Loading, devices, turns with other sessions and input checks are shared
// with the rerankers (onnx-model.ts).

import type * as ort from 'onnxruntime-web/webgpu';
import { WeftError } from '../errors.js';
import { batchedEmbed } from './batches.js';
import type { Embedder } from './types.js';
import { int64Feeds, loadOnnxModel, ONNX_DEVICES, requireOutput, type OnnxModelOptions } from './onnx-model.js';

/** Where an onnxruntime-web embedder can run: 'webgpu' or 'wasm'. */
export const EMBEDDER_DEVICES = ONNX_DEVICES;

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

/**
 * Options of createOnnxEmbedder: the model and its tokenizer (URLs or bytes, optionally pinned by
 * SHA-256), pooling, normalisation, batching and where it runs.
 */
export interface OnnxEmbedderOptions extends OnnxModelOptions {
  /** The ONNX model: URL or bytes. Default: all-MiniLM-L6-v2 (quantised) from the Hub. */
  model?: string | URL | ArrayBuffer;
  /** Recorded in index manifests, so queries and documents are embedded alike. */
  modelId?: string;
  /** Cut over-long inputs to maxLength (default) or reject them with INPUT_TOO_LONG. */
  truncate?: boolean;
  pooling?: 'mean' | 'cls';
  normalize?: boolean;
  /** Name of the token-embedding output. Default 'last_hidden_state'. */
  outputName?: string;
  /** The dimension the caller's index expects; a model that disagrees is refused. */
  expectedDim?: number;
  batchSize?: number;
  /**
   * Expected SHA-256 (64 hex digits) of each downloaded file, checked after the download: a
   * mismatch is CHECKSUM_MISMATCH and the file is not cached. Default: DEFAULT_EMBEDDING_MODEL's
   * pinned hashes for the files that come from it, none for the app's own URLs.
   */
  sha256?: { model?: string; tokenizer?: string; tokenizerConfig?: string };
}

/**
 * Loads a sentence-embedding model in onnxruntime-web (WebGPU or WASM) with the model's own Hugging
 * Face tokenizer, mean pooling and normalisation. Default: all-MiniLM-L6-v2 (quantised) from the Hub,
 * pinned to DEFAULT_EMBEDDING_REVISION and cached.
 */
export async function createOnnxEmbedder(options: OnnxEmbedderOptions = {}): Promise<Embedder> {
  const pooling = options.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new WeftError('INVALID_OPTION', `Unknown pooling '${String(pooling)}'. Valid values: mean, cls.`);
  // On WebGPU on a given context, the model's memory (an estimate: its weights) counts in that
  // context's budget as the 'embedder' (gpu/budget.ts's holderOf), given back when it is destroyed.
  const m = await loadOnnxModel(options, 'embedding model', DEFAULT_EMBEDDING_MODEL, 'weft.embedder');
  const { tokenizer, maxLength, device, ctx } = m;
  const outputName = options.outputName ?? 'last_hidden_state';
  await requireOutput(m, outputName, 'model', 'Pass outputName.');
  const batchSize = options.batchSize ?? 16;
  let dim = 0;

  const tokenize = (text: string): number[] => {
    const ids = tokenizer.encode(text).ids;
    if (ids.length <= maxLength) return ids;
    if (options.truncate === false) {
      throw new WeftError('INPUT_TOO_LONG', `An input has ${ids.length} tokens; this model takes at most ${maxLength}. Chunk the text, or allow truncation.`, {
        details: { tokens: ids.length, maxLength },
      });
    }
    // Keep the closing special token (e.g. [SEP]) as the tokenizer placed it.
    return [...ids.slice(0, maxLength - 1), ids[ids.length - 1]!];
  };

  const runBatch = async (texts: readonly string[]): Promise<Float32Array> => {
    const encoded = texts.map(tokenize);
    const seq = Math.max(...encoded.map((e) => e.length));
    const n = texts.length;
    const ids = new BigInt64Array(n * seq),
      mask = new BigInt64Array(n * seq),
      types = new BigInt64Array(n * seq);
    encoded.forEach((e, b) =>
      e.forEach((id, t) => {
        ids[b * seq + t] = BigInt(id);
        mask[b * seq + t] = 1n;
      }),
    );
    const feeds = int64Feeds(m, { input_ids: ids, attention_mask: mask, token_type_ids: types }, [n, seq], 'sentence embedder');
    const out: ort.Tensor = (await m.run(feeds))[outputName]!;
    const [, outSeq, d] = out.dims as [number, number, number];
    if (dim === 0) dim = d;
    if (options.expectedDim !== undefined && d !== options.expectedDim) {
      throw new WeftError(
        'DIMENSION_MISMATCH',
        `The embedding model gives ${d}-dimensional vectors but the index holds ${options.expectedDim}-dimensional ones. Use the model the index was built with.`,
        { details: { model: d, index: options.expectedDim } },
      );
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
    get dim() {
      return dim;
    },
    maxLength,
    device,
    gpuDevice: ctx?.device,
    tokenize,
    countTokens: (text) => tokenizer.encode(text).ids.length,
    embed: batches.embed,
    async destroy() {
      await batches.settled();
      await m.release();
    },
  };
  return embedder;
}
