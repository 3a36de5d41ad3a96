// Runs a request's workflow up to its answer: the graph's stages one after another, each of them
// scheduled with every other request's. A generate stage waits for the generator, writes greedily
// — handing its decode gaps to the others' sub-stages — and, by arrival (the default), keeps it
// for the request's next stages, or by least attained service gives it back; a retrieve stage is the woven retrieval of answer.ts — embed, prefetch,
// cluster-sized slices in decode gaps — one per query (a multistep's sub-questions together); a
// split is pure. A request's later searches may scan first the lists that held its earlier
// passages (semantic reordering, RuntimeSettings.semanticReordering), and woven, a generation that feeds a search prefetches that search's
// lists from its partial text (speculative retrieval). In the sequential schedule the same stages
// run one at a time, retrieval in the runtime's serial queue: the baseline, and the reference the
// woven run must equal token for token. The answer itself (prefill, decode, periodic refresh,
// FLARE) stays with answer.ts and decoding.ts.

import { WeftError, checkAborted } from '../errors.js';
import type { Generator } from '../generate/types.js';
import type { GapScheduler } from '../schedule/gaps.js';
import type { SerialQueue } from '../util/serial-queue.js';
import { checkWorkflow, nextNode, type CheckedWorkflow } from '../workflow/check-graph.js';
import { workflowGraph } from '../workflow/builtins.js';
import { parseList } from '../workflow/list-parse.js';
import { renderTemplate, slotsIn } from '../workflow/templates.js';
import { MAX_STAGES, type AnswerNode, type EdgeCondition, type GenerateNode, type RetrieveNode, type WorkflowEdge } from '../workflow/types.js';
import { fitPassages, passageLine, promptText, type PromptSpec } from './answer-context.js';
import type { Dialogue } from './conversation.js';
import type { PassagePredicate } from './filter.js';
import type { GeneratorOrder, Holds } from './holds.js';
import type { Retrieval, RetrievalPlan } from './retrieval.js';
import type { Runner } from './runner.js';
import type { Speculation } from './speculation.js';
import type { Trace } from './trace.js';
import type { Passage, PromptTemplate, RagEvent } from './types.js';
import { writeText } from './write-text.js';
import { stagesOf } from './decoding.js';

/** A request's state: each slot's value (text, a list, passages); a slot not written yet reads as empty. */
export type WorkflowState = Map<string, string | string[] | Passage[]>;

const checked = new WeakMap<object, CheckedWorkflow>();

/** The request's workflow, checked (built-ins once): INVALID_WORKFLOW before anything runs. */
export function requestWorkflow(w: unknown): CheckedWorkflow {
  const graph = workflowGraph(w ?? 'one-shot');
  const known = typeof graph === 'object' && graph !== null ? checked.get(graph) : undefined;
  if (known) return known;
  const c = checkWorkflow(graph);
  if (typeof w === 'string') checked.set(graph as object, c);
  return c;
}

/** The answer node of a checked workflow. */
export const answerNode = (w: CheckedWorkflow): AnswerNode => w.graph.nodes[w.answer] as AnswerNode;

/** A slot's value as text: a list one item a line, passages as the prompt lists them. */
function slotText(state: WorkflowState, slot: string): string {
  const v = state.get(slot);
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return v.map((x) => (typeof x === 'string' ? x : passageLine(x))).join('\n');
}

/** `template` over the state, with `given` slots (an item, passages fitted to a prompt…) taking precedence. */
function renderSlots(template: string, state: WorkflowState, given: Record<string, string | undefined> = {}): string {
  return renderTemplate(template, (s) => given[s] ?? slotText(state, s));
}

/** Whether an edge's condition holds in `state`. */
function conditionHolds(state: WorkflowState, c: EdgeCondition): boolean {
  if (c.empty !== undefined) {
    const v = state.get(c.slot);
    const empty = v === undefined || (typeof v === 'string' ? v.trim() === '' : v.length === 0);
    return empty === c.empty;
  }
  return slotText(state, c.slot).includes(c.includes!);
}

/**
 * The answer's prompt template: the answer node's own (its passages slot rendered as the fitted
 * passages), or the runtime's where the node has none.
 */
export function answerTemplate(w: CheckedWorkflow, state: WorkflowState, fallback: PromptTemplate): PromptTemplate {
  const node = answerNode(w);
  if (node.prompt === undefined) return fallback;
  const prompt = node.prompt;
  const cited = node.passages ?? 'passages';
  return (passages, question) => renderSlots(prompt, state, { question, [cited]: passages.map(passageLine).join('\n') });
}

