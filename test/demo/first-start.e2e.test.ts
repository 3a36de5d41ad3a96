// The demo app's first start where no model can load, and the page's state staying one story:
// the built app (`vite build` + `vite preview`, no models/ folder, as `npm start` serves it) in
// real Chromium with every request that leaves the machine refused, as offline.
//  - offline: the page says in one sentence what still works (add documents, search them by
//    keyword), and it does: documents are added and a keyword search finds the right passage;
//    the conversation never says "Not ready" beside "Getting ready";
//  - without WebGPU (and offline): the same, saying why;
//  - `?models=local` without the model files: one line naming the files, where they go and
//    `?assets=URL`, instead of a checkpoint-parsing error;
//  - stale state: an empty folder clears the last run's bars, a partial failure says what was
//    added, an error banner goes after a later success, the counts agree, deleting the index in
//    use moves the page to another one;
//  - layout: the index actions fit their card, the model picker shows its label, the status dot is
//    round, "1 document", no 404 (favicon).
// Screenshots go to $WEFT_SCREENSHOTS (default: a temp folder); WEFT_DOCS_SCREENSHOTS=1 also
// writes the first-start ones to docs/.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright';
import { CHROMIUM_ARGS, CHROMIUM_NO_WEBGPU_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.mjs';
import { makeBrokenPdf, makePdf } from '../support/pdf.js';

const shots = process.env.WEFT_SCREENSHOTS ?? join(tmpdir(), 'weft-demo-screenshots');
const docsDir = resolve(import.meta.dirname, '../../docs');

const NOTES: Record<string, string> = {
  'garden/tomatoes.md': '# Tomatoes\nTomato seedlings need sixteen hours of light and should be hardened off for a week before planting out in May.',
  'travel/lisbon.txt': 'Lisbon trip: the tram 28 climbs through Alfama; the custard tarts in Belem are best warm with cinnamon.',
  'recipes/bread.md': '# Sourdough\nFeed the starter twice a day; the dough proves overnight in the fridge and bakes at 250 degrees in a Dutch oven.',
};

let work: string;
let out: string;
let server: PreviewServer;
let browser: Browser;
let noGpu: Browser;
const folders: Record<string, string> = {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'weft-first-start-'));
  out = join(work, 'app');
  mkdirSync(shots, { recursive: true });
  await build({ logLevel: 'error', build: { outDir: out, emptyOutDir: true } });
  const folder = (name: string, files: Record<string, string | Uint8Array>) => {
    const dir = (folders[name] = join(work, name));
    mkdirSync(dir, { recursive: true });
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
  };
  folder('my-notes', { ...NOTES, 'manuals/heater.pdf': makePdf([['Heater manual', 'Clean the heater filter every three months with warm soapy water.']]) });
  folder('one-note', { 'kyoto.md': '# Kyoto\nThe Fushimi Inari shrine has thousands of vermilion torii gates.' });
  folder('empty', {});
  folder('half-broken', { 'budget.md': '# Budget\nThe travel budget is four thousand euros per quarter.', 'scan.pdf': makeBrokenPdf() });
  server = await preview({ logLevel: 'error', build: { outDir: out }, preview: { port: 0, host: '127.0.0.1', strictPort: false } });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  noGpu = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_NO_WEBGPU_ARGS, headless: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await noGpu?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const url = (path = '') => new URL(path, server.resolvedUrls!.local[0]!).href;
const shot = async (page: Page, name: string, docs?: string) => {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (docs && process.env.WEFT_DOCS_SCREENSHOTS) copyFileSync(path, join(docsDir, docs));
};
const chat = (page: Page) => page.locator('weft-chat');

/** A fresh context (fresh storage) with nothing beyond this machine reachable, and what went wrong on its pages. */
async function offlinePage(b: Browser) {
  const context: BrowserContext = await b.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.route(
    (u) => !['127.0.0.1', 'localhost'].includes(u.hostname),
    (r) => r.abort('internetdisconnected'),
  );
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).hostname === '127.0.0.1') problems.push(`${r.status()} ${r.url()}`);
  });
  page.on('dialog', (d) => void d.accept());
  return { context, page, problems };
}

