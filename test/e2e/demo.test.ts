// The main job a new user runs (`npm start`): the built demo page, served by `vite preview`,
// runs a search on WebGPU in real Chromium and shows recall and timings.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser } from 'playwright';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.mjs';

let server: PreviewServer;
let browser: Browser;

beforeAll(async () => {
  await build({ logLevel: 'error' });
  server = await preview({ logLevel: 'error', preview: { port: 0, host: '127.0.0.1' } });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test('the demo page builds an index on the GPU and reports recall and timings', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.resolvedUrls!.local[0]!);
  await page.fill('input[name=n]', '4000');
  await page.fill('input[name=dim]', '32');
  await page.fill('input[name=nq]', '16');
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#status')!.textContent!.includes('trained in') || document.querySelector('#status.error'), undefined, { timeout: 150_000 });
  const status = await page.locator('#status').textContent();
  expect(await page.locator('#status.error').count(), status ?? '').toBe(0);
  const rows = await page.locator('#results tbody tr').allTextContents();
  expect(rows.length).toBeGreaterThanOrEqual(5); // flat + nprobe 1, 2, 4, ...
  const recalls = await page.locator('#results tbody tr td:nth-child(2)').allTextContents();
  expect(Number(recalls.at(-1))).toBeGreaterThan(0.9);
  expect(errors).toEqual([]);
}, 180_000);
