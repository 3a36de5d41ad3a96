// A cross-encoder reranker through onnxruntime-web (e.g. ms-marco-MiniLM-L-6-v2 exported by
// Optimum/transformers.js): each (query, passage) pair is encoded as the model's tokenizer encodes
// pairs (BERT: [CLS] query [SEP] passage [SEP], token_type_ids 0 then 1), the passage cut first
// when the pair is over maxLength (then the query), batched with an attention mask, and scored by
// the model's `logits`: [batch, 1] (or [batch]) is the score itself; [batch, 2] gives the log
// probability of the relevant class (log-softmax, class 1 unless told). Loading, devices (WebGPU
// or WASM) and turns with other onnxruntime sessions are the embedder's (src/embed/onnx-model.ts).

import type * as ort from 'onnxruntime-web/webgpu';
import { WeftError, checkAborted } from '../errors.js';
import { int64Feeds, loadOnnxModel, requireOutput, type OnnxDevice, type OnnxModelOptions } from '../embed/onnx-model.js';
import { createSerialQueue } from '../util/serial-queue.js';
import { checkRerankInput, createBatchedSession, type Reranker } from './types.js';

/**
 * Options of createCrossEncoder: the ONNX model and tokenizer (URLs or bytes), its score output, batch
 * size and positive class.
 */
export interface CrossEncoderOptions extends OnnxModelOptions {
  /** Names the model in traces. Default: the model's URL, or 'cross-encoder' for bytes. */
  modelId?: string;
  /** The score output. Default 'logits'. */
  outputName?: string;
  /** Pairs per model call (one session step). Default 8. */
  batchSize?: number;
  /** With a two-class output, the class that means relevant. Default 1. */
  positiveClass?: number;
}

/** The token ids and token type ids a cross-encoder sees for a (query, passage) pair. */
export interface PairEncoding {
  ids: number[];
  types: number[];
}

/** A cross-encoder reranker: scores `[CLS] query [SEP] passage [SEP]` with an ONNX model, a batch per session step. */
export interface CrossEncoderReranker extends Reranker {
  readonly device: OnnxDevice;
  readonly maxLength: number;
  /** The token ids and token types the model sees for a pair, after truncation. */
  encodePair(query: string, passage: string): PairEncoding;
}

/**
 * Loads an ONNX cross-encoder (e.g. an exported MS MARCO MiniLM) in onnxruntime-web, WebGPU or WASM,
 * with the model's own tokenizer, as a Reranker.
 */
export async function createCrossEncoder(options: CrossEncoderOptions): Promise<CrossEncoderReranker> {
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new WeftError('INVALID_OPTION', `batchSize must be a positive integer (got ${String(batchSize)}).`);
  const positive = options.positiveClass ?? 1;
  const m = await loadOnnxModel(options, 'cross-encoder', undefined, 'weft.reranker');
  const outputName = options.outputName ?? 'logits';
  await requireOutput(m, outputName, 'cross-encoder', 'Pass outputName (the [batch, 1] or [batch, 2] relevance output).');
  const { tokenizer, maxLength } = m;
  const turns = createSerialQueue();
  let closed = false;
  const alive = () => {
    if (closed) throw new WeftError('DESTROYED', 'This reranker was closed; create a new one.');
  };

  const encodePair = (query: string, passage: string): PairEncoding => {
    const enc = tokenizer.encode(query, { text_pair: passage, return_token_type_ids: true });
    const ids = enc.ids,
      types = enc.token_type_ids ?? ids.map(() => 0);
    let over = ids.length - maxLength;
    if (over <= 0) return { ids, types };
    const second = types.indexOf(1);
    if (second <= 0) {
      // A tokenizer without pair types: cut before the closing token.
      return { ids: [...ids.slice(0, maxLength - 1), ids[ids.length - 1]!], types: [...types.slice(0, maxLength - 1), types[types.length - 1]!] };
    }
    // [first segment (query with its specials)] [second segment: passage tokens, closing special]
    const a = ids.slice(0, second),
      b = ids.slice(second, -1),
      close = ids[ids.length - 1]!;
    const cutB = Math.min(over, b.length);
    b.length -= cutB;
    over -= cutB;
    // Still too long: the query too, keeping its opening and closing specials.
    const aKept = over > 0 ? [...a.slice(0, Math.max(1, a.length - 1 - over)), a[a.length - 1]!] : a;
    return { ids: [...aKept, ...b, close], types: [...aKept.map(() => 0), ...b.map(() => 1), 1] };
  };

  const scoreBatch = async (query: string, passages: readonly string[]): Promise<number[]> => {
    const pairs = passages.map((p) => encodePair(query, p));
    const n = pairs.length,
      seq = Math.max(...pairs.map((e) => e.ids.length));
    const ids = new BigInt64Array(n * seq),
      mask = new BigInt64Array(n * seq),
      types = new BigInt64Array(n * seq);
    pairs.forEach((e, b) =>
      e.ids.forEach((id, t) => {
        ids[b * seq + t] = BigInt(id);
        mask[b * seq + t] = 1n;
        types[b * seq + t] = BigInt(e.types[t]!);
      }),
    );
    const out: ort.Tensor = (await m.run(int64Feeds(m, { input_ids: ids, attention_mask: mask, token_type_ids: types }, [n, seq], 'cross-encoder')))[
      outputName
    ]!;
    const data = (await out.getData()) as Float32Array;
    out.dispose?.();
    const classes = out.dims.length === 1 ? 1 : Number(out.dims[out.dims.length - 1]);
    if (out.dims[0] !== n || data.length !== n * classes || classes < 1 || (classes > 1 && positive >= classes)) {
      throw new WeftError(
        'INVALID_MODEL',
        `The cross-encoder's '${outputName}' has shape [${out.dims.join(', ')}]; a reranker needs [batch, 1] or [batch, classes] with class ${positive}.`,
      );
    }
    return Array.from({ length: n }, (_, b) => {
      if (classes === 1) return data[b]!;
      const row = data.subarray(b * classes, (b + 1) * classes);
      let max = -Infinity,
        sum = 0;
      for (const v of row) max = Math.max(max, v);
      for (const v of row) sum += Math.exp(v - max);
      return row[positive]! - max - Math.log(sum);
    });
  };

  return {
    id: `cross-encoder:${options.modelId ?? (options.model instanceof ArrayBuffer || !options.model ? 'custom' : String(options.model))}`,
    kind: 'cross-encoder',
    device: m.device,
    maxLength,
    encodePair,
    session(query, passages, opts = {}) {
      alive();
      checkRerankInput(query, passages);
      const texts = passages.map((p) => p.text);
      return createBatchedSession(
        texts.length,
        batchSize,
        (from, to) =>
          turns.run(async () => {
            alive();
            checkAborted(opts.signal, 'Reranking');
            return scoreBatch(query, texts.slice(from, to));
          }),
        alive,
        opts,
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      await turns.settled();
      await m.release();
    },
  };
}
