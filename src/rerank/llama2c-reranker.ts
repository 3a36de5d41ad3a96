// HyperRAG's decoder reranker with document-side KV reuse, on the reference generator. The score
// is query likelihood (UPR: a decoder ranks passages with no training): the mean log-probability
// of the query's tokens after the passage, with the passage FIRST so that its KV cache is a prefix
// that does not depend on the query. The prompt, as token sequences:
//
//   prefix(p) = [BOS] + tokens("Passage: " + p) + tokens("\nQuestion:")   (passage cut to fit)
//   query(q)  = tokens(q)                                                  (cut to maxQueryTokens)
//   score     = mean_i log p(query_i | prefix, query_<i)
//
// (tokens(): llama2.c's BPE with its leading dummy space, no BOS.) A passage's KV (the prefix but
// its last token) is computed once, at prepare() (ingest) or on first use, and kept in a KV tier
// (GPU then IndexedDB, src/rerank/kv-tier.ts) keyed by the model's id and a hash of the prefix
// tokens; at query time it is restored and only [last prefix token] + query tokens run, their
// log-probs computed on the GPU (Llama2cGenerator.logProbs). Restored or recomputed, the KV is
// bitwise the same and so are the scores. The reranker runs its own generator (never restore KV
// into one that is answering): it loads the same checkpoint, or takes one it is given.

import { WeftError, checkAborted } from '../errors.js';
import { KV_SNAPSHOT_LABEL, loadLlama2c, type GpuKvSnapshot, type Llama2cGenerator } from '../generate/llama2c-gpu.js';
import type { GpuHold } from '../gpu/budget.js';
import { BOS } from '../generate/bpe.js';
import type { GpuDeviceOrContext, GpuOption } from '../gpu/option.js';
import type { PinnedFile } from '../util/fetch-bytes.js';
import { fetchBytes, sha256Hex } from '../util/fetch-bytes.js';
import { createSerialQueue } from '../util/serial-queue.js';
import { createKvTier, type KvTier, type KvTierOptions, type KvTierStats } from './kv-tier.js';
import { NO_KV_STATS, meanLogProb, prefixKey, preparePassages, queryLikelihoodSession } from './query-likelihood.js';
import type { Reranker, RerankSession } from './types.js';

/** The text before the passage in a decoder reranker's prompt. */
export const PASSAGE_PREFIX = 'Passage: ';
/** The text between the passage and the question in a decoder reranker's prompt. */
export const QUESTION_PREFIX = '\nQuestion:';

/**
 * Options of createLlama2cReranker: the checkpoint and tokenizer to load (or a generator of its own),
 * the GPU, KV reuse and the KV tier.
 */
export interface Llama2cRerankerOptions extends GpuOption {
  /** The checkpoint to load for the reranker's own generator: a URL or its bytes. */
  model?: string | URL | PinnedFile | ArrayBuffer;
  /** Its tokenizer (`tok*.bin`). */
  tokenizer?: string | URL | PinnedFile | ArrayBuffer;
  /** The GPU to run on (e.g. the one the answer's generator uses). */
  gpu?: GpuDeviceOrContext;
  /** Or a generator to score with, used by no one else; close() leaves it to its owner. */
  generator?: Llama2cGenerator;
  /** Names the model in the KV cache's keys. Default: the checkpoint's SHA-256 (required with `generator`). */
  modelId?: string;
  /** Keep passages' KV for reuse (default true); false recomputes every passage (the benchmark's baseline). */
  reuse?: boolean;
  /** The KV tier: GPU and IndexedDB budgets, database name, GPU eviction policy. */
  kv?: KvTierOptions;
  /** Query tokens scored at most (the rest is cut); also reserved in the context. Default 64. */
  maxQueryTokens?: number;
  signal?: AbortSignal;
}

/**
 * A decoder reranker with document-side KV reuse (HyperRAG) on the reference generator: each passage's
 * KV is computed once, kept in a KV tier and restored for every question.
 */
export interface DecoderReranker extends Reranker {
  readonly modelId: string;
  readonly generator: Llama2cGenerator;
  /** The prompt's prefix tokens for a passage (whose KV is cached) and a query's scored tokens. */
  prefixTokens(passage: string): number[];
  queryTokens(query: string): number[];
  /** Computes and keeps the KV of passages not cached yet (at ingest, ahead of queries). */
  prepare(passages: readonly string[], options?: { signal?: AbortSignal }): Promise<void>;
  kvStats(): KvTierStats;
  /** Settles when the KV tier's IndexedDB writes are done. */
  flush(): Promise<void>;
}

/**
 * Creates a decoder reranker on a llama2.c checkpoint: scores a passage by the mean log-probability of
 * the question's tokens after it (query likelihood), reusing each passage's KV.
 */
