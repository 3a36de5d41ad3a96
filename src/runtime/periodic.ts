// PipeRAG's periodic retrieval during one answer: every `interval` tokens the last window's text
// is the query, and the passages found replace those in the context (a refresh: re-prefill of
// the new prompt plus the answer so far, which continues the same assistant turn). With
// staleness 1 the query is one window old, so its search can run while the next window decodes —
// in that answer's own gaps, under its own budget (pipelined) — or at the window's end while
// decoding waits (the baseline); staleness 0 searches the window just decoded, blocking. nprobe 'auto' is the largest whose predicted
// search time (the latency line) fits the window's share of decode time.

import type { Generator } from '../generate/types.js';
import { createGapScheduler, type GapScheduler } from '../schedule/gaps.js';
import { refill, type AnswerContext } from './answer-context.js';
import type { PassagePredicate } from './filter.js';
import type { FusionOptions, SearchMode } from './fusion.js';
import type { Retrieval } from './retrieval.js';
import { direct, type Runner } from './runner.js';
import type { Trace } from './trace.js';
import type { Passage, PeriodicOptions, PeriodicReport, PeriodicWindow } from './types.js';

/** Fits the latency line first if this answer's nprobe is 'auto' and it has not been fitted yet. */
export async function profileIfNeeded(options: PeriodicOptions, retrieval: Retrieval, profile: () => Promise<unknown>, trace: Trace): Promise<void> {
  if ((options.nprobe ?? 'auto') !== 'auto' || retrieval.profiled) return;
  const s0 = performance.now();
  await profile();
  trace.add('profile', s0);
}

export interface PeriodicDeps {
  options: PeriodicOptions;
  /** The request's k (the default for periodic searches). */
  k: number;
  maxTokens: number;
  /** The request's search query (what an empty window searches with). */
  query: string;
  /** The request's filter, which periodic searches keep too. */
  filter: PassagePredicate | undefined;
  /** The request's search mode and fusion (periodic searches do not rerank: their budget is one window's gaps). */
  mode: SearchMode;
  fusion: FusionOptions | undefined;
  /** The runtime's schedule, budget and gap scheduler (its step time sizes 'auto' searches). */
  woven: boolean;
  maxSlowdown: number;
  gaps: GapScheduler;
  /** See GapSchedulerOptions.settle. */
  settle: () => Promise<void>;
  nlist: number;
  generator: Generator;
  retrieval: Retrieval;
  context: AnswerContext;
  trace: Trace;
  signal: AbortSignal | undefined;
}

export interface Periodic {
  /**
   * Called after each decoded token (`pieces` so far, `answer` their text): at a window
   * boundary, applies the search that is due (refreshing the context) and starts or schedules
   * the next one.
   */
  afterToken(pieces: readonly string[], answer: string): Promise<void>;
  /** Hands this answer's own pipelined search a gap after a step that took `stepMs`. */
  gap(stepMs: number): Promise<void>;
  /** Decoding is over (idempotent): queued sub-stages run, see the answer ended and stop; resolves once they have. */
  stop(): Promise<void>;
  report(): PeriodicReport;
}

type WindowResult = { passages: Passage[]; busyMs: number; nprobe: number; window: number };

