// The demo app as a person uses it (`npm start`): the built app, served by `vite preview`, in real
// Chromium, offline (`?models=local`: the reference generator and a small test embedder served
// from the app's models/ folder). Drop a folder of notes → the progress bars move → ask → a
// streamed answer in the <weft-chat> conversation whose sources are passages of the dropped notes
// (opened in its passage panel); "Ask 3 at once" → the timeline shows a later question's search
// slices inside the first answer's decode window;
// reload → the index is still listed and answers without re-ingesting; a workflow picked beside the
// conversation → its stages folded above the answer, a timeline row per node; the benchmark view plots
// recall against queries/s; step 1 shows the engine's GPU memory by holder once the model is ready,
// unclipped at 1280 and 420 px wide. Screenshots of each step go to $WEFT_SCREENSHOTS (default: a temp
// folder) for people to look at.
import { mkdirSync, mkdtempSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright';
import { CHROMIUM_ARGS, CHROMIUM_NO_WEBGPU_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.mjs';
import { buildTinyEmbeddingGraph } from '../support/tiny-onnx.js';
import { createRng } from '../../src/random.js';
import { makePdf } from '../support/pdf.js';

const sharedAssets = resolve(import.meta.dirname, '../../../shared/assets');
const shots = process.env.WEFT_SCREENSHOTS ?? join(tmpdir(), 'weft-demo-screenshots');

/** The folder a person drops: notes on distinct topics, in a subfolder too, a PDF, and a file the app must skip. */
const NOTES: Record<string, string> = {
  'garden/tomatoes.md': '# Tomatoes\nTomato seedlings need sixteen hours of light and should be hardened off for a week before planting out in May.',
  'garden/compost.md': '# Compost\nA compost heap needs a balance of green nitrogen-rich clippings and brown carbon-rich leaves, turned every two weeks.',
  'travel/lisbon.txt': 'Lisbon trip: the tram 28 climbs through Alfama; the custard tarts in Belem are best warm with cinnamon.',
  'travel/kyoto.md': '# Kyoto\nThe Fushimi Inari shrine has thousands of vermilion torii gates climbing the mountain behind it.',
  'work/meeting.html': '<html><body><h1>Planning meeting</h1><p>The launch moved to the third week of October after the security review.</p></body></html>',
  'work/budget.md': '# Budget\nThe travel budget for the team is four thousand euros per quarter, approved by the finance lead.',
  'recipes/bread.md': '# Sourdough\nFeed the starter twice a day; the dough proves overnight in the fridge and bakes at 250 degrees in a Dutch oven.',
  'recipes/soup.txt': 'Leek and potato soup: sweat the leeks in butter, add potatoes and stock, simmer twenty minutes, then blend.',
  'photo.jpg': 'not really a photo',
};
/** A two-page PDF manual in the same folder: its passages are cited with their page. */
const PDF_PAGES = [
  ['Heater manual', 'Switch the heater on with the red dial on its left side.'],
  ['Maintenance', 'Clean the heater filter every three months with warm soapy water.'],
];

let work: string;
let out: string;
let docs: string;
let server: PreviewServer;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  out = join(work, 'app');
  docs = join(work, 'my-notes');
  mkdirSync(shots, { recursive: true });
  await build({ logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  // The offline models, where `?models=local` looks for them.
  const models = join(out, 'models');
  mkdirSync(models, { recursive: true });
  for (const f of [
    'lm-stories260K/stories260K.bin',
    'lm-stories260K/tok512.bin',
    'minilm-tokenizer/tokenizer.json',
    'minilm-tokenizer/tokenizer_config.json',
  ]) {
    copyFileSync(join(sharedAssets, f), join(models, f.split('/')[1]!));
  }
  const rng = createRng(5);
  const V = 30522,
    D = 32;
  writeFileSync(
    join(models, 'tiny.onnx'),
    new Uint8Array(
      buildTinyEmbeddingGraph(
        Float32Array.from({ length: V * D }, () => rng.normal()),
        Float32Array.from({ length: D * D }, () => rng.normal() * 0.3),
        new Float32Array(D),
        V,
        D,
      ),
    ),
  );
  for (const [path, text] of Object.entries(NOTES)) {
    mkdirSync(join(docs, path, '..'), { recursive: true });
    writeFileSync(join(docs, path), text);
  }
  mkdirSync(join(docs, 'manuals'), { recursive: true });
  writeFileSync(join(docs, 'manuals/heater.pdf'), makePdf(PDF_PAGES));
  server = await preview({ logLevel: 'error', build: { outDir: out }, preview: { port: 0, host: '127.0.0.1', strictPort: false } });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const url = (path = '?models=local') => new URL(path, server.resolvedUrls!.local[0]!).href;
const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

async function openApp(page: Page, errors: string[]) {
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => {
    if (r.status() === 404) errors.push(`404 ${r.url()}`);
  }); // the favicon too
  page.on('dialog', (d) => void d.accept());
  await page.goto(url());
  await page.waitForFunction(() => /^Ready|Could not/.test(document.querySelector('#engine-status')!.textContent ?? ''), undefined, { timeout: 90_000 });
  expect(await page.locator('#engine-status').textContent()).toMatch(/^Ready/);
}

/** The conversation: the <weft-chat> element (Playwright's locators pierce its open shadow root). */
const chat = (page: Page) => page.locator('weft-chat');
const answersIn = (page: Page) => chat(page).locator('.message.assistant');

/**
 * The GPU memory panel of step 1 against what the engine reports (its info(), through the
 * element's runtime): each holder it lists with the engine's bytes for it, the generator's > 0.
 */
async function memoryPanel(page: Page) {
  await expect.poll(() => page.locator('#gpu-memory li[data-holder=generator]').count(), { timeout: 20_000 }).toBe(1);
  const info = await page.evaluate(async () => {
    const rag = (
      document.querySelector('weft-chat') as unknown as {
        rag: { info(): Promise<{ memory?: { budget: number; used: number; holders: Record<string, number> } }> };
      }
    ).rag;
    const m = (await rag.info()).memory!;
    return { budget: String(m.budget), used: m.used, holders: m.holders };
  });
  expect(info.holders.generator).toBeGreaterThan(0);
  expect(info.budget).toBe('Infinity'); // the demo sets no gpuBudgetBytes
  const shown = await page
    .locator('#gpu-memory li')
    .evaluateAll((lis) => lis.map((li) => [li.getAttribute('data-holder'), li.querySelector('.mem-bytes')!.textContent]));
  expect(shown.map(([h]) => h).sort()).toEqual(
    Object.keys(info.holders)
      .filter((h) => info.holders[h]! > 0)
      .sort(),
  );
  const kib = (b: number) => (b < 2 ** 20 ? `${Math.max(1, Math.round(b / 1024))} KiB` : undefined);
  for (const [h, text] of shown) {
    expect(text, h!).toMatch(/^\d+(\.\d+)? (KiB|MiB|GiB)$/);
    const b = info.holders[h!]!;
    if (kib(b)) expect(text, h!).toBe(kib(b));
  }
  expect(await page.locator('#mem-total').textContent()).toMatch(/^\d+(\.\d+)? (KiB|MiB|GiB) used · no budget set$/);
  expect(await page.locator('#gpu-memory .mem-seg[data-holder=generator]').evaluate((e) => e.getBoundingClientRect().width)).toBeGreaterThan(0);
  expect(await page.locator('#gpu-memory .mem-engine').textContent()).toMatch(/this tab only|One engine for \d+ tabs/);
  return info;
}

/** Whether anything in the GPU memory panel sticks out of step 1's card, or out of the window. */
async function memoryClipped(page: Page) {
  return page.evaluate(() => {
    const card = document.querySelector('#model-card')!.getBoundingClientRect();
    const out: string[] = [];
    for (const e of document.querySelectorAll('#gpu-memory, #gpu-memory *')) {
      const r = e.getBoundingClientRect();
      if (r.left < card.left - 0.5 || r.right > card.right + 0.5 || r.right > document.documentElement.clientWidth)
        out.push(`${e.tagName}.${e.className}: ${r.left}–${r.right} outside ${card.left}–${card.right}`);
    }
    if (document.documentElement.scrollWidth > document.documentElement.clientWidth)
      out.push(`the page scrolls sideways (${document.documentElement.scrollWidth} px)`);
    return out;
  });
}

/** Waits until the conversation holds `n` answers and none is still streaming. */
async function answered(page: Page, n: number, timeout = 90_000) {
  await page.waitForFunction(
    (n) => {
      const all = [...document.querySelector('weft-chat')!.shadowRoot!.querySelectorAll('.message.assistant')];
      return all.length >= n && all.every((a) => a.getAttribute('aria-busy') === 'false');
    },
    n,
    { timeout },
  );
}

/** The sources of an answer: each opened in the element's passage panel, its document and passage read from there. */
async function sourcesOf(page: Page, answer: ReturnType<typeof answersIn>) {
  const out: { doc: string; text: string }[] = [];
  const buttons = answer.locator('.sources button');
  for (let i = 0; i < (await buttons.count()); i++) {
    await buttons.nth(i).click();
    const panel = chat(page).locator('[part=panel]');
    out.push({ doc: (await buttons.nth(i).getAttribute('title'))!, text: (await panel.locator('[part=passage]').textContent())! });
    expect(await panel.locator('h2').textContent()).toContain(out.at(-1)!.doc); // the panel names the passage's document
  }
  return out;
}

/** Asks `question` in the conversation's own box and waits for its answer; returns what the answer shows. */
async function askOne(page: Page, question: string) {
  const before = await answersIn(page).count();
  await chat(page).locator('textarea').fill(question);
  await chat(page).locator('[part=send]').click();
  await answered(page, before + 1);
  const card = answersIn(page).nth(before);
  return {
    card,
    answer: (await card.locator('.bubble').textContent()) ?? '',
    meta: (await card.locator('.meta').textContent()) ?? '',
    sources: await sourcesOf(page, card),
  };
}

/** Whether `passage` (a chunk: headings, then text) came from the note `doc` (its path in the dropped folder, folder name first). */
const fromNote = (doc: string, passage: string) => {
  const page = /, p\. (\d+)$/.exec(doc);
  const source = page ? PDF_PAGES[Number(page[1]) - 1]?.join('\n') : NOTES[doc.replace(/^my-notes\//, '')];
  if (!source) return false;
  const words = passage
    .replace(/[#<>]/g, ' ')
    .split(/\s+/)
    .filter((w) => w.length > 3);
  return words.length > 0 && words.every((w) => source.includes(w));
};

test('drop a folder → progress → ask → a streamed answer citing the dropped notes; overlapping questions weave search slices into decoding', async () => {
  const page = await context.newPage();
  const errors: string[] = [];
  await openApp(page, errors);
  // Step 1 shows the engine's GPU memory once the model is ready: the reference generator holds some.
  await memoryPanel(page);
  await shot(page, '1-ready');
  expect(await page.locator('#indexes-empty').isVisible()).toBe(true);
  expect(await page.locator('#ask3').isDisabled()).toBe(true);
  expect(await chat(page).locator('[part=status]').textContent()).toMatch(/Ready · “notes” · 0 passages/);

  // Record every value the progress bars show while the folder is ingested.
  await page.evaluate(() => {
    const seen: Record<string, string[]> = {};
    (window as unknown as { progressSeen: typeof seen }).progressSeen = seen;
    new MutationObserver(() => {
      for (const p of ['read', 'embed', 'index', 'persist']) {
        const t = document.querySelector(`#t-${p}`)!.textContent!;
        if (t && seen[p]?.at(-1) !== t) (seen[p] ??= []).push(t);
      }
    }).observe(document.querySelector('.phases')!, { subtree: true, childList: true, characterData: true });
  });
  await page.setInputFiles('#folder-input', docs);
  await page.waitForFunction(() => /^Added|Could not/.test(document.querySelector('#ingest-status')!.textContent ?? ''), undefined, { timeout: 90_000 });
  const status = await page.locator('#ingest-status').textContent();
  expect(status).toMatch(/^Added 9 documents as \d+ passages/);
  const seen = await page.evaluate(() => (window as unknown as { progressSeen: Record<string, string[]> }).progressSeen);
  for (const p of ['read', 'embed', 'index', 'persist']) expect(seen[p]?.length, p).toBeGreaterThan(0);
  expect(seen.read!.length).toBeGreaterThan(1); // it moved, document by document
  for (const p of ['read', 'embed', 'persist']) expect(seen[p]!.at(-1), p).toMatch(/^(\d+) \/ \1$/);
  expect(await page.locator('#indexes tbody tr[data-index=notes]').count()).toBe(1);
  expect(await page.locator('#ask3').isEnabled()).toBe(true);
  await expect.poll(() => chat(page).locator('[part=status]').textContent()).toMatch(/“notes” · \d+ passages/);
  await shot(page, '2-ingested');

  // A question answered from the notes in <weft-chat>: streamed tokens, sources from the dropped files.
  const tokens: number[] = [];
  await page.exposeFunction('sawToken', (n: number) => {
    tokens.push(n);
  });
  await page.evaluate(() => {
    const root = document.querySelector('weft-chat')!.shadowRoot!;
    new MutationObserver(() => {
      const a = root.querySelector('.message.assistant .bubble');
      const text = a?.textContent ?? '';
      if (text && !/Searching|Reading/.test(text)) (window as unknown as { sawToken(n: number): void }).sawToken(text.length);
    }).observe(root, { subtree: true, childList: true, characterData: true });
  });
  const r = await askOne(page, 'How long should tomato seedlings be hardened off?');
  expect(r.answer.trim().length).toBeGreaterThan(0);
  expect(new Set(tokens).size).toBeGreaterThan(2); // the answer grew token by token
  expect(r.meta).toMatch(/\d+ tokens · first token after \d+ ms/);
  expect(r.sources.length).toBeGreaterThan(0);
  for (const s of r.sources) expect(fromNote(s.doc, s.text), `${s.doc}: ${s.text}`).toBe(true);
  expect(r.sources.map((s) => s.doc)).toContain('my-notes/garden/tomatoes.md');
  // Open the tomato note's passage: the panel shows that document and its text.
  await r.card.locator('.sources button[title="my-notes/garden/tomatoes.md"]').click();
  expect(await chat(page).locator('[part=panel] h2').textContent()).toContain('my-notes/garden/tomatoes.md');
  expect(await chat(page).locator('[part=passage]').textContent()).toContain('hardened off for a week');
  expect(await page.locator('#timeline rect[data-kind=step]').count()).toBeGreaterThan(0);
  await shot(page, '3-answer');
  await chat(page).locator('[part=close]').click();

  // Three overlapping questions: the second and third are asked alongside the first while it decodes.
  await page.fill('#questions3', 'Where do the trams climb in Lisbon?\nWhat does the compost heap need?\nWhen is the launch?');
  const before = await answersIn(page).count();
  await page.click('#ask3');
  await answered(page, before + 3, 120_000);
  expect(await chat(page).locator('.message.user .bubble').allTextContents()).toEqual(
    expect.arrayContaining(['Where do the trams climb in Lisbon?', 'What does the compost heap need?', 'When is the launch?']),
  );
  const marks = await page.locator('#timeline rect.mark').evaluateAll((rects) =>
    rects.map((r) => ({
      kind: r.getAttribute('data-kind')!,
      request: Number(r.getAttribute('data-request')),
      start: Number(r.getAttribute('data-start')),
      end: Number(r.getAttribute('data-end')),
      lists: r.getAttribute('data-lists'),
      title: r.querySelector('title')?.textContent ?? '',
    })),
  );
  const first = Math.min(...marks.map((m) => m.request)); // the timeline was cleared for the three: its lanes are theirs
  expect(new Set(marks.map((m) => m.request)).size).toBe(3);
  const steps = marks.filter((m) => m.kind === 'step' && m.request === first);
  expect(steps.length).toBeGreaterThan(1);
  const window = { from: Math.min(...steps.map((s) => s.start)), to: Math.max(...steps.map((s) => s.end)) };
  const woven = marks.filter((m) => m.kind === 'search' && m.request > first && m.start > window.from && m.end < window.to);
  expect(woven.length, JSON.stringify({ window, searches: marks.filter((m) => m.kind === 'search' && m.request > first) })).toBeGreaterThan(0);
  expect(woven[0]!.title).toMatch(/search slice · [\d.]+ ms · \d+ lists? · [\d.]+ KB streamed in · nprobe \d+/);
  expect(Number(await page.locator('#fig-woven').textContent())).toBeGreaterThan(0);
  expect(await page.locator('#fig-tps').textContent()).toMatch(/^\d+(\.\d)?$/);
  expect(await page.locator('#fig-hit').textContent()).toMatch(/^\d+ %/);
  await shot(page, '4-woven');
  await page.locator('#timeline-card').screenshot({ path: join(shots, '4-timeline.png') });
  // After the answers the panel has the index's holders too (searches ran), and nothing of it is clipped, wide or narrow.
  const memory = await memoryPanel(page);
  expect(Object.keys(memory.holders).length).toBeGreaterThan(1);
  for (const [width, height] of [
    [1280, 800],
    [420, 800],
  ] as const) {
    await page.setViewportSize({ width, height });
    expect(await memoryClipped(page), `${width} px`).toEqual([]);
    await page.locator('#model-card').screenshot({ path: join(shots, `4-gpu-memory-${width}.png`) });
    await page.screenshot({ path: join(shots, `4-page-${width}.png`) });
  }
  await page.setViewportSize({ width: 1400, height: 1000 });
  // A second tab of the app joins the same engine (no second load): its panel says two tabs share it, with the same generator.
  const tab2 = await context.newPage();
  await openApp(tab2, errors);
  const joined = await memoryPanel(tab2);
  expect(joined.holders.generator).toBe(memory.holders.generator);
  expect(await tab2.locator('#gpu-memory .mem-engine').textContent()).toMatch(/^One engine for 2 tabs of this app/);
  await tab2.locator('#model-card').screenshot({ path: join(shots, '4-gpu-memory-second-tab.png') });
  await tab2.close();
  expect(errors).toEqual([]);
  await page.close();
});

test('reload: the index is still there and answers without re-ingesting', async () => {
  const page = await context.newPage();
  const errors: string[] = [];
  await openApp(page, errors);
  const row = page.locator('#indexes tbody tr[data-index=notes]');
  expect(await row.count()).toBe(1);
  expect(Number(await row.locator('td.num').textContent())).toBeGreaterThanOrEqual(8);
  expect(await page.locator('#ingest').isHidden()).toBe(true);
  expect(await page.locator('#engine-status').textContent()).toMatch(/index “notes” \(\d+ passages\)/);
  expect(await chat(page).locator('[part=status]').textContent()).toMatch(/Ready · “notes” · \d+ passages/);
  const r = await askOne(page, 'What temperature does the sourdough bake at?');
  expect(r.sources.map((s) => s.doc)).toContain('my-notes/recipes/bread.md');
  for (const s of r.sources) expect(fromNote(s.doc, s.text)).toBe(true);
  await r.card.locator('.sources button[title="my-notes/recipes/bread.md"]').click();
  expect(await chat(page).locator('[part=passage]').textContent()).toContain('bakes at 250 degrees');
  await shot(page, '5-after-reload');
  await chat(page).locator('[part=close]').click();
  // The PDF's passage is cited with its page, and its words (hybrid retrieval) find it.
  const pdf = await askOne(page, 'How often should the heater filter be cleaned?');
  expect(pdf.sources.map((s) => s.doc)).toContain('my-notes/manuals/heater.pdf, p. 2');
  for (const s of pdf.sources) expect(fromNote(s.doc, s.text), `${s.doc}: ${s.text}`).toBe(true);
  await pdf.card.locator('.sources button[title="my-notes/manuals/heater.pdf, p. 2"]').click();
  expect(await chat(page).locator('[part=passage]').textContent()).toContain('every three months');
  expect(await chat(page).locator('[part=panel] .score').textContent()).toMatch(/page 2 · passage \d+ · similarity -?\d\.\d{3} · BM25 \d+\.\d\d/);
  await shot(page, '6-pdf-source');
  expect(errors).toEqual([]);
  await page.close();
});

test('a workflow picked beside the conversation: its stages show folded with the answer, and the timeline draws a row per node for each question', async () => {
  const page = await context.newPage();
  const errors: string[] = [];
  await openApp(page, errors);
  expect(await page.locator('#workflow').inputValue()).toBe('one-shot');
  expect(await page.locator('#workflow option').allTextContents()).toEqual(['one-shot (default)', 'HyDE', 'multistep', 'IRG', 'RECOMP', 'FLARE', 'periodic']);
  await page.selectOption('#workflow', 'hyde');
  expect(await page.locator('#workflow-hint').textContent()).toMatch(/hypothetical passage/);

  // HyDE: the hypothetical passage is one folded line above the answer, opened on a click.
  const r = await askOne(page, 'What does the compost heap need?');
  expect(r.answer.trim().length).toBeGreaterThan(0);
  const stages = r.card.locator('[part=stages]');
  expect(await stages.locator('summary').textContent()).toBe('hyde · hypothesis');
  expect(await stages.getAttribute('open')).toBeNull();
  await chat(page).locator('[part=close]').click(); // the last source askOne opened
  await stages.locator('summary').click();
  expect(await stages.locator('li').first().textContent()).toMatch(/^hypothesis wrote \S/);
  expect((await stages.locator('li q').first().textContent())!.trim().length).toBeGreaterThan(0); // what it wrote, quoted
  // Its lane: a row per node of the graph, each stage in its node's.
  const lane = page.locator('#timeline g.lane[data-workflow=hyde]').last();
  expect(await lane.locator('g.row').evaluateAll((rows) => rows.map((g) => g.getAttribute('data-node')))).toEqual(['hypothesis', 'retrieve', 'answer']);
  expect(await lane.locator('g.row .node-label').allTextContents()).toEqual(['hypothesis', 'retrieve', 'answer']);
  expect(await lane.locator('g.row[data-node=hypothesis] rect.mark-generate').count()).toBe(1);
  expect(await lane.locator('g.row[data-node=retrieve] rect.mark-search').count()).toBeGreaterThan(0);
  expect(await lane.locator('g.row[data-node=answer] rect.mark-step').count()).toBeGreaterThan(0);
  expect(await lane.locator('.workflow-name').textContent()).toBe('(hyde)');
  await shot(page, '8-workflow-answer');

  // Three multistep questions at once: their stages take turns on the one generator, each lane with its rows.
  await page.selectOption('#workflow', 'multistep');
  await page.fill('#questions3', 'Where do the trams climb in Lisbon?\nWhat does the compost heap need?\nWhen is the launch?');
  const before = await answersIn(page).count();
  await page.click('#ask3');
  await answered(page, before + 3, 150_000);
  for (let i = before; i < before + 3; i++)
    expect(await answersIn(page).nth(i).locator('[part=stages] summary').textContent()).toBe('multistep · decompose → split');
  const lanes = page.locator('#timeline g.lane[data-workflow=multistep]');
  expect(await lanes.count()).toBe(3);
  for (let i = 0; i < 3; i++) {
    const l = lanes.nth(i);
    // A split records nothing of its own: its row shows only when a stage (a prefetch) finished while the question was at it.
    expect([
      ['decompose', 'retrieve', 'answer'],
      ['decompose', 'split', 'retrieve', 'answer'],
    ]).toContainEqual(await l.locator('g.row .node-label').allTextContents());
    expect(await l.locator('g.row[data-node=decompose] rect.mark-generate').count()).toBe(1);
    expect(await l.locator('g.row[data-node=retrieve] rect.mark-search').count()).toBeGreaterThan(0);
  }
  // One generator: the three decompositions never overlap.
  const generated = await page
    .locator('#timeline rect.mark-generate')
    .evaluateAll((rects) => rects.map((r) => [Number(r.getAttribute('data-start')), Number(r.getAttribute('data-end'))] as const).sort((a, b) => a[0] - b[0]));
  expect(generated).toHaveLength(3);
  for (let i = 1; i < generated.length; i++) expect(generated[i]![0]).toBeGreaterThanOrEqual(generated[i - 1]![1] - 1);
  // A slice that was a multi-query dispatch (a question's sub-questions together) is outlined and says so.
  const batched = await page
    .locator('#timeline rect.mark-search[data-batch]')
    .evaluateAll((rects) =>
      rects.map((r) => ({ batch: Number(r.getAttribute('data-batch')), cls: r.getAttribute('class'), title: r.querySelector('title')!.textContent })),
    );
  for (const b of batched) {
    expect(b.batch).toBeGreaterThan(1);
    expect(b.cls).toContain('batched');
    expect(b.title).toContain(`one dispatch for ${b.batch} queries`);
  }
  await shot(page, '9-workflows-woven');
  await page.locator('#timeline-card').screenshot({ path: join(shots, '9-timeline-workflows.png') });
  // Back to one-shot: no stages line, and the lane has the two bands of before.
  await page.selectOption('#workflow', 'one-shot');
  const plain = await askOne(page, 'When is the launch?');
  expect(await plain.card.locator('[part=stages]').count()).toBe(0);
  expect(await page.locator('#timeline g.lane').last().locator('g.row').count()).toBe(0);
  expect(errors).toEqual([]);
  await page.close();
});

test('in a browser without WebGPU the app says so, indexes on the CPU and answers questions with the matching passages', async () => {
  const plain = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_NO_WEBGPU_ARGS, headless: true });
  try {
    const page = await (await plain.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url());
    await page.waitForFunction(() => /no WebGPU|^Ready|Could not/.test(document.querySelector('#engine-status')!.textContent ?? ''), undefined, {
      timeout: 90_000,
    });
    expect(await page.locator('#engine-status').textContent()).toMatch(/This browser has no WebGPU: .*searched on the CPU/);
    expect(await page.locator('#gpu-memory').isHidden()).toBe(true); // no GPU memory to show
    await page.setInputFiles('#folder-input', docs);
    await page.waitForFunction(() => /^Added|Could not/.test(document.querySelector('#ingest-status')!.textContent ?? ''), undefined, { timeout: 90_000 });
    expect(await page.locator('#ingest-status').textContent()).toMatch(/^Added 9 documents/);
    await chat(page).locator('textarea').fill('How long should tomato seedlings be hardened off?');
    await chat(page).locator('[part=send]').click();
    await answered(page, 1);
    const card = answersIn(page).first();
    expect(await card.locator('.bubble').textContent()).toMatch(/no WebGPU/);
    const sources = await sourcesOf(page, card);
    expect(sources.map((x) => x.doc)).toContain('my-notes/garden/tomatoes.md');
    for (const x of sources) expect(fromNote(x.doc, x.text), `${x.doc}: ${x.text}`).toBe(true);
    expect(await chat(page).locator('[part=status]').textContent()).toMatch(/search only \(no WebGPU\)/);
    await shot(page, '6-no-webgpu');
    expect(errors).toEqual([]);
  } finally {
    await plain.close();
  }
});

test('an index built by keyword search (no model yet) is searched by its keywords once the model loads, and the page says why documents cannot be added to it', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // First without the model files (?assets= points at nothing): keyword search, and an index built by it.
  await page.goto(url('?models=local&assets=/no-models-here/'));
  await page.waitForFunction(() => /search them by keyword/.test(document.querySelector('#engine-status')?.textContent ?? ''), undefined, { timeout: 60_000 });
  await page.fill('#new-index', 'kw');
  await page.click('#create-index');
  await expect
    .poll(() => chat(page).locator('[part=status]').textContent(), { timeout: 60_000 })
    .toMatch(/^Ready · “kw” · 0 passages · search only \(keyword search, no model\)/);
  await page.setInputFiles('#folder-input', docs);
  await page.waitForFunction(() => /^Added|Could not/.test(document.querySelector('#ingest-status')!.textContent ?? ''), undefined, { timeout: 90_000 });
  expect(await page.locator('#ingest-status').textContent()).toMatch(/^Added 9 documents/);
  // Then with the model: the same index, searched by its keywords; adding to it is off, with the reason.
  await page.goto(url());
  await page.waitForFunction(() => /^Ready|Could not/.test(document.querySelector('#engine-status')!.textContent ?? ''), undefined, { timeout: 90_000 });
  expect(await page.locator('#engine-status').textContent()).toMatch(/^Ready: .*index “kw” \(\d+ passages\), searched by keyword/);
  expect(await page.locator('#docs-reason').textContent()).toMatch(/“kw” was built for keyword search, without a model.*new index/);
  expect(await page.locator('#pick-folder').isDisabled()).toBe(true);
  expect(await chat(page).locator('[part=add]').isDisabled()).toBe(true); // the conversation's own "Add documents" too
  expect(await chat(page).locator('[part=add]').getAttribute('title')).toMatch(/built for keyword search/);
  const r = await askOne(page, 'How long should tomato seedlings be hardened off?');
  expect(r.sources.map((s) => s.doc)).toContain('my-notes/garden/tomatoes.md');
  expect(r.answer.trim().length).toBeGreaterThan(0);
  await shot(page, '7-keyword-index-with-model');
  expect(errors).toEqual([]);
  await ctx.close();
});

test('the benchmark view plots recall against queries per second', async () => {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url('?models=local#benchmark'));
  expect(await page.locator('#view-bench').isVisible()).toBe(true);
  await page.fill('#bench-form input[name=n]', '4000');
  await page.fill('#bench-form input[name=dim]', '32');
  await page.fill('#bench-form input[name=nq]', '16');
  await page.click('#bench-run');
  await page.waitForFunction(() => /trained in|Error|Cancelled/.test(document.querySelector('#bench-status')!.textContent ?? ''), undefined, {
    timeout: 150_000,
  });
  expect(await page.locator('#bench-status').textContent()).toMatch(/trained in/);
  const points = await page
    .locator('#bench-plot circle.point')
    .evaluateAll((cs) =>
      cs.map((c) => ({ nprobe: c.getAttribute('data-nprobe'), recall: Number(c.getAttribute('data-recall')), qps: Number(c.getAttribute('data-qps')) })),
    );
  expect(points.length).toBeGreaterThanOrEqual(5); // flat + nprobe 1, 2, 4, …
  expect(points.find((p) => p.nprobe === 'flat')!.recall).toBe(1);
  expect(points.at(-1)!.recall).toBeGreaterThan(0.9);
  for (const p of points) expect(p.qps).toBeGreaterThan(0);
  await shot(page, '6-benchmark');
  expect(errors).toEqual([]);
  await page.close();
}, 180_000);