export async function createLlama2cReranker(options: Llama2cRerankerOptions): Promise<DecoderReranker> {
  const maxQuery = options.maxQueryTokens ?? 64;
  if (!Number.isInteger(maxQuery) || maxQuery < 1)
    throw new WeftError('INVALID_OPTION', `maxQueryTokens must be a positive integer (got ${String(maxQuery)}).`);
  let gen: Llama2cGenerator;
  let modelId = options.modelId;
  const owns = !options.generator;
  if (options.generator) {
    if (!modelId) throw new WeftError('INVALID_OPTION', 'A reranker given a generator needs a modelId naming its checkpoint (the KV cache is keyed by it).');
    gen = options.generator;
  } else {
    if (!options.model || !options.tokenizer)
      throw new WeftError('INVALID_OPTION', 'The decoder reranker needs model and tokenizer (a llama2.c checkpoint and tok*.bin), or a generator.');
    const bytes = options.model instanceof ArrayBuffer ? options.model : await fetchBytes(options.model, 'model', { signal: options.signal });
    modelId ??= `llama2c:${(await sha256Hex(bytes)).slice(0, 32)}`;
    gen = await loadLlama2c({
      model: bytes,
      tokenizer: options.tokenizer,
      ...(options.gpu ? { gpu: options.gpu } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }
  const { seqLen } = gen.config;
  if (maxQuery >= seqLen - 8)
    throw new WeftError('INVALID_OPTION', `maxQueryTokens (${maxQuery}) leaves no room for a passage in this model's ${seqLen}-token context.`);
  const tok = gen.tokenizer;
  const reuse = options.reuse ?? true;
  const tier: KvTier<GpuKvSnapshot> | undefined = reuse
    ? createKvTier<GpuKvSnapshot>(
        {
          bytes: (s) => s.byteLength,
          toBytes: (s) => gen.readSnapshot(s),
          fromBytes: (b) => gen.uploadSnapshot(b),
          release: (s) => gen.releaseSnapshot(s),
        },
        options.kv,
      )
    : undefined;
  // The GPU tier's budget is an elastic hold on the generator's context: it gives its KV back
  // when a load needs the memory (evicting the coldest passages, which IndexedDB still has) and
  // takes it again when memory is free; it starts with what the device's budget leaves.
  let kvHold: GpuHold | undefined;
  if (tier) {
    const { budget, used } = gen.gpu.memory();
    const start = tier.resizeGpu(Math.max(0, budget - used));
    kvHold = gen.gpu.hold(KV_SNAPSHOT_LABEL, start, "The decoder reranker's passage KV", {
      min: 0,
      want: tier.gpuMax,
      resize: (bytes) => tier.resizeGpu(bytes),
    });
  }
  const turns = createSerialQueue();
  let closed = false;
  const alive = () => {
    if (closed) throw new WeftError('DESTROYED', 'This reranker was closed; create a new one.');
  };

  const tail = tok.encode(QUESTION_PREFIX, { bos: false });
  const prefixTokens = (passage: string): number[] => {
    const body = tok.encode(PASSAGE_PREFIX + passage, { bos: false });
    const room = seqLen - maxQuery - 1 - tail.length;
    return [BOS, ...body.slice(0, room), ...tail];
  };
  const queryTokens = (query: string): number[] => tok.encode(query, { bos: false }).slice(0, maxQuery);
  // A passage's prefix and key, remembered for the most recent passages (a session needs them at
  // its first step, for the eviction policy, and again when it scores the passage).
  const recent = new Map<string, { prefix: number[]; key: Promise<string> }>();
  const prepared = (passage: string) => {
    let e = recent.get(passage);
    if (e) {
      recent.delete(passage);
      recent.set(passage, e);
      return e;
    }
    const prefix = prefixTokens(passage);
    e = { prefix, key: prefixKey(modelId!, prefix) };
    recent.set(passage, e);
    if (recent.size > 1024) recent.delete(recent.keys().next().value!);
    return e;
  };

  /** Leaves the generator's context at the passage's prefix but its last token (restored or computed); returns the prefix. */
  const placePrefix = async (passage: string, signal?: AbortSignal, touch = true): Promise<number[]> => {
    const { prefix, key: keyP } = prepared(passage);
    const head = prefix.slice(0, -1);
    if (!tier) {
      gen.reset();
      await gen.prefill(head, signal ? { signal } : {});
      return prefix;
    }
    const key = await keyP;
    const hit = await tier.get(key, { touch });
    if (hit) {
      try {
        await gen.restore(hit.snapshot, { logits: false });
      } finally {
        if (!hit.kept) gen.releaseSnapshot(hit.snapshot);
      }
      return prefix;
    }
    gen.reset();
    await gen.prefill(head, signal ? { signal } : {});
    const snap = await gen.snapshotOnGpu();
    if (!tier.put(key, snap)) gen.releaseSnapshot(snap);
    return prefix;
  };

  /** The question's likelihood after `passage` (its prefix placed first), on the reranker's queue. */
  const scoreOne = (passage: string, query: number[], signal: AbortSignal | undefined, request: () => Promise<void>) =>
    turns.run(async () => {
      alive();
      checkAborted(signal, 'Reranking');
      await request();
      const prefix = await placePrefix(passage, signal, false);
      return meanLogProb(await gen.logProbs([prefix[prefix.length - 1]!, ...query.slice(0, -1)], query, { signal }));
    });

  const reranker: DecoderReranker = {
    id: `decoder:${modelId}`,
    kind: 'decoder',
    modelId: modelId!,
    generator: gen,
    prefixTokens,
    queryTokens,
    session(query, passages, opts = {}): RerankSession {
      const q = queryTokens(typeof query === 'string' ? query : '');
      return queryLikelihoodSession(
        { tier, alive, keyOf: (t) => prepared(t).key, score: (t, signal, request) => scoreOne(t, q, signal, request) },
        query,
        passages,
        opts,
      );
    },
    prepare: (passages, opts = {}) => preparePassages(passages, { tier, turns, alive, place: placePrefix, signal: opts.signal }),
    kvStats: () => tier?.stats() ?? NO_KV_STATS,
    flush: async () => {
      await tier?.flush();
    },
    async close() {
      if (closed) return;
      closed = true;
      await turns.settled();
      await tier?.close();
      kvHold?.release();
      if (owns) gen.destroy();
    },
  };
  return reranker;
}
