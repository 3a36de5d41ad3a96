// Hybrid retrieval's fusion: the lexical (BM25) and vector rankings of one query become one
// ranking. Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009) is the default: it
// needs no score calibration between BM25 scores and vector distances, which live on unrelated
// scales, and it is what peers (Orama, Elasticsearch, Weaviate, pgvector recipes) use. The
// weighted form normalises each ranking's scores to [0, 1] (min-max, best = 1) and adds them with
// the weights, for users who tuned a convex combination on their own data.

import { WeftError } from '../errors.js';

/** How a question is searched: 'vector' (embeddings), 'lexical' (BM25 keywords) or 'hybrid' (both, fused). */
export type SearchMode = 'vector' | 'lexical' | 'hybrid';

/**
 * How hybrid search fuses the vector and keyword rankings: reciprocal rank fusion (default) or
 * weighted normalised scores.
 */
export interface FusionOptions {
  /** 'rrf' (default): Σ weight / (rrfK + rank); 'weighted': Σ weight · normalised score. */
  method?: 'rrf' | 'weighted';
  /** RRF's rank constant (default 60, the paper's). */
  rrfK?: number;
  /** Weight of each side (default 1 each). */
  weights?: { vector?: number; lexical?: number };
}

/** One side's ranking, best first. `better` says which way its scores point. */
export interface Ranking {
  ids: ArrayLike<number>;
  scores: ArrayLike<number>;
  better: 'higher' | 'lower';
}

/** A fused result: its id, fused score, and each side's own score where it was ranked. */
export interface Fused {
  id: number;
  /** The fused score (higher is better). */
  score: number;
  /** The side's own score where the id was in its ranking (vector: distance; lexical: BM25). */
  vector?: number;
  lexical?: number;
}

export const SEARCH_MODES: readonly SearchMode[] = ['vector', 'lexical', 'hybrid'];

/** The mode given, checked (default 'vector'). */
export function checkMode(mode: unknown, fallback: SearchMode = 'vector'): SearchMode {
  if (mode === undefined) return fallback;
  if (!SEARCH_MODES.includes(mode as SearchMode)) {
    throw new WeftError('INVALID_OPTION', `Unknown search mode '${String(mode)}'. Valid values: ${SEARCH_MODES.join(', ')}.`);
  }
  return mode as SearchMode;
}

/** The fusion options with their defaults, checked (INVALID_OPTION). */
export function checkFusion(o: FusionOptions | undefined): Required<Omit<FusionOptions, 'weights'>> & { weights: { vector: number; lexical: number } } {
  const method = o?.method ?? 'rrf';
  if (method !== 'rrf' && method !== 'weighted')
    throw new WeftError('INVALID_OPTION', `Unknown fusion method '${String(method)}'. Valid values: rrf, weighted.`);
  const rrfK = o?.rrfK ?? 60;
  if (!(Number.isFinite(rrfK) && rrfK >= 0)) throw new WeftError('INVALID_OPTION', `fusion.rrfK must be a number ≥ 0; got ${String(rrfK)}.`);
  const weights = { vector: o?.weights?.vector ?? 1, lexical: o?.weights?.lexical ?? 1 };
  for (const [side, w] of Object.entries(weights)) {
    if (!(Number.isFinite(w) && w >= 0)) throw new WeftError('INVALID_OPTION', `fusion.weights.${side} must be a number ≥ 0; got ${String(w)}.`);
  }
  if (weights.vector + weights.lexical === 0) throw new WeftError('INVALID_OPTION', 'fusion.weights cannot both be 0.');
  return { method, rrfK, weights };
}

/**
 * Fuses the two rankings into one, best first (ties: the smaller id first), at most `k` long.
 * An id missing from one ranking gets nothing from that side.
 */
export function fuse(vector: Ranking, lexical: Ranking, k: number, options?: FusionOptions): Fused[] {
  const o = checkFusion(options);
  const byId = new Map<number, Fused>();
  const add = (r: Ranking, side: 'vector' | 'lexical', weight: number) => {
    const n = r.ids.length;
    let lo = Infinity,
      hi = -Infinity;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, r.scores[i]!);
      hi = Math.max(hi, r.scores[i]!);
    }
    for (let i = 0; i < n; i++) {
      const id = r.ids[i]!;
      let f = byId.get(id);
      if (!f) {
        f = { id, score: 0 };
        byId.set(id, f);
      }
      if (f[side] !== undefined) continue; // an id twice in one ranking counts once, at its best rank
      f[side] = r.scores[i]!;
      if (o.method === 'rrf') {
        f.score += weight / (o.rrfK + i + 1);
      } else {
        // Min-max to [0, 1], best = 1; a ranking whose scores are all equal gives each 1.
        const s = r.scores[i]!;
        const unit = hi > lo ? (r.better === 'higher' ? (s - lo) / (hi - lo) : (hi - s) / (hi - lo)) : 1;
        f.score += weight * unit;
      }
    }
  };
  add(vector, 'vector', o.weights.vector);
  add(lexical, 'lexical', o.weights.lexical);
  return [...byId.values()].sort((a, b) => b.score - a.score || a.id - b.id).slice(0, k);
}
