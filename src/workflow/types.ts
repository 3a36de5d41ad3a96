// A RAG request as a graph of stages (HedraRAG's RAGraph, LangGraph.js's StateGraph), written as
// plain data: nodes that retrieve, generate, split text into a list, and the one answer node that
// ends the request; edges between them, tried in order, with loop bounds and conditions. Nodes
// read and write named slots of the request's state through `{slot}` templates, so a workflow is
// JSON: it crosses into the engine worker, can be stored, and can be drawn. The runtime runs it
// (runtime/workflow-run.ts); check-graph.ts refuses one that could not run, before anything does.

/**
 * Periodic retrieval during an answer (PipeRAG): every `interval` tokens the window's text is searched
 * and the passages in the context are replaced.
 */
export interface PeriodicOptions {
  /** A retrieval every `interval` generated tokens, with the window's text as the query (PipeRAG). */
  interval: number;
  /**
   * 1 (default with the woven schedule): the query is one window old, so its search can run while
   * the current window decodes. 0 (default with the sequential schedule): the query is the window
   * just decoded, and decoding waits for its search.
   */
  staleness?: 0 | 1;
  /**
   * With staleness 1: run the search in the gaps of the current window's decoding (true, default
   * with the woven schedule) or at the end of the window while decoding waits (false: the same
   * retrievals, the same answer, without pipelining — the baseline PipeRAG compares with).
   */
  pipeline?: boolean;
  /** Lists per periodic search, or 'auto' (default): the performance model's largest that fits the window. */
  nprobe?: number | 'auto';
  /** Upper bound for 'auto' (default nlist). */
  maxNprobe?: number;
  /**
   * Share of the window's decode time this answer's periodic search may take (its own budget,
   * beside the runtime's maxSlowdown for other requests' work). Default: the runtime's maxSlowdown.
   */
  maxSlowdown?: number;
  /** Passages per periodic retrieval. Default: the request's k. */
  k?: number;
}

/**
 * FLARE's active retrieval during an answer: a sentence holding a token the model gave less than
 * `threshold` probability is searched for (its unsure tokens masked, after the question) and
 * written again from the passages found, at most `maxRetrievals` times per answer. Needs token
 * probabilities: the reference generator and WebLLM with Weft's sampler give them.
 */
export interface FlareOptions {
  /** Default 0.4. */
  threshold?: number;
  /** Default 3. */
  maxRetrievals?: number;
}

/**
 * Searches the index. `query` is a template: `{slot}` is replaced by the slot's text (a list's
 * items one per line, passages as numbered lines). With `each`, one search per item of that list
 * slot, the item as `{item}`; their results are interleaved (each search's best first) without
 * repeats. A query that comes out empty searches with `{query}` instead.
 */
export interface RetrieveNode {
  kind: 'retrieve';
  query: string;
  /** A list slot (a split's output): one search per item. */
  each?: string;
  /** The passages slot the results go into. Default 'passages'. */
  into?: string;
  /** Passages kept (default: the request's k). */
  k?: number;
  /** Lists probed (default: the request's nprobe). */
  nprobe?: number;
}

/**
 * Has the generator write a text (greedily, like the follow-up rewrite), which goes into a text
 * slot: a hypothetical passage (HyDE), sub-questions, a draft answer (IRG), a summary (RECOMP).
 * `prompt` is the user turn's template.
 */
export interface GenerateNode {
  kind: 'generate';
  prompt: string;
  into: string;
  /** Longest output in tokens. Default 48, at most MAX_NODE_TOKENS. */
  maxTokens?: number;
  /** 'line': the output ends at the first line that says something (a query, a title). */
  stop?: 'line';
}

/**
 * A pure step: reads a list out of a generated text (one item a line; numbering, bullets and
 * blank lines dropped), at most `max` items of at most `maxChars` characters each. A text that
 * holds no item gives the list of the question alone, so a model that writes nonsense never
 * leaves a later stage without input.
 */
export interface SplitNode {
  kind: 'split';
  from: string;
  into: string;
  /** Default 3, at most MAX_LIST_ITEMS. */
  max?: number;
  /** Default 200. */
  maxChars?: number;
}

/**
 * The answer: the request's last stage, streamed token by token, its passages in the context and
 * citable. `prompt` is the last user turn's template (default: the runtime's prompt template,
 * `{passages}` then the question); `periodic` refreshes the passages while it decodes (PipeRAG),
 * `flare` when the model is unsure of a sentence (FLARE).
 */
export interface AnswerNode {
  kind: 'answer';
  /** The passages slot the answer cites. Default 'passages'. */
  passages?: string;
  prompt?: string;
  periodic?: PeriodicOptions;
  /** FLARE: retrieve again when the model is unsure of the next sentence (not with `periodic`). */
  flare?: FlareOptions;
}

/** A stage of a workflow: a search, a generation, a split of a generated list, or the answer. */
export type WorkflowNode = RetrieveNode | GenerateNode | SplitNode | AnswerNode;

/** When an edge may be taken: a slot is empty (or not), or its text includes a string (or not). */
export interface EdgeCondition {
  slot: string;
  empty?: boolean;
  includes?: string;
  /** Negates the test. */
  not?: boolean;
}

/**
 * From `from` to `to`. A node's edges are tried in the order they are listed; the first that may
 * be taken is. `times` bounds how often an edge is taken per request (every cycle needs one: a
 * loop's bound); `if` makes it conditional. Every node but the answer needs a last edge with
 * neither, so a request always goes on.
 */
export interface WorkflowEdge {
  from: string;
  to: string;
  times?: number;
  if?: EdgeCondition;
}

/** A workflow: its nodes by name, where it starts, and its edges. */
export interface WorkflowGraph {
  /** Shown in traces and timelines. */
  name?: string;
  start: string;
  nodes: Record<string, WorkflowNode>;
  edges: WorkflowEdge[];
}

/** The built-in workflows by name (see builtins.ts and docs/workflows.md). */
export type BuiltinWorkflow = 'one-shot' | 'hyde' | 'multistep' | 'irg' | 'recomp' | 'flare' | 'periodic';

/** A request's workflow: a built-in's name or a graph. */
export type Workflow = BuiltinWorkflow | WorkflowGraph;

/** Slots every request has: the user's question and its search query (the question with recent turns, or its rewrite). */
export const BUILTIN_SLOTS = ['question', 'query'] as const;

/** The most tokens one generate node may write. */
export const MAX_NODE_TOKENS = 512;
/** The most items a split may keep (and so searches one `each` node makes). */
export const MAX_LIST_ITEMS = 8;
/** The most stages one request may run (a bound on top of the loops' own). */
export const MAX_STAGES = 64;
