// One Vite config for the demo (default: `vite`, `vite build`, `vite preview`), the library
// (`vite build --mode lib`) and the Vitest tiers (Node unit tests, browser tests in Debian's
// Chromium with WebGPU on SwiftShader, end-to-end tests).
import { readFileSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import type { Plugin } from 'vite';
import { configDefaults, defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, CHROMIUM_NO_WEBGPU_ARGS, CHROMIUM_PATH } from './scripts/chromium.mjs';
import { workerSafeAlias } from './scripts/worker-safe-alias.mjs';
import { rangeHostPlugin } from './scripts/range-server.mjs';

const dependencies = Object.keys(
  (JSON.parse(readFileSync(resolve(import.meta.dirname, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {},
);

// The Markdown stack's DOM-free build, in every bundle (scripts/worker-safe-alias.mjs says why).
const workerSafe = workerSafeAlias(import.meta.dirname);

// Third-party test assets live beside the checkout (../shared/assets), never inside it.
const sharedAssets = resolve(import.meta.dirname, '../shared/assets');

// Tests live by subject in test/<area>/ (and the benchmark's own beside it in bench/); the file's
// suffix picks the runner (test/README.md): x.test.ts Node, x.browser.test.ts Chromium with WebGPU,
// x.nogpu.test.ts Chromium without WebGPU, x.e2e.test.ts end to end (built app, package, real pages).
const testFiles = (suffix: string) => [`test/**/*${suffix}`, `bench/**/*${suffix}`];
const runnerSuffixes = ['.browser.test.ts', '.nogpu.test.ts', '.e2e.test.ts'];

/** A Vitest project of browser tests in Debian's Chromium launched with `args`. */
function browserProject(name: string, args: string[], o: { include: string[]; plugins?: Plugin[] }) {
  return {
    extends: true,
    ...(o.plugins ? { plugins: o.plugins } : {}),
    test: {
      root: import.meta.dirname,
      name,
      include: o.include,
      provide: { sharedAssets: `/@fs${sharedAssets}` },
      testTimeout: 120_000,
      browser: {
        enabled: true,
        headless: true,
        screenshotFailures: false,
        provider: playwright({ launchOptions: { executablePath: CHROMIUM_PATH, args } }),
        instances: [{ browser: 'chromium' as const }],
      },
    },
  };
}

const test = {
  root: import.meta.dirname,
  projects: [
    {
      extends: true,
      test: {
        root: import.meta.dirname,
        name: 'unit',
        include: testFiles('.test.ts'),
        exclude: [...configDefaults.exclude, ...runnerSuffixes.map((s) => `**/*${s}`)],
        environment: 'node',
      },
    },
    {
      extends: true,
      test: { root: import.meta.dirname, name: 'e2e', include: testFiles('.e2e.test.ts'), environment: 'node', testTimeout: 180_000, hookTimeout: 180_000 },
    },
    // A static host with range requests (and its faults) for the remote tier's tests.
    browserProject('browser', CHROMIUM_ARGS, { include: testFiles('.browser.test.ts'), plugins: [rangeHostPlugin()] }),
    // The CPU fallback's tests, in a Chromium without WebGPU.
    browserProject('browser-nogpu', CHROMIUM_NO_WEBGPU_ARGS, { include: testFiles('.nogpu.test.ts') }),
  ],
};

// The package's entries (package.json "exports"): the root is vector search and storage only;
// `rag` adds the runtime and the models, `client` is the page's handle on the engine worker,
// `worker` the inside of a worker the app starts itself, `chat` the <weft-chat> element (with Lit). engine.worker.js is the package's own
// engine worker, started by `client`.
const libEntries = {
  weft: 'src/weft.ts',
  rag: 'src/entries/rag.ts',
  client: 'src/entries/client.ts',
  worker: 'src/entries/worker.ts',
  chat: 'src/entries/chat.ts',
  'engine.worker': 'workers/engine.worker.ts',
};

/**
 * Leaves the engine worker for the app's bundler. In the source, startEngineWorker() points at
 * workers/engine.worker.ts, which Vite would bundle into the library (with onnxruntime-web's wasm
 * inlined). Here that URL becomes a placeholder, and in the built file
 * `new URL('./engine.worker.js', import.meta.url)` relative to it: the form Vite and webpack 5
 * recognise, so the app's bundler builds the worker (and its dependencies) itself.
 */
function engineWorkerUrl(): Plugin {
  const source = "new URL('../../workers/engine.worker.ts', import.meta.url)";
  const placeholder = '__WEFT_ENGINE_WORKER_URL__';
  let replaced = false;
  return {
    name: 'weft:engine-worker-url',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('/src/transport/engine.ts')) return null;
      if (!code.includes(source)) this.error(`src/transport/engine.ts no longer contains ${source}: update the engine worker URL in vite.config.ts.`);
      replaced = true;
      // Both engines, the dedicated worker and the shared one, start from it.
      return { code: code.replaceAll(source, placeholder), map: null };
    },
    renderChunk(code, chunk) {
      if (!code.includes(placeholder)) return null;
      const relative = posix.relative(posix.dirname(chunk.fileName), 'engine.worker.js');
      const url = relative.startsWith('.') ? relative : `./${relative}`;
      return { code: code.replaceAll(placeholder, `new URL(${JSON.stringify(url)}, import.meta.url)`), map: null };
    },
    buildEnd() {
      if (!replaced) this.error('The library build never saw src/transport/engine.ts: the engine worker URL was not rewritten.');
    },
  };
}

export default defineConfig(({ mode }) =>
  mode === 'lib'
    ? {
        publicDir: false,
        plugins: [engineWorkerUrl()],
        resolve: { alias: workerSafe },
        build: {
          outDir: 'dist/lib',
          emptyOutDir: true,
          sourcemap: true,
          minify: false,
          lib: {
            entry: Object.fromEntries(Object.entries(libEntries).map(([name, file]) => [name, resolve(import.meta.dirname, file)])),
            formats: ['es' as const],
            fileName: (_format: string, name: string) => `${name}.js`,
          },
          rolldownOptions: {
            // Dependencies stay imports: the app's bundler resolves (and dedupes) them.
            external: (id: string) => dependencies.some((d) => id === d || id.startsWith(`${d}/`)),
            output: { chunkFileNames: 'chunks/[name]-[hash].js' },
          },
        },
      }
    : {
        root: 'demo',
        publicDir: resolve(import.meta.dirname, 'public'),
        resolve: { alias: workerSafe },
        // The engine worker (onnxruntime-web, WebLLM) and WebLLM's model list are large by nature; they load on demand.
        build: { outDir: resolve(import.meta.dirname, 'dist/demo'), emptyOutDir: true, chunkSizeWarningLimit: 8192 },
        server: { fs: { allow: [import.meta.dirname, sharedAssets] } },
        // onnxruntime-web finds its .wasm next to its own module (import.meta.url): keep it unbundled.
        // The others are pre-bundled up front, so that discovering them mid-run never reloads a test page.
        optimizeDeps: {
          exclude: ['onnxruntime-web'],
          include: [
            'idb',
            'comlink',
            '@mlc-ai/web-llm',
            '@huggingface/tokenizers',
            'onnx-proto',
            'lit',
            // The document parsers (the Markdown reader and pdf.js load on first use).
            'hast-util-from-html',
            'mdast-util-from-markdown',
            'mdast-util-gfm',
            'micromark-extension-gfm',
            'pdfjs-dist',
            'pdfjs-dist/build/pdf.worker.mjs',
            // The stemmers of the keyword index (English is imported statically, the others on demand).
            '@orama/stemmers/english',
            '@orama/stemmers/german',
            '@orama/stemmers/french',
          ],
        },
        test,
      },
);
