// Checks a workflow before anything of it runs, so that a graph that could not finish, or would
// read a slot nothing writes, fails at once with INVALID_WORKFLOW and a message naming the node,
// slot or edge to fix — not halfway through a request, after the generator spent seconds on it.
// What it guarantees: one answer node, every node reachable, every cycle bounded (an edge with
// `times`), every node but the answer with an unconditional last edge (so a request always ends
// at the answer, in at most MAX_STAGES stages), every slot read written somewhere with the kind
// its reader needs, and no field the runtime would ignore (a typo must not pass silently).

import { WeftError } from '../errors.js';
import { slotsIn } from './templates.js';
import { BUILTIN_SLOTS, MAX_LIST_ITEMS, MAX_NODE_TOKENS, type EdgeCondition, type WorkflowEdge, type WorkflowGraph, type WorkflowNode } from './types.js';

/** What a slot holds: generated or given text, a list of items, or retrieved passages. */
export type SlotKind = 'text' | 'list' | 'passages';

/** A workflow that passed the checks, with what running it needs precomputed. */
export interface CheckedWorkflow {
  name: string;
  graph: WorkflowGraph;
  /** The answer node's name. */
  answer: string;
  /** Every slot's kind (the built-in ones included). */
  slots: ReadonlyMap<string, SlotKind>;
  /** Each node's edges, in the order they are tried. */
  outgoing: ReadonlyMap<string, readonly WorkflowEdge[]>;
}

const NAME = /^[A-Za-z][\w-]{0,63}$/;
/** The most times one edge may be taken per request. */
const MAX_TIMES = 16;

const FIELDS: Record<WorkflowNode['kind'], readonly string[]> = {
  retrieve: ['kind', 'query', 'each', 'into', 'k', 'nprobe'],
  generate: ['kind', 'prompt', 'into', 'maxTokens', 'stop'],
  split: ['kind', 'from', 'into', 'max', 'maxChars'],
  answer: ['kind', 'passages', 'prompt', 'periodic', 'flare'],
};

/** What a node writes, and its kind. */
function output(node: WorkflowNode): [string, SlotKind] | undefined {
  if (node.kind === 'retrieve') return [node.into ?? 'passages', 'passages'];
  if (node.kind === 'generate') return [node.into, 'text'];
  if (node.kind === 'split') return [node.into, 'list'];
  return undefined;
}

