// Workflow graphs are checked before anything runs (issue 22): every built-in passes (also after a
// trip through JSON, as into the engine worker), and each way a graph could fail to run — an
// unbounded cycle, a slot nothing writes, a typo'd field, no answer, a dead end — is
// INVALID_WORKFLOW naming what to fix. The walk takes edges in order, under their bounds and
// conditions.
import { describe, expect, test } from 'vitest';
import { BUILTIN_WORKFLOWS, workflowGraph } from '../../src/workflow/builtins.js';
import { checkWorkflow, nextNode } from '../../src/workflow/check-graph.js';
import type { WorkflowEdge, WorkflowGraph } from '../../src/workflow/types.js';
import { isWeftError } from '../../src/errors.js';

const refused = (g: unknown): string => {
  try {
    checkWorkflow(g);
  } catch (e) {
    expect(isWeftError(e, 'INVALID_WORKFLOW'), String(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(g)}`);
};

const hyde = (): WorkflowGraph => JSON.parse(JSON.stringify(BUILTIN_WORKFLOWS.hyde)) as WorkflowGraph;

test('every built-in workflow is a valid graph, also after a trip through JSON', () => {
  for (const [name, graph] of Object.entries(BUILTIN_WORKFLOWS)) {
    const c = checkWorkflow(JSON.parse(JSON.stringify(graph)));
    expect(c.name).toBe(name);
    expect(c.graph.nodes[c.answer]!.kind).toBe('answer');
  }
  expect(workflowGraph('irg')).toBe(BUILTIN_WORKFLOWS.irg);
  expect(() => workflowGraph('hide')).toThrow(/no built-in workflow 'hide'.*one-shot, hyde, multistep, irg, recomp, flare, periodic/);
});

describe('a graph that could not run is refused with INVALID_WORKFLOW', () => {
  test('a cycle without a bound, naming the cycle', () => {
    const g = hyde();
    g.nodes.again = { kind: 'generate', prompt: 'More: {passages}', into: 'hypothesis' };
    g.edges = [
      { from: 'hypothesis', to: 'retrieve' },
      { from: 'retrieve', to: 'again', if: { slot: 'passages', empty: false } },
      { from: 'retrieve', to: 'answer' },
      { from: 'again', to: 'retrieve' },
    ];
    expect(refused(g)).toMatch(/cycle retrieve → again → retrieve has no bound; give one of its edges 'times'/);
    g.edges[1]!.times = 3; // bounded now
    expect(() => checkWorkflow(g)).not.toThrow();
  });

  test('a slot nothing writes, or read as the wrong kind', () => {
    const g = hyde();
    (g.nodes.retrieve as { query: string }).query = '{question} {hypothesys}';
    expect(refused(g)).toMatch(/node 'retrieve': query reads the slot 'hypothesys', which no node writes/);
    const h = hyde();
    (h.nodes.retrieve as { each?: string; query: string }).each = 'hypothesis';
    (h.nodes.retrieve as { query: string }).query = '{item}';
    expect(refused(h)).toMatch(/each reads the slot 'hypothesis' as list, but it holds text/);
    const e = hyde();
    (e.nodes.retrieve as { each?: string }).each = 'hypothesis';
    expect(refused(e)).toMatch(/a query with 'each' uses \{item\}|as list/);
    const n = hyde();
    (n.nodes.answer as { passages?: string }).passages = 'hypothesis';
    expect(refused(n)).toMatch(/passages reads the slot 'hypothesis' as passages, but it holds text/);
  });

  test('a misspelt field, an unknown kind, a bad number', () => {
    const g = hyde();
    (g.nodes.hypothesis as unknown as Record<string, unknown>).maxtokens = 12;
    expect(refused(g)).toMatch(/node 'hypothesis' \(generate\) has an unknown field 'maxtokens'/);
    const k = hyde();
    (k.nodes.retrieve as unknown as Record<string, unknown>).kind = 'search';
    expect(refused(k)).toMatch(/node 'retrieve' needs kind 'retrieve', 'generate', 'split' or 'answer'/);
    const m = hyde();
    (m.nodes.hypothesis as { maxTokens?: number }).maxTokens = 100000;
    expect(refused(m)).toMatch(/maxTokens must be a whole number from 1 to 512, got 100000/);
    expect(
      refused({
        ...hyde(),
        edges: [
          { from: 'hypothesis', to: 'retrieve', times: 0 },
          { from: 'retrieve', to: 'answer' },
        ],
      }),
    ).toMatch(/times must be a whole number from 1/);
  });

  test('no answer, two answers, an answer that goes on, a node that writes the question', () => {
    const none = hyde();
    delete (none.nodes as Record<string, unknown>).answer;
    none.edges = [{ from: 'hypothesis', to: 'retrieve' }];
    expect(refused(none)).toMatch(/no answer node/);
    const two = hyde();
    two.nodes.second = { kind: 'answer' };
    expect(refused(two)).toMatch(/2 answer nodes \(answer, second\)/);
    const on = hyde();
    on.edges.push({ from: 'answer', to: 'retrieve' });
    expect(refused(on)).toMatch(/leaves the answer node/);
    const q = hyde();
    (q.nodes.hypothesis as { into: string }).into = 'question';
    expect(refused(q)).toMatch(/writes the slot 'question'/);
  });

  test('a dead end, an edge that is never taken, an unreachable node, a missing start', () => {
    const dead = hyde();
    dead.edges = [
      { from: 'hypothesis', to: 'retrieve' },
      { from: 'retrieve', to: 'answer', times: 1 },
    ];
    expect(refused(dead)).toMatch(/node 'retrieve' has no edge without 'times' or 'if'/);
    const never = hyde();
    never.edges.splice(1, 0, { from: 'hypothesis', to: 'answer' });
    expect(refused(never)).toMatch(/the edges after its unconditional edge to 'retrieve' are never taken/);
    const lone = hyde();
    lone.nodes.lonely = { kind: 'split', from: 'hypothesis', into: 'items' };
    lone.edges.push({ from: 'lonely', to: 'answer' });
    expect(refused(lone)).toMatch(/node 'lonely' cannot be reached from 'hypothesis'/);
    expect(refused({ ...hyde(), start: 'begin' })).toMatch(/start "begin" is not one of its nodes/);
    expect(refused('hyde')).toMatch(/expected \{ start, nodes, edges \}/);
    expect(refused({ ...hyde(), extra: 1 })).toMatch(/unknown field 'extra'/);
  });
});

test('the walk takes the first edge that may be taken: loop bounds count per request, conditions read the state', () => {
  const irg = checkWorkflow(BUILTIN_WORKFLOWS.irg);
  const taken = new Map<WorkflowEdge, number>();
  const path = ['retrieve'];
  while (path.at(-1) !== 'answer') path.push(nextNode(irg, path.at(-1)!, taken, () => true));
  expect(path).toEqual(['retrieve', 'draft', 'retrieve', 'draft', 'retrieve', 'answer']);

  const g = hyde();
  g.edges = [
    { from: 'hypothesis', to: 'answer', if: { slot: 'hypothesis', includes: 'skip' } },
    { from: 'hypothesis', to: 'retrieve', if: { slot: 'hypothesis', empty: true, not: true } },
    { from: 'hypothesis', to: 'retrieve' },
    { from: 'retrieve', to: 'answer' },
  ];
  // answer without a retrieval reads 'passages' anyway: written by retrieve, so the graph is valid.
  const c = checkWorkflow(g);
  const cond = (text: string) => (x: { slot: string; includes?: string; empty?: boolean }) =>
    x.includes !== undefined ? text.includes(x.includes) : (text === '') === x.empty;
  expect(nextNode(c, 'hypothesis', new Map(), cond('please skip'))).toBe('answer');
  expect(nextNode(c, 'hypothesis', new Map(), cond('a passage'))).toBe('retrieve');
});
