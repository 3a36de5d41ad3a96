// One answer, as a sequence of steps: plan the request (the conversation, its search query, its
// workflow checked), optionally rewrite a follow-up into a standalone query while the plain
// query's lists are prefetched, run the workflow's stages up to the answer (workflow-run.ts:
// generation stages taking turns on the generator, retrieval woven into the gaps of the answer in
// progress, possibly speculating; sequential: one after another, retrieval in the runtime's
// serial queue), take the generator, prefill (or keep the speculative prefill), decode token by
// token (decoding.ts: plain, or FLARE's) — handing each gap to the other requests' sub-stages and
// to this answer's periodic retrieval — then the trace and the done event. Each stage the trace
// records is also streamed live as a 'stage' event (see RagEvent).
// Everything the answer holds is given back however far it got.

import { WeftError } from '../errors.js';
import type { Generator, SamplingOptions } from '../generate/types.js';
import type { StoredIndex } from '../stored-index/stored-index.js';
import type { GapScheduler } from '../schedule/gaps.js';
import { createLoans } from '../schedule/loans.js';
import { createSlots } from '../schedule/slots.js';
import type { SerialQueue } from '../util/serial-queue.js';
import { createAnswerContext, promptFor, promptText, refill, type AnswerContext, type PromptSpec } from './answer-context.js';
import { DEFAULT_REWRITE_INSTRUCTION, isFollowUp, readDialogue, searchQuery, trimHistory } from './conversation.js';
import { compileFilter, type PassagePredicate } from './filter.js';
import { createHolds, type GeneratorOrder, type Holds } from './holds.js';
import { profileIfNeeded, startPeriodic, type Periodic } from './periodic.js';
import { retrievalPlanFor, type RetrievalPlan, type RetrievalDefaults, type Retrieval } from './retrieval.js';
import { answerNode, answerTemplate, requestWorkflow, runStages, type WorkflowState } from './workflow-run.js';
import type { CheckedWorkflow } from '../workflow/check-graph.js';
import { inLane, type Runner } from './runner.js';
import { rewriteQuery, type RewritePlan } from './rewrite.js';
import { createSpeculation, type Speculation } from './speculation.js';
import { checkPeriodic, generateNumbers } from './option-checks.js';
import { createTrace, type Trace } from './trace.js';
import { decodeAnswer, decodeFlare, stagesOf, type Decoded } from './decoding.js';
import type { FlareReport, GenerateInput, GenerateOptions, Passage, PeriodicOptions, PromptTemplate, RagEvent } from './types.js';

/** The runtime's parts an answer uses. */
export interface AnswerRuntime extends RetrievalDefaults {
  generator: Generator;
  template: PromptTemplate;
  retrieval: Retrieval;
  /** The runtime's serial queue (ingest, search, profile; the sequential schedule's retrieval). */
  serial: SerialQueue;
  /** Fits the latency line, through the serial queue. */
  profile(): Promise<unknown>;
  gaps: GapScheduler;
  /** Waits for the index's device to be idle where the generator decodes on another (see GapSchedulerOptions.settle). */
  settle: () => Promise<void>;
  woven: boolean;
  maxSlowdown: number;
  /** Questions that may retrieve ahead while waiting for the generator (woven schedule). */
  lookahead: number;
  /** Which waiting request's stage takes the generator next. */
  generatorOrder: GeneratorOrder;
  /** A workflow's later searches scan its earlier passages' lists first. */
  semanticReordering: boolean;
  /** A request searching lends the generator to a waiting request's generation stage. */
  lendGenerator: boolean;
  /** The runtime's system prompt and sampling (a call's own replace them). */
  system: string | undefined;
  sampling: SamplingOptions;
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
  /** The plain search query: the question plus the recent turns. */
  query: string;
  /** The follow-up rewrite, if asked for and the question has earlier turns. */
  rewrite: RewritePlan | undefined;
  sampling: SamplingOptions;
  filter: PassagePredicate | undefined;
  ranking: RetrievalPlan;
  /** The request's workflow, checked, and its state (the slots its stages write). */
  workflow: CheckedWorkflow;
  state: WorkflowState;
  /** The request's arrival number: its priority for the generator and the gaps. */
  arrival: number;
}

