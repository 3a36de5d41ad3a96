// HedraRAG's sub-stage interleaving on one GPU queue: while an answer decodes, background
// sub-stages (embedding a question, a search slice, a cluster upload) run only in the gaps
// between decode steps, within a budget of `maxSlowdown` x the measured step time per gap, so
// decoding slows by at most that fraction. The budget is a running credit: a sub-stage longer
// than one gap's share runs when the credit is positive, and the gaps after it stay empty until
// the credit has been earned back — the slowdown holds on average whatever the sub-stage sizes.
// With nothing decoding, sub-stages run at once. Time comes from `now` (performance.now by
// default), so tests can drive the scheduler with a fake clock.

export interface GapScheduler {
  /**
   * Runs a background sub-stage as soon as the scheduler allows it. Gaps take the lowest
   * `priority` first (then the oldest): the runtime passes the request's arrival number, so the
   * oldest question's retrieval finishes first — ready when the generator frees up — instead of
   * every queued question progressing a little and none being ready.
   */
  run<T>(work: () => Promise<T>, priority?: number): Promise<T>;
  /** The decode loop says it starts (true) or stops (false) decoding. */
  decoding(active: boolean): void;
  /** The decode loop hands over a gap after a step that took `stepMs`; resolves when the gap's work is done. */
  gap(stepMs: number): Promise<void>;
  /**
   * The decode loop waits for background work (e.g. a periodic search it needs now): runs the
   * queued sub-stages at once, whatever the budget, until `until` settles.
   */
  drain(until: Promise<unknown>): Promise<void>;
  /** Moving average of decode step time, ms. */
  readonly stepMs: number;
  /** Background time spent in gaps, ms (for traces and tests). */
  readonly spentMs: number;
}

export interface GapSchedulerOptions {
  /** Share of the decode step time background work may take, on average. Default 0.1. */
  maxSlowdown?: number;
  /** The clock sub-stages are timed by, ms. Default performance.now. */
  now?: () => number;
  /**
   * When the generator decodes on another GPU device than the background work (WebLLM keeps a
   * device of its own), queue order no longer keeps a sub-stage's GPU work (e.g. uploads it
   * queued without waiting) out of the next decode step: `settle` waits until the background
   * device is idle, and a gap that ran work calls it before handing back, its time charged to
   * the budget like the work's. Not needed on one device, whose single queue orders them.
   */
  settle?: () => Promise<void>;
}

export function createGapScheduler(options: GapSchedulerOptions = {}): GapScheduler {
  const maxSlowdown = options.maxSlowdown ?? 0.1;
  const now = options.now ?? (() => performance.now());
  const waiting: { priority: number; work: () => Promise<void> }[] = [];
  let active = 0;
  let ewma = 0;
  let spent = 0;
  let credit = 0;
  let wake: (() => void) | undefined;
  const runOne = async () => {
    let best = 0;
    for (let i = 1; i < waiting.length; i++) if (waiting[i]!.priority < waiting[best]!.priority) best = i;
    const [next] = waiting.splice(best, 1);
    const t0 = now();
    await next!.work();
    return now() - t0;
  };
  return {
    get stepMs() {
      return ewma;
    },
    get spentMs() {
      return spent;
    },
    run(work, priority = 0) {
      if (active === 0) return work();
      return new Promise((resolve, reject) => {
        waiting.push({
          priority,
          work: async () => {
            try {
              resolve(await work());
            } catch (e) {
              reject(e as Error);
            }
          },
        });
        wake?.();
      });
    },
    decoding(on) {
      active = Math.max(0, active + (on ? 1 : -1));
      if (active === 0) for (const w of waiting.splice(0)) void w.work(); // nothing decodes: let everything run
    },
    async gap(stepMs) {
      ewma = ewma === 0 ? stepMs : 0.8 * ewma + 0.2 * stepMs;
      const share = maxSlowdown * ewma;
      // Credit does not pile up while nothing waits (a burst later would stall decoding).
      credit = waiting.length > 0 ? Math.min(credit + share, 4 * share) : Math.min(credit, share);
      let used = 0;
      while (waiting.length > 0 && credit > 0) {
        const ms = await runOne();
        used += ms;
        credit -= ms;
      }
      if (used > 0 && options.settle) {
        const t0 = now();
        await options.settle();
        const ms = now() - t0;
        used += ms;
        credit -= ms;
      }
      spent += used;
    },
    async drain(until) {
      let settled = false;
      const over = until.then(
        () => {
          settled = true;
        },
        () => {
          settled = true;
        },
      );
      while (!settled) {
        if (waiting.length > 0) {
          spent += await runOne();
          continue;
        }
        // The work in flight is between sub-stages (e.g. awaiting IndexedDB): wait for its next one.
        await Promise.race([
          over,
          new Promise<void>((r) => {
            wake = r;
          }),
        ]);
        wake = undefined;
      }
    },
  };
}