/** Waits until keyword search is ready in the conversation. */
async function keywordsReady(page: Page) {
  await page.waitForFunction(() => /search them by keyword/.test(document.querySelector('#engine-status')?.textContent ?? ''), undefined, { timeout: 60_000 });
  await expect.poll(() => chat(page).locator('[part=status]').textContent(), { timeout: 60_000 }).toMatch(/^Ready · /);
}

/** Adds a folder through the page's folder picker and waits for the outcome. */
async function addFolder(page: Page, name: string) {
  const before = await page.locator('#ingest-status').textContent();
  await page.setInputFiles('#folder-input', folders[name]!);
  await page.waitForFunction(
    (before) => {
      const t = document.querySelector('#ingest-status')?.textContent ?? '';
      return t !== before && /^(Added|Could not|Nothing|Cancelled)/.test(t) && document.querySelector<HTMLElement>('#cancel-ingest')!.hidden;
    },
    before,
    { timeout: 60_000 },
  );
  return (await page.locator('#ingest-status').textContent())!;
}

/** Asks in the conversation's box and returns the last reply's bubble text and sources. */
async function search(page: Page, question: string) {
  const before = await chat(page).locator('.message.assistant').count();
  await chat(page).locator('textarea').fill(question);
  await chat(page).locator('[part=send]').click();
  await page.waitForFunction(
    (n) => {
      const all = [...document.querySelector('weft-chat')!.shadowRoot!.querySelectorAll('.message.assistant')];
      return all.length > n && all.every((a) => a.getAttribute('aria-busy') === 'false');
    },
    before,
    { timeout: 60_000 },
  );
  const card = chat(page).locator('.message.assistant').nth(before);
  return {
    text: (await card.locator('.bubble').textContent()) ?? '',
    sources: await card.locator('.sources button').evaluateAll((bs) => bs.map((b) => b.getAttribute('title'))),
  };
}

/** The passages of an index as the table lists them, and as the conversation's header says. */
async function counts(page: Page, index: string) {
  const table = Number((await page.locator(`#indexes tbody tr[data-index="${index}"] td.num`).textContent())!.replace(/,/g, ''));
  const header = (await chat(page).locator('[part=status]').textContent())!;
  return { table, header: Number(/· ([\d,]+) passages? ·/.exec(header)?.[1]?.replace(/,/g, '')) };
}

test('offline first start: one sentence says what works, and documents are added and searched by keyword', async () => {
  const { context, page, problems } = await offlinePage(browser);
  await page.goto(url());
  await keywordsReady(page);
  const status = (await page.locator('#engine-status').textContent())!;
  expect(status).toMatch(/cannot reach huggingface\.co.*offline.*You can still add documents and search them by keyword; answers need a model\./);
  // One state: no "Not ready" or "Getting ready" in the conversation, its controls usable, "Ask 3" off with a reason.
  expect(await chat(page).locator('[part=status]').textContent()).toMatch(/^Ready · “notes” · 0 passages · search only \(keyword search, no model\)/);
  expect(await chat(page).locator('.frame').textContent()).not.toMatch(/Not ready|Getting ready|model is loading/);
  expect(await chat(page).locator('[part=add]').isEnabled()).toBe(true);
  expect(await page.locator('#ask3').isDisabled()).toBe(true);
  expect(await page.locator('#ask3').getAttribute('title')).toMatch(/model/);
  expect(await page.locator('#pick-folder').isEnabled()).toBe(true);
  // The status dot is round.
  const dot = (await chat(page).locator('[part=status] .dot').boundingBox())!;
  expect(Math.abs(dot.width - dot.height)).toBeLessThan(0.5);
  await shot(page, 'first-start-offline', 'demo-offline.png');

  // Documents go in, and a keyword search finds the right one.
  expect(await addFolder(page, 'my-notes')).toMatch(/^Added 4 documents as \d+ passages\. “notes” now holds \d+ passages/);
  const r = await search(page, 'When should tomato seedlings be hardened off?');
  expect(r.text).toMatch(/No model is loaded/);
  expect(r.sources).toContain('my-notes/garden/tomatoes.md');
  const pdf = await search(page, 'heater filter');
  expect(pdf.sources[0]).toBe('my-notes/manuals/heater.pdf, p. 1');
  const c = await counts(page, 'notes');
  expect(c.header).toBe(c.table);
  expect(await page.locator('#indexes tbody tr[data-index=notes] td.model').textContent()).toBe('keywords only');
  await shot(page, 'first-start-offline-searched', 'demo-offline-search.png');

  // "Load model" again: it fails the same way and the page stays in the same state.
  await page.click('#load');
  await expect
    .poll(async () => (await page.locator('#engine-status').textContent()) ?? '', { timeout: 60_000 })
    .toMatch(/could not be downloaded: this device seems to be offline.*search them by keyword/);
  await keywordsReady(page);
  expect(await chat(page).locator('.frame').textContent()).not.toMatch(/Not ready|Getting ready/);
  expect((await search(page, 'sourdough starter')).sources).toContain('my-notes/recipes/bread.md');
  expect(problems).toEqual([]); // no favicon 404, no page error
  await context.close();
});

