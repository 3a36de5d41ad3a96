// The decoder reranker with passage KV reuse on an ONNX decoder exported with past_key_values
// (the Optimum / transformers.js convention: inputs input_ids, attention_mask, optionally
// position_ids, and past_key_values.{i}.key / .value [batch, kv heads, past, head dim]; outputs
// logits [batch, seq, vocab] and present.{i}.key / .value). The same query-likelihood score as the
// reference generator's (llama2c-reranker.ts): the passage's prompt prefix runs once with an empty
// past, its present.* tensors are the passage's KV (kept in a KV tier: memory, then IndexedDB),
// and a query runs only [last prefix token] + its tokens with that KV fed back as past_key_values.
// Prompt: tokens("Passage: " + p) with the tokenizer's specials, then tokens("\nQuestion:"), then
// tokens(q), the last two without specials. float32 KV only (a float16 export is refused).

import * as ort from 'onnxruntime-web/webgpu';
import { WeftError, checkAborted } from '../errors.js';
import { loadOnnxModel, requireOutput, type LoadedOnnxModel, type OnnxDevice, type OnnxModelOptions } from '../embed/onnx-model.js';
import { sha256Hex } from '../util/fetch-bytes.js';
import { createSerialQueue } from '../util/serial-queue.js';
import { createKvTier, type KvTier, type KvTierOptions, type KvTierStats } from './kv-tier.js';
import { NO_KV_STATS, meanLogProb, prefixKey, preparePassages, queryLikelihoodSession } from './query-likelihood.js';
import { PASSAGE_PREFIX, QUESTION_PREFIX } from './llama2c-reranker.js';
import type { Reranker, RerankSession } from './types.js';

/**
 * Options of createOnnxDecoderReranker: the ONNX decoder and tokenizer, KV reuse, the KV tier, query
 * tokens scored and the KV shape where the model does not give it.
 */
export interface OnnxDecoderRerankerOptions extends OnnxModelOptions {
  /** Names the model in the KV cache's keys. Default: the model file's SHA-256. */
  modelId?: string;
  /** Keep passages' KV for reuse (default true); false recomputes every passage. */
  reuse?: boolean;
  /** The KV tier (its first tier holds the KV in memory, as onnxruntime's CPU tensors: `gpuBytes` is its budget). */
  kv?: KvTierOptions;
  /** Query tokens scored at most. Default 64. */
  maxQueryTokens?: number;
  /** KV heads and head size, where the model's input metadata does not give them. */
  kvShape?: { heads: number; headDim: number };
}

/** One passage's KV: per layer, key and value [1, heads, tokens, headDim] (float32). */
interface PassageKv {
  tokens: number[];
  keys: Float32Array[];
  values: Float32Array[];
}

/** The decoder reranker with passage KV reuse on an ONNX decoder exported with past_key_values. */
export interface OnnxDecoderReranker extends Reranker {
  readonly modelId: string;
  readonly device: OnnxDevice;
  readonly layers: number;
  prefixTokens(passage: string): number[];
  queryTokens(query: string): number[];
  /**
   * log p(targets[i] | tokens[0..i]) from an empty context in one run, no KV reused (the
   * reference the reused scores are checked against).
   */
  logProbsFromScratch(tokens: readonly number[], targets: readonly number[]): Promise<Float32Array>;
  prepare(passages: readonly string[], options?: { signal?: AbortSignal }): Promise<void>;
  kvStats(): KvTierStats;
  flush(): Promise<void>;
}

const PAST = /^past_key_values\.(\d+)\.key$/;

/**
 * Loads an ONNX decoder exported with past_key_values (the Optimum / transformers.js convention) as a
 * decoder reranker with passage KV reuse: the same query-likelihood score as createLlama2cReranker.
 */