/** Checks `w` (a graph as data, from anywhere) and returns it with its slots and edges indexed. */
export function checkWorkflow(w: unknown): CheckedWorkflow {
  const g = w as Partial<WorkflowGraph> | null;
  const label = g && typeof g === 'object' && typeof g.name === 'string' ? `Workflow '${g.name}'` : 'The workflow';
  const fail: (message: string, details?: Record<string, unknown>) => never = (message, details) => {
    throw new WeftError('INVALID_WORKFLOW', `${label}: ${message}`, details ? { details } : undefined);
  };
  if (!g || typeof g !== 'object' || Array.isArray(g)) fail('expected { start, nodes, edges } (see docs/workflows.md), or a built-in workflow name.');
  const graph = g as WorkflowGraph;
  for (const key of Object.keys(graph))
    if (!['name', 'start', 'nodes', 'edges'].includes(key)) fail(`unknown field '${key}' (fields: name, start, nodes, edges).`);
  if (graph.name !== undefined && typeof graph.name !== 'string') fail('name must be a string.');
  if (!graph.nodes || typeof graph.nodes !== 'object' || Array.isArray(graph.nodes)) fail('nodes must be an object of nodes by name.');
  if (!Array.isArray(graph.edges)) fail('edges must be an array of { from, to }.');
  const names = Object.keys(graph.nodes);
  if (names.length === 0) fail('it has no nodes.');

  const text = (v: unknown, what: string) => {
    if (typeof v !== 'string' || v.trim() === '') fail(`${what} must be a non-empty string.`);
  };
  const slotName = (v: unknown, what: string) => {
    if (typeof v !== 'string' || !NAME.test(v)) fail(`${what} must be a slot name (a letter, then letters, digits, '_' or '-'), got ${JSON.stringify(v)}.`);
  };
  const integer = (v: unknown, min: number, max: number, what: string) => {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min && (v as number) <= max))
      fail(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}.`);
  };

  // The nodes, field by field; the slots they write and their kinds.
  const slots = new Map<string, SlotKind>(BUILTIN_SLOTS.map((s) => [s, 'text']));
  const answers: string[] = [];
  for (const name of names) {
    if (!NAME.test(name)) fail(`node name ${JSON.stringify(name)} must be a letter, then letters, digits, '_' or '-'.`);
    const node = graph.nodes[name] as WorkflowNode | null;
    if (!node || typeof node !== 'object' || !(node.kind in FIELDS))
      fail(`node '${name}' needs kind 'retrieve', 'generate', 'split' or 'answer'.`, { node: name });
    const at = `node '${name}'`;
    for (const key of Object.keys(node!))
      if (!FIELDS[node!.kind].includes(key))
        fail(`${at} (${node!.kind}) has an unknown field '${key}' (fields: ${FIELDS[node!.kind].join(', ')}).`, { node: name });
    switch (node!.kind) {
      case 'retrieve':
        text(node.query, `${at}: query`);
        if (node.each !== undefined) slotName(node.each, `${at}: each`);
        if (node.into !== undefined) slotName(node.into, `${at}: into`);
        integer(node.k, 1, 256, `${at}: k`);
        integer(node.nprobe, 1, 65536, `${at}: nprobe`);
        break;
      case 'generate':
        text(node.prompt, `${at}: prompt`);
        slotName(node.into, `${at}: into`);
        integer(node.maxTokens, 1, MAX_NODE_TOKENS, `${at}: maxTokens`);
        if (node.stop !== undefined && node.stop !== 'line') fail(`${at}: stop must be 'line' or left out.`);
        break;
      case 'split':
        slotName(node.from, `${at}: from`);
        slotName(node.into, `${at}: into`);
        integer(node.max, 1, MAX_LIST_ITEMS, `${at}: max`);
        integer(node.maxChars, 10, 2000, `${at}: maxChars`);
        break;
      case 'answer':
        answers.push(name);
        if (node.passages !== undefined) slotName(node.passages, `${at}: passages`);
        if (node.prompt !== undefined) text(node.prompt, `${at}: prompt`);
        if (node.periodic !== undefined && (typeof node.periodic !== 'object' || node.periodic === null))
          fail(`${at}: periodic must be an object like { interval: 16 }.`);
        if (node.flare !== undefined) {
          const f = node.flare as Record<string, unknown> | null;
          if (typeof f !== 'object' || f === null) fail(`${at}: flare must be an object like { threshold: 0.4 }.`);
          for (const key of Object.keys(f!))
            if (key !== 'threshold' && key !== 'maxRetrievals') fail(`${at}: flare has an unknown field '${key}' (fields: threshold, maxRetrievals).`);
          const t = f!.threshold;
          if (t !== undefined && !(typeof t === 'number' && t > 0 && t <= 1))
            fail(`${at}: flare.threshold must be a probability in (0, 1], got ${JSON.stringify(t)}.`);
          integer(f!.maxRetrievals, 1, 16, `${at}: flare.maxRetrievals`);
          if (node.periodic !== undefined) fail(`${at}: an answer retrieves again either periodically or with flare, not both.`);
        }
        break;
    }
    const out = output(node!);
    if (out) {
      const [slot, kind] = out;
      if (slot === 'question') fail(`${at} writes the slot 'question', which holds the user's question; write another slot.`, { node: name });
      const had = slots.get(slot);
      if (had && had !== kind) fail(`slot '${slot}' is written as ${had} and by ${at} as ${kind}; give one of them another name.`, { slot });
      slots.set(slot, kind);
    }
  }
  if (answers.length !== 1)
    fail(
      answers.length === 0
        ? "it has no answer node (kind 'answer'), which every workflow ends with."
        : `it has ${answers.length} answer nodes (${answers.join(', ')}); a workflow ends with exactly one.`,
    );
  const answer = answers[0]!;
  if (typeof graph.start !== 'string' || !(graph.start in graph.nodes))
    fail(`start ${JSON.stringify(graph.start)} is not one of its nodes (${names.join(', ')}).`);

  // Every slot read exists, with the kind its reader needs.
  const reads = (slot: string, kinds: readonly SlotKind[], at: string) => {
    const kind = slots.get(slot);
    if (!kind) fail(`${at} reads the slot '${slot}', which no node writes (slots: ${[...slots.keys()].join(', ')}).`, { slot });
    if (!kinds.includes(kind!)) fail(`${at} reads the slot '${slot}' as ${kinds.join(' or ')}, but it holds ${kind}.`, { slot });
  };
  const any: SlotKind[] = ['text', 'list', 'passages'];
  for (const name of names) {
    const node = graph.nodes[name]!;
    const at = `node '${name}'`;
    if (node.kind === 'retrieve') {
      if (node.each !== undefined) reads(node.each, ['list'], `${at}: each`);
      for (const s of slotsIn(node.query)) if (s !== 'item' || node.each === undefined) reads(s, any, `${at}: query`);
      if (node.each !== undefined && !slotsIn(node.query).includes('item'))
        fail(`${at}: a query with 'each' uses {item}, the list's item it searches for.`, { node: name });
    } else if (node.kind === 'generate') {
      for (const s of slotsIn(node.prompt)) reads(s, any, `${at}: prompt`);
    } else if (node.kind === 'split') {
      reads(node.from, ['text'], `${at}: from`);
    } else {
      reads(node.passages ?? 'passages', ['passages'], `${at}: passages`);
      for (const s of slotsIn(node.prompt ?? '')) reads(s, any, `${at}: prompt`);
    }
  }

  // Edges: known ends, bounds and conditions; each node's list ends with an unconditional edge.
  const outgoing = new Map<string, WorkflowEdge[]>(names.map((n) => [n, []]));
  graph.edges.forEach((e, i) => {
    const at = `edge ${i} (${JSON.stringify(e?.from)} → ${JSON.stringify(e?.to)})`;
    if (!e || typeof e !== 'object') fail(`edge ${i} must be { from, to }.`);
    for (const key of Object.keys(e))
      if (!['from', 'to', 'times', 'if'].includes(key)) fail(`${at} has an unknown field '${key}' (fields: from, to, times, if).`);
    if (!(e.from in graph.nodes) || !(e.to in graph.nodes)) fail(`${at} joins a node that does not exist (nodes: ${names.join(', ')}).`, { edge: i });
    if (e.from === answer) fail(`${at} leaves the answer node; the answer ends the request.`, { edge: i });
    integer(e.times, 1, MAX_TIMES, `${at}: times`);
    if (e.if !== undefined) checkCondition(e.if, at, fail, reads);
    outgoing.get(e.from)!.push(e);
  });
  for (const name of names) {
    if (name === answer) continue;
    const edges = outgoing.get(name)!;
    const last = edges.findIndex((e) => e.times === undefined && e.if === undefined);
    if (last < 0)
      fail(`node '${name}' has no edge without 'times' or 'if' to go on by when the others are used up or do not hold; add one (e.g. to '${answer}').`, {
        node: name,
      });
    if (last < edges.length - 1)
      fail(`node '${name}': the edges after its unconditional edge to '${edges[last]!.to}' are never taken; put them before it.`, { node: name });
  }

  // Reachability, and no cycle that only unbounded edges make.
  const seen = new Set<string>([graph.start]);
  const queue = [graph.start];
  while (queue.length > 0) for (const e of outgoing.get(queue.shift()!)!) if (!seen.has(e.to) && seen.add(e.to)) queue.push(e.to);
  const unreachable = names.filter((n) => !seen.has(n));
  if (unreachable.length > 0)
    fail(`node${unreachable.length > 1 ? 's' : ''} ${unreachable.map((n) => `'${n}'`).join(', ')} cannot be reached from '${graph.start}'.`, {
      nodes: unreachable,
    });
  const state = new Map<string, 'open' | 'done'>();
  const visit = (n: string, path: string[]) => {
    state.set(n, 'open');
    for (const e of outgoing.get(n)!) {
      if (e.times !== undefined) continue;
      if (state.get(e.to) === 'open')
        fail(`the cycle ${[...path.slice(path.indexOf(e.to)), n, e.to].join(' → ')} has no bound; give one of its edges 'times'.`, {
          cycle: [...path.slice(path.indexOf(e.to)), n, e.to],
        });
      if (!state.has(e.to)) visit(e.to, [...path, n]);
    }
    state.set(n, 'done');
  };
  for (const n of names) if (!state.has(n)) visit(n, []);

  return { name: graph.name ?? 'custom', graph, answer, slots, outgoing };
}

