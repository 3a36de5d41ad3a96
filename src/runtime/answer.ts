// One answer, as a sequence of steps: plan the request, retrieve (woven: in the gaps of the
// answer in progress, possibly speculating; sequential: in the runtime's serial queue), take the
// generator, prefill (or keep the speculative prefill), decode token by token — handing each gap
// to the other requests' sub-stages and to this answer's periodic retrieval — then the trace and
// the done event. Everything the answer holds is given back however far it got.

import { WeftError } from '../errors.js';
import type { Generator } from '../generate/types.js';
import type { StoredIndex } from '../store/stored-index.js';
import type { GapScheduler } from '../schedule/gaps.js';
import { createSlots, type SerialQueue } from '../schedule/slots.js';
import { createAnswerContext, promptFor, refill, type AnswerContext, type PromptSpec } from './citations.js';
import { createHolds, type Holds } from './holds.js';
import { profileIfNeeded, startPeriodic, type Periodic } from './periodic.js';
import type { Retrieval, Runner } from './retrieval.js';
import { createSpeculation, type Speculation } from './speculation.js';
import { createTrace, type Trace } from './trace.js';
import type { GenerateOptions, Passage, PeriodicOptions, PromptTemplate, RagEvent } from './types.js';

/** The runtime's parts an answer uses. */
export interface AnswerRuntime {
  generator: Generator;
  template: PromptTemplate;
  retrieval: Retrieval;
  /** The runtime's serial queue (ingest, search, profile; the sequential schedule's retrieval). */
  serial: SerialQueue;
  /** Fits the latency line, through the serial queue. */
  profile(): Promise<unknown>;
  gaps: GapScheduler;
  woven: boolean;
  maxSlowdown: number;
  /** Questions that may retrieve ahead while waiting for the generator (woven schedule). */
  lookahead: number;
}

/** A request's options with their defaults, checked. */
interface Request extends PromptSpec {
  k: number;
  nprobe: number;
  index: StoredIndex;
  periodic: PeriodicOptions | undefined;
  /** Slices before the speculative prefill; 0 without speculation. */
  speculateAfter: number;
  signal: AbortSignal | undefined;
  trace: Trace;
  /** Runs a sub-stage in the gaps, the oldest question's first. */
  run: Runner;
}

/** What the decode loop produced. */
interface Decoded {
  pieces: string[];
  text: string;
  /** When the first token was asked for (performance.now()). */
  start: number;
  firstTokenMs: number;
}

