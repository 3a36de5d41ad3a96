// The demo's live timeline (demo/timeline.ts): its time axis labels stay clear of each other
// whatever the questions span — milliseconds, seconds, or minutes (a slow device answering three
// questions) — and at most six ticks are drawn. The screenshot goes to test/demo/__screenshots__/ (ignored by git).
import { afterEach, expect, test } from 'vitest';
import { page } from 'vitest/browser';
import '../../demo/demo.css';
import { createTimeline, tickLabel, tickStep } from '../../demo/timeline.js';
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
