// What every reranker offers the runtime: a session per (query, candidates) that scores the
// candidates a small batch per step, so the woven scheduler can run reranking as sub-stages in
// the gaps between decode steps (like search slices), and a one-call rerank() for everything else.

import { WeftError } from '../errors.js';

/** A passage to rerank: the caller's id and its text. */
export interface RerankPassage {
  /** The caller's id (e.g. a chunk id); handed back with its score. */
  id: number;
  text: string;
}

/** Options of Reranker.session. */
export interface RerankSessionOptions {
  /** Aborts the session: the next step() throws ABORTED. */
  signal?: AbortSignal;
}

/** What one RerankSession.step() did. */
export interface RerankStep {
  /** Passages this step scored (0 once the session is done). */
  scored: number;
  /** True once every passage has a score. */
  done: boolean;
}

/** The scoring of one query's passages, cut into small steps that a scheduler can run between decode steps. */
export interface RerankSession {
  /** Number of passages. */
  readonly size: number;
  /** True once every passage has a score. */
  readonly done: boolean;
  /**
   * Scores the next small batch (one passage for a decoder reranker, `batchSize` for a
   * cross-encoder) and resolves with the GPU idle. Calls may overlap or interleave with other
   * sessions' steps: each claims its own batch, and a passage's score does not depend on the order.
   */
  step(): Promise<RerankStep>;
  /** One score per passage, in the order given (higher = more relevant); NaN for those not scored yet. */
  read(): Float64Array;
}

/**
 * What the runtime needs of a reranker (a cross-encoder, or a decoder with passage KV reuse): a
 * session that scores a query's passages step by step, and close().
 */
export interface Reranker {
  /** What the reranker is (model id and kind), for traces and caches. */
  readonly id: string;
  readonly kind: 'cross-encoder' | 'decoder';
  session(query: string, passages: readonly RerankPassage[], options?: RerankSessionOptions): RerankSession;
  /** Releases the model (and the reranker's caches on the GPU); later sessions fail with DESTROYED. */
  close(): Promise<void>;
}

/** A passage's id and its reranker score (higher is more relevant). */
export interface RerankedPassage {
  id: number;
  score: number;
}

/** Runs a session to the end: the passages by descending score (ties keep the given order). */
export async function rerank(
  reranker: Reranker,
  query: string,
  passages: readonly RerankPassage[],
  options: RerankSessionOptions = {},
): Promise<RerankedPassage[]> {
  const s = reranker.session(query, passages, options);
  while (!s.done) await s.step();
  const scores = s.read();
  return passages
    .map((p, i) => ({ id: p.id, score: scores[i]!, i }))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .map(({ id, score }) => ({ id, score }));
}

/** Checks a session's arguments the same way for every reranker. */
export function checkRerankInput(query: unknown, passages: unknown): asserts passages is readonly RerankPassage[] {
  if (typeof query !== 'string' || query.trim() === '') throw new WeftError('INVALID_INPUT', 'A rerank query must be a non-empty string.');
  if (!Array.isArray(passages)) throw new WeftError('INVALID_INPUT', 'rerank needs an array of { id, text } passages.');
  passages.forEach((p: unknown, i) => {
    const q = p as Partial<RerankPassage> | null;
    if (typeof q !== 'object' || q === null || typeof q.text !== 'string' || q.text.trim() === '' || typeof q.id !== 'number') {
      throw new WeftError('INVALID_INPUT', `Passage ${i} must be { id: number, text: non-empty string }. Drop empty passages before reranking.`, {
        details: { index: i },
      });
    }
  });
}

/**
 * The session bookkeeping both rerankers share: batches are claimed in order as steps start, the
 * scoring itself runs one batch at a time (`score` runs on the reranker's queue), and a session
 * that was aborted or whose reranker was closed fails its next step.
 */
export function createBatchedSession(
  size: number,
  batchSize: number,
  score: (from: number, to: number) => Promise<ArrayLike<number>>,
  check: () => void,
  options: RerankSessionOptions,
): RerankSession {
  const scores = new Float64Array(size).fill(NaN);
  let next = 0,
    finished = 0;
  // Batches whose scoring failed (e.g. a lost device): claimed again by later steps.
  const retry: [number, number][] = [];
  return {
    size,
    get done() {
      return finished >= size;
    },
    async step() {
      if (options.signal?.aborted) throw new WeftError('ABORTED', 'Reranking was aborted.');
      check();
      let batch = retry.shift();
      if (!batch && next < size) {
        batch = [next, Math.min(size, next + batchSize)];
        next = batch[1];
      }
      if (!batch) return { scored: 0, done: finished >= size };
      const [from, to] = batch;
      try {
        const got = await score(from, to);
        for (let i = from; i < to; i++) scores[i] = got[i - from]!;
        finished += to - from;
      } catch (e) {
        retry.push(batch);
        throw e;
      }
      return { scored: to - from, done: finished >= size };
    },
    read: () => scores.slice(),
  };
}
