// What one request holds of the runtime's shared slots: the generator (one context, so
// generations run one at a time) and, in the woven schedule, a lookahead slot while it works
// ahead of its answer (retrieval, a workflow's stages before the answer). Which waiting request
// gets the generator next is the runtime's `generatorOrder`: by arrival, or least attained
// service (the request that has held it for the least time so far; new requests first, which
// favours short workflows; then a workflow gives the generator back between its stages). A
// holder lends the generator while it searches, and a waiting request's generation stage may
// borrow it (schedule/loans.ts). Every release is idempotent, so the request's cleanup can
// release everything however far it got (also when the caller stops iterating early).

import type { Loan, Loans } from '../schedule/loans.js';
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
  /**
   * Waits for the generator, or borrows it from a holder that is searching, if the loan is
   * expected to last the `needMs` the stage takes: resolves with the loan when borrowed (the stage
   * stops when it is recalled), undefined when this request holds it.
   */
  takeGeneratorOrBorrow(needMs: number): Promise<Loan | undefined>;
  /** Lends the generator while this request waits on a search, if it holds it: returns what takes it back (resolves once the borrower has given it back). */
  lend(): () => Promise<void>;
  /** Gives the generator back (after a workflow's generation stage): the next request's stage may generate. */
  releaseGenerator(): void;
  /** Releases whatever is held. */
  release(): void;
}

/** How waiting requests take turns on the generator (RuntimeSettings.generatorOrder). */
export type GeneratorOrder = 'arrival' | 'least-attained';

/** The runtime's locks: one generator slot, its loans (without them nobody lends), the lookahead slots. */
export interface Locks {
  generator: Slots;
  loans?: Loans | undefined;
  lookahead: Slots;
}

export function createHolds(locks: Locks, arrival: number, order: GeneratorOrder = 'arrival'): Holds {
  let generator: (() => void) | undefined;
  // A wait for the generator that a borrowed stage left running, and whether the request has ended (its slot then goes straight back).
  let waiting: Promise<void> | undefined;
  let ended = false;
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
  const acquire = () => {
    waiting ??= locks.generator.acquire(generatorPriority()).then((release) => {
      waiting = undefined;
      if (ended) release();
      else took(release);
    });
    return waiting;
  };
  const noReclaim = async () => {};
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
      if (!generator) await acquire();
    },
    async takeGeneratorOrBorrow(needMs) {
      if (generator) return undefined;
      const turn = acquire();
      if (!locks.loans || !Number.isFinite(needMs)) return turn.then(() => undefined);
      const borrowing = locks.loans.borrow(arrival, needMs);
      const first = await Promise.race([turn.then(() => undefined), borrowing.loan]);
      if (first === undefined) borrowing.cancel();
      return first;
    },
    lend() {
      const loans = locks.loans;
      if (!generator || !loans) return noReclaim;
      loans.offer();
      return () => loans.reclaim();
    },
    releaseGenerator,
    release() {
      ended = true;
      lookahead();
      releaseGenerator();
    },
  };
}
