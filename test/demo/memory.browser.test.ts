// The demo's GPU memory panel (demo/memory.ts) with what a real device reports and the offline
// end-to-end test cannot: a budget, every holder, gigabytes. Its figures, bar and list agree with
// the report, nothing sticks out of a side column 420 px or 19rem wide, and without WebGPU (no
// report) it stays hidden. The screenshots go to test/demo/__screenshots__/ (ignored by git).
import { afterEach, expect, test } from 'vitest';
import { page } from 'vitest/browser';
import '../../demo/demo.css';
import { drawMemory, holders, mib, type MemoryView } from '../../demo/memory.js';

afterEach(() => {
  document.body.replaceChildren();
});

const MiB = 2 ** 20;
/** A report as the engine sends it (the fields the panel reads; the engine may send more). */
const report = (r: { budget: number; used: number; holders: Record<string, number>; reclaimable?: number }) =>
  ({ reclaimable: 0, ...r }) as NonNullable<MemoryView['memory']>;
/** A Llama 3.2 1B on a 3 GiB budget, after some searches: every holder there is, and a large generator beside tiny ones. */
const FULL: MemoryView = {
  memory: report({
    budget: 3 * 2 ** 30,
    used: 0,
    holders: {
      generator: 1240 * MiB,
      'list cache': 512 * MiB,
      'rerank KV': 96 * MiB,
      embedder: 87.4 * MiB,
      index: 0.4 * MiB,
      search: 6 * MiB,
      training: 12 * MiB,
      other: 3000,
    },
    reclaimable: 560 * MiB,
  }),
  engine: { connections: 3, users: 2, loads: 1 },
};
FULL.memory!.used = Object.values(FULL.memory!.holders).reduce((a, b) => a + b, 0);

/** The panel inside a card of the demo's side column, `width` px wide. */
function card(width: string) {
  const section = document.createElement('section');
  section.className = 'card';
  section.style.width = width;
  const root = document.createElement('div');
  root.className = 'memory';
  section.append(root);
  document.body.append(section);
  return { section, root };
}

const outside = (section: HTMLElement) => {
  const box = section.getBoundingClientRect();
  return [...section.querySelectorAll('*')]
    .map((e) => ({ e, r: e.getBoundingClientRect() }))
    .filter(({ r }) => r.left < box.left - 0.5 || r.right > box.right + 0.5)
    .map(({ e, r }) => `${e.tagName}.${e.className} ${r.left}–${r.right} outside ${box.left}–${box.right}`);
};

test('a budget and every holder: the figures, the bar and the list agree with the report, and nothing is clipped at 420 px or in the 19rem column', async () => {
  await page.viewport(900, 700);
  for (const width of ['420px', '19rem']) {
    const { section, root } = card(width);
    drawMemory(root, FULL);
    expect(root.hidden).toBe(false);
    expect(root.querySelector('#mem-total')!.textContent).toBe(
      `${mib(FULL.memory!.used)} of 3.00 GiB used (${((100 * FULL.memory!.used) / FULL.memory!.budget).toFixed(0)} %)`,
    );
    // Largest first, each with its bytes.
    const listed = [...root.querySelectorAll('.mem-holders li')].map((li) => [li.getAttribute('data-holder'), li.querySelector('.mem-bytes')!.textContent]);
    expect(listed).toEqual(holders(FULL.memory!).map(([h, b]) => [h, mib(b)]));
    expect(listed[0]).toEqual(['generator', '1.21 GiB']);
    expect(listed.at(-1)).toEqual(['other', '3 KiB']);
    // The bar is the budget: each segment its share of it (a sliver at least), the free part left empty.
    const bar = root.querySelector<HTMLElement>('.mem-bar')!.getBoundingClientRect();
    const segs = [...root.querySelectorAll<HTMLElement>('.mem-seg')].map((s) => ({ holder: s.dataset.holder!, w: s.getBoundingClientRect().width }));
    expect(segs.map((s) => s.holder)).toEqual(listed.map(([h]) => h));
    for (const s of segs) expect(s.w, s.holder).toBeGreaterThanOrEqual(2.9);
    const gen = segs[0]!.w / bar.width;
    expect(gen).toBeGreaterThan(0.38);
    expect(gen).toBeLessThan(0.42);
    expect(segs.reduce((a, s) => a + s.w, 0)).toBeLessThan(bar.width * 0.7);
    expect(root.querySelector('.mem-engine')!.textContent).toMatch(/^One engine for 3 tabs of this app \(2 using it\)/);
    expect(root.querySelector('.mem-reclaimable')!.textContent).toMatch(/^The caches give back up to 560 MiB when a model needs the memory/);
    expect(outside(section), width).toEqual([]);
    await page.screenshot({ element: section, path: `__screenshots__/gpu-memory-budget-${width}.png` });
    section.remove();
  }
});

test('without a budget the bar is what is used and says "no budget set"; without WebGPU the panel is hidden', async () => {
  const { section, root } = card('19rem');
  drawMemory(root, {
    memory: report({ budget: Number.POSITIVE_INFINITY, used: 3 * MiB + 4096, holders: { generator: 3 * MiB, index: 4096 } }),
    engine: { connections: 1, users: 1, loads: 1 },
  });
  expect(root.querySelector('#mem-total')!.textContent).toBe('3.0 MiB used · no budget set');
  const bar = root.querySelector<HTMLElement>('.mem-bar')!.getBoundingClientRect();
  const segs = [...root.querySelectorAll<HTMLElement>('.mem-seg')].map((s) => s.getBoundingClientRect().width);
  expect(segs.reduce((a, b) => a + b, 0)).toBeCloseTo(bar.width, 0);
  expect(segs[1]).toBeGreaterThanOrEqual(2.9); // the index's 4 KiB still shows
  expect(root.querySelector('.mem-engine')!.textContent).toMatch(/this tab only/);
  expect(root.querySelector('.mem-reclaimable')).toBeNull(); // nothing to give back
  expect(outside(section)).toEqual([]);
  await page.screenshot({ element: section, path: '__screenshots__/gpu-memory-no-budget.png' });
  drawMemory(root, { memory: undefined, engine: { connections: 1, users: 1, loads: 0 } });
  expect(root.hidden).toBe(true);
  expect(root.childElementCount).toBe(0);
  drawMemory(root, undefined);
  expect(root.hidden).toBe(true);
});
