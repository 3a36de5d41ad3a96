// Exact re-ranking for a 'pq' index (issue 24): the PQ scan keeps `rerank` x k candidates per
// query, ranked by the distance to their decoded codes; here each candidate is scored again with
// its full-precision vector (the f16 copy the store keeps, WeftStore.readVectors), and the k best by
// (key, id) are the result. Both backends and sessions end here, so a 'pq' search returns the
// same result on the GPU and the CPU, and with enough candidates the one an f16 index gives.
// On the CPU: a few hundred candidates x dim multiply-adds cost less than a dispatch, and the
// vectors arrive from storage on the CPU anyway.

import { kernelMetric } from '../ivf/probe.js';
import { keyToDistance, referenceKey } from '../ivf/reference.js';
import { NO_ID, type SearchResult, type SearchSession } from '../ivf/types.js';
import { missingVector } from './quantizers.js';
import type { IndexEnv } from './snapshot.js';

/**
 * The top k of each query's `candidates` re-scored with their full vectors, read from the
 * chunks of the index in `env` (one read for every query's candidates). `prepared`: the queries as
 * the scan scored them (normalised for cosine). `candidates` come in the order of their PQ keys;
 * `onNeeds` hears, per query, how many candidates per result it took to hold the whole top k
 * (rerank-tuner.ts learns the default from them).
 */
export async function rerankExact(
  env: IndexEnv,
  prepared: Float32Array,
  candidates: SearchResult,
  k: number,
  signal?: AbortSignal,
  onNeeds?: (needs: number[]) => void,
): Promise<SearchResult> {
  const { dim } = env.layout;
  const nq = candidates.numQueries;
  const wanted = [...new Set(Array.from(candidates.ids).filter((id) => id !== NO_ID))].sort((a, b) => a - b);
  const vectors = await env.store.readVectors(env.name, wanted, signal ? { signal } : undefined);
  const full = new Map(wanted.map((id, i) => [id, vectors[i] ?? missingVector(env.name, id)]));
  const metric = kernelMetric(env.metric);
  const needs: number[] = [];
  const ids = new Uint32Array(nq * k).fill(NO_ID);
  const distances = new Float32Array(nq * k).fill(env.metric === 'l2' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY);
  for (let q = 0; q < nq; q++) {
    const scored: { id: number; key: number; at: number }[] = [];
    for (let r = 0; r < candidates.k; r++) {
      const id = candidates.ids[q * candidates.k + r]!;
      if (id !== NO_ID) scored.push({ id, key: Math.fround(referenceKey(metric, prepared, q * dim, full.get(id)!, 0, dim)), at: r });
    }
    scored.sort((a, b) => a.key - b.key || a.id - b.id);
    let last = 0;
    scored.slice(0, k).forEach((s, r) => {
      ids[q * k + r] = s.id;
      distances[q * k + r] = keyToDistance(env.metric, s.key);
      last = Math.max(last, s.at);
    });
    needs.push(Math.ceil((last + 1) / k));
  }
  onNeeds?.(needs);
  return { ids, distances, numQueries: nq, k };
}

/** `session` (scanning for candidates) as a session whose result is its candidates re-ranked to the top `k` by `rerank`. */
export function rerankedSession(session: SearchSession, k: number, rerank: (candidates: SearchResult) => Promise<SearchResult>): SearchSession {
  return {
    numQueries: session.numQueries,
    k,
    nprobe: session.nprobe,
    get scanned() {
      return session.scanned;
    },
    get done() {
      return session.done;
    },
    step: (lists) => session.step(lists),
    ...(session.prepare ? { prepare: (lists?: number) => session.prepare!(lists) } : {}),
    read: async () => rerank(await session.read()),
    destroy: () => session.destroy(),
  };
}
