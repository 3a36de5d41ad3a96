// The live timeline: one lane per question on one time axis, drawn in SVG from the runtime's
// 'stage' events as answers stream. Every stage carries `at`, its start on a clock shared by all
// requests and the engine worker (ms since the epoch), so stages of different requests — and a
// waiting question's search slices that arrive after the fact — land where they happened. The
// top band of a lane is retrieval, the bottom band generation; a tick per decode step.
//
// A question asked with a workflow (HyDE, multistep, IRG, RECOMP…) has stages of its own before
// the answer: its lane has one row per node of its graph instead (hypothesis, retrieve, draft,
// answer…; each stage names its node), labelled with the node, so that the stages of several
// requests can be seen taking turns. A search slice that was one multi-query dispatch for several
// queries (its `batch`) is outlined and marked ×n.

import type { TraceStage } from '../src/entries/client.js';

const SVG = 'http://www.w3.org/2000/svg';
const LANE = 46,
  TOP = 26,
  LABEL = 150,
  RIGHT = 12,
  MAX_LANES = 6,
  /** A workflow lane: the question's line, then one row per node. */
  HEAD = 18,
  ROW = 20;
const RETRIEVAL = new Set<TraceStage['kind']>(['embed', 'prefetch', 'search', 'lexical', 'rerank', 'profile']);

/** What each kind is called in the legend and the tooltips. */
export const KINDS: Partial<Record<TraceStage['kind'], string>> = {
  embed: 'embed question',
  prefetch: 'prefetch lists from storage',
  search: 'search slice',
  lexical: 'keyword search (BM25)',
  rerank: 'rerank slice',
  profile: 'profile search',
  rewrite: 'rewrite question',
  speculate: 'speculative prefill',
  restart: 'restart (top-k changed)',
  prefill: 'prefill',
  step: 'decode step',
  refresh: 'refresh passages',
  generate: 'workflow generation stage (prefill + decoding)',
};

/** Nodes that a lane of two bands (retrieval ▸ generation) shows well: a one-shot or periodic question's, a follow-up's rewrite. */
const TWO_BANDS = new Set(['retrieve', 'answer', 'rewrite']);
/** The node a stage ran for (stages of runtimes that do not name it: retrieval or the answer, by kind). */
const nodeOf = (s: TraceStage) => s.node ?? (RETRIEVAL.has(s.kind) ? 'retrieve' : 'answer');

/** Room a tick label needs, in px ("12 min 30 s" at 11px). */
const LABEL_PX = 72;
const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000];

/** The axis step for `span` ms drawn over `plot` px: at most six ticks, each label clear of the next. */
export function tickStep(span: number, plot: number): number {
  const least = Math.max(span / 6, (span * LABEL_PX) / Math.max(1, plot));
  return STEPS.find((s) => s >= least) ?? Math.ceil(least / 3_600_000) * 3_600_000;
}

/** A tick's label: ms, s (with a tenth under a second's step), or min and s past a minute. */
export function tickLabel(t: number, step: number): string {
  if (t < 1000 && step < 1000) return `${t} ms`;
  if (t < 60_000) return `${(t / 1000).toFixed(step < 1000 ? 1 : 0)} s`;
  const min = Math.floor(t / 60_000),
    s = Math.round((t % 60_000) / 1000);
  return s ? `${min} min ${s} s` : `${min} min`;
}

interface Lane {
  id: number;
  label: string;
  color: string;
  stages: TraceStage[];
  active: boolean;
  /** The workflow the question ran, where one was chosen ('hyde', a graph's name). */
  workflow?: string;
  /** Its graph's nodes in order: its rows, before any stage arrived. */
  nodes?: readonly string[];
  /** Of those, the nodes that get a row only once a stage ran for them. */
  quiet?: readonly string[];
}

/** What a question's lane shows besides its stages: the workflow it runs and its graph's nodes (rows in that order). */
export interface LaneWorkflow {
  workflow?: string;
  /** The graph's nodes in the order a request meets them: the lane's rows, in that order. */
  nodes?: readonly string[];
  /** Nodes that get a row only once a stage ran for them (a split, which records no stage of its own). */
  quiet?: readonly string[];
}

/**
 * The rows of a lane: undefined for the two bands of a question without stages of its own before
 * the answer; else its graph's nodes, then any other node its stages ran for (a follow-up's
 * rewrite first, the rest as they came).
 */