/** The runtime's parts the stages use. */
export interface WorkflowRuntime {
  /** 'arrival': a request keeps the generator through its stages once it has it; 'least-attained': it gives it back after each. */
  generatorOrder: GeneratorOrder;
  generator: Generator;
  retrieval: Retrieval;
  serial: SerialQueue;
  gaps: GapScheduler;
  woven: boolean;
  /** Woven by arrival: a request searching lends the generator to a waiting request's generation stage (RuntimeSettings.lendGenerator). */
  lendGenerator: boolean;
}

/** The request as its stages see it. */
export interface WorkflowRequest {
  workflow: CheckedWorkflow;
  state: WorkflowState;
  dialogue: Dialogue;
  k: number;
  nprobe: number;
  ranking: RetrievalPlan;
  filter: PassagePredicate | undefined;
  trace: Trace;
  run: Runner;
  signal: AbortSignal | undefined;
  holds: Holds;
  /** Speculative prefill on a partial top-k (woven): for a single-query retrieval whose only next stage is the answer. */
  speculation: Speculation | undefined;
  speculateAfter: number;
  /**
   * With semantic reordering: the lists that held this request's passages so far, which its later
   * searches scan first (the same passages, found in another order of slices).
   */
  held: Set<number> | undefined;
  /** Lookaheads its speculative retrievals started (settle before the request ends; never reject). */
  ahead: Promise<void>[];
}

/** Interleaves several searches' results (each one's best first), without repeats, keeping k, numbered from 1. */
function interleave(lists: readonly Passage[][], k: number): Passage[] {
  const out: Passage[] = [];
  const seen = new Set<number>();
  for (let rank = 0; out.length < k && lists.some((l) => rank < l.length); rank++) {
    for (const l of lists) {
      const p = l[rank];
      if (!p || seen.has(p.id) || out.length >= k) continue;
      seen.add(p.id);
      out.push({ ...p, citation: out.length + 1 });
    }
  }
  return out;
}

/** The passages of one retrieve stage. */
async function retrieveStage(rt: WorkflowRuntime, req: WorkflowRequest, name: string, node: RetrieveNode, queries: string[]): Promise<Passage[]> {
  const k = node.k ?? req.k;
  const nprobe = node.nprobe ?? req.nprobe;
  const { ranking, filter, trace, signal } = req;
  if (!rt.woven) {
    return rt.serial.run(async () => {
      const s0 = performance.now();
      const found = await rt.retrieval.searchAll(queries, k, { ...ranking, nprobe, ...(filter ? { filter } : {}), ...(signal ? { signal } : {}) });
      trace.add('search', s0, { nprobe });
      return interleave(found, k);
    });
  }
  const edges = req.workflow.outgoing.get(name)!;
  const speculate = req.speculation && queries.length === 1 && edges.length === 1 && edges[0]!.to === req.workflow.answer;
  // Holding the generator (by arrival), the request lends it while it searches, unless a speculative prefill is to use it.
  const reclaim = rt.lendGenerator && !speculate ? req.holds.lend() : undefined;
  try {
    return await searchStage(rt, req, queries, k, nprobe, speculate);
  } finally {
    await reclaim?.();
  }
}

/** A woven retrieve stage's search: one query or several in one multi-query dispatch, sliced into the decode gaps. */
async function searchStage(
  rt: WorkflowRuntime,
  req: WorkflowRequest,
  queries: string[],
  k: number,
  nprobe: number,
  speculate: boolean | undefined,
): Promise<Passage[]> {
  const { ranking, filter, trace, signal } = req;
  // Several queries (a multistep's sub-questions) are embedded together and searched as one multi-query dispatch.
  const { passages: found, lists } = await rt.retrieval.retrieveAll(queries, {
    ...(req.held?.size ? { scanFirst: [...req.held] } : {}),
    ...ranking,
    k,
    nprobe,
    trace,
    run: req.run,
    prefetch: true,
    listsPerSlice: rt.retrieval.sliceLists(nprobe),
    ...(signal ? { signal } : {}),
    ...(filter ? { filter } : {}),
    ...(speculate ? { afterSlices: req.speculateAfter, onPartial: req.speculation!.onPartial } : {}),
  });
  for (const l of lists) req.held?.add(l);
  return interleave(found, k);
}

/** Tokens a whole text has before a sentence end may start its speculative retrieval. */
const SPECULATE_AFTER_TOKENS = 8;

/** A node's fallback successor (the edge taken when no other is): where a request usually goes next. */
function fallbackNext(w: CheckedWorkflow, name: string): string | undefined {
  return w.outgoing.get(name)?.at(-1)?.to;
}

