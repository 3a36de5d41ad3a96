// Bring your own embedder: an app that already runs a transformers.js 'feature-extraction'
// pipeline (e.g. pipeline('feature-extraction', 'Xenova/all-MiniLM-L6-v2', { device: 'webgpu' }))
// hands it to Weft as an Embedder. The pipeline pools and normalises; its tokenizer counts tokens
// for chunking and queries. Only the pipeline's documented call signature and its Tensor's
// `data`/`dims` are used, so @huggingface/transformers stays the app's dependency, not Weft's.

import { WeftError } from '../errors.js';
import { batchedEmbed } from './batches.js';
import type { Embedder, EmbedderDevice } from './types.js';

/** What the adapter reads of the Tensor a pipeline returns: shape [texts, dim], float data. */
export interface TransformersTensor {
  readonly data: ArrayLike<number>;
  readonly dims: readonly number[];
  dispose?(): void;
}

/** What the adapter uses of a transformers.js tokenizer (PreTrainedTokenizer). */
export interface TransformersTokenizer {
  /** Token ids of `text`, with the model's special tokens unless told otherwise. */
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  /** The longest input the model takes; the pipeline truncates to it. */
  model_max_length?: number;
}

/** A transformers.js FeatureExtractionPipeline, as far as the adapter uses it. */
export interface FeatureExtractionPipelineLike {
  (texts: string[], options: { pooling: 'mean' | 'cls'; normalize: boolean }): Promise<TransformersTensor>;
  readonly tokenizer: TransformersTokenizer;
  readonly model?: { readonly config?: { readonly _name_or_path?: unknown; readonly model_type?: unknown } };
  dispose?(): Promise<void>;
}

/**
 * Options of createTransformersEmbedder: the model id recorded in indexes, pooling, normalisation,
 * token limit, device and batch size of a transformers.js pipeline.
 */
export interface TransformersEmbedderOptions {
  /** Recorded in index manifests, so queries and documents are embedded alike. Default: the model config's name. */
  modelId?: string;
  /** As the model card says. Default 'mean'. */
  pooling?: 'mean' | 'cls';
  /** L2-normalise the vectors (cosine indexes want it). Default true. */
  normalize?: boolean;
  /** Tokens per input that chunks and queries are kept within. Default: the tokenizer's model_max_length, at most 512. */
  maxLength?: number;
  /** The device the pipeline was created for (reported as `device`). Default 'wasm'. */
  device?: EmbedderDevice;
  /** Texts per pipeline call. Default 16. */
  batchSize?: number;
  /** destroy() also disposes the pipeline (default true); false leaves it to the app. */
  disposePipeline?: boolean;
}

const MAX_LENGTH_CAP = 512;

/** Wraps a transformers.js feature-extraction pipeline as Weft's Embedder. */
export function createTransformersEmbedder(pipe: FeatureExtractionPipelineLike, options: TransformersEmbedderOptions = {}): Embedder {
  if (typeof pipe !== 'function' || typeof pipe.tokenizer?.encode !== 'function') {
    throw new WeftError('INVALID_OPTION', "createTransformersEmbedder takes a transformers.js pipeline: await pipeline('feature-extraction', modelId).");
  }
  const pooling = options.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new WeftError('INVALID_OPTION', `Unknown pooling '${String(pooling)}'. Valid values: mean, cls.`);
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new WeftError('INVALID_OPTION', `batchSize must be a whole number ≥ 1; got ${String(batchSize)}.`);
  const { tokenizer } = pipe;
  const modelMax = tokenizer.model_max_length && tokenizer.model_max_length > 0 ? tokenizer.model_max_length : Infinity;
  const maxLength = options.maxLength ?? Math.min(MAX_LENGTH_CAP, modelMax);
  if (!Number.isInteger(maxLength) || maxLength < 2 || maxLength > modelMax) {
    throw new WeftError('INVALID_OPTION', `maxLength must be a whole number from 2 to the model's ${modelMax} tokens; got ${String(maxLength)}.`);
  }
  const config = pipe.model?.config;
  const modelId =
    options.modelId ??
    (typeof config?._name_or_path === 'string' && config._name_or_path
      ? config._name_or_path
      : `transformers.js/${typeof config?.model_type === 'string' ? config.model_type : 'feature-extraction'}`);
  let dim = 0;

  const run = async (texts: readonly string[]): Promise<Float32Array> => {
    const out = await pipe(texts.slice(), { pooling, normalize: options.normalize ?? true });
    try {
      const [n, d] = out.dims;
      if (out.dims.length !== 2 || n !== texts.length || !d) {
        throw new WeftError(
          'INVALID_MODEL',
          `The pipeline returned a tensor of shape [${out.dims.join(', ')}] for ${texts.length} texts; a pooled feature-extraction pipeline returns [${texts.length}, dim].`,
        );
      }
      if (dim !== 0 && d !== dim) throw new WeftError('INVALID_MODEL', `The pipeline's vectors changed from ${dim} to ${d} dimensions between calls.`);
      dim = d;
      return out.data instanceof Float32Array ? out.data.slice() : Float32Array.from(out.data);
    } finally {
      out.dispose?.();
    }
  };

  const batches = batchedEmbed(batchSize, run, () => dim);
  return {
    modelId,
    get dim() {
      return dim;
    },
    maxLength,
    device: options.device ?? 'wasm',
    // What the model sees: the pipeline cuts inputs at model_max_length (the runtime keeps its
    // chunks and queries within maxLength, so nothing it embeds is cut).
    tokenize: (text) => tokenizer.encode(text).slice(0, modelMax),
    countTokens: (text) => tokenizer.encode(text).length,
    embed: batches.embed,
    async destroy() {
      await batches.settled();
      if (options.disposePipeline !== false) await pipe.dispose?.();
    },
  };
}
