// The engine's GPU memory, drawn in step 1 under the model's status (issue 23): what it uses of
// its budget, a stacked bar of who holds it (the generator, the list cache, the index…) with
// each holder's MiB beside its colour, and how many tabs share the engine. The figures are the
// engine's info() (`memory`, `engine`); the page calls drawMemory() with them after the runtime
// is ready, after each answer and after each ingest.

import type { EngineInfo } from '../src/transport/engine-api.js';

/** What the panel draws: the engine's memory report (undefined without WebGPU) and who shares the engine. */
export interface MemoryView {
  memory: EngineInfo['memory'];
  engine?: EngineInfo['engine'] | undefined;
}

/** The holders in the order they are drawn, each with its colour (the page's palette). */
export const HOLDERS: Record<string, string> = {
  generator: 'var(--prefill)',
  'rerank KV': 'var(--rerank)',
  reranker: 'var(--rewrite)',
  embedder: 'var(--embed)',
  'list cache': 'var(--search)',
  index: 'var(--lexical)',
  search: 'var(--generate)',
  training: 'var(--profile)',
  other: 'var(--muted)',
};

/** Bytes as KiB, MiB or GiB (binary units: the budget's own, as its DEVICE_LIMIT errors say). */
export function mib(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 100 * 2 ** 20) return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.max(bytes > 0 ? 1 : 0, Math.round(bytes / 2 ** 10))} KiB`;
}

/** The holders with bytes, largest first; unknown names (a holder added later) after the known ones. */
export function holders(memory: NonNullable<MemoryView['memory']>): [string, number][] {
  const order = Object.keys(HOLDERS);
  const rank = (h: string) => (order.includes(h) ? order.indexOf(h) : order.length);
  return Object.entries(memory.holders)
    .filter(([, b]) => b > 0)
    .sort((a, b) => b[1] - a[1] || rank(a[0]) - rank(b[0]));
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string) => {
  const e = document.createElement(tag);
  e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
};

/**
 * Draws `view` into `root` (its children replaced), or hides `root` when there is nothing to
 * show: no report yet, or no WebGPU (the engine then has no GPU memory and `memory` is undefined).
 */
export function drawMemory(root: HTMLElement, view: MemoryView | undefined): void {
  const memory = view?.memory;
  root.hidden = !memory;
  if (!memory) {
    root.replaceChildren();
    return;
  }
  const budgeted = Number.isFinite(memory.budget);
  const held = holders(memory);
  // With a budget the bar is the budget (its free part empty); without one it is what is used.
  const whole = budgeted ? Math.max(memory.budget, memory.used) : memory.used;
  const share = (b: number) => (whole > 0 ? (100 * b) / whole : 0);

  const head = el('div', 'mem-head');
  head.append(el('h3', '', 'GPU memory'));
  const total = el('span', 'mem-total');
  total.id = 'mem-total';
  total.textContent = budgeted
    ? `${mib(memory.used)} of ${mib(memory.budget)} used (${share(memory.used).toFixed(0)} %)`
    : `${mib(memory.used)} used · no budget set`;
  head.append(total);

  const bar = el('div', 'mem-bar');
  bar.setAttribute('role', 'img');
  bar.setAttribute('aria-label', `GPU memory by holder: ${held.map(([h, b]) => `${h} ${mib(b)}`).join(', ') || 'nothing held'}`);
  for (const [h, b] of held) {
    const seg = el('span', 'mem-seg');
    seg.dataset.holder = h;
    seg.style.width = `${share(b)}%`;
    seg.style.background = HOLDERS[h] ?? HOLDERS.other!;
    seg.title = `${h}: ${mib(b)}`;
    bar.append(seg);
  }

  const list = el('ul', 'mem-holders');
  list.setAttribute('aria-label', 'GPU memory by holder');
  for (const [h, b] of held) {
    const li = el('li', '');
    li.dataset.holder = h;
    const swatch = el('i', '');
    swatch.style.background = HOLDERS[h] ?? HOLDERS.other!;
    li.append(swatch, el('span', 'mem-name', h), el('span', 'mem-bytes', mib(b)));
    li.title = `${h}: ${mib(b)}, ${share(b).toFixed(1)} % of ${budgeted ? 'the budget' : 'what is used'}`;
    list.append(li);
  }
  if (!held.length) list.append(el('li', 'mem-none', 'nothing held yet'));

  root.replaceChildren(head, bar, list);
  // The caches are elastic (the engine's budget): say what they would give back to a model.
  if (memory.reclaimable > 0) {
    root.append(
      el(
        'p',
        'hint mem-reclaimable',
        `The caches give back up to ${mib(memory.reclaimable)} when a model needs the memory, and take it again when it is freed.`,
      ),
    );
  }
  const engine = view?.engine;
  if (engine) {
    const tabs = (n: number) => `${n} tab${n === 1 ? '' : 's'}`;
    const shared =
      engine.connections > 1
        ? `One engine for ${tabs(engine.connections)} of this app${engine.users < engine.connections ? ` (${engine.users} using it)` : ''}: the models are loaded once.`
        : 'The engine serves this tab only: other tabs of this app would share it, and its models.';
    root.append(el('p', 'hint mem-engine', shared));
  }
}
