// An answer's trace: every stage it went through (embed, search slices, prefetch, prefill, each
// decode step…), timed from the request's start and on one clock shared by every request and
// thread (`at`), for the live 'stage' events and the final 'trace' event that benchmarks, tests
// and the demo's timeline read. One place computes the times, so every stage is timed the same
// way; each carries the workflow node it ran for. Stages recorded by background sub-stages (this request's search slices running in
// another answer's gaps) land here too; the answer hands them out at its next yield point.

import type { TraceStage } from './types.js';

export type StageDetails = Omit<TraceStage, 'kind' | 'start' | 'end' | 'at'>;

export interface Trace {
  /** When the request started (performance.now()). */
  readonly t0: number;
  readonly stages: TraceStage[];
  /** The workflow node running now: every stage recorded while it is set carries its name. */
  node: string | undefined;
  /** Records a stage that began at `start` and ends at `end` (performance.now(); default now). */
  add(kind: TraceStage['kind'], start: number, details?: StageDetails, end?: number): void;
  /** The stages recorded since the last call, oldest first (for the live 'stage' events). */
  take(): TraceStage[];
  /** Milliseconds since the request started. */
  elapsed(): number;
}

/**
 * performance.now() on a clock every request and every thread shares: milliseconds since the Unix
 * epoch (performance.timeOrigin differs between the page and a worker; their sum does not).
 */
const sharedClock = (now: number = performance.now()): number => performance.timeOrigin + now;

export function createTrace(): Trace {
  const t0 = performance.now();
  const stages: TraceStage[] = [];
  let taken = 0;
  const trace: Trace = {
    t0,
    stages,
    node: undefined,
    add(kind, start, details = {}, end = performance.now()) {
      stages.push({ kind, start: start - t0, end: end - t0, at: sharedClock(start), ...(trace.node !== undefined ? { node: trace.node } : {}), ...details });
    },
    take() {
      const fresh = stages.slice(taken);
      taken = stages.length;
      return fresh;
    },
    elapsed: () => performance.now() - t0,
  };
  return trace;
}
