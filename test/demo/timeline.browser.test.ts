// The demo's live timeline (demo/timeline.ts): its time axis labels stay clear of each other
// whatever the questions span — milliseconds, seconds, or minutes (a slow device answering three
// questions) — and at most six ticks are drawn. Questions asked with a workflow get a row per
// node of their graph, labelled, beside one-shot lanes drawn as before. The screenshots go to
// test/demo/__screenshots__/ (ignored by git).
import { afterEach, expect, test } from 'vitest';
import { page } from 'vitest/browser';
import '../../demo/demo.css';
import { createTimeline, laneRows, tickLabel, tickStep } from '../../demo/timeline.js';
import { builtinLane, WORKFLOW_CHOICES } from '../../demo/workflows.js';
import type { TraceStage } from '../../src/entries/client.js';

afterEach(() => {
  document.body.replaceChildren();
});

/** A timeline whose questions span `spanMs`, drawn `width` px wide; returns the axis labels' boxes and texts. */
async function draw(spanMs: number, width: number) {
  const wrap = document.createElement('div');
  wrap.id = 'timeline-wrap';
  wrap.style.width = `${width}px`;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.id = 'timeline';
  svg.style.cssText = 'display: block; width: 100%';
  const legend = document.createElement('ul');
  wrap.append(svg);
  document.body.append(wrap, legend);
  const t = createTimeline(svg, legend);
  const at = Date.now() - spanMs;
  for (const id of [1, 2, 3]) {
    t.addRequest(id, `Q${id}: question ${id}`);
    const from = at + ((id - 1) * spanMs) / 6;
    const stage = (kind: TraceStage['kind'], start: number, end: number): TraceStage => ({ kind, start, end, at: from + start });
    t.addStage(id, stage('embed', 0, spanMs / 50));
    t.addStage(id, stage('search', spanMs / 50, spanMs / 20));
    t.addStage(id, stage('prefill', spanMs / 20, spanMs / 10));
    t.addStage(id, stage('decode', spanMs / 10, spanMs - ((id - 1) * spanMs) / 6));
    t.finish(id);
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const labels = [...svg.querySelectorAll<SVGTextElement>('.axis text')];
  return { wrap, labels: labels.map((l) => ({ text: l.textContent!, box: l.getBoundingClientRect() })) };
}

test('axis labels never overlap, from milliseconds to many minutes', async () => {
  await page.viewport(900, 600); // the test frame is narrower than the widths drawn
  for (const [span, width] of [
    [800, 720],
    [9_000, 720],
    [3 * 60_000, 720],
    [12 * 60_000, 720],
    [47 * 60_000, 720],
    [12 * 60_000, 480],
  ] as const) {
    const { labels, wrap } = await draw(span, width);
    expect(labels.length, `${span} ms`).toBeGreaterThan(1);
    expect(labels.length, `${span} ms`).toBeLessThanOrEqual(7);
    for (let i = 1; i < labels.length; i++) {
      expect(labels[i]!.box.left, `${span} ms: “${labels[i - 1]!.text}” then “${labels[i]!.text}”`).toBeGreaterThan(labels[i - 1]!.box.right + 4);
    }
    if (span === 12 * 60_000 && width === 720) {
      expect(labels.map((l) => l.text).slice(0, 3)).toEqual(['0 s', '2 min', '4 min']);
      await page.screenshot({ element: wrap, path: '__screenshots__/layout-timeline-minutes.png' });
    }
    document.body.replaceChildren();
  }
});

test('tick steps and labels', () => {
  expect(tickStep(800, 600)).toBe(200);
  expect(tickStep(12 * 60_000, 600)).toBe(120_000);
  expect(tickStep(5 * 3_600_000, 600)).toBe(3_600_000);
  expect(tickLabel(400, 200)).toBe('400 ms');
  expect(tickLabel(1500, 500)).toBe('1.5 s');
  expect(tickLabel(90_000, 30_000)).toBe('1 min 30 s');
  expect(tickLabel(120_000, 60_000)).toBe('2 min');
});

/** One request's stages, from [kind, node, from, to, details] in ms after `t0`. */
function stagesOf(t0: number, list: [TraceStage['kind'], string, number, number, Partial<TraceStage>?][]): TraceStage[] {
  const first = Math.min(...list.map((s) => s[2]));
  return list.map(([kind, node, from, to, more]) => ({ kind, node, start: from - first, end: to - first, at: t0 + from, ...more }));
}

/** Decode steps every `every` ms from `from` to `to`, and the decode window around them. */
function decoding(node: string, from: number, to: number, every = 40): [TraceStage['kind'], string, number, number][] {
  const steps: [TraceStage['kind'], string, number, number][] = [];
  for (let t = from; t + every <= to; t += every) steps.push(['step', node, t, t + every - 8]);
  return [['decode', node, from, to], ...steps];
}

/**
 * Four questions woven on one GPU, as the runtime schedules them: Q1 HyDE, Q2 multistep, Q3
 * one-shot, Q4 IRG. Generation stages take the generator in turn by arrival; searches run in the
 * decode gaps of whatever is writing; Q2's three sub-questions are one multi-query dispatch, and
 * Q3's and Q4's first searches shared one.
 */
function wovenWorkflows(t0: number): { id: number; label: string; workflow?: string; nodes?: string[]; stages: TraceStage[] }[] {
  const slice = (clusters: number, batch?: number): Partial<TraceStage> => ({ clusters, bytes: clusters * 24_576, nprobe: 4, ...(batch ? { batch } : {}) });
  return [
    {
      id: 1,
      label: 'Q1: How do calderas form?',
      workflow: 'hyde',
      nodes: ['hypothesis', 'retrieve', 'answer'],
      stages: stagesOf(t0, [
        ['generate', 'hypothesis', 0, 900],
        ['embed', 'retrieve', 900, 930],
        ['prefetch', 'retrieve', 930, 950, { clusters: 4, bytes: 98_304 }],
        ['search', 'retrieve', 1000, 1060, slice(2)],
        ['search', 'retrieve', 1120, 1180, slice(2)],
        ['prefill', 'answer', 1700, 1900],
        ...decoding('answer', 1900, 3100),
      ]),
    },
    {
      id: 2,
      label: 'Q2: Compare the Kyoto and Lisbon trips',
      workflow: 'multistep',
      nodes: ['decompose', 'retrieve', 'answer'],
      stages: stagesOf(t0, [
        ['generate', 'decompose', 900, 1700],
        ['embed', 'retrieve', 1720, 1760],
        ['search', 'retrieve', 1960, 2040, slice(2, 3)],
        ['search', 'retrieve', 2120, 2200, slice(2, 3)],
        ['prefill', 'answer', 3100, 3300],
        ...decoding('answer', 3300, 4300),
      ]),
    },
    {
      id: 3,
      label: 'Q3: When is the launch?',
      stages: stagesOf(t0, [
        ['embed', 'retrieve', 200, 230],
        ['search', 'retrieve', 300, 360, slice(2, 2)],
        ['search', 'retrieve', 420, 480, slice(2)],
        ['prefill', 'answer', 4300, 4450],
        ...decoding('answer', 4450, 5200),
      ]),
    },
    {
      id: 4,
      label: 'Q4: Who approved the travel budget?',
      workflow: 'irg',
      nodes: ['retrieve', 'draft', 'answer'],
      stages: stagesOf(t0, [
        ['embed', 'retrieve', 250, 280],
        ['search', 'retrieve', 300, 360, slice(2, 2)],
        ['generate', 'draft', 5200, 5700],
        ['search', 'retrieve', 5760, 5820, slice(4)],
        ['generate', 'draft', 5840, 6300],
        ['search', 'retrieve', 6360, 6420, slice(4)],
        ['prefill', 'answer', 6450, 6650],
        ...decoding('answer', 6650, 7600),
      ]),
    },
  ];
}

test('a workflow question gets a row per node, labelled, beside one-shot lanes as before; generation stages and multi-query dispatches are marked', async () => {
  await page.viewport(1100, 800);
  const wrap = document.createElement('div');
  wrap.id = 'timeline-wrap';
  wrap.className = 'card'; // as on the page: the rows' bands on white
  wrap.style.width = '900px';
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.id = 'timeline';
  svg.style.cssText = 'display: block; width: 100%';
  const legend = document.createElement('ul');
  legend.className = 'legend';
  wrap.append(svg, legend);
  document.body.append(wrap);
  const t = createTimeline(svg, legend);
  const requests = wovenWorkflows(Date.now() - 8000);
  for (const r of requests) {
    t.addRequest(r.id, r.label, r.workflow && r.nodes ? { workflow: r.workflow, nodes: r.nodes } : undefined);
    for (const s of r.stages) t.addStage(r.id, s);
    t.finish(r.id);
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));

  const lane = (id: number) => svg.querySelector<SVGGElement>(`g.lane[data-request="${id}"]`)!;
  const rows = (id: number) => [...lane(id).querySelectorAll<SVGGElement>('g.row')].map((g) => [g.dataset.node, g.querySelector('.node-label')!.textContent]);
  expect(rows(1)).toEqual([
    ['hypothesis', 'hypothesis'],
    ['retrieve', 'retrieve'],
    ['answer', 'answer'],
  ]);
  expect(rows(2)).toEqual([
    ['decompose', 'decompose'],
    ['retrieve', 'retrieve'],
    ['answer', 'answer'],
  ]);
  expect(rows(4).map((r) => r[0])).toEqual(['retrieve', 'draft', 'answer']);
  // Each stage in its node's row: the generation stages in theirs, both IRG drafts in one.
  expect(lane(1).querySelectorAll('g.row[data-node=hypothesis] rect.mark-generate')).toHaveLength(1);
  expect(lane(1).querySelectorAll('g.row[data-node=answer] rect.mark-step').length).toBeGreaterThan(10);
  expect(lane(4).querySelectorAll('g.row[data-node=draft] rect.mark-generate')).toHaveLength(2);
  expect(lane(4).querySelectorAll('g.row[data-node=retrieve] rect.mark-search')).toHaveLength(3);
  expect(getComputedStyle(lane(1).querySelector('rect.mark-generate')!).fill).not.toBe(getComputedStyle(lane(1).querySelector('rect.mark-prefill')!).fill);
  // The one-shot question: two bands, as before workflows.
  expect(lane(3).classList.contains('lane-workflow')).toBe(false);
  expect(lane(3).querySelectorAll('g.row')).toHaveLength(0);
  expect([...lane(3).querySelectorAll('text')].map((x) => x.textContent)).toContain('retrieval ▸ generation');
  // Multi-query dispatches: outlined, with their query count; a slice of one query is not.
  const batched = [...svg.querySelectorAll<SVGRectElement>('rect.mark.batched')];
  expect(batched.map((r) => [r.dataset.request, r.dataset.batch])).toEqual([
    ['2', '3'],
    ['2', '3'],
    ['3', '2'],
    ['4', '2'],
  ]);
  expect(batched[0]!.querySelector('title')!.textContent).toMatch(/^retrieve · search slice · 80\.0 ms · 2 lists · .* · one dispatch for 3 queries$/);
  expect(getComputedStyle(batched[0]!).strokeWidth).toBe('1.5px');
  expect(getComputedStyle(lane(1).querySelector('rect.mark-search')!).strokeWidth).not.toBe('1.5px');
  // The legend names the generation stage and the dispatch.
  expect(legend.textContent).toContain('workflow generation stage');
  expect(legend.querySelector('.legend-batched')!.textContent).toMatch(/multi-query dispatch/);

  // Nothing written over anything else: a lane's labels apart, node labels and one-shot questions
  // left of the plot, a workflow's question (and its workflow's name) above its rows, inside the chart.
  const box = (e: Element) => e.getBoundingClientRect();
  const plot = box(lane(1).querySelector('rect.band')!);
  for (const id of [1, 2, 3, 4]) {
    const b = [...lane(id).querySelectorAll<SVGTextElement>('.lane-label, .workflow-name, .node-label')].map((x) => ({
      text: x.firstChild!.textContent,
      box: box(x),
      head: !x.matches('.node-label') && lane(id).matches('.lane-workflow'),
    }));
    for (const l of b) {
      expect(l.box.right, `${id}: ${l.text}`).toBeLessThanOrEqual(l.head ? plot.right : plot.left);
      if (l.head) expect(l.box.bottom, `${id}: ${l.text}`).toBeLessThanOrEqual(box(lane(id).querySelector('g.row rect.band')!).top);
    }
    for (let i = 0; i < b.length; i++)
      for (let j = i + 1; j < b.length; j++) {
        const [p, q] = [b[i]!.box, b[j]!.box];
        const apart = p.right <= q.left || q.right <= p.left || p.bottom <= q.top || q.bottom <= p.top;
        expect(apart, `lane ${id}: “${b[i]!.text}” and “${b[j]!.text}”`).toBe(true);
      }
  }
  expect(lane(1).querySelector('.lane-label')!.firstChild!.textContent).toBe('Q1: How do calderas form?');
  expect(lane(1).querySelector('.workflow-name')!.textContent).toBe('(hyde)');
  const laneBoxes = [1, 2, 3, 4].map((id) => lane(id).getBoundingClientRect());
  for (let i = 1; i < laneBoxes.length; i++) expect(laneBoxes[i]!.top).toBeGreaterThanOrEqual(laneBoxes[i - 1]!.bottom - 1);
  await page.screenshot({ element: wrap, path: '__screenshots__/layout-timeline-workflows.png' });
});

