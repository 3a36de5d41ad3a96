// The counting slots the runtime's locks are made of, kept apart from the runtime so they can be
// tested alone (its serial queue is util/serial-queue.ts). `createSlots(n)`: n slots; waiters are
// served lowest `priority` first, then in arrival order (without priorities: arrival order), and
// a release is safe to call more than once (a request's cleanup may run on several paths). The
// runtime uses one slot for the generator (one context: generations run one at a time; a
// request's priority is its arrival number, so a workflow's later generation stage is not queued
// behind requests that came after it), `lookahead` slots for the questions retrieving ahead, and
// one slot per request in the sequential schedule.

export interface Slots {
  /** True when no slot is taken. */
  idle(): boolean;
  /** Resolves when a slot is free and no waiter comes first; returns its (idempotent) release. */
  acquire(priority?: number): Promise<() => void>;
}

export function createSlots(n: number): Slots {
  let free = n;
  let arrivals = 0;
  const queue: { priority: number; order: number; wake: () => void }[] = [];
  return {
    idle: () => free === n,
    async acquire(priority = Number.POSITIVE_INFINITY) {
      if (free > 0 && queue.length === 0) free--;
      else await new Promise<void>((wake) => queue.push({ priority, order: arrivals++, wake }));
      let left = false;
      // A release hands the slot straight to the first waiter, so a newcomer cannot overtake it.
      return () => {
        if (left) return;
        left = true;
        let best = 0;
        for (let i = 1; i < queue.length; i++) {
          const q = queue[i]!,
            b = queue[best]!;
          if (q.priority < b.priority || (q.priority === b.priority && q.order < b.order)) best = i;
        }
        const next = queue.splice(best, 1)[0];
        if (next) next.wake();
        else free++;
      };
    },
  };
}