export async function createOnnxDecoderReranker(options: OnnxDecoderRerankerOptions): Promise<OnnxDecoderReranker> {
  const maxQuery = options.maxQueryTokens ?? 64;
  if (!Number.isInteger(maxQuery) || maxQuery < 1)
    throw new WeftError('INVALID_OPTION', `maxQueryTokens must be a positive integer (got ${String(maxQuery)}).`);
  let modelId = options.modelId;
  if (!modelId && options.model instanceof ArrayBuffer) modelId = `onnx:${(await sha256Hex(options.model)).slice(0, 32)}`;
  const m: LoadedOnnxModel = await loadOnnxModel(options, 'decoder reranker', undefined, 'weft.reranker');
  modelId ??= `onnx:${String(options.model)}`;
  await requireOutput(m, 'logits', 'decoder', 'A decoder reranker needs [batch, seq, vocab] logits.');
  const { session, tokenizer, maxLength } = m;
  const layers = session.inputNames.filter((n) => PAST.test(n)).length;
  const problem = (() => {
    if (!session.inputNames.includes('input_ids') || !session.inputNames.includes('attention_mask')) return 'inputs input_ids and attention_mask';
    if (layers === 0) return 'past_key_values.{i}.key / .value inputs';
    for (let i = 0; i < layers; i++) {
      if (!session.inputNames.includes(`past_key_values.${i}.value`)) return `past_key_values.${i}.value`;
      if (!session.outputNames.includes(`present.${i}.key`) || !session.outputNames.includes(`present.${i}.value`)) return `present.${i}.key / .value outputs`;
    }
    const meta = session.inputMetadata.find((x) => x.name === 'past_key_values.0.key');
    if (meta?.isTensor && meta.type !== 'float32') return `float32 past_key_values (this model's are ${meta.type})`;
    return undefined;
  })();
  if (problem) {
    await m.release();
    throw new WeftError(
      'INVALID_MODEL',
      `The decoder has no ${problem}: a KV-reuse reranker needs a decoder exported with past_key_values (the Optimum / transformers.js convention).`,
    );
  }
  const meta = session.inputMetadata.find((x) => x.name === 'past_key_values.0.key');
  const shape = meta?.isTensor ? meta.shape : [];
  const heads = options.kvShape?.heads ?? (typeof shape[1] === 'number' ? shape[1] : NaN);
  const headDim = options.kvShape?.headDim ?? (typeof shape[3] === 'number' ? shape[3] : NaN);
  if (!(heads > 0) || !(headDim > 0)) {
    await m.release();
    throw new WeftError('INVALID_OPTION', 'The decoder does not say its KV heads and head size; pass kvShape: { heads, headDim }.');
  }
  if (maxQuery >= maxLength - 8) {
    await m.release();
    throw new WeftError('INVALID_OPTION', `maxQueryTokens (${maxQuery}) leaves no room for a passage in a ${maxLength}-token context.`);
  }
  const hasPositions = session.inputNames.includes('position_ids');
  const perToken = heads * headDim;
  const reuse = options.reuse ?? true;
  const tier: KvTier<PassageKv> | undefined = reuse
    ? createKvTier<PassageKv>(
        {
          bytes: (s) => 2 * layers * s.tokens.length * perToken * 4,
          toBytes: async (s) => {
            const n = s.tokens.length * perToken;
            const out = new Float32Array(2 * layers * n);
            for (let l = 0; l < layers; l++) {
              out.set(s.keys[l]!, 2 * l * n);
              out.set(s.values[l]!, (2 * l + 1) * n);
            }
            return { tokens: s.tokens.slice(), data: out.buffer };
          },
          fromBytes: (b) => {
            const n = b.tokens.length * perToken,
              all = new Float32Array(b.data);
            if (all.length !== 2 * layers * n) throw new WeftError('CORRUPT_RECORD', 'A stored passage KV does not fit this decoder.');
            return {
              tokens: b.tokens.slice(),
              keys: Array.from({ length: layers }, (_, l) => all.slice(2 * l * n, (2 * l + 1) * n)),
              values: Array.from({ length: layers }, (_, l) => all.slice((2 * l + 1) * n, (2 * l + 2) * n)),
            };
          },
          release: () => undefined,
        },
        options.kv,
      )
    : undefined;
  const turns = createSerialQueue();
  let closed = false;
  const alive = () => {
    if (closed) throw new WeftError('DESTROYED', 'This reranker was closed; create a new one.');
  };

  const tail = tokenizer.encode(QUESTION_PREFIX, { add_special_tokens: false }).ids;
  const prefixTokens = (passage: string) => {
    const head = tokenizer.encode(PASSAGE_PREFIX + passage).ids;
    return [...head.slice(0, maxLength - maxQuery - tail.length), ...tail];
  };
  const queryTokens = (query: string) => tokenizer.encode(query, { add_special_tokens: false }).ids.slice(0, maxQuery);
  const keyOf = (prefix: number[]) => prefixKey(modelId, prefix);

  /** Runs `tokens` after `past` (positions past.length..); returns the logits and the new KV. */
  const forward = async (tokens: readonly number[], past: PassageKv | undefined) => {
    const p = past?.tokens.length ?? 0,
      n = tokens.length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, n]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(p + n).fill(1n), [1, p + n]),
    };
    if (hasPositions)
      feeds.position_ids = new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: n }, (_, i) => BigInt(p + i)),
        [1, n],
      );
    for (let l = 0; l < layers; l++) {
      feeds[`past_key_values.${l}.key`] = new ort.Tensor('float32', past ? past.keys[l]! : new Float32Array(0), [1, heads, p, headDim]);
      feeds[`past_key_values.${l}.value`] = new ort.Tensor('float32', past ? past.values[l]! : new Float32Array(0), [1, heads, p, headDim]);
    }
    const names = new Set(session.inputNames);
    for (const k of Object.keys(feeds)) if (!names.has(k)) delete feeds[k];
    for (const name of session.inputNames)
      if (!feeds[name]) throw new WeftError('INVALID_MODEL', `The decoder wants an input '${name}' that the reranker does not provide.`);
    const out = await m.run(feeds);
    const read = async (name: string) => {
      const t = out[name]!;
      const d = (await t.getData()) as Float32Array;
      t.dispose?.();
      return d;
    };
    const logits = await read('logits');
    const keys: Float32Array[] = [],
      values: Float32Array[] = [];
    for (let l = 0; l < layers; l++) {
      keys.push(await read(`present.${l}.key`));
      values.push(await read(`present.${l}.value`));
    }
    return { logits, kv: { tokens: [...(past?.tokens ?? []), ...tokens], keys, values } };
  };

  const logSoftmaxAt = (logits: Float32Array, rows: number, targets: readonly number[]) => {
    const V = logits.length / rows;
    return Float32Array.from(targets, (t, r) => {
      const row = logits.subarray(r * V, (r + 1) * V);
      let max = -Infinity,
        sum = 0;
      for (const v of row) max = Math.max(max, v);
      for (const v of row) sum += Math.exp(v - max);
      return row[t]! - max - Math.log(sum);
    });
  };

  /** The KV of prefix[0..n-2]: from the tier, or computed (and kept). */
  const passageKv = async (prefix: number[], touch: boolean): Promise<PassageKv> => {
    const head = prefix.slice(0, -1);
    if (!tier) return (await forward(head, undefined)).kv;
    const key = await keyOf(prefix);
    const hit = await tier.get(key, { touch });
    if (hit) return hit.snapshot;
    const kv = (await forward(head, undefined)).kv;
    tier.put(key, kv);
    return kv;
  };

  const scoreOne = (passage: string, query: number[], signal: AbortSignal | undefined, request: () => Promise<void>) =>
    turns.run(async () => {
      alive();
      checkAborted(signal, 'Reranking');
      await request();
      const prefix = prefixTokens(passage);
      const kv = await passageKv(prefix, false);
      checkAborted(signal, 'Reranking');
      const { logits } = await forward([prefix[prefix.length - 1]!, ...query.slice(0, -1)], kv);
      return meanLogProb(logSoftmaxAt(logits, query.length, query));
    });

  return {
    id: `decoder:${modelId}`,
    kind: 'decoder',
    modelId,
    device: m.device,
    layers,
    prefixTokens,
    queryTokens,
    logProbsFromScratch: (tokens, targets) => turns.run(async () => logSoftmaxAt((await forward(tokens, undefined)).logits, tokens.length, targets)),
    session(query, passages, opts = {}): RerankSession {
      const q = queryTokens(typeof query === 'string' ? query : '');
      if (typeof query === 'string' && query.trim() !== '' && q.length === 0) throw new WeftError('INVALID_INPUT', 'The query has no tokens for this model.');
      return queryLikelihoodSession(
        { tier, alive, keyOf: (t) => keyOf(prefixTokens(t)), score: (t, signal, request) => scoreOne(t, q, signal, request) },
        query,
        passages,
        opts,
      );
    },
    prepare: (passages, opts = {}) => preparePassages(passages, { tier, turns, alive, place: (p) => passageKv(prefixTokens(p), true), signal: opts.signal }),
    kvStats: () => tier?.stats() ?? NO_KV_STATS,
    flush: async () => {
      await tier?.flush();
    },
    async close() {
      if (closed) return;
      closed = true;
      await turns.settled();
      await tier?.close();
      await m.release();
    },
  };
}