test('rows of the built-in workflows, and which lanes keep two bands', () => {
  expect(Object.fromEntries(WORKFLOW_CHOICES.map((c) => [c.name, builtinLane(c.name)]))).toEqual({
    'one-shot': { nodes: ['retrieve', 'answer'], quiet: [] },
    hyde: { nodes: ['hypothesis', 'retrieve', 'answer'], quiet: [] },
    multistep: { nodes: ['decompose', 'split', 'retrieve', 'answer'], quiet: ['split'] },
    irg: { nodes: ['retrieve', 'draft', 'answer'], quiet: [] },
    recomp: { nodes: ['retrieve', 'summarize', 'answer'], quiet: [] },
    flare: { nodes: ['retrieve', 'answer'], quiet: [] },
    periodic: { nodes: ['retrieve', 'answer'], quiet: [] },
  });
  const s = (kind: TraceStage['kind'], node: string | undefined, at: number): TraceStage => ({ kind, start: 0, end: 1, at, ...(node ? { node } : {}) });
  // One-shot, periodic, a follow-up's rewrite, stages that name no node: two bands.
  expect(laneRows({ stages: [s('embed', 'retrieve', 1), s('search', 'answer', 5), s('prefill', 'answer', 3)], ...builtinLane('periodic') })).toBeUndefined();
  expect(laneRows({ stages: [s('rewrite', 'rewrite', 0), s('embed', undefined, 1), s('prefill', undefined, 2)] })).toBeUndefined();
  // A workflow: its graph's rows before any stage arrived; a split's only once a stage ran while the request was at it, in its place.
  expect(laneRows({ stages: [], ...builtinLane('hyde') })).toEqual(['hypothesis', 'retrieve', 'answer']);
  expect(laneRows({ stages: [s('generate', 'decompose', 0)], ...builtinLane('multistep') })).toEqual(['decompose', 'retrieve', 'answer']);
  expect(laneRows({ stages: [s('generate', 'decompose', 0), s('prefetch', 'split', 3)], ...builtinLane('multistep') })).toEqual([
    'decompose',
    'split',
    'retrieve',
    'answer',
  ]);
  // A follow-up's rewrite first; a node the graph does not name, after its own.
  expect(laneRows({ stages: [s('generate', 'extra', 9), s('rewrite', 'rewrite', 0)], ...builtinLane('recomp') })).toEqual([
    'rewrite',
    'retrieve',
    'summarize',
    'answer',
    'extra',
  ]);
  // Without the graph, the nodes as their stages came.
  expect(laneRows({ stages: [s('prefill', 'answer', 9), s('generate', 'draft', 4), s('embed', 'retrieve', 1)] })).toEqual(['retrieve', 'draft', 'answer']);
});
