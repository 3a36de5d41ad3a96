// One Vite config for the demo (default: `vite`, `vite build`, `vite preview`), the library
// (`vite build --mode lib`) and the two Vitest tiers (Node unit tests, browser tests in Debian's
// Chromium with WebGPU on SwiftShader).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './scripts/chromium.mjs';


const dependencies = Object.keys((JSON.parse(readFileSync(resolve(import.meta.dirname, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});

// Third-party test assets live beside the checkout (../shared/assets), never inside it.
const sharedAssets = resolve(import.meta.dirname, '../shared/assets');

const test = {
  root: import.meta.dirname,
  projects: [
    { extends: true, test: { root: import.meta.dirname, name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
    { extends: true, test: { root: import.meta.dirname, name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 180_000, hookTimeout: 180_000 } },
    {
      extends: true,
      test: {
        root: import.meta.dirname,
        name: 'browser',
        include: ['test/browser/**/*.test.ts'],
        provide: { sharedAssets: `/@fs${sharedAssets}` },
        testTimeout: 120_000,
        browser: {
          enabled: true,
          headless: true,
          screenshotFailures: false,
          provider: playwright({ launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS } }),
          instances: [{ browser: 'chromium' as const }],
        },
      },
    },
  ],
};

export default defineConfig(({ mode }) => mode === 'lib'
  ? {
    publicDir: false,
    build: {
      outDir: 'dist/lib',
      emptyOutDir: true,
      sourcemap: true,
      lib: { entry: resolve(import.meta.dirname, 'src/weft.ts'), formats: ['es'], fileName: () => 'weft.js' },
      // Dependencies stay imports: the app's bundler resolves (and dedupes) them.
      rollupOptions: { external: (id: string) => dependencies.some((d) => id === d || id.startsWith(`${d}/`)) },
    },
    worker: { format: 'es' as const },
  }
  : {
    root: 'demo',
    publicDir: resolve(import.meta.dirname, 'public'),
    build: { outDir: resolve(import.meta.dirname, 'dist/demo'), emptyOutDir: true },
    server: { fs: { allow: [import.meta.dirname, sharedAssets] } },
    // onnxruntime-web finds its .wasm next to its own module (import.meta.url): keep it unbundled.
    // The others are pre-bundled up front, so that discovering them mid-run never reloads a test page.
    optimizeDeps: {
      exclude: ['onnxruntime-web'],
      include: ['idb', 'comlink', '@mlc-ai/web-llm', '@huggingface/tokenizers', 'onnx-proto'],
    },
    test,
  });
