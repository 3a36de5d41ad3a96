// Lending a held slot while its holder waits on something else. By arrival a request keeps the
// generator from its first generation stage to its answer's end, so while it searches (in the
// remote tier: downloads) the generator would sit idle. The holder offers it instead; a waiting
// request borrows it for one stage whose output nobody sees until the stage ends (a workflow's
// hypothetical passage, sub-questions, a draft), and when the holder needs it back the loan is
// recalled: the borrower stops at its next step, gives it back, and writes the stage again
// later (greedy decoding repeats the same text). The holder thus never waits longer than one
// step of the borrower. Kept apart from the runtime so it can be tested alone; waiters are
// served lowest `priority` first, then in arrival order, as the slots are (slots.ts).

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
  /** Asks to borrow the slot: granted at once when it is offered and free, otherwise when it next is. */
  borrow(priority: number): Borrowing;
  /** True while a loan is out. */
  readonly lent: boolean;
  /** Loans recalled before their borrower finished (for benchmarks and tests). */
  readonly recalls: number;
}

export function createLoans(): Loans {
  let offered = false;
  let out: { recalled: boolean; ended: Promise<void>; end: () => void } | undefined;
  let recalls = 0;
  let arrivals = 0;
  const wishes: { priority: number; order: number; grant: (l: Loan) => void }[] = [];

  /** Lends the slot to the first wish, if offered and free. */
  const grant = () => {
    if (!offered || out || wishes.length === 0) return;
    let best = 0;
    for (let i = 1; i < wishes.length; i++) {
      const w = wishes[i]!,
        b = wishes[best]!;
      if (w.priority < b.priority || (w.priority === b.priority && w.order < b.order)) best = i;
    }
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
    offer() {
      offered = true;
      grant();
    },
    async reclaim() {
      offered = false;
      const loan = out;
      if (!loan) return;
      loan.recalled = true;
      recalls++;
      await loan.ended;
    },
    borrow(priority) {
      let wish: (typeof wishes)[number] | undefined;
      let got: Loan | undefined;
      let cancelled = false;
      const loan = new Promise<Loan>((resolve) => {
        wish = {
          priority,
          order: arrivals++,
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
