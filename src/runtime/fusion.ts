// Hybrid retrieval's fusion: the lexical (BM25) and vector rankings of one query become one
// ranking. The default, 'adaptive', is a convex combination of min-max normalised scores (Bruch,
// Gai and Ingber, "An Analysis of Fusion Functions for Hybrid Retrieval", TOIS 2023: it beats
// reciprocal rank fusion and needs few examples to tune) whose vector weight is set per query by
// how much the two rankings agree: the overlap of their top AGREEMENT_DEPTH passages, less what
// two random rankings of the index would share (a kappa), clamped to [MIN, MAX]_VECTOR_WEIGHT.
// Why: an embedder can be weak for a user's domain, and with reciprocal rank fusion a weak ranking
// has as much say as a strong one (a real encoder on Cranfield: BM25 nDCG@10 0.370, RRF 0.278);
// where the embedder agrees with the keywords it is probably right and gets up to an equal say,
// where it does not it gets little, so a weak or useless embedder costs nothing and a useful one
// adds (docs/benchmarks.md, "Retrieval quality with a real encoder": never more than 0.002 below
// the better half, with a weak encoder or random vectors; 0.008-0.015 above both where the encoder
// complements BM25). The
// keywords are the side trusted by default; with a strong embedder on text whose words differ from
// the questions', choose mode 'vector' or fixed weights. Reciprocal rank fusion (Cormack, Clarke
// and Büttcher, SIGIR 2009) and the fixed weighted form stay as options.

import { WeftError } from '../errors.js';

/** How a question is searched: 'vector' (embeddings), 'lexical' (BM25 keywords) or 'hybrid' (both, fused). */
export type SearchMode = 'vector' | 'lexical' | 'hybrid';

/**
 * How hybrid search fuses the vector and keyword rankings: adaptive weights (default), reciprocal
 * rank fusion, or fixed weights over normalised scores.
 */
export interface FusionOptions {
  /**
   * 'adaptive' (default): Σ weight · normalised score, the vector side's weight set per query by
   * how much the two rankings agree (between 0.05 and 0.5, the keywords' the rest); 'rrf':
   * Σ weight / (rrfK + rank); 'weighted': Σ weight · normalised score with the weights given.
   */
  method?: FusionMethod;
  /** RRF's rank constant (default 60, the paper's). */
  rrfK?: number;
  /** Weight of each side (default 1 each); with 'adaptive' they scale the adaptive weights. */
  weights?: { vector?: number; lexical?: number };
}

/** The fusion methods: 'adaptive' (default), 'rrf', 'weighted'. */
export type FusionMethod = 'adaptive' | 'rrf' | 'weighted';

/** The fusion methods, the default first. */
export const FUSION_METHODS: readonly FusionMethod[] = ['adaptive', 'rrf', 'weighted'];

/** Passages of each ranking whose overlap measures the two sides' agreement (adaptive fusion). */
export const AGREEMENT_DEPTH = 20;
/** The vector side's weight when the rankings share no more than chance would (adaptive fusion). */
export const MIN_VECTOR_WEIGHT = 0.05;
/** The vector side's weight when they agree fully: an equal say (adaptive fusion). */
export const MAX_VECTOR_WEIGHT = 0.5;

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
  const method = o?.method ?? 'adaptive';
  if (!FUSION_METHODS.includes(method))
    throw new WeftError('INVALID_OPTION', `Unknown fusion method '${String(method)}'. Valid values: ${FUSION_METHODS.join(', ')}.`);
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
 * How much two rankings agree beyond chance: the share of the first AGREEMENT_DEPTH ids of one
 * found among the first AGREEMENT_DEPTH of the other, less the share two random rankings of
 * `passages` would have in common, over what is left (0 when they share no more than chance, 1
 * when their tops are the same set). Without `passages` the chance share is taken as 0.
 */
export function agreement(vector: Ranking, lexical: Ranking, passages?: number): number {
  const top = (r: Ranking) => new Set(Array.from(r.ids).slice(0, AGREEMENT_DEPTH));
  const v = top(vector);
  const l = top(lexical);
  let shared = 0;
  for (const id of v) if (l.has(id)) shared++;
  const chance = passages !== undefined && passages > 0 ? Math.min(1, AGREEMENT_DEPTH / passages) : 0;
  if (chance >= 1) return 0;
  return Math.max(0, (shared / AGREEMENT_DEPTH - chance) / (1 - chance));
}

/** The two sides' weights of adaptive fusion: the vector side's from the agreement, clamped; the keywords' the rest. */
export function adaptiveWeights(vector: Ranking, lexical: Ranking, passages?: number): { vector: number; lexical: number } {
  const w = Math.min(MAX_VECTOR_WEIGHT, Math.max(MIN_VECTOR_WEIGHT, agreement(vector, lexical, passages)));
  return { vector: w, lexical: 1 - w };
}

/**
 * Fuses the two rankings into one, best first (ties: the smaller id first), at most `k` long.
 * An id missing from one ranking gets nothing from that side. `passages`: how many the index
 * holds (adaptive fusion discounts the agreement two random rankings of it would have).
 */
export function fuse(vector: Ranking, lexical: Ranking, k: number, options?: FusionOptions, passages?: number): Fused[] {
  const o = checkFusion(options);
  const adaptive = o.method === 'adaptive' ? adaptiveWeights(vector, lexical, passages) : { vector: 1, lexical: 1 };
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
  add(vector, 'vector', o.weights.vector * adaptive.vector);
  add(lexical, 'lexical', o.weights.lexical * adaptive.lexical);
  return [...byId.values()].sort((a, b) => b.score - a.score || a.id - b.id).slice(0, k);
}
