import { checkWorkflow, workflowMermaid, type WorkflowGraph } from 'weft-rag/rag';
import { rag } from './rag';                                             // the runtime of docs/rag.md

// Search; let the generator judge the passages; search once more with its words if it did not say YES.
const retry: WorkflowGraph = {
  name: 'retry',
  start: 'retrieve',
  nodes: {
    retrieve: { kind: 'retrieve', query: '{query}' },
    check: {
      kind: 'generate',
      prompt: 'Passages:\n{passages}\n\nDo the passages answer the question? If they do, write YES. If not, write better search words.\nQuestion: {question}',
      into: 'verdict',
      maxTokens: 16,
      stop: 'line',
    },
    again: { kind: 'retrieve', query: '{question} {verdict}' },
    answer: { kind: 'answer' },
  },
  edges: [
    { from: 'retrieve', to: 'check' },
    { from: 'check', to: 'answer', if: { slot: 'verdict', includes: 'YES' } },
    { from: 'check', to: 'again' },
    { from: 'again', to: 'check', times: 1 },                           // one more look, at most
    { from: 'again', to: 'answer' },
  ],
};
checkWorkflow(retry);                      // INVALID_WORKFLOW naming what to fix; generate() checks too, before anything runs
console.log(workflowMermaid(retry));       // a Mermaid flowchart of it
for await (const e of rag.generate('Which volcanoes have gentle slopes?', { workflow: retry })) if (e.type === 'node') console.log(e);