export function createAnswerer(rt: AnswerRuntime): (input: GenerateInput, options: GenerateOptions) => AsyncGenerator<RagEvent> {
  const { generator, retrieval, gaps } = rt;
  const locks = {
    generator: createSlots(1),
    loans: rt.woven && rt.lendGenerator ? createLoans() : undefined,
    lookahead: createSlots(Math.max(1, rt.lookahead)),
  };
  let arrivals = 0;

  const plan = (input: GenerateInput, opts: GenerateOptions): Request => {
    const trace = createTrace();
    const asked = readDialogue(input, opts.system ?? rt.system);
    // The workflow before anything runs (INVALID_WORKFLOW for one that could not), its answer's
    // periodic retrieval (the call's own replaces it) and its prompt, over the request's state.
    const workflow = requestWorkflow(opts.workflow);
    const state: WorkflowState = new Map();
    const ownPeriodic = answerNode(workflow).periodic;
    if (opts.periodic === undefined && ownPeriodic !== undefined) checkPeriodic(ownPeriodic);
    if (opts.periodic !== undefined && answerNode(workflow).flare) {
      throw new WeftError(
        'INVALID_OPTION',
        `Workflow '${workflow.name}' retrieves during the answer with FLARE; periodic retrieval cannot run beside it. Leave out periodic, or use another workflow.`,
      );
    }
    // The numbers first (the caller's mistake, whatever the index holds): coded errors quoting them.
    const { k, nprobe, maxTokens, queryTurns: turns } = generateNumbers(opts);
    const index = retrieval.indexFor(asked.question);
    const per = opts.periodic ?? ownPeriodic;
    const ranking = retrievalPlanFor(opts, rt, k);
    // A reranked answer starts from the reranked list: a prefill on a partial search would be thrown away.
    const speculateAfter = rt.woven && opts.speculate && !ranking.rerank ? (typeof opts.speculate === 'object' ? (opts.speculate.afterSlices ?? 1) : 1) : 0;
    const re = opts.rewrite && isFollowUp(asked) ? (typeof opts.rewrite === 'object' ? opts.rewrite : {}) : undefined;
    const rewrite = re && {
      maxTokens: re.maxTokens ?? 32,
      instruction: re.instruction ?? DEFAULT_REWRITE_INSTRUCTION,
      turns: Math.max(turns, 2),
    };
    // A long conversation loses its oldest turns before the passages lose their room: without
    // passages, the prompt may take at most half of what the answer leaves of the context.
    const template = answerTemplate(workflow, state, rt.template);
    const spec = (dialogue: typeof asked): PromptSpec => ({ generator, template, dialogue, maxTokens });
    const dialogue = trimHistory(asked, (d) => generator.countTokens(promptText(spec(d), [])) <= (generator.contextLength - maxTokens) / 2);
    // Gaps serve the oldest question's sub-stages first.
    const arrival = arrivals++;
    const query = searchQuery(asked, turns, retrieval.queryFits);
    state.set('question', asked.question);
    state.set('query', query);
    return {
      ...spec(dialogue),
      workflow,
      state,
      arrival,
      k,
      index,
      trace,
      nprobe: nprobe ?? Math.min(index.nlist, 8),
      periodic: per,
      speculateAfter,
      signal: opts.signal,
      run: inLane(gaps, (work) => gaps.run(work, arrival)),
      query,
      rewrite,
      sampling: { ...rt.sampling, ...opts.sampling },
      filter: compileFilter(opts.filter),
      ranking,
    };
  };

  /** The rewritten query, holding the generator (the plain query if the rewrite gave nothing). */
  const rewritten = async (req: Request, how: RewritePlan, holds: Holds): Promise<string> => {
    req.trace.node = 'rewrite';
    await holds.takeGenerator();
    holds.leaveLookahead();
    const text = await rewriteQuery(req.dialogue, how, { generator, gaps, woven: rt.woven, trace: req.trace, signal: req.signal });
    return text || req.query;
  };

  /**
   * The workflow's stages up to the answer (workflow-run.ts), streaming their events; returns the
   * answer's passages and the query that found them. A follow-up's rewrite comes first and fills
   * the `query` slot; woven, the plain query's lists are prefetched while it decodes (TeleRAG's
   * lookahead), as a generation stage's are from its partial text (speculative retrieval), and
   * the request holds a lookahead slot while it works ahead of its answer.
   */
  async function* retrieve(req: Request, holds: Holds, speculation: Speculation | undefined): AsyncGenerator<RagEvent, { passages: Passage[]; query: string }> {
    const stages = { ...req, holds, speculation, held: rt.semanticReordering ? new Set<number>() : undefined, ahead: [] as Promise<void>[] };
    if (!rt.woven) {
      if (req.rewrite) req.state.set('query', await rewritten(req, req.rewrite, holds));
      return yield* runStages(rt, stages);
    }
    await holds.enterLookahead();
    try {
      if (req.rewrite) {
        if (req.ranking.mode !== 'lexical')
          stages.ahead.push((await retrieval.lookahead(req.query, { nprobe: req.nprobe, trace: req.trace, run: req.run })).arrived);
        req.state.set('query', await rewritten(req, req.rewrite, holds));
      }
      return yield* runStages(rt, stages);
    } finally {
      await Promise.all(stages.ahead); // never reject; no background read outlives the answer
    }
  }

  /** Takes the generator and fills its context with the prompt, unless the speculative prefill already did. */
  const prefill = async (req: Request, holds: Holds, context: AnswerContext, speculation: Speculation | undefined) => {
    await holds.takeGenerator();
    holds.leaveLookahead(); // the next waiting question may retrieve now
    generator.setSampling(req.sampling); // before the first step: the seed restarts with each answer
    if (speculation && (await speculation.reusableFor(context.prompt))) return;
    const p0 = performance.now();
    await refill(generator, context.prompt, req.signal);
    req.trace.add('prefill', p0);
  };

  return async function* answer(input, opts) {
    const req = plan(input, opts);
    if (req.periodic) await profileIfNeeded(req.periodic, retrieval, rt.profile, req.trace);
    const holds = createHolds(locks, req.arrival, rt.generatorOrder);
    const speculation = req.speculateAfter
      ? createSpeculation({ generator, holds, trace: req.trace, signal: req.signal, promptFor: (ps) => promptFor(req, ps) })
      : undefined;
    let decoding = false;
    let periodic: Periodic | undefined;
    /** Ends this answer's decoding (idempotent): the gaps stop waiting for it; its periodic search stops. */
    const stopDecoding = async () => {
      if (decoding) {
        gaps.decoding(false);
        decoding = false;
      }
      await periodic?.stop();
    };
    try {
      const { passages, query } = yield* retrieve(req, holds, speculation);
      yield { type: 'retrieval', passages, query };
      yield* stagesOf(req.trace); // the stages so far: embed, prefetch, search slices, speculate, profile
      const context = createAnswerContext(req, passages);
      await prefill(req, holds, context, speculation);
      const promptTokens = generator.position || generator.countTokens(context.prompt);
      if (rt.woven) {
        gaps.decoding(true);
        decoding = true;
      }
      periodic =
        req.periodic &&
        startPeriodic({
          options: req.periodic,
          k: req.k,
          maxTokens: req.maxTokens,
          query: req.query,
          filter: req.filter,
          mode: req.ranking.mode,
          fusion: req.ranking.fusion,
          woven: rt.woven,
          maxSlowdown: rt.maxSlowdown,
          gaps,
          settle: rt.settle,
          nlist: req.index.nlist,
          generator,
          retrieval,
          context,
          trace: req.trace,
          signal: req.signal,
        });
      const steps = { generator, gaps, woven: rt.woven, trace: req.trace, signal: req.signal, maxTokens: req.maxTokens };
      const flare = answerNode(req.workflow).flare;
      // FLARE's searches block the sentence that asked for them: their sub-stages run at once.
      let decoded: Decoded;
      let flareReport: FlareReport | undefined;
      if (flare) {
        const r = yield* decodeFlare({
          ...steps,
          options: flare,
          question: req.dialogue.question,
          context,
          retrieve: async (q) => {
            const s0 = performance.now();
            const found = await retrieval.search(q, req.k, {
              ...req.ranking,
              nprobe: req.nprobe,
              ...(req.filter ? { filter: req.filter } : {}),
              ...(req.signal ? { signal: req.signal } : {}),
            });
            req.trace.add('search', s0, { nprobe: req.nprobe });
            return found;
          },
        });
        decoded = r;
        flareReport = r.flare;
      } else {
        decoded = yield* decodeAnswer(steps, periodic);
      }
      await stopDecoding();
      req.trace.add('decode', decoded.start);
      yield* stagesOf(req.trace);
      yield { type: 'trace', stages: req.trace.stages };
      yield {
        type: 'done',
        answer: decoded.text,
        citations: context.cited(decoded.text),
        finishReason: decoded.finishReason,
        passages: context.all(),
        timings: { totalMs: req.trace.elapsed(), firstTokenMs: decoded.firstTokenMs },
        tokens: { prompt: promptTokens, generated: decoded.pieces.length },
        ...(periodic ? { periodic: periodic.report() } : {}),
        ...(flareReport ? { flare: flareReport } : {}),
      };
    } finally {
      await stopDecoding();
      await speculation?.settled();
      holds.release(); // also when the caller stops iterating early
    }
  };
}
