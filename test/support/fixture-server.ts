// A Vite dev server over the project root for end-to-end tests that drive real pages (reloads,
// several tabs, storage quotas) with Playwright. Each test gets a fresh browser context, and so
// fresh storage for the origin.
import { createServer, type ViteDevServer } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright';
import { resolve } from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.mjs';

export interface Fixture {
  url: string;
  browser: Browser;
  /** A fresh context (its own storage) with the fixture page loaded. */
  page(context?: BrowserContext): Promise<Page>;
  close(): Promise<void>;
}

/** ../shared/assets as the fixture server serves it (a path on its origin). */
export const SHARED_ASSETS_PATH = `/@fs${resolve(import.meta.dirname, '../../../shared/assets')}`;

/** `files`: bytes the server answers at these paths (e.g. a model a test builds in Node). */
export async function startFixture(o: { files?: Record<string, Uint8Array> } = {}): Promise<Fixture> {
  const root = resolve(import.meta.dirname, '../..');
  const files = o.files ?? {};
  const server: ViteDevServer = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    server: {
      port: 0,
      host: '127.0.0.1',
      hmr: false,
      watch: { ignored: ['**/*'] },
      fs: { allow: [root, resolve(root, '../shared/assets')] },
    },
    plugins: [
      {
        name: 'weft-e2e-files',
        configureServer(s) {
          s.middlewares.use((req, res, next) => {
            const bytes = req.url ? files[req.url] : undefined;
            if (!bytes) return next();
            res.setHeader('content-type', 'application/octet-stream');
            res.end(bytes);
          });
        },
      },
    ],
  });
  await server.listen();
  const address = server.httpServer!.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}/test/support/fixture/index.html`;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  return {
    url,
    browser,
    async page(context) {
      const ctx = context ?? (await browser.newContext());
      const page = await ctx.newPage();
      await page.goto(url);
      await page.waitForFunction(() => (window as { ready?: boolean }).ready === true);
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
