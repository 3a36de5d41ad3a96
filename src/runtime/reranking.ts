// Reranking as sub-stages: the reranker (src/rerank/: a cross-encoder, or a decoder with
// per-passage KV reuse) scores the retrieved candidates a few at a time (one session step each),
// each step run like a search slice (in a decode gap under the woven schedule), then the
// candidates are reordered by its scores and the top k kept.

import { WeftError, checkAborted } from '../errors.js';
import type { Reranker } from '../rerank/types.js';
import { checkInteger } from '../ivf/validate.js';
import { MAX_K } from '../ivf/types.js';
import type { Runner } from './runner.js';
import type { Trace } from './trace.js';
import type { Passage, RerankOptions } from './types.js';

export type { Reranker };

export const DEFAULT_RERANK_CANDIDATES = 20;

/** Candidates to retrieve for reranking (undefined: no reranking); INVALID_OPTION without a reranker or with a bad count. */
export function rerankCandidates(rerank: boolean | RerankOptions | undefined, reranker: Reranker | undefined, k: number): number | undefined {
  if (!rerank) return undefined;
  if (!reranker)
    throw new WeftError('INVALID_OPTION', 'rerank needs a reranker: pass one to createRag ({ reranker }) or to createRagInWorker ({ reranker: { … } }).');
  const n = checkInteger('rerank.candidates', typeof rerank === 'object' ? rerank.candidates : undefined, {
    min: 1,
    max: MAX_K,
    fallback: DEFAULT_RERANK_CANDIDATES,
  });
  return Math.max(n, k);
}

/** Scores `candidates` with the reranker, one step per `run`, and returns the best k, renumbered. */
export async function rerankPassages(
  reranker: Reranker,
  query: string,
  candidates: Passage[],
  k: number,
  o: { run: Runner; trace: Trace; signal?: AbortSignal; window?: number },
): Promise<Passage[]> {
  if (candidates.length === 0) return [];
  const session = reranker.session(
    query,
    candidates.map((p) => ({ id: p.id, text: p.text })),
    o.signal ? { signal: o.signal } : {},
  );
  while (!session.done) {
    checkAborted(o.signal, 'Reranking');
    const s0 = performance.now();
    const { scored } = await o.run(() => session.step());
    o.trace.add('rerank', s0, { passages: scored, ...(o.window ? { window: o.window } : {}) });
  }
  const scores = session.read();
  return candidates
    .map((p, i) => ({ p, s: scores[i]! }))
    .sort((a, b) => b.s - a.s || a.p.id - b.p.id)
    .slice(0, k)
    .map(({ p, s }, i) => ({ ...p, citation: i + 1, score: s, scores: { ...p.scores, rerank: s } }));
}
