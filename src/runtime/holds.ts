// What one request holds of the runtime's shared slots: the generator (one context, so
// generations run one at a time) and, in the woven schedule, a lookahead slot while it works
// ahead of its answer (retrieval, a workflow's stages before the answer). A request waits for the
// generator with its arrival number as priority: a workflow that gives the generator back between
// stages gets it again before the requests that came after it. Every release is idempotent, so
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

export function createHolds(locks: { generator: Slots; lookahead: Slots }, priority: number): Holds {
  let generator: (() => void) | undefined;
  let lookahead = () => {};
  const releaseGenerator = () => {
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
      generator = await locks.generator.acquire(priority);
      return true;
    },
    async takeGenerator() {
      generator ??= await locks.generator.acquire(priority);
    },
    releaseGenerator,
    release() {
      lookahead();
      releaseGenerator();
    },
  };
}