/**
 * Speculative retrieval while a generate node writes: when its text feeds a search — HyDE's
 * passage, IRG's draft (a retrieve node next that reads it), a multistep's sub-questions (a split
 * next, then a search for each item) — the search's query is formed from the partial text and
 * its lists start streaming into the GPU cache (TeleRAG's lookahead: embed, then prefetch) while
 * the generation goes on: for a whole text once, at its first sentence's end (after a few tokens)
 * or at half its tokens; for a list, as each line completes. The search itself always runs with the final text, so the answer is what it would be
 * without speculation; when the speculation guessed right its lists are already there. Returns
 * the watcher writeText calls after each token, or undefined when nothing is fed.
 */
function speculate(rt: WorkflowRuntime, req: WorkflowRequest, name: string, node: GenerateNode): ((text: string, tokens: number) => void) | undefined {
  if (!rt.woven || req.ranking.mode === 'lexical') return undefined;
  const w = req.workflow;
  const nextName = fallbackNext(w, name);
  const next = nextName ? w.graph.nodes[nextName] : undefined;
  const lookahead = (query: string, n: RetrieveNode) => {
    if (!query.trim()) return;
    const started = rt.retrieval.lookahead(query, { nprobe: n.nprobe ?? req.nprobe, trace: req.trace, run: req.run }).then(
      (l) => l.arrived,
      () => undefined,
    );
    req.ahead.push(started);
  };
  const render = (template: string, into: string, item?: string) => renderSlots(template, req.state, { item, [node.into]: into });
  if (next?.kind === 'retrieve' && next.each === undefined && slotsIn(next.query).includes(node.into)) {
    // Once: at the first sentence's end after a few tokens, or at half the tokens.
    const half = Math.ceil((node.maxTokens ?? 48) / 2);
    let started = false;
    return (text, tokens) => {
      if (started || !(tokens >= half || (tokens >= SPECULATE_AFTER_TOKENS && /[.!?\n]\s*$/.test(text)))) return;
      started = true;
      lookahead(render(next.query, text), next);
    };
  }
  const after = next?.kind === 'split' && next.from === node.into ? fallbackNext(w, nextName!) : undefined;
  const search = after ? w.graph.nodes[after] : undefined;
  if (next?.kind === 'split' && search?.kind === 'retrieve' && search.each === next.into) {
    const seen = new Set<string>();
    return (text) => {
      if (!text.endsWith('\n')) return;
      // The items of the complete lines so far (no fallback: nothing to guess yet).
      for (const item of parseList(text, { max: next.max ?? 3, maxChars: next.maxChars ?? 200, fallback: '' })) {
        if (!item || seen.has(item)) continue;
        seen.add(item);
        lookahead(render(search.query, text, item), search);
      }
    };
  }
  return undefined;
}

/** Takes the generator in turn (never borrowed). */
async function takeGenerator(holds: Holds): Promise<undefined> {
  await holds.takeGenerator();
  return undefined;
}

/**
 * What a generate stage is expected to take, ms: its prompt's prefill and every token, at the
 * generator's measured speed; Infinity before it has measured any (nothing is borrowed blind).
 */
function stageMs(generator: Generator, prompt: string, maxTokens: number): number {
  const t = generator.timings();
  if (!(t.prefillTokensPerSecond > 0) || !(t.steps > 0)) return Number.POSITIVE_INFINITY;
  return (generator.countTokens(prompt) / t.prefillTokensPerSecond) * 1000 + maxTokens * t.decodeMsMedian;
}