function checkCondition(c: EdgeCondition, at: string, fail: (m: string) => never, reads: (slot: string, kinds: readonly SlotKind[], at: string) => void): void {
  if (!c || typeof c !== 'object') fail(`${at}: if must be { slot, empty } or { slot, includes }.`);
  for (const key of Object.keys(c))
    if (!['slot', 'empty', 'includes', 'not'].includes(key)) fail(`${at}: if has an unknown field '${key}' (fields: slot, empty, includes, not).`);
  reads(c.slot, ['text', 'list', 'passages'], `${at}: if`);
  if ((c.empty === undefined) === (c.includes === undefined)) fail(`${at}: if needs one test, empty or includes.`);
  if (c.empty !== undefined && typeof c.empty !== 'boolean') fail(`${at}: if.empty must be true or false.`);
  if (c.includes !== undefined && (typeof c.includes !== 'string' || c.includes === '')) fail(`${at}: if.includes must be a non-empty string.`);
  if (c.not !== undefined && typeof c.not !== 'boolean') fail(`${at}: if.not must be true or false.`);
}

/**
 * The node a request goes to after `from`: the first of its edges that may be taken (under its
 * `times`, its condition holding), counted in `taken` (one counter per request).
 */
export function nextNode(w: CheckedWorkflow, from: string, taken: Map<WorkflowEdge, number>, holds: (c: EdgeCondition) => boolean): string {
  for (const e of w.outgoing.get(from) ?? []) {
    const n = taken.get(e) ?? 0;
    if (e.times !== undefined && n >= e.times) continue;
    if (e.if !== undefined && holds(e.if) === !!e.if.not) continue;
    taken.set(e, n + 1);
    return e.to;
  }
  throw new WeftError('INVALID_WORKFLOW', `Node '${from}' has no edge to go on by.`); // checkWorkflow rules it out
}
