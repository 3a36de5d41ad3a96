// How many candidates a 'pq' search re-ranks when it does not say (issue 24: "chosen by a
// recall target"). The scan returns candidates in the order of their PQ keys. After re-ranking,
// the last of the final top k sits at some position among them: k x R candidates would have held
// it, where R = ceil((position + 1) / k). That R is this query's need. The index keeps the needs
// of its recent searches and uses their `target` quantile, so that a fraction `target` of
// searches find exactly the top k that re-ranking many more candidates would find. Data whose
// codes rank well then re-ranks few candidates, and harder data more.
//
// An index published with a measured figure (the manifest's `rerank`, which exportIndex measures:
// src/ivf/pq-calibrate.ts) starts from it instead of START, so a visitor's first searches read
// the vector rows the publisher's measurement says they need.
//
// A search that used R cannot tell whether it needed more: a need of R is censored. Every
// EXPLORE-th search therefore uses twice as many, and a censored need counts as twice what was
// used. The first searches use START, generous enough for the data measured so far
// (docs/benchmarks.md: 10 matched f16's recall on MiniLM vectors; 4-bit codes needed about 30).

import { needQuantile, RERANK_RANGE } from '../ivf/pq-calibrate.js';

/** The candidates per result a 'pq' index re-ranks by default, learnt from its searches. */
export interface RerankTuner {
  /** Candidates per result for the next search (k x this are re-ranked). */
  next(): number;
  /** What a search that used `used` per result needed, per query (from exact-rerank.ts's rerankExact). */
  observe(needs: readonly number[], used: number): void;
  /** The current choice, and the searches it rests on. */
  readonly state: { candidates: number; samples: number };
}

/** Needs kept (the most recent searches' queries). */
const WINDOW = 512;
/** Every EXPLORE-th search re-ranks twice the current choice, to see needs above it. */
const EXPLORE = 8;
const START = 16;
const MAX = RERANK_RANGE.max;
/** Needs seen before the quantile replaces START. */
const WARM = 32;

/**
 * A tuner aiming at `target` (e.g. 0.99): the share of searches whose top k re-ranking finds in
 * full. `start`: candidates per result until it has seen enough searches (default 16).
 */
export function createRerankTuner(target: number, start = START): RerankTuner {
  const needs: number[] = [];
  let searches = 0;
  let choice = start;
  const settle = () => {
    if (needs.length < WARM) return;
    choice = needQuantile(needs, target);
  };
  return {
    next() {
      searches++;
      return searches % EXPLORE === 0 ? Math.min(MAX, 2 * choice) : choice;
    },
    observe(seen, used) {
      for (const need of seen) needs.push(need >= used ? 2 * used : need);
      if (needs.length > WINDOW) needs.splice(0, needs.length - WINDOW);
      settle();
    },
    get state() {
      return { candidates: choice, samples: needs.length };
    },
  };
}