/** The text of one generate stage: the generator taken in turn, written greedily, given back. */
async function generateStage(rt: WorkflowRuntime, req: WorkflowRequest, name: string, node: GenerateNode): Promise<string> {
  const { generator } = rt;
  const maxTokens = node.maxTokens ?? 48;
  // The passages a prompt lists are cut to what fits the generator's context beside the rest of
  // the prompt and the output (the first passages slot it names; a long list would not fit a
  // small model's context at all).
  const fitted = slotsIn(node.prompt).find((s) => req.workflow.slots.get(s) === 'passages');
  const template: PromptTemplate = (passages, question) =>
    renderSlots(node.prompt, req.state, { question, ...(fitted ? { [fitted]: passages.map(passageLine).join('\n') } : {}) });
  const spec: PromptSpec = {
    generator,
    template,
    dialogue: { history: req.dialogue.history.filter((m) => m.role === 'system'), question: req.dialogue.question },
    maxTokens,
  };
  const all = fitted ? ((req.state.get(fitted) as Passage[] | undefined) ?? []) : [];
  let prompt = promptText(spec, fitPassages(spec, all));
  // Whatever else the prompt holds (a long question, a long slot) is cut rather than failing the request.
  const room = generator.contextLength - maxTokens - 4;
  const tokens = generator.countTokens(prompt);
  if (tokens > room) prompt = prompt.slice(0, Math.max(0, Math.floor((prompt.length * room) / tokens) - 8));
  // Woven by arrival, a stage may borrow the generator from a holder that is searching; recalled,
  // it is written again from the start (greedy: the same text) once the generator is free or lent again.
  const borrowing = rt.woven && rt.lendGenerator;
  for (;;) {
    const loan = borrowing ? await req.holds.takeGeneratorOrBorrow(stageMs(generator, prompt, maxTokens)) : await takeGenerator(req.holds);
    const g0 = performance.now();
    try {
      const watch = speculate(rt, req, name, node);
      // On loan nothing else decodes: the holder's search runs at once beside it, not in its gaps.
      const text = await writeText({ generator, gaps: rt.gaps, woven: rt.woven && !loan, signal: req.signal }, prompt, {
        maxTokens,
        ...(node.stop === 'line' ? { lineDone: (before: string) => before.trim() !== '' } : {}),
        ...(watch ? { onText: watch } : {}),
        ...(loan ? { recalled: () => loan.recalled } : {}),
      });
      req.trace.add('generate', g0, loan ? { borrowed: text === undefined ? 'recalled' : 'kept' } : {});
      if (text === undefined) continue;
      return node.stop === 'line' ? (text.split('\n').find((l) => l.trim() !== '') ?? '').trim() : text.trim();
    } finally {
      loan?.end();
      // By arrival, a request keeps the generator from its first generation stage to its answer's
      // end (see RuntimeSettings.generatorOrder); otherwise the next waiting request's stage takes it.
      if (!loan && rt.generatorOrder !== 'arrival') req.holds.releaseGenerator();
    }
  }
}

/**
 * Runs the workflow's stages before the answer, streaming a 'node' event (and the stages it
 * recorded) after each but the retrieval the answer starts from; returns the answer's passages and the query that found the last of them.
 */
export async function* runStages(rt: WorkflowRuntime, req: WorkflowRequest): AsyncGenerator<RagEvent, { passages: Passage[]; query: string }> {
  const { workflow: w, state, trace } = req;
  const taken = new Map<WorkflowEdge, number>();
  let query = slotText(state, 'query');
  let node = w.graph.start;
  for (let stages = 0; node !== w.answer; stages++) {
    if (stages >= MAX_STAGES) {
      throw new WeftError('INVALID_WORKFLOW', `Workflow '${w.name}' ran ${MAX_STAGES} stages without reaching its answer; lower its loops' times.`);
    }
    checkAborted(req.signal, 'The answer');
    trace.node = node;
    const n = w.graph.nodes[node]!;
    const text = (template: string, item?: string) => renderSlots(template, state, { item });
    let event: RagEvent;
    if (n.kind === 'retrieve') {
      const items = n.each === undefined ? [undefined] : ((state.get(n.each) as string[] | undefined) ?? []);
      // A query that comes out empty (a slot not written yet, a model that wrote nothing) searches with the request's query.
      const queries = items.map((item) => text(n.query, item).trim() || slotText(state, 'query'));
      if (queries.length === 0) queries.push(slotText(state, 'query'));
      const passages = await retrieveStage(rt, req, node, n, queries);
      state.set(n.into ?? 'passages', passages);
      query = queries[0]!;
      event = { type: 'node', node, kind: 'retrieve', queries, passages };
    } else if (n.kind === 'generate') {
      const written = await generateStage(rt, req, node, n);
      state.set(n.into, written);
      event = { type: 'node', node, kind: 'generate', text: written };
    } else {
      // A split (the answer ends the loop): the list in a generated text, the question where it holds none.
      const s = n as Extract<typeof n, { kind: 'split' }>;
      const items = parseList(slotText(state, s.from), { max: s.max ?? 3, maxChars: s.maxChars ?? 200, fallback: req.dialogue.question });
      state.set(s.into, items);
      event = { type: 'node', node, kind: 'split', items };
    }
    const next = nextNode(w, node, taken, (c) => conditionHolds(state, c));
    // The retrieval the answer starts from reports in the 'retrieval' event, its stages after it
    // (as a one-shot request's always did).
    const answers = next === w.answer && n.kind === 'retrieve' && (n.into ?? 'passages') === (answerNode(w).passages ?? 'passages');
    if (!answers) {
      yield event;
      yield* stagesOf(trace);
    }
    node = next;
  }
  trace.node = node;
  const cited = state.get(answerNode(w).passages ?? 'passages');
  return { passages: Array.isArray(cited) ? (cited as Passage[]) : [], query };
}
