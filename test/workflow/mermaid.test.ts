// Workflows drawn as Mermaid flowcharts (src/workflow/mermaid.ts): the shapes, labels and edges a
// graph gives, text in labels escaped so that nothing in a prompt or condition breaks the chart,
// and docs/workflows.md's diagram of each built-in exactly what workflowMermaid draws from
// BUILTIN_WORKFLOWS (so the page cannot drift from the graphs the runtime runs).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BUILTIN_WORKFLOWS } from '../../src/workflow/builtins.js';
import { workflowMermaid } from '../../src/workflow/mermaid.js';
import type { WorkflowGraph } from '../../src/workflow/types.js';

describe('workflowMermaid', () => {
  test('one-shot: the question into the start node, a cylinder that searches, a stadium that answers', () => {
    expect(workflowMermaid(BUILTIN_WORKFLOWS['one-shot'])).toBe(
      ['flowchart TD', '  start(("question")) --> n0', '  n0[("retrieve<br/>search {query}")]', '  n1(["answer<br/>cited answer"])', '  n0 --> n1'].join('\n'),
    );
  });

  test('a loop: the bounded edge says its bound, the fallback edge says otherwise; generate and split nodes say what they read and write', () => {
    const irg = workflowMermaid(BUILTIN_WORKFLOWS.irg);
    expect(irg).toContain('  n1("draft<br/>generate from {passages} {question} → draft")');
    expect(irg).toContain('  n0 -->|"at most 2×"| n1\n  n0 -->|"otherwise"| n2\n  n1 --> n0');
    const multistep = workflowMermaid(BUILTIN_WORKFLOWS.multistep);
    expect(multistep).toContain('  n1[/"split<br/>items of {plan} → subquestions"/]');
    expect(multistep).toContain('  n2[("retrieve<br/>search each of subquestions: {item}")]');
    expect(workflowMermaid(BUILTIN_WORKFLOWS.recomp)).toContain('  n2(["answer<br/>cited answer, prompt with {summary}"])');
    expect(workflowMermaid(BUILTIN_WORKFLOWS.periodic)).toContain('passages refreshed every 16 tokens');
  });

  test('any node name draws (ids are n0, n1, …), the start need not come first, and label text is escaped', () => {
    const g: WorkflowGraph = {
      start: 'first',
      nodes: {
        end: { kind: 'answer', passages: 'found' },
        first: { kind: 'generate', prompt: 'Say "hi" <b>|</b> & {question}', into: 'reply', stop: 'line' },
        'look-up': { kind: 'retrieve', query: 'a "quoted" <b>|</b> &\nquery {reply}', into: 'found', k: 4 },
      },
      edges: [
        { from: 'first', to: 'look-up', if: { slot: 'reply', includes: 'say "yes"' } },
        { from: 'first', to: 'look-up', if: { slot: 'reply', empty: true, not: true }, times: 2 },
        { from: 'first', to: 'look-up' },
        { from: 'look-up', to: 'end' },
      ],
    };
    const text = workflowMermaid(g);
    expect(text.split('\n')).toEqual([
      'flowchart TD',
      '  start(("question")) --> n1',
      '  n0(["end<br/>cited answer from found"])',
      '  n1("first<br/>generate from {question} → reply")',
      '  n2[("look-up<br/>search a #quot;quoted#quot; #lt;b#gt;#124;#lt;/b#gt; #amp; query {reply}, k 4 → found")]',
      `  n1 -->|"if reply includes 'say #quot;yes#quot;'"| n2`,
      '  n1 -->|"if reply is not empty, at most 2×"| n2',
      '  n1 -->|"otherwise"| n2',
      '  n2 --> n0',
    ]);
    // Nothing of a label can close its quotes, its shape or an edge's label.
    const labels = [...text.matchAll(/"([^"]*)"/g)].map((m) => m[1]!.replaceAll('<br/>', ''));
    for (const l of labels) expect(l).not.toMatch(/[<>|&]/);
    // A prompt that reads no slot says only what it writes.
    expect(workflowMermaid({ ...g, nodes: { ...g.nodes, first: { kind: 'generate', prompt: 'Say hi.', into: 'reply' } } })).toContain(
      '  n1("first<br/>generate → reply")',
    );
  });
});

describe('docs/workflows.md', () => {
  const page = readFileSync(resolve(import.meta.dirname, '../../docs/workflows.md'), 'utf8');
  /** Each section of the page (a heading and what follows it, up to the next heading). */
  const sections = page.split(/\n(?=#{2,3} )/);
  const mermaidBlocks = (text: string) => [...text.matchAll(/^```mermaid\n([\s\S]*?)\n```$/gm)].map((m) => m[1]!);

  test.each(Object.keys(BUILTIN_WORKFLOWS))('the diagram of %s is what workflowMermaid draws from its graph', (name) => {
    const section = sections.find((s) => new RegExp(`^#{2,3} \`${name}\``).test(s));
    expect(section, `docs/workflows.md has no section headed \`${name}\``).toBeDefined();
    const [block] = mermaidBlocks(section!);
    expect(block, `the \`${name}\` section has no mermaid block`).toBeDefined();
    expect(block, `regenerate the \`${name}\` diagram: workflowMermaid(BUILTIN_WORKFLOWS['${name}'])`).toBe(
      workflowMermaid(BUILTIN_WORKFLOWS[name as keyof typeof BUILTIN_WORKFLOWS]),
    );
  });

  test('every diagram on the page is a built-in’s', () => {
    const drawn = new Set(Object.values(BUILTIN_WORKFLOWS).map(workflowMermaid));
    const blocks = mermaidBlocks(page);
    expect(blocks.length).toBe(drawn.size);
    for (const b of blocks) expect(drawn.has(b)).toBe(true);
  });
});
