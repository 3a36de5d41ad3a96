// Lending a held slot while its holder waits on something else. By arrival a request keeps the
// generator from its first generation stage to its answer's end, so while it searches (in the
// remote tier: downloads) the generator would sit idle. The holder offers it instead; a waiting
// request borrows it for one stage whose output nobody sees until the stage ends (a workflow's
// hypothetical passage, sub-questions, a draft), and when the holder needs it back the loan is
// recalled: the borrower stops at its next step, gives it back, and writes the stage again
// later (greedy decoding repeats the same text). A recalled stage's work is lost and the holder
// waits for the borrower's current step (a prefill is one), so a stage is lent the slot only when
// it is expected to finish within the loan: each wish says how long it needs, and the loan's
// expected length is what the holder's offers have lasted on average (a moving average of the
// times from offer to reclaim, measured whether or not anyone borrowed) less the time already
// offered. Kept apart from the runtime so it can be tested alone; waiters are served lowest
// `priority` first, then in arrival order, as the slots are (slots.ts); a wish that does not fit
// lets the next one go first.

/** A borrowed slot: used until recalled, then given back with end(). */
export interface Loan {
  /** True once the holder wants its slot back: stop at the next step and end() the loan. */
  readonly recalled: boolean;
  /** Gives the slot back to its holder (idempotent). */
  end(): void;
}

/** A wish to borrow, granted when a holder offers; cancel() withdraws it (or ends the loan it got). */
export interface Borrowing {
  readonly loan: Promise<Loan>;
  cancel(): void;
}

export interface Loans {
  /** The holder offers its slot while it waits on something else, until it reclaims it. */
  offer(): void;
  /** The holder wants its slot back: the offer ends and the loan, if any, is recalled; resolves when it is given back. */
  reclaim(): Promise<void>;
  /**
   * Asks to borrow the slot for about `needMs`: granted when it is offered and free and the offer
   * is expected to last that long, at once or when it next is.
   */
  borrow(priority: number, needMs: number): Borrowing;
  /** True while a loan is out. */
  readonly lent: boolean;
  /** Loans recalled before their borrower finished (for benchmarks and tests). */
  readonly recalls: number;
  /** How long an offer is expected to last, ms (the moving average of the offers so far; 0 before any). */
  readonly expectedMs: number;
}

export interface LoansOptions {
  /** The clock, ms (performance.now by default): tests drive it. */
  now?: () => number;
}

export function createLoans(options: LoansOptions = {}): Loans {
  const now = options.now ?? (() => performance.now());
  let offered = false;
  let offeredAt = 0;
  let expectedMs = 0;
  let offers = 0;
  let out: { recalled: boolean; ended: Promise<void>; end: () => void } | undefined;
  let recalls = 0;
  let arrivals = 0;
  const wishes: { priority: number; order: number; needMs: number; grant: (l: Loan) => void }[] = [];

  /** Lends the slot to the first wish that fits what is left of the offer, if offered and free. */
  const grant = () => {
    if (!offered || out || wishes.length === 0) return;
    const left = expectedMs - (now() - offeredAt);
    let best = -1;
    for (let i = 0; i < wishes.length; i++) {
      const w = wishes[i]!;
      if (w.needMs > left) continue;
      const b = best < 0 ? undefined : wishes[best]!;
      if (!b || w.priority < b.priority || (w.priority === b.priority && w.order < b.order)) best = i;
    }
    if (best < 0) return;
    const [wish] = wishes.splice(best, 1);
    let ended = () => {};
    const loan = {
      recalled: false,
      ended: new Promise<void>((r) => {
        ended = r;
      }),
      end: () => {
        if (out !== loan) return;
        out = undefined;
        ended();
        grant();
      },
    };
    out = loan;
    wish!.grant(loan);
  };

  return {
    get lent() {
      return out !== undefined;
    },
    get recalls() {
      return recalls;
    },
    get expectedMs() {
      return expectedMs;
    },
    offer() {
      offered = true;
      offeredAt = now();
      grant();
    },
    async reclaim() {
      if (offered) {
        const lasted = now() - offeredAt;
        offers++;
        expectedMs = offers === 1 ? lasted : 0.8 * expectedMs + 0.2 * lasted;
      }
      offered = false;
      const loan = out;
      if (!loan) return;
      loan.recalled = true;
      recalls++;
      await loan.ended;
    },
    borrow(priority, needMs) {
      let wish: (typeof wishes)[number] | undefined;
      let got: Loan | undefined;
      let cancelled = false;
      const loan = new Promise<Loan>((resolve) => {
        wish = {
          priority,
          order: arrivals++,
          needMs,
          grant: (l) => {
            got = l;
            if (cancelled) l.end();
            else resolve(l);
          },
        };
        wishes.push(wish);
      });
      grant();
      return {
        loan,
        cancel() {
          cancelled = true;
          const i = wishes.indexOf(wish!);
          if (i >= 0) wishes.splice(i, 1);
          got?.end();
        },
      };
    },
  };
}
