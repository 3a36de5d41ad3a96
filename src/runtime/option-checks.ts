// The runtime's numeric options, checked where they come in (createRag, createRagInWorker,
// search, generate) with the index's own helpers (src/ivf/validate.ts): whole numbers in range,
// fractions in range, coded errors that quote the value given (never a clamped one) and the
// valid range. Without it a bad number does something unasked: `k: -3` slices all but the last
// three passages, `k: 2.5` rounds, `maxTokens: NaN` answers nothing, `k: 1e6` fails later
// quoting the index's size.
//
// k: 1..MAX_K (the largest top-k any search runs; K_OUT_OF_RANGE above it). A k within MAX_K
// but beyond what the index holds returns every passage there is, as a search over a small
// corpus is expected to.

import { WeftError } from '../errors.js';
import { checkInteger, checkNumber, MAX_NLIST } from '../ivf/validate.js';
import { MAX_K } from '../ivf/types.js';
import type { SamplingOptions } from '../generate/types.js';
import type { GenerateOptions, PeriodicOptions, RagOptions, RagSearchOptions } from './types.js';

export { MAX_K };

/** The most tokens an answer or a rewrite may be asked for (beyond any model's context). */
export const MAX_TOKENS = 1 << 20;
/** The most earlier turns a conversation's search query takes. */
const MAX_TURNS = 1024;

/** Passages a call asks for: 1..MAX_K, K_OUT_OF_RANGE otherwise. */
export function checkK(name: string, k: unknown, fallback: number): number {
  return checkInteger(name, k, { min: 1, max: MAX_K, fallback, code: 'K_OUT_OF_RANGE' });
}

/** Lists a search probes, where given: a whole number ≥ 1 (the index checks it against its nlist). */
export function checkNprobe(name: string, nprobe: unknown): number | undefined {
  return nprobe === undefined ? undefined : checkInteger(name, nprobe, { min: 1, max: MAX_NLIST, code: 'NPROBE_OUT_OF_RANGE' });
}

/** Sampling options: temperature ≥ 0, topP in (0, 1], seed a safe integer. */
export function checkSampling(s: SamplingOptions | undefined, name = 'sampling'): void {
  if (s === undefined) return;
  if (typeof s !== 'object' || s === null) throw new WeftError('INVALID_OPTION', `${name} must be { temperature?, topP?, seed? }; got ${String(s)}.`);
  if (s.temperature !== undefined) checkNumber(`${name}.temperature`, s.temperature, { min: 0 });
  if (s.topP !== undefined) checkNumber(`${name}.topP`, s.topP, { min: 0, max: 1, above: true });
  if (s.seed !== undefined) checkInteger(`${name}.seed`, s.seed, { min: Number.MIN_SAFE_INTEGER });
}

/** The numeric options of a runtime (createRag's, and what createRagInWorker passes on). */
export type RuntimeNumbers = Pick<
  RagOptions,
  'nlist' | 'cacheBytes' | 'maxSlowdown' | 'lookahead' | 'sampling' | 'generatorOrder' | 'batchSearches' | 'semanticReordering' | 'lendGenerator'
>;

/** Checks a runtime's numeric options (and its generator order) before anything is opened or loaded. */
export function checkRuntimeOptions(o: RuntimeNumbers): void {
  if (o.nlist !== undefined) checkInteger('nlist', o.nlist, { min: 1, max: MAX_NLIST });
  if (o.cacheBytes !== undefined) checkInteger('cacheBytes', o.cacheBytes, { min: 1 });
  if (o.maxSlowdown !== undefined) checkNumber('maxSlowdown', o.maxSlowdown, { min: 0, above: true });
  if (o.lookahead !== undefined) checkInteger('lookahead', o.lookahead, { min: 1, max: 1024 });
  if (o.generatorOrder !== undefined && o.generatorOrder !== 'arrival' && o.generatorOrder !== 'least-attained') {
    throw new WeftError('INVALID_OPTION', `generatorOrder must be 'arrival' or 'least-attained'; got ${JSON.stringify(o.generatorOrder)}.`);
  }
  for (const flag of ['batchSearches', 'semanticReordering', 'lendGenerator'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean')
      throw new WeftError('INVALID_OPTION', `${flag} must be true or false; got ${JSON.stringify(o[flag])}.`);
  }
  checkSampling(o.sampling);
}

/** A search's numbers: k (default 5) and nprobe; rerank.candidates is checked with the reranking. */
export function searchNumbers(o: RagSearchOptions): { k: number; nprobe: number | undefined } {
  return { k: checkK('k', o.k, 5), nprobe: checkNprobe('nprobe', o.nprobe) };
}

/** An answer's numbers, with their defaults: k (3), nprobe, maxTokens (64), queryTurns (4); the rest checked. */
export function generateNumbers(o: GenerateOptions): { k: number; nprobe: number | undefined; maxTokens: number; queryTurns: number } {
  const numbers = {
    k: checkK('k', o.k, 3),
    nprobe: checkNprobe('nprobe', o.nprobe),
    maxTokens: checkInteger('maxTokens', o.maxTokens, { min: 1, max: MAX_TOKENS, fallback: 64 }),
    queryTurns: checkInteger('queryTurns', o.queryTurns, { min: 0, max: MAX_TURNS, fallback: 4 }),
  };
  if (o.periodic !== undefined) checkPeriodic(o.periodic);
  if (typeof o.rewrite === 'object' && o.rewrite !== null && o.rewrite.maxTokens !== undefined) {
    checkInteger('rewrite.maxTokens', o.rewrite.maxTokens, { min: 1, max: MAX_TOKENS });
  }
  if (typeof o.speculate === 'object' && o.speculate !== null && o.speculate.afterSlices !== undefined) {
    checkInteger('speculate.afterSlices', o.speculate.afterSlices, { min: 1 });
  }
  checkSampling(o.sampling);
  return numbers;
}

/** Periodic retrieval's options: interval ≥ 1 token, staleness 0 or 1, nprobe a whole number or 'auto', maxNprobe, maxSlowdown, k. */
export function checkPeriodic(p: PeriodicOptions): void {
  if (typeof p !== 'object' || p === null) throw new WeftError('INVALID_OPTION', `periodic must be { interval, … }; got ${String(p)}.`);
  checkInteger('periodic.interval', p.interval, { min: 1, max: MAX_TOKENS });
  if (p.staleness !== undefined && p.staleness !== 0 && p.staleness !== 1) {
    throw new WeftError('INVALID_OPTION', `periodic.staleness must be 0 or 1; got ${String(p.staleness)}.`);
  }
  if (p.nprobe !== undefined && p.nprobe !== 'auto') checkNprobe('periodic.nprobe', p.nprobe);
  if (p.maxNprobe !== undefined) checkNprobe('periodic.maxNprobe', p.maxNprobe);
  if (p.maxSlowdown !== undefined) checkNumber('periodic.maxSlowdown', p.maxSlowdown, { min: 0, above: true });
  if (p.k !== undefined) checkK('periodic.k', p.k, 1);
}
