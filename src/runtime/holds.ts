// What one answer holds of the runtime's shared slots: the generator (one context, so answers
// decode one at a time) and, in the woven schedule, a lookahead slot while it retrieves ahead of
// its turn. Every release is idempotent, so the answer's cleanup can release everything however
// far it got (also when the caller stops iterating early).

import type { Slots } from '../schedule/slots.js';

export interface Holds {
  /** Waits for a lookahead slot (woven schedule: at most `lookahead` questions retrieve ahead). */
  enterLookahead(): Promise<void>;
  /** Gives the lookahead slot back: the next waiting question may retrieve now. */
  leaveLookahead(): void;
  /** Takes the generator if nobody holds it, without waiting; true if it did or this answer holds it already (after a rewrite). */
  takeGeneratorIfFree(): Promise<boolean>;
  /** Waits for the generator, unless this answer holds it already. */
  takeGenerator(): Promise<void>;
  /** Releases whatever is held. */
  release(): void;
}

export function createHolds(locks: { generator: Slots; lookahead: Slots }): Holds {
  let generator: (() => void) | undefined;
  let lookahead = () => {};
  return {
    async enterLookahead() {
      lookahead = await locks.lookahead.acquire();
    },
    leaveLookahead() {
      lookahead();
    },
    async takeGeneratorIfFree() {
      if (generator) return true;
      if (!locks.generator.idle()) return false;
      generator = await locks.generator.acquire();
      return true;
    },
    async takeGenerator() {
      generator ??= await locks.generator.acquire();
    },
    release() {
      lookahead();
      generator?.();
    },
  };
}