export function laneRows(lane: {
  stages: readonly TraceStage[];
  nodes?: readonly string[] | undefined;
  quiet?: readonly string[] | undefined;
}): string[] | undefined {
  const seen = new Map<string, number>();
  for (const s of lane.stages) {
    const n = nodeOf(s);
    seen.set(n, Math.min(seen.get(n) ?? Number.POSITIVE_INFINITY, s.at));
  }
  const declared = (lane.nodes ?? []).filter((n) => seen.has(n) || !lane.quiet?.includes(n));
  if (![...declared, ...seen.keys()].some((n) => !TWO_BANDS.has(n))) return undefined;
  const extra = [...seen.entries()]
    .filter(([n]) => !lane.nodes?.includes(n))
    .sort((a, b) => (a[0] === 'rewrite' ? -1 : b[0] === 'rewrite' ? 1 : a[1] - b[1]))
    .map(([n]) => n);
  const rewrite = extra[0] === 'rewrite' ? ['rewrite'] : [];
  return [...rewrite, ...declared, ...extra.slice(rewrite.length)];
}

export interface Timeline {
  /** A new lane for a question (with the workflow it runs, if any); returns its colour. */
  addRequest(id: number, label: string, workflow?: LaneWorkflow): string;
  addStage(id: number, stage: TraceStage): void;
  finish(id: number): void;
  /** Every lane stops growing with the clock (nothing is streaming). */
  finishAll(): void;
  clear(): void;
}

const COLORS = ['#3454d1', '#c2185b', '#00897b', '#6d4c41', '#5e35b1', '#ef6c00'];

