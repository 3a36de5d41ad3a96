// An answer's trace: every stage it went through (embed, search slices, prefetch, prefill,
// decode…) timed from the request's start, for the 'trace' event that benchmarks, tests and the
// demo's timeline read. One place computes the offsets, so every stage is timed the same way.

import type { TraceStage } from './types.js';

export type StageDetails = Omit<TraceStage, 'kind' | 'start' | 'end'>;

export interface Trace {
  /** When the request started (performance.now()). */
  readonly t0: number;
  readonly stages: TraceStage[];
  /** Records a stage that began at `start` (performance.now()) and ends now. */
  add(kind: TraceStage['kind'], start: number, details?: StageDetails): void;
  /** Milliseconds since the request started. */
  elapsed(): number;
}

export function createTrace(): Trace {
  const t0 = performance.now();
  const stages: TraceStage[] = [];
  return {
    t0, stages,
    add(kind, start, details = {}) { stages.push({ kind, start: start - t0, end: performance.now() - t0, ...details }); },
    elapsed: () => performance.now() - t0,
  };
}
