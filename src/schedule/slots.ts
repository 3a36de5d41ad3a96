// The counting slots the runtime's locks are made of, kept apart from the runtime so they can be
// tested alone (its serial queue is util/serial-queue.ts). `createSlots(n)`: n slots taken in arrival order, whose release is
// safe to call more than once (a request's cleanup may run on several paths). The runtime uses
// one slot for the generator (one context: answers decode one at a time), `lookahead` slots for
// the questions retrieving ahead, and one slot per request in the sequential schedule.

export interface Slots {
  /** True when no slot is taken. */
  idle(): boolean;
  /** Resolves, in arrival order, when a slot is free; returns its (idempotent) release. */
  acquire(): Promise<() => void>;
}

export function createSlots(n: number): Slots {
  let free = n;
  const queue: (() => void)[] = [];
  return {
    idle: () => free === n,
    async acquire() {
      if (free > 0 && queue.length === 0) free--;
      else await new Promise<void>((r) => queue.push(r));
      let left = false;
      // A release hands the slot straight to the next waiter, so a newcomer cannot overtake it.
      return () => {
        if (left) return;
        left = true;
        const next = queue.shift();
        if (next) next();
        else free++;
      };
    },
  };
}
