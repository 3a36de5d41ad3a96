// What one request holds of the runtime's shared slots: the generator (one context, so
// generations run one at a time) and, in the woven schedule, a lookahead slot while it works
// ahead of its answer (retrieval, a workflow's stages before the answer). Which waiting request
// gets the generator next is the runtime's `generatorOrder`: by arrival, or least attained
// service (the request that has held it for the least time so far; new requests first, which
// favours short workflows; then a workflow gives the generator back between its stages). Every release is idempotent, so
// the request's cleanup can release everything however far it got (also when the caller stops
// iterating early).

import type { Slots } from '../schedule/slots.js';

export interface Holds {
  /** Waits for a lookahead slot (woven schedule: at most `lookahead` questions retrieve ahead). */
  enterLookahead(): Promise<void>;
  /** Gives the lookahead slot back: the next waiting question may retrieve now. */
  leaveLookahead(): void;
  /** Takes the generator if nobody holds it, without waiting; true if it did or this request holds it already. */
  takeGeneratorIfFree(): Promise<boolean>;
  /** Waits for the generator, unless this request holds it already. */
  takeGenerator(): Promise<void>;
  /** Gives the generator back (after a workflow's generation stage): the next request's stage may generate. */
  releaseGenerator(): void;
  /** Releases whatever is held. */
  release(): void;
}

/** How waiting requests take turns on the generator (RuntimeSettings.generatorOrder). */
export type GeneratorOrder = 'arrival' | 'least-attained';

export function createHolds(locks: { generator: Slots; lookahead: Slots }, arrival: number, order: GeneratorOrder = 'arrival'): Holds {
  let generator: (() => void) | undefined;
  let lookahead = () => {};
  let heldSince = 0;
  let attainedMs = 0;
  const priority = arrival;
  const generatorPriority = () => (order === 'arrival' ? arrival : attainedMs);
  const took = (release: () => void) => {
    heldSince = performance.now();
    generator = release;
  };
  const releaseGenerator = () => {
    if (generator) attainedMs += performance.now() - heldSince;
    generator?.();
    generator = undefined;
  };
  return {
    async enterLookahead() {
      lookahead = await locks.lookahead.acquire(priority);
    },
    leaveLookahead() {
      lookahead();
    },
    async takeGeneratorIfFree() {
      if (generator) return true;
      if (!locks.generator.idle()) return false;
      took(await locks.generator.acquire(generatorPriority()));
      return true;
    },
    async takeGenerator() {
      if (!generator) took(await locks.generator.acquire(generatorPriority()));
    },
    releaseGenerator,
    release() {
      lookahead();
      releaseGenerator();
    },
  };
}
