// The generator's loans (schedule/loans.ts): a holder offers its slot while it searches; the
// first waiting borrower (lowest priority, then oldest) gets it; reclaim recalls the loan and
// resolves only once the borrower has given it back; a withdrawn wish never holds a loan.
import { describe, expect, test } from 'vitest';
import { createLoans } from '../../src/schedule/loans.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('loans', () => {
  test('nothing is lent until offered; then the lowest priority borrows first', async () => {
    const loans = createLoans();
    const got: string[] = [];
    const late = loans.borrow(5);
    const early = loans.borrow(1);
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
    const loans = createLoans();
    const b = loans.borrow(0);
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
    void loans.borrow(0).loan.then(() => {
      granted = true;
    });
    await tick();
    expect(granted).toBe(false);
  });

  test('reclaim with nothing lent resolves at once; a cancelled wish is skipped; cancel after the grant ends the loan', async () => {
    const loans = createLoans();
    loans.offer();
    await loans.reclaim();
    expect(loans.recalls).toBe(0);
    const gone = loans.borrow(0);
    gone.cancel();
    const next = loans.borrow(1);
    loans.offer();
    const loan = await next.loan;
    expect(loan.recalled).toBe(false);
    next.cancel();
    expect(loans.lent).toBe(false);
    await loans.reclaim();
    expect(loans.recalls).toBe(0);
  });
});