export function createAnswerer(rt: AnswerRuntime): (question: string, options: GenerateOptions) => AsyncGenerator<RagEvent> {
  const { generator, retrieval, gaps } = rt;
  const locks = { generator: createSlots(1), lookahead: createSlots(Math.max(1, rt.lookahead)) };
  let arrivals = 0;

  const plan = (question: string, opts: GenerateOptions): Request => {
    const trace = createTrace();
    // Gaps serve the oldest question's sub-stages first.
    const arrival = arrivals++;
    const k = opts.k ?? 3;
    const maxTokens = opts.maxTokens ?? 64;
    const per = opts.periodic;
    if (per !== undefined && (!Number.isInteger(per.interval) || per.interval < 1)) {
      throw new WeftError('INVALID_OPTION', `periodic.interval must be a whole number of tokens ≥ 1; got ${String(per.interval)}.`);
    }
    const speculateAfter = rt.woven && opts.speculate ? (typeof opts.speculate === 'object' ? opts.speculate.afterSlices ?? 1 : 1) : 0;
    const index = retrieval.indexFor(question);
    return {
      generator, template: rt.template, question, maxTokens, k, index, trace,
      nprobe: opts.nprobe ?? Math.min(index.nlist, 8),
      periodic: per, speculateAfter, signal: opts.signal,
      run: (work) => gaps.run(work, arrival),
    };
  };

  /** The question's passages: woven, as sub-stages in the gaps (speculating if asked); sequential, in the serial queue. */
  const retrieve = async (req: Request, holds: Holds, speculation: Speculation | undefined): Promise<Passage[]> => {
    const { k, nprobe, trace } = req;
    if (!rt.woven) {
      return rt.serial.run(async () => {
        const s0 = performance.now();
        const passages = await retrieval.search(req.question, k, nprobe);
        trace.add('search', s0, { nprobe });
        return passages;
      });
    }
    await holds.enterLookahead();
    const r = await retrieval.retrieve(req.question, {
      k, nprobe, trace, run: req.run, prefetch: true, listsPerSlice: retrieval.sliceLists(nprobe),
      ...(speculation ? { afterSlices: req.speculateAfter, onPartial: speculation.onPartial } : {}),
    });
    return r.passages;
  };

  /** Takes the generator and fills its context with the prompt, unless the speculative prefill already did. */
  const prefill = async (req: Request, holds: Holds, context: AnswerContext, speculation: Speculation | undefined) => {
    await holds.takeGenerator();
    holds.leaveLookahead(); // the next waiting question may retrieve now
    if (speculation && await speculation.reusableFor(context.prompt)) return;
    const p0 = performance.now();
    await refill(generator, context.prompt, req.signal);
    req.trace.add('prefill', p0);
  };

  /** Decodes up to maxTokens, streaming token events; each gap goes to background sub-stages. */
  async function* decode(req: Request, periodic: Periodic | undefined): AsyncGenerator<RagEvent, Decoded> {
    const out: Decoded = { pieces: [], text: '', start: performance.now(), firstTokenMs: 0 };
    while (out.pieces.length < req.maxTokens) {
      if (req.signal?.aborted) { await generator.interrupt(); break; }
      const st = performance.now();
      const t = await generator.step();
      const stepMs = performance.now() - st;
      if (t.done) break;
      if (out.pieces.length === 0) { out.firstTokenMs = req.trace.elapsed(); out.start = st; }
      out.pieces.push(t.piece);
      out.text += t.piece;
      yield { type: 'token', text: t.piece };
      await periodic?.afterToken(out.pieces, out.text);
      if (rt.woven) await gaps.gap(stepMs); // other requests' sub-stages, within budget
      await periodic?.gap(stepMs); // this answer's own periodic search, within its budget
    }
    return out;
  }

  return async function* answer(question, opts) {
    const req = plan(question, opts);
    if (req.periodic) await profileIfNeeded(req.periodic, retrieval, rt.profile, req.trace);
    const holds = createHolds(locks);
    const speculation = req.speculateAfter
      ? createSpeculation({ generator, holds, trace: req.trace, signal: req.signal, promptFor: (ps) => promptFor(req, ps) })
      : undefined;
    let decoding = false;
    let periodic: Periodic | undefined;
    /** Ends this answer's decoding (idempotent): the gaps stop waiting for it; its periodic search stops. */
    const stopDecoding = async () => {
      if (decoding) { gaps.decoding(false); decoding = false; }
      await periodic?.stop();
    };
    try {
      const passages = await retrieve(req, holds, speculation);
      yield { type: 'retrieval', passages };
      const context = createAnswerContext(req, passages);
      await prefill(req, holds, context, speculation);
      const promptTokens = generator.position || generator.countTokens(context.prompt);
      if (rt.woven) { gaps.decoding(true); decoding = true; }
      periodic = req.periodic && startPeriodic({
        options: req.periodic, k: req.k, maxTokens: req.maxTokens, question, woven: rt.woven, maxSlowdown: rt.maxSlowdown, gaps,
        nlist: req.index.nlist, generator, retrieval, context, trace: req.trace, signal: req.signal,
      });
      const decoded = yield* decode(req, periodic);
      await stopDecoding();
      req.trace.add('decode', decoded.start);
      yield { type: 'trace', stages: req.trace.stages };
      yield {
        type: 'done', answer: decoded.text, citations: context.cited(decoded.text), passages: context.all(),
        timings: { totalMs: req.trace.elapsed(), firstTokenMs: decoded.firstTokenMs },
        tokens: { prompt: promptTokens, generated: decoded.pieces.length },
        ...(periodic ? { periodic: periodic.report() } : {}),
      };
    } finally {
      await stopDecoding();
      await speculation?.settled();
      holds.release(); // also when the caller stops iterating early
    }
  };
}
