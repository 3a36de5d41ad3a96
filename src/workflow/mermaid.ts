// A workflow drawn as a Mermaid flowchart (the diagrams of docs/workflows/<name>.md, generated from the
// built-in graphs so that the page cannot drift from them; test/workflow/mermaid.test.ts compares).
// Pure text from the graph as data: each node a shape by its kind, labelled with its name and
// what it reads and writes, the request's question as the entry, and each edge labelled with its
// bound and condition (and "otherwise" for the edge a node falls back on when it has others).

import type { EdgeCondition, WorkflowEdge, WorkflowGraph, WorkflowNode } from './types.js';

/** Text safe inside a quoted Mermaid label: quotes and markup characters as entities, line breaks as `<br/>`. */
function label(text: string): string {
  return text.replace(/&/g, '#amp;').replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;').replace(/\|/g, '#124;').replace(/\r?\n/g, ' ');
}

/** The slots a template refers to (as templates.ts reads them: a name in braces), each once. */
const slotsOf = (template: string) => [...new Set(Array.from(template.matchAll(/\{([A-Za-z][\w-]*)\}/g), (m) => m[1]!))];

/** A template as one line (its line breaks as spaces). */
const oneLine = (template: string) => template.replace(/\s*\r?\n\s*/g, ' ').trim();

/** What a node does, in a line under its name. */
function detail(node: WorkflowNode): string {
  switch (node.kind) {
    case 'retrieve': {
      const into = node.into !== undefined && node.into !== 'passages' ? ` → ${node.into}` : '';
      const k = node.k !== undefined ? `, k ${node.k}` : '';
      return node.each !== undefined ? `search each of ${node.each}: ${oneLine(node.query)}${k}${into}` : `search ${oneLine(node.query)}${k}${into}`;
    }
    case 'generate': {
      const reads = slotsOf(node.prompt);
      return `generate${reads.length > 0 ? ` from ${reads.map((x) => `{${x}}`).join(' ')}` : ''} → ${node.into}`;
    }
    case 'split':
      return `items of {${node.from}} → ${node.into}`;
    case 'answer': {
      const cited = node.passages ?? 'passages';
      const reads = node.prompt === undefined ? [] : slotsOf(node.prompt).filter((x) => x !== 'question' && x !== cited);
      const parts = [`cited answer${cited === 'passages' ? '' : ` from ${cited}`}`];
      if (reads.length > 0) parts.push(`prompt with ${reads.map((x) => `{${x}}`).join(' ')}`);
      if (node.periodic !== undefined) parts.push(`passages refreshed every ${node.periodic.interval} tokens`);
      if (node.flare !== undefined) parts.push(`unsure sentences searched for and rewritten (below p ${node.flare.threshold ?? 0.4})`);
      return parts.join(', ');
    }
  }
}

/** A node's shape around its label: retrieve a cylinder, generate rounded, split a parallelogram, answer a stadium. */
function shape(kind: WorkflowNode['kind'], name: string, what: string): string {
  const t = `"${label(name)}<br/>${label(what)}"`;
  if (kind === 'retrieve') return `[(${t})]`;
  if (kind === 'generate') return `(${t})`;
  if (kind === 'split') return `[/${t}/]`;
  return `([${t}])`;
}

function condition(c: EdgeCondition): string {
  if (c.empty !== undefined) return `if ${c.slot} is ${c.empty !== !!c.not ? '' : 'not '}empty`;
  return `if ${c.slot} ${c.not ? 'does not include' : 'includes'} '${c.includes ?? ''}'`;
}

function edgeLabel(e: WorkflowEdge, alone: boolean): string {
  const parts: string[] = [];
  if (e.if !== undefined) parts.push(condition(e.if));
  if (e.times !== undefined) parts.push(`at most ${e.times}×`);
  if (parts.length === 0 && !alone) parts.push('otherwise');
  return parts.join(', ');
}

/**
 * The workflow as Mermaid flowchart text (top to bottom): a `question` entry into the start node,
 * one shape per node (retrieve: a cylinder; generate: rounded; split: a parallelogram; answer: a
 * stadium) labelled with its name and a line on what it does, and the edges in the order they
 * are tried, labelled with their `if` and `times` ("otherwise" on a node's fallback edge). Node
 * ids are n0, n1, … in the graph's order, so any node name draws. The graph is drawn as given:
 * check it with checkWorkflow first if it comes from elsewhere.
 */
export function workflowMermaid(graph: WorkflowGraph): string {
  const names = Object.keys(graph.nodes);
  const id = new Map(names.map((n, i) => [n, `n${i}`]));
  const lines = ['flowchart TD', `  start(("question")) --> ${id.get(graph.start) ?? 'missing'}`];
  for (const name of names) {
    const node = graph.nodes[name]!;
    lines.push(`  ${id.get(name)}${shape(node.kind, name, detail(node))}`);
  }
  for (const e of graph.edges) {
    const alone = graph.edges.filter((x) => x.from === e.from).length === 1;
    const text = edgeLabel(e, alone);
    lines.push(`  ${id.get(e.from) ?? 'missing'} -->${text ? `|"${label(text)}"|` : ''} ${id.get(e.to) ?? 'missing'}`);
  }
  return lines.join('\n');
}