export function startPeriodic(d: PeriodicDeps): Periodic {
  const { options: per, generator, context, trace } = d;
  const interval = per.interval;
  const staleness = per.staleness ?? (d.woven ? 1 : 0);
  const pipelined = d.woven && staleness === 1 && per.pipeline !== false;
  const maxSlowdown = per.maxSlowdown ?? d.maxSlowdown;
  // This answer's periodic searches have a budget of their own.
  const own = createGapScheduler({ maxSlowdown, settle: d.settle });
  own.decoding(true);
  let finished = false;
  let pending: Promise<WindowResult> | undefined; // pipelined: the search running in this window's gaps
  let staleQuery: { query: string; window: number } | undefined; // not pipelined: the search due at the next boundary
  const windows: PeriodicWindow[] = [];
  let refreshes = 0;
  let refreshMs = 0;

  const nprobe = () => {
    if (typeof per.nprobe === 'number') return Math.max(1, Math.min(d.nlist, per.nprobe));
    const max = Math.min(d.nlist, per.maxNprobe ?? d.nlist);
    // The window's share of decode time that search may take, less the fixed costs (PipeRAG's budget).
    const stepMs = d.gaps.stepMs || generator.timings().decodeMsMedian;
    const budget = maxSlowdown * interval * stepMs - d.retrieval.embedMs;
    return d.retrieval.line.nprobeFor(budget, 1, max);
  };

  const search = (query: string, window: number, run: Runner): Promise<WindowResult> => {
    const np = nprobe();
    return d.retrieval
      .retrieve(query, {
        k: per.k ?? d.k,
        nprobe: np,
        trace,
        run,
        prefetch: run !== direct,
        listsPerSlice: d.retrieval.sliceLists(np),
        window,
        cancelled: () => finished,
        mode: d.mode,
        ...(d.fusion ? { fusion: d.fusion } : {}),
        ...(d.filter ? { filter: d.filter } : {}),
      })
      .then((r) => {
        d.retrieval.line.observe(np, r.busyMs);
        return { ...r, nprobe: np, window };
      });
  };

  /** Puts `found` into the context if it changes it and the answer still fits; true if it did. */
  const refresh = async (found: Passage[], answer: string, generated: number): Promise<boolean> => {
    const next = context.candidate(found);
    if (!next) return false;
    const text = context.promptOf(next) + answer;
    if (generator.countTokens(text) + (d.maxTokens - generated) + 1 > generator.contextLength) return false;
    const r0 = performance.now();
    await refill(generator, text, d.signal);
    trace.add('refresh', r0);
    refreshMs += performance.now() - r0;
    context.replace(next);
    refreshes++;
    return true;
  };

  /** The search whose result is due at this boundary (staleness 0: this window's; 1: the previous one's). */
  const due = async (query: string, window: number): Promise<WindowResult | undefined> => {
    if (staleness === 0) return search(query, window, direct);
    if (pending) {
      // Pipelined: it ran in this window's gaps and must be over now.
      const r = pending;
      await own.drain(r);
      pending = undefined;
      return r;
    }
    if (staleQuery) return search(staleQuery.query, staleQuery.window, direct);
    return undefined;
  };

  return {
    async afterToken(pieces, answer) {
      const generated = pieces.length;
      if (generated % interval !== 0 || generated >= d.maxTokens) return;
      // PipeRAG: the query is the text of the window just decoded.
      const query = pieces.slice(-interval).join('').trim() || d.query;
      const window = generated / interval;
      const w0 = performance.now();
      const r = await due(query, window);
      const waitedMs = performance.now() - w0;
      staleQuery = undefined;
      // A result that would land after the last token is not worth searching for.
      const next = staleness === 1 && generated + interval < d.maxTokens;
      // Pipelined, the next search starts before this boundary's refresh and its sub-stages run at
      // once until decoding resumes: its lists download and its first slices scan while the
      // refresh prefills (nothing decodes then), instead of all of it waiting for the gaps.
      let resumed = false;
      if (next && pipelined) {
        pending = search(query, window, (work) => (resumed ? own.run(work) : work()));
        pending.catch(() => undefined);
      }
      try {
        if (r) windows.push({ window: r.window, nprobe: r.nprobe, searchMs: r.busyMs, waitedMs, refreshed: await refresh(r.passages, answer, generated) });
      } finally {
        resumed = true;
      }
      if (next && !pipelined) staleQuery = { query, window };
    },
    async gap(stepMs) {
      if (pipelined) await own.gap(stepMs);
    },
    async stop() {
      finished = true;
      own.decoding(false);
      if (pending) await pending.catch(() => undefined);
    },
    report: () => ({ interval, staleness, pipelined, refreshes, refreshMs, windows }),
  };
}
