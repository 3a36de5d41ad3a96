// The built-in workflows, as graphs any user could have written (docs/workflows/<name>.md draws each).
// Their prompts ask plainly and briefly: a small in-browser model follows a short instruction
// better than a long one, and every output they parse has a fallback (split: the question; an
// empty query: the request's query), so a model that writes nonsense costs quality, never the
// request.

import { WeftError } from '../errors.js';
import type { BuiltinWorkflow, WorkflowGraph } from './types.js';

const answer = { kind: 'answer' } as const;
const retrieve = { kind: 'retrieve', query: '{query}' } as const;

/** The built-in workflows by name, as graphs: pass a name to generate(), or copy one to change it. */
export const BUILTIN_WORKFLOWS: Readonly<Record<BuiltinWorkflow, WorkflowGraph>> = {
  /** Retrieve with the question, answer: what every request did before workflows. */
  'one-shot': {
    name: 'one-shot',
    start: 'retrieve',
    nodes: { retrieve, answer },
    edges: [{ from: 'retrieve', to: 'answer' }],
  },
  /**
   * HyDE (Gao et al. 2022): the generator writes a passage that would answer the question, and
   * the search looks for passages like it. The question stays in the query beside it (as HyDE
   * averages the question's embedding in), so a poor hypothetical passage still finds the
   * question's own neighbours.
   */
  hyde: {
    name: 'hyde',
    start: 'hypothesis',
    nodes: {
      hypothesis: {
        kind: 'generate',
        prompt: 'Write a short passage that answers this question.\nQuestion: {question}\nPassage:',
        into: 'hypothesis',
        maxTokens: 48,
      },
      retrieve: { kind: 'retrieve', query: '{question}\n{hypothesis}' },
      answer,
    },
    edges: [
      { from: 'hypothesis', to: 'retrieve' },
      { from: 'retrieve', to: 'answer' },
    ],
  },
  /**
   * Multistep: the generator breaks the question into simpler ones, each is searched, and the
   * answer reads the passages of all of them (each search's best first).
   */
  multistep: {
    name: 'multistep',
    start: 'decompose',
    nodes: {
      decompose: {
        kind: 'generate',
        prompt: 'Break this question into at most three simpler questions, one per line.\nQuestion: {question}\nSimpler questions:',
        into: 'plan',
        maxTokens: 64,
      },
      split: { kind: 'split', from: 'plan', into: 'subquestions', max: 3 },
      retrieve: { kind: 'retrieve', query: '{item}', each: 'subquestions' },
      answer,
    },
    edges: [
      { from: 'decompose', to: 'split' },
      { from: 'split', to: 'retrieve' },
      { from: 'retrieve', to: 'answer' },
    ],
  },
  /**
   * Iter-RetGen (Shao et al. 2023), three rounds: retrieve, draft an answer from the passages,
   * retrieve again with the question and the draft, …; the last round's passages are answered
   * from.
   */
  irg: {
    name: 'irg',
    start: 'retrieve',
    nodes: {
      retrieve: { kind: 'retrieve', query: '{query}\n{draft}' },
      draft: {
        kind: 'generate',
        prompt: 'Passages:\n{passages}\n\nAnswer the question briefly using the passages.\nQuestion: {question}\nAnswer:',
        into: 'draft',
        maxTokens: 48,
      },
      answer,
    },
    edges: [
      { from: 'retrieve', to: 'draft', times: 2 },
      { from: 'retrieve', to: 'answer' },
      { from: 'draft', to: 'retrieve' },
    ],
  },
  /**
   * RECOMP (Xu et al. 2023), abstractive: the passages are compressed into a short summary, and
   * the answer is written from the summary (the passages stay citable).
   */
  recomp: {
    name: 'recomp',
    start: 'retrieve',
    nodes: {
      retrieve,
      summarize: {
        kind: 'generate',
        prompt:
          'Passages:\n{passages}\n\nSummarize in two sentences what the passages say about the question, citing them like [1].\nQuestion: {question}\nSummary:',
        into: 'summary',
        maxTokens: 64,
      },
      answer: {
        kind: 'answer',
        prompt: 'Summary of the passages:\n{summary}\n\nAnswer the question using the summary and cite the passages like [1].\nQuestion: {question}\nAnswer:',
      },
    },
    edges: [
      { from: 'retrieve', to: 'summarize' },
      { from: 'summarize', to: 'answer' },
    ],
  },
  /**
   * FLARE (Jiang et al. 2023): one-shot, then each sentence of the answer the model is unsure of
   * (a token below probability 0.4) is searched for and written again from what was found.
   */
  flare: {
    name: 'flare',
    start: 'retrieve',
    nodes: { retrieve, answer: { kind: 'answer', flare: {} } },
    edges: [{ from: 'retrieve', to: 'answer' }],
  },
  /** PipeRAG's periodic retrieval: one-shot, with the passages refreshed every 16 tokens of the answer. */
  periodic: {
    name: 'periodic',
    start: 'retrieve',
    nodes: { retrieve, answer: { kind: 'answer', periodic: { interval: 16 } } },
    edges: [{ from: 'retrieve', to: 'answer' }],
  },
};

/** The graph a request's `workflow` names or is (INVALID_WORKFLOW for an unknown name). */
export function workflowGraph(w: unknown): unknown {
  if (typeof w !== 'string') return w;
  if (Object.hasOwn(BUILTIN_WORKFLOWS, w)) return BUILTIN_WORKFLOWS[w as BuiltinWorkflow];
  throw new WeftError('INVALID_WORKFLOW', `There is no built-in workflow '${w}'; use one of ${Object.keys(BUILTIN_WORKFLOWS).join(', ')}, or pass a graph.`, {
    details: { workflow: w },
  });
}
