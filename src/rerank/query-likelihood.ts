// What both decoder rerankers (the reference generator's and an ONNX decoder's) share: the
// question-likelihood score (the mean log-probability of the question's tokens after the
// passage), the KV key of a passage prefix, a session that scores one passage per step and
// reports its candidates to the KV tier's eviction policy once, and prepare() (computing passages'
// KV ahead of questions). Each reranker supplies how a passage's KV is placed and scored.

import { WeftError, checkAborted } from '../errors.js';
import { sha256Hex } from '../util/fetch-bytes.js';
import type { SerialQueue } from '../util/serial-queue.js';
import type { KvTier, KvTierStats } from './kv-tier.js';
import { checkRerankInput, createBatchedSession, type RerankPassage, type RerankSession, type RerankSessionOptions } from './types.js';

/** The KV tier key of a passage prefix: the model's id and a SHA-256 of its tokens. */
export async function prefixKey(modelId: string, prefix: readonly number[]): Promise<string> {
  return `${modelId}|${await sha256Hex(new Uint8Array(Int32Array.from(prefix).buffer))}`;
}

/** The score of a question's log-probabilities: their mean. */
export function meanLogProb(lp: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < lp.length; i++) sum += lp[i]!;
  return sum / lp.length;
}

/** Stats of a reranker that keeps no KV. */
export const NO_KV_STATS: KvTierStats = {
  gpuHits: 0,
  idbHits: 0,
  misses: 0,
  corrupt: 0,
  gpuEntries: 0,
  gpuBytes: 0,
  gpuEvictions: 0,
  idbWrites: 0,
  idbEvictions: 0,
  idbErrors: 0,
};

export interface QueryLikelihoodParts {
  tier: KvTier<unknown> | undefined;
  /** The KV tier key of a passage's prefix. */
  keyOf(passage: string): Promise<string>;
  /**
   * Scores one passage (its KV restored or computed, then the question's tokens) on the
   * reranker's queue; calls `request()` first, once the passage's turn has come.
   */
  score(passage: string, signal: AbortSignal | undefined, request: () => Promise<void>): Promise<number>;
  /** Throws DESTROYED once the reranker is closed. */
  alive(): void;
}

/** A session over `passages`: one passage per step; the candidates are one request for the GPU tier's policy, recorded at the first step. */
export function queryLikelihoodSession(
  parts: QueryLikelihoodParts,
  query: string,
  passages: readonly RerankPassage[],
  options: RerankSessionOptions,
): RerankSession {
  parts.alive();
  checkRerankInput(query, passages);
  const texts = passages.map((p) => p.text);
  let requested = false;
  const request = async () => {
    if (requested || !parts.tier) return;
    requested = true;
    parts.tier.touch(await Promise.all(texts.map((t) => parts.keyOf(t))));
  };
  return createBatchedSession(texts.length, 1, async (from) => [await parts.score(texts[from]!, options.signal, request)], parts.alive, options);
}

/** Computes and keeps the KV of passages not cached yet, one at a time on the reranker's queue. */
export async function preparePassages(
  passages: readonly string[],
  o: {
    tier: KvTier<unknown> | undefined;
    turns: SerialQueue;
    alive(): void;
    place(passage: string, signal: AbortSignal | undefined): Promise<unknown>;
    signal?: AbortSignal | undefined;
  },
): Promise<void> {
  o.alive();
  if (!o.tier) return;
  for (const p of passages) {
    if (typeof p !== 'string' || p.trim() === '') throw new WeftError('INVALID_INPUT', 'prepare() takes non-empty passage texts.');
    await o.turns.run(async () => {
      o.alive();
      checkAborted(o.signal, 'Preparing passage KV');
      await o.place(p, o.signal);
    });
  }
}
