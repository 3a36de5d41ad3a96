// The live timeline: one lane per question on one time axis, drawn in SVG from the runtime's
// 'stage' events as answers stream. Every stage carries `at`, its start on a clock shared by all
// requests and the engine worker (ms since the epoch), so stages of different requests — and a
// waiting question's search slices that arrive after the fact — land where they happened. The
// top band of a lane is retrieval, the bottom band generation; a tick per decode step.

import type { TraceStage } from '../src/entries/client.js';

const SVG = 'http://www.w3.org/2000/svg';
const LANE = 46,
  TOP = 26,
  LABEL = 150,
  RIGHT = 12,
  MAX_LANES = 6;
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
};

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
}

export interface Timeline {
  /** A new lane for a question; returns its colour. */
  addRequest(id: number, label: string): string;
  addStage(id: number, stage: TraceStage): void;
  finish(id: number): void;
  /** Every lane stops growing with the clock (nothing is streaming). */
  finishAll(): void;
  clear(): void;
}

const COLORS = ['#3454d1', '#c2185b', '#00897b', '#6d4c41', '#5e35b1', '#ef6c00'];

const kb = (bytes: number) => (bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`);

function describe(s: TraceStage): string {
  const ms = `${(s.end - s.start).toFixed(1)} ms`;
  const parts = [KINDS[s.kind] ?? s.kind, ms];
  if (s.kind === 'search') {
    if (s.clusters !== undefined) parts.push(`${s.clusters} list${s.clusters === 1 ? '' : 's'}`);
    if (s.bytes !== undefined) parts.push(`${kb(s.bytes)} streamed in`);
    if (s.nprobe !== undefined) parts.push(`nprobe ${s.nprobe}`);
    if (s.window !== undefined) parts.push(`periodic window ${s.window}`);
  } else if (s.kind === 'rerank' && s.passages !== undefined) {
    parts.push(`${s.passages} passage${s.passages === 1 ? '' : 's'} scored`);
  } else if (s.kind === 'prefetch') {
    if (s.clusters !== undefined) parts.push(`${s.clusters} lists`);
    if (s.bytes !== undefined) parts.push(kb(s.bytes));
  }
  return parts.join(' · ');
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
    const height = TOP + lanes.length * LANE + 4;
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

    lanes.forEach((lane, i) => {
      const y = TOP + i * LANE;
      const g = el('g', { class: 'lane', 'data-request': lane.id }, svg);
      el('rect', { x: LABEL, y, width: plot, height: LANE - 6, class: 'band' }, g);
      const label = el('text', { x: 4, y: y + 16, class: 'lane-label', fill: lane.color }, g);
      label.textContent = lane.label.length > 22 ? `${lane.label.slice(0, 21)}…` : lane.label;
      el('title', {}, label).textContent = lane.label;
      el('text', { x: 4, y: y + 31, class: 'lane-label', 'font-size': 10, fill: '#5c5f6a' }, g).textContent = 'retrieval ▸ generation';
      el('rect', { x: 0, y: y + 2, width: 3, height: LANE - 10, fill: lane.color }, g);
      const half = (LANE - 6) / 2;
      for (const s of lane.stages) {
        const start = s.at,
          end = s.at + s.end - s.start;
        if (s.kind === 'decode') {
          el(
            'rect',
            {
              x: x(start),
              y: y + half,
              width: Math.max(1, x(end) - x(start)),
              height: half - 1,
              class: 'decode-window',
              'data-kind': 'decode',
              'data-start': start,
              'data-end': end,
            },
            g,
          );
          continue;
        }
        const top = RETRIEVAL.has(s.kind);
        const band =
          s.kind === 'prefetch'
            ? { y: y + 2, h: 5 }
            : top
              ? { y: y + 8, h: half - 10 }
              : s.kind === 'step'
                ? { y: y + half + 4, h: half - 8 }
                : { y: y + half + 2, h: half - 4 };
        const w = Math.max(s.kind === 'step' ? 1 : 2, x(end) - x(start));
        const r = el(
          'rect',
          {
            x: x(start),
            y: band.y,
            width: w,
            height: band.h,
            fill: `var(--${s.kind}, #999)`,
            class: `mark mark-${s.kind}`,
            'data-kind': s.kind,
            'data-request': lane.id,
            'data-start': start,
            'data-end': end,
            ...(s.clusters !== undefined ? { 'data-lists': s.clusters } : {}),
            ...(s.bytes !== undefined ? { 'data-bytes': s.bytes } : {}),
          },
          g,
        );
        if (s.kind === 'step') r.setAttribute('opacity', '0.85');
        el('title', {}, r).textContent = describe(s);
        if (s.kind === 'search' && w > 26) {
          const t = el('text', { x: x(start) + 2, y: band.y + band.h - 3, 'font-size': 9, fill: '#fff', 'pointer-events': 'none' }, g);
          t.textContent = `${s.clusters ?? ''}L`;
        }
      }
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
    addRequest(id, label) {
      const color = COLORS[id % COLORS.length]!;
      lanes.push({ id, label, color, stages: [], active: true });
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
