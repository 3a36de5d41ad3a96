// An answer's trace: every stage it went through (embed, search slices, prefetch, prefill, each
// decode step…), timed from the request's start and on one clock shared by every request and
// thread (`at`), for the live 'stage' events and the final 'trace' event that benchmarks, tests
// and the demo's timeline read. One place computes the times, so every stage is timed the same
// way; each carries the workflow node it ran for. Stages recorded by background sub-stages (this request's search slices running in
// another answer's gaps) land here too; the answer hands them out at its next yield point.

// The stage type lives here, with the code that times stages; types.ts re-exports it.
/**
 * One timed stage of an answer (embed, a search slice, prefetch, prefill, a decode step, …), for
 * traces and timelines.
 */
export interface TraceStage {
  /**
   * profile: the performance model timing searches (once); speculate: prefill on a partial top-k;
   * restart: the final top-k differed, so the speculative prefill was thrown away; refresh: a
   * periodic retrieval's passages replaced those in the context (re-prefill); rewrite: the
   * generator rewrote a follow-up question into a standalone search query; step: one decode step
   * of the answer (one per generated token; the terminal step that ends the answer is not one);
   * decode: the whole decoding, from the first step to the last (its gaps included); lexical:
   * the BM25 search of hybrid or lexical retrieval; rerank: one slice of the reranker's scoring
   * (a few candidates); generate: a workflow's generation stage before the answer (a
   * hypothetical passage, sub-questions, a draft, a summary: prefill and greedy decoding).
   */
  kind:
    | 'embed'
    | 'search'
    | 'lexical'
    | 'rerank'
    | 'prefetch'
    | 'prefill'
    | 'decode'
    | 'step'
    | 'profile'
    | 'speculate'
    | 'restart'
    | 'refresh'
    | 'rewrite'
    | 'generate';
  /** The workflow node the stage ran for ('retrieve', 'answer', 'hypothesis', …; see GenerateOptions.workflow). */
  node?: string;
  /** Milliseconds since the request started. */
  start: number;
  end: number;
  /**
   * When the stage started on a clock shared by every request, the page and the engine worker:
   * milliseconds since the Unix epoch (performance.timeOrigin + performance.now()). Its end is
   * `at + end - start`. Place stages of different requests on one time axis with it.
   */
  at: number;
  /** search: the lists this slice scanned and the bytes it streamed in; prefetch: the lists and bytes read ahead. */
  clusters?: number;
  bytes?: number;
  nprobe?: number;
  /** search: the queries the slice scanned for when it was a multi-query dispatch (this request's and others' searches, together). */
  batch?: number;
  /**
   * generate: the stage ran on a generator borrowed from a request that was searching (see
   * RuntimeSettings.lendGenerator): 'kept' when it finished, 'recalled' when the holder took the
   * generator back first (the stage was then written again).
   */
  borrowed?: 'kept' | 'recalled';
  /** rerank: the candidates this slice scored. */
  passages?: number;
  /** Periodic retrieval: the window whose text was the query. */
  window?: number;
}

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
