// Workflows drawn as Mermaid flowcharts (src/workflow/mermaid.ts): the shapes, labels and edges a
// graph gives, text in labels escaped so that nothing in a prompt or condition breaks the chart,
// and each built-in's page, docs/workflows/<name>.md, drawing exactly what workflowMermaid draws
// from BUILTIN_WORKFLOWS (so a page cannot drift from the graph the runtime runs), naming its own
// workflow wherever it shows how to select one, and linked from docs/workflows.md's table.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

describe('the built-ins’ pages, docs/workflows/<name>.md', () => {
  const docs = resolve(import.meta.dirname, '../../docs');
  const names = Object.keys(BUILTIN_WORKFLOWS) as (keyof typeof BUILTIN_WORKFLOWS)[];
  const pageOf = (name: string) => resolve(docs, `workflows/${name}.md`);
  const mermaidBlocks = (text: string) => [...text.matchAll(/^```mermaid\n([\s\S]*?)\n```$/gm)].map((m) => m[1]!);

  test.each(names)('%s: its page draws exactly what workflowMermaid draws from its graph', (name) => {
    const drawn = workflowMermaid(BUILTIN_WORKFLOWS[name]);
    expect(
      existsSync(pageOf(name)),
      `docs/workflows/${name}.md is missing: every built-in workflow has a page, headed # \`${name}\`, with its diagram (\`\`\`mermaid, workflowMermaid(BUILTIN_WORKFLOWS['${name}']))`,
    ).toBe(true);
    const page = readFileSync(pageOf(name), 'utf8');
    expect(page.startsWith(`# \`${name}\``), `docs/workflows/${name}.md starts with its heading, # \`${name}\`: …`).toBe(true);
    const blocks = mermaidBlocks(page);
    expect(blocks, `docs/workflows/${name}.md has one mermaid block, its graph`).toHaveLength(1);
    expect(blocks[0], `docs/workflows/${name}.md: regenerate its diagram, workflowMermaid(BUILTIN_WORKFLOWS['${name}'])`).toBe(drawn);
  });

  test.each(names)('%s: every way its page shows to select a workflow names this one', (name) => {
    if (!existsSync(pageOf(name))) return; // the test above names the missing page
    const page = readFileSync(pageOf(name), 'utf8');
    // generate()'s and chat.completions' option, <weft-chat>'s attribute, the Deno shell's flag.
    const ways = { option: /workflow: '([\w-]+)'/g, attribute: /workflow="([\w-]+)"/g, flag: /--workflow ([\w-]+)/g };
    for (const [way, pattern] of Object.entries(ways)) {
      const named = [...page.matchAll(pattern)].map((m) => m[1]);
      expect(named.length, `docs/workflows/${name}.md shows no ${way} selecting it`).toBeGreaterThan(0);
      expect(new Set(named), `docs/workflows/${name}.md: the ${way} names another workflow`).toEqual(new Set([name]));
    }
  });

  test('docs/workflows/ holds a page for each built-in and nothing else, and docs/workflows.md links each', () => {
    const pages = readdirSync(resolve(docs, 'workflows')).filter((f) => f.endsWith('.md'));
    expect(pages.sort(), 'docs/workflows/ has a page per built-in workflow, named after it').toEqual(names.map((n) => `${n}.md`).sort());
    const overview = readFileSync(resolve(docs, 'workflows.md'), 'utf8');
    for (const name of names) expect(overview, `docs/workflows.md's table links docs/workflows/${name}.md`).toContain(`[\`${name}\`](workflows/${name}.md)`);
    // The diagrams live on the pages: the overview draws none of them.
    expect(mermaidBlocks(overview).filter((b) => Object.values(BUILTIN_WORKFLOWS).map(workflowMermaid).includes(b))).toEqual([]);
  });
});
