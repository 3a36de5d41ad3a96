// The generator's loans (schedule/loans.ts): a holder offers its slot while it searches; the
// first waiting borrower (lowest priority, then oldest) whose stage fits what the offer is
// expected to last gets it; reclaim recalls the loan and resolves only once the borrower has
// given it back; a withdrawn wish never holds a loan.
import { describe, expect, test } from 'vitest';
import { createLoans, type Loans } from '../../src/schedule/loans.js';

/** Loans on a fake clock whose offers have so far lasted `lastedMs` (one offer of that length). */
async function loansLasting(lastedMs: number, clock = { t: 0 }): Promise<Loans> {
  const loans = createLoans({ now: () => clock.t });
  loans.offer();
  clock.t += lastedMs;
  await loans.reclaim();
  return loans;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('loans', () => {
  test('nothing is lent until offered; then the lowest priority borrows first', async () => {
    const loans = await loansLasting(100);
    const got: string[] = [];
    const late = loans.borrow(5, 10);
    const early = loans.borrow(1, 10);
    void late.loan.then(() => got.push('late'));
    void early.loan.then(() => got.push('early'));
    await tick();
    expect(got).toEqual([]);
    loans.offer();
    await tick();
    expect(got).toEqual(['early']);
    expect(loans.lent).toBe(true);
    (await early.loan).end();
    await tick();
    expect(got).toEqual(['early', 'late']);
  });

  test('reclaim recalls the loan and waits until it is given back', async () => {
    const loans = await loansLasting(100);
    const b = loans.borrow(0, 10);
    loans.offer();
    const loan = await b.loan;
    expect(loan.recalled).toBe(false);
    let back = false;
    const reclaimed = loans.reclaim().then(() => {
      back = true;
    });
    await tick();
    expect(loan.recalled).toBe(true);
    expect(back).toBe(false);
    loan.end();
    loan.end(); // idempotent
    await reclaimed;
    expect(back).toBe(true);
    expect(loans.recalls).toBe(1);
    // Not offered any more: a new wish waits.
    let granted = false;
    void loans.borrow(0, 0).loan.then(() => {
      granted = true;
    });
    await tick();
    expect(granted).toBe(false);
  });

  test('reclaim with nothing lent resolves at once; a cancelled wish is skipped; cancel after the grant ends the loan', async () => {
    const loans = await loansLasting(100);
    loans.offer();
    await loans.reclaim();
    expect(loans.recalls).toBe(0);
    const gone = loans.borrow(0, 10);
    gone.cancel();
    const next = loans.borrow(1, 10);
    loans.offer();
    const loan = await next.loan;
    expect(loan.recalled).toBe(false);
    next.cancel();
    expect(loans.lent).toBe(false);
    await loans.reclaim();
    expect(loans.recalls).toBe(0);
  });

  test('a stage is lent the slot only when the offer is expected to last it; one that does not fit lets the next go first', async () => {
    const clock = { t: 0 };
    const loans = await loansLasting(100, clock);
    expect(loans.expectedMs).toBe(100);
    const got: string[] = [];
    const long = loans.borrow(0, 150);
    const short = loans.borrow(1, 60);
    void long.loan.then(() => got.push('long'));
    void short.loan.then((l) => {
      got.push('short');
      l.end();
    });
    loans.offer();
    await tick();
    expect(got).toEqual(['short']);
    // 50 ms into the offer, 50 are expected left: a new 60 ms stage does not fit, a 40 ms one does.
    clock.t += 50;
    const late = loans.borrow(2, 60);
    const small = loans.borrow(3, 40);
    void late.loan.then(() => got.push('late'));
    void small.loan.then(() => got.push('small'));
    await tick();
    expect(got).toEqual(['short', 'small']);
    (await small.loan).end();
    // The offers' average follows how long they last.
    clock.t += 450;
    await loans.reclaim();
    expect(loans.expectedMs).toBeCloseTo(0.8 * 100 + 0.2 * 500);
    long.cancel();
    late.cancel();
  });
});
