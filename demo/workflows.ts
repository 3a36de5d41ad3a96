// The workflow the demo's next questions run (docs/workflows.md): one of the built-ins, picked
// beside the conversation and handed to <weft-chat> as its `workflow` (one-shot, the default, as
// none: today's requests exactly). Each has a one-line explanation for the picker, and its graph
// gives the timeline the rows of a question's lane (its nodes, in order).

import { BUILTIN_WORKFLOWS, type BuiltinWorkflow, type WorkflowGraph } from '../src/entries/client.js';

/** The built-ins in the picker: the option's label and what the workflow does, in a line. */
export const WORKFLOW_CHOICES: readonly { name: BuiltinWorkflow; label: string; hint: string }[] = [
  { name: 'one-shot', label: 'one-shot (default)', hint: 'Searches with the question, then answers from the passages.' },
  { name: 'hyde', label: 'HyDE', hint: 'HyDE: writes a hypothetical passage first, then searches with it and the question.' },
  { name: 'multistep', label: 'multistep', hint: 'Multistep: breaks the question into up to three simpler ones and searches each.' },
  { name: 'irg', label: 'IRG', hint: 'IRG (Iter-RetGen): drafts an answer from the passages and searches again with the draft, twice.' },
  { name: 'recomp', label: 'RECOMP', hint: 'RECOMP: summarizes the passages, then answers from the summary.' },
  { name: 'flare', label: 'FLARE', hint: 'FLARE: searches again for each sentence the model is unsure of, and writes it again.' },
  { name: 'periodic', label: 'periodic', hint: 'Periodic: searches again every 16 tokens of the answer, with what it just wrote.' },
];

/** Whether `name` is a built-in workflow (a value the picker may restore). */
export const isBuiltinWorkflow = (name: string | null): name is BuiltinWorkflow => name !== null && Object.hasOwn(BUILTIN_WORKFLOWS, name);

/**
 * What a timeline lane needs of a graph: its nodes in the order a request meets them
 * (breadth-first from its start, edges in their order), and its quiet ones — splits, which record
 * no stage of their own, get a row only when some stage ran while the request was at one.
 */
export function workflowLane(graph: WorkflowGraph): { nodes: string[]; quiet: string[] } {
  const nodes: string[] = [];
  const queue = [graph.start];
  const seen = new Set(queue);
  while (queue.length) {
    const name = queue.shift()!;
    nodes.push(name);
    for (const e of graph.edges) {
      if (e.from === name && !seen.has(e.to)) {
        seen.add(e.to);
        queue.push(e.to);
      }
    }
  }
  return { nodes, quiet: nodes.filter((n) => graph.nodes[n]?.kind === 'split') };
}

/** The lane of a built-in's question. */
export const builtinLane = (name: BuiltinWorkflow) => workflowLane(BUILTIN_WORKFLOWS[name]);