const kb = (bytes: number) => (bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`);

const shortened = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** What fitLabel cut each label to, by width and text (the timeline redraws four times a second while answers stream). */
const fitted = new Map<string, string>();

/** Sets `text` on a drawn label, cut short (…) to fit `px` (a question's label must not run into the lane's bands). */
function fitLabel(label: SVGTextElement, text: string, px: number): void {
  const key = `${px}|${text}`;
  const known = fitted.get(key);
  if (known !== undefined) {
    label.textContent = known;
    return;
  }
  label.textContent = shortened(text, 40);
  for (let n = Math.min(text.length, 40); n > 1 && label.getComputedTextLength() > px; n--) label.textContent = shortened(text, n - 1);
  // A label measured before the page laid it out (0 px) is measured again next time.
  if (label.getComputedTextLength() > 0) fitted.set(key, label.textContent ?? text);
}

function describe(s: TraceStage): string {
  const ms = `${(s.end - s.start).toFixed(1)} ms`;
  const parts = [...(s.node ? [s.node] : []), KINDS[s.kind] ?? s.kind, ms];
  if (s.kind === 'search') {
    if (s.clusters !== undefined) parts.push(`${s.clusters} list${s.clusters === 1 ? '' : 's'}`);
    if (s.bytes !== undefined) parts.push(`${kb(s.bytes)} streamed in`);
    if (s.nprobe !== undefined) parts.push(`nprobe ${s.nprobe}`);
    if (s.batch !== undefined && s.batch > 1) parts.push(`one dispatch for ${s.batch} queries`);
    if (s.window !== undefined) parts.push(`periodic window ${s.window}`);
  } else if (s.kind === 'rerank' && s.passages !== undefined) {
    parts.push(`${s.passages} passage${s.passages === 1 ? '' : 's'} scored`);
  } else if (s.kind === 'prefetch') {
    if (s.clusters !== undefined) parts.push(`${s.clusters} lists`);
    if (s.bytes !== undefined) parts.push(kb(s.bytes));
  }
  return parts.join(' · ');
}

/** Where a mark goes in a band from `top`, `h` px high, by its kind ('split': retrieval in the top half, generation in the bottom one). */
function markBox(kind: TraceStage['kind'], top: number, h: number, split: boolean): { y: number; h: number } {
  if (split) {
    const half = h / 2;
    if (kind === 'prefetch') return { y: top + 2, h: 5 };
    if (RETRIEVAL.has(kind)) return { y: top + 8, h: half - 10 };
    if (kind === 'decode') return { y: top + half, h: half - 1 };
    return kind === 'step' ? { y: top + half + 4, h: half - 8 } : { y: top + half + 2, h: half - 4 };
  }
  // A workflow's row: one kind of work; prefetch reads a strip along its top.
  if (kind === 'prefetch') return { y: top + 1, h: 3 };
  if (RETRIEVAL.has(kind)) return { y: top + 5, h: h - 7 };
  if (kind === 'decode') return { y: top + 1, h: h - 2 };
  return kind === 'step' ? { y: top + 3, h: h - 6 } : { y: top + 2, h: h - 4 };
}

export function createTimeline(svg: SVGSVGElement, legend: HTMLElement): Timeline {
  const lanes: Lane[] = [];
  let queued = false;
  for (const [kind, name] of Object.entries(KINDS)) {
    const li = document.createElement('li');
    const i = document.createElement('i');
    i.style.background = `var(--${kind})`;
    li.append(i, name);
    legend.append(li);
  }
  {
    const li = document.createElement('li');
    li.className = 'legend-batched';
    const i = document.createElement('i');
    i.className = 'batched';
    li.append(i, 'search slice shared with other queries (one multi-query dispatch, ×n queries)');
    legend.append(li);
  }

  const el = <K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, parent: Element): SVGElementTagNameMap[K] => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    parent.append(e);
    return e;
  };

  const draw = () => {
    queued = false;
    svg.replaceChildren();
    const width = Math.max(480, svg.clientWidth || 720);
    if (lanes.length === 0) {
      svg.setAttribute('viewBox', `0 0 ${width} 60`);
      svg.setAttribute('height', '60');
      el('text', { x: 12, y: 34, class: 'empty' }, svg).textContent =
        'Ask a question: its embedding, search slices, prefill and decode steps appear here as they happen.';
      return;
    }
    const all = lanes.flatMap((l) => l.stages);
    const now = performance.timeOrigin + performance.now();
    const t0 = all.length ? Math.min(...all.map((s) => s.at)) : now;
    let t1 = all.length ? Math.max(...all.map((s) => s.at + s.end - s.start)) : now;
    if (lanes.some((l) => l.active)) t1 = Math.max(t1, now);
    const span = Math.max(1, t1 - t0);
    const plot = width - LABEL - RIGHT;
    const x = (t: number) => LABEL + ((t - t0) / span) * plot;
    // A lane of two bands is LANE px high; a workflow's, its question's line and a row per node.
    // A row of retrieval and generation both (the question embedded and its lists read while its
    // hypothesis was written, an answer's periodic searches) is twice as high, the two in halves.
    const rowsOf = lanes.map((lane) =>
      laneRows(lane)?.map((name) => {
        const stages = lane.stages.filter((s) => nodeOf(s) === name);
        const split = stages.some((s) => RETRIEVAL.has(s.kind)) && stages.some((s) => !RETRIEVAL.has(s.kind));
        return { name, stages, split, h: split ? 2 * ROW : ROW };
      }),
    );
    const heights = rowsOf.map((rows) => (rows ? HEAD + rows.reduce((a, r) => a + r.h, 0) + 6 : LANE));
    const height = TOP + heights.reduce((a, h) => a + h, 0) + 4;
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('height', String(height));
    svg.dataset.t0 = String(t0);
    svg.dataset.t1 = String(t1);

    // The time axis: ticks at a round step, at most six and never closer than a label's width.
    const axis = el('g', { class: 'axis' }, svg);
    const stepMs = tickStep(span, plot);
    for (let t = 0; t <= span; t += stepMs) {
      el('line', { x1: x(t0 + t), x2: x(t0 + t), y1: TOP - 6, y2: height, class: 'grid' }, axis);
      // A tick too near the right edge for its label keeps only its line.
      if (x(t0 + t) + LABEL_PX <= width + RIGHT) el('text', { x: x(t0 + t) + 2, y: TOP - 10 }, axis).textContent = tickLabel(t, stepMs);
    }

    /** Draws one stage into `g`, in the band from `top`, `h` px high. */
    const mark = (g: SVGGElement, lane: Lane, s: TraceStage, top: number, h: number, split: boolean) => {
      const start = s.at,
        end = s.at + s.end - s.start;
      const box = markBox(s.kind, top, h, split);
      const node = s.node !== undefined ? { 'data-node': s.node } : {};
      if (s.kind === 'decode') {
        el(
          'rect',
          {
            x: x(start),
            y: box.y,
            width: Math.max(1, x(end) - x(start)),
            height: box.h,
            class: 'decode-window',
            'data-kind': 'decode',
            ...node,
            'data-start': start,
            'data-end': end,
          },
          g,
        );
        return;
      }
      const w = Math.max(s.kind === 'step' ? 1 : 2, x(end) - x(start));
      const batched = s.kind === 'search' && (s.batch ?? 1) > 1;
      const r = el(
        'rect',
        {
          x: x(start),
          y: box.y,
          width: w,
          height: box.h,
          fill: `var(--${s.kind}, #999)`,
          class: `mark mark-${s.kind}${batched ? ' batched' : ''}`,
          'data-kind': s.kind,
          'data-request': lane.id,
          ...node,
          'data-start': start,
          'data-end': end,
          ...(s.clusters !== undefined ? { 'data-lists': s.clusters } : {}),
          ...(s.bytes !== undefined ? { 'data-bytes': s.bytes } : {}),
          ...(batched ? { 'data-batch': s.batch! } : {}),
        },
        g,
      );
      if (s.kind === 'step') r.setAttribute('opacity', '0.85');
      el('title', {}, r).textContent = describe(s);
      if (s.kind === 'search' && box.h >= 9) {
        const text = batched && w > 40 ? `${s.clusters ?? ''}L ×${s.batch}` : batched && w > 18 ? `×${s.batch}` : w > 26 ? `${s.clusters ?? ''}L` : '';
        if (text) {
          const t = el('text', { x: x(start) + 2, y: box.y + box.h - (split ? 3 : 2), 'font-size': 9, fill: '#fff', 'pointer-events': 'none' }, g);
          t.textContent = text;
        }
      }
    };

    let y = TOP;
    lanes.forEach((lane, i) => {
      const rows = rowsOf[i];
      const laneHeight = heights[i]!;
      const g = el(
        'g',
        { class: rows ? 'lane lane-workflow' : 'lane', 'data-request': lane.id, ...(lane.workflow ? { 'data-workflow': lane.workflow } : {}) },
        svg,
      );
      const label = el('text', { x: 4, y: y + (rows ? 13 : 16), class: 'lane-label', fill: lane.color }, g);
      // A workflow lane's question has a line of its own, over the empty top of the plot: it may run
      // into it, and the workflow's name follows it.
      fitLabel(label, lane.label, rows ? LABEL - 10 + plot / 2 : LABEL - 10);
      el('title', {}, label).textContent = lane.workflow ? `${lane.label} (workflow ${lane.workflow})` : lane.label;
      if (rows && lane.workflow)
        el('text', { x: 4 + label.getComputedTextLength() + 8, y: y + 13, class: 'workflow-name', 'font-size': 11 }, g).textContent =
          `(${shortened(lane.workflow, 24)})`;
      el('rect', { x: 0, y: y + 2, width: 3, height: laneHeight - 10, fill: lane.color }, g);
      if (!rows) {
        // Two bands: retrieval above, generation below.
        el('rect', { x: LABEL, y, width: plot, height: LANE - 6, class: 'band' }, g);
        el('text', { x: 4, y: y + 31, class: 'lane-label', 'font-size': 10, fill: '#5c5f6a' }, g).textContent = 'retrieval ▸ generation';
        for (const s of lane.stages) mark(g, lane, s, y, LANE - 6, true);
      } else {
        // A row per node, labelled.
        let top = y + HEAD;
        for (const { name, stages, split, h } of rows) {
          const row = el('g', { class: 'row', 'data-node': name }, g);
          el('rect', { x: LABEL, y: top, width: plot, height: h - 2, class: 'band' }, row);
          const nodeLabel = el('text', { x: LABEL - 6, y: top + h / 2 + 3, 'text-anchor': 'end', class: 'node-label', 'font-size': 10 }, row);
          nodeLabel.textContent = shortened(name, 14);
          for (const s of stages) mark(row, lane, s, top, h - 2, split);
          top += h;
        }
      }
      y += laneHeight;
    });
  };

  const redraw = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(draw);
  };
  const ticker = () => {
    if (lanes.some((l) => l.active)) redraw();
  };
  setInterval(ticker, 250);
  new ResizeObserver(redraw).observe(svg);
  draw();

  return {
    addRequest(id, label, workflow) {
      const color = COLORS[id % COLORS.length]!;
      lanes.push({
        id,
        label,
        color,
        stages: [],
        active: true,
        ...(workflow?.workflow ? { workflow: workflow.workflow } : {}),
        ...(workflow?.nodes ? { nodes: workflow.nodes } : {}),
        ...(workflow?.quiet ? { quiet: workflow.quiet } : {}),
      });
      while (lanes.length > MAX_LANES) lanes.shift();
      redraw();
      return color;
    },
    addStage(id, stage) {
      const lane = lanes.find((l) => l.id === id);
      if (!lane) return;
      lane.stages.push(stage);
      redraw();
    },
    finish(id) {
      const lane = lanes.find((l) => l.id === id);
      if (lane) lane.active = false;
      redraw();
    },
    finishAll() {
      if (!lanes.some((l) => l.active)) return;
      for (const l of lanes) l.active = false;
      redraw();
    },
    clear() {
      lanes.length = 0;
      redraw();
    },
  };
}

/** How many of `b`'s search slices started inside `a`'s decode window (between its first and last step). */
export function wovenSlices(a: readonly TraceStage[], b: readonly TraceStage[]): number {
  const steps = a.filter((s) => s.kind === 'step');
  if (steps.length < 2) return 0;
  const first = steps[0]!.at,
    last = steps.at(-1)!.at + steps.at(-1)!.end - steps.at(-1)!.start;
  return b.filter((s) => s.kind === 'search' && s.at >= first && s.at <= last).length;
}