test('without WebGPU and offline: it says why, and keyword search works', async () => {
  const { context, page, problems } = await offlinePage(noGpu);
  await page.goto(url());
  await keywordsReady(page);
  const status = (await page.locator('#engine-status').textContent())!;
  expect(status).toMatch(/no WebGPU.*You can still add documents and search them by keyword; answers need a model and WebGPU\./);
  expect(status).not.toMatch(/tokenizer\.json/);
  expect(await page.locator('#model').isDisabled()).toBe(true);
  expect(await chat(page).locator('.frame').textContent()).not.toMatch(/Not ready|Getting ready/);
  await shot(page, 'first-start-no-webgpu', 'demo-no-webgpu.png');
  expect(await addFolder(page, 'one-note')).toMatch(/^Added 1 document as 1 passage\./); // singular
  expect((await search(page, 'torii gates')).sources).toEqual(['one-note/kyoto.md']);
  expect(problems).toEqual([]);
  await context.close();
});

test('?models=local without the model files: one line says which files go where, and keyword search works', async () => {
  const { context, page, problems } = await offlinePage(browser);
  await page.goto(url('?models=local'));
  await keywordsReady(page);
  const status = (await page.locator('#engine-status').textContent())!;
  expect(status).toMatch(
    /stories260K\.bin, tok512\.bin, tiny\.onnx, tokenizer\.json and tokenizer_config\.json in http:\/\/127\.0\.0\.1:\d+\/models\/ .*\?assets=URL/,
  );
  expect(status).not.toMatch(/header|checkpoint/);
  expect(await page.locator('#load').isDisabled()).toBe(true);
  expect(await page.locator('#load').getAttribute('title')).toMatch(/stories260K\.bin/);
  await shot(page, 'first-start-local-missing', 'demo-local-missing.png');
  expect(await addFolder(page, 'one-note')).toMatch(/^Added 1 document/);
  expect(problems.filter((p) => !/\/models\//.test(p))).toEqual([]); // the probes of the missing files are the only 404s
  await context.close();
});

test('stale and contradictory state: bars, banners, counts, partial failures, deleting the index in use; layout', async () => {
  const { context, page, problems } = await offlinePage(browser);
  await page.goto(url());
  await keywordsReady(page);
  expect(await addFolder(page, 'my-notes')).toMatch(/^Added 4 documents/);
  expect(await page.locator('#phases').isVisible()).toBe(true);

  // An empty folder: "Nothing to add", and no bars from the last run under it.
  expect(await addFolder(page, 'empty')).toMatch(/^Nothing to add/);
  expect(await page.locator('#phases').isVisible()).toBe(false);
  await page.locator('#docs-card').screenshot({ path: join(shots, 'stale-empty-folder.png') });

  // A partial failure: what was added is said first, and the counts agree.
  const partial = await addFolder(page, 'half-broken');
  expect(partial).toMatch(/^Added 1 of 2 documents \(1 passage\); “notes” now holds \d+ passages.*Not added: .*scan\.pdf/);
  expect(partial).not.toMatch(/Could not add the documents/);
  let c = await counts(page, 'notes');
  expect(c.header).toBe(c.table);
  expect(await chat(page).locator('[part=error]').count()).toBe(1); // the conversation names the unreadable file…
  await page.locator('#docs-card').screenshot({ path: join(shots, 'stale-partial-failure.png') });
  expect(await addFolder(page, 'one-note')).toMatch(/^Added 1 document as 1 passage\./);
  expect(await chat(page).locator('[part=error]').count()).toBe(0); // …until a later ingest succeeds
  c = await counts(page, 'notes');
  expect(c.header).toBe(c.table);
  await page.locator('#docs-card').screenshot({ path: join(shots, 'stale-after-partial-then-success.png') });
  // A file given to the conversation itself ("Add documents" in it): the page's bars and counts follow it too.
  writeFileSync(join(work, 'lisbon-2.txt'), 'Second Lisbon note: the funicular climbs to Bairro Alto.');
  await chat(page).locator('input[type=file]').setInputFiles(join(work, 'lisbon-2.txt'));
  await expect
    .poll(() => page.locator('#ingest-status').textContent(), { timeout: 60_000 })
    .toMatch(/^Added 1 document as 1 passage\. “notes” now holds \d+ passages/);
  c = await counts(page, 'notes');
  expect(c.header).toBe(c.table);
  expect((await search(page, 'funicular')).sources).toEqual(['lisbon-2.txt']);

  // A second index, then delete the one in use: the page and the conversation move to the other.
  await page.fill('#new-index', 'trips');
  await page.click('#create-index');
  await expect.poll(() => chat(page).locator('[part=status]').textContent()).toMatch(/“trips” · 0 passages/);
  await keywordsReady(page);
  expect(await addFolder(page, 'one-note')).toMatch(/^Added 1 document/);
  expect(await page.locator('#indexes-status').isHidden()).toBe(true); // "Using “trips”…" is over once it holds documents
  // The index table: every action inside its card.
  const card = (await page.locator('#indexes-card').boundingBox())!;
  for (const b of await page.locator('#indexes button').all()) {
    const box = (await b.boundingBox())!;
    expect(box.x + box.width, (await b.textContent()) ?? '').toBeLessThanOrEqual(card.x + card.width);
  }
  await page.locator('#indexes-card').screenshot({ path: join(shots, 'layout-indexes.png') });
  await page.click('button[aria-label="Delete index trips"]');
  await expect.poll(() => page.locator('#indexes tbody tr.current').getAttribute('data-index')).toBe('notes');
  await keywordsReady(page);
  expect(await page.locator('#indexes tbody tr[data-index=trips]').count()).toBe(0);
  expect(await page.locator('#indexes-status').textContent()).toMatch(/Deleted “trips”\. Now using “notes”\./);
  expect(await chat(page).locator('[part=status]').textContent()).toMatch(/“notes”/);
  expect(await page.locator('#ask-hint').textContent()).toMatch(/“notes”/);
  expect(await page.evaluate(() => localStorage.getItem('weft-demo:index'))).toBe('notes');
  // The model picker shows its whole label.
  const fits = await page.locator('#model').evaluate((s: HTMLSelectElement) => {
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.font = getComputedStyle(s).font;
    return ctx.measureText(s.selectedOptions[0]!.text).width + 24 <= s.clientWidth;
  });
  expect(fits).toBe(true);
  await shot(page, 'stale-after-delete');
  expect(problems).toEqual([]);
  await context.close();
});
