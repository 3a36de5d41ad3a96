// Bundles bench/deno.ts into one ES module (WGSL inlined) that Deno runs without a build step; the
// npm dependencies stay imports, which Deno resolves from the checkout's node_modules
// (--node-modules-dir=manual), so onnxruntime-web finds its .wasm beside its own module.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { workerSafeAlias } from '../scripts/worker-safe-alias.mjs';

const root = resolve(import.meta.dirname, '..');
const dependencies = Object.keys(
  (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {},
);

export default defineConfig({
  root,
  publicDir: false,
  // The Markdown stack (reached through the runtime's ingest) is bundled: its DOM-free build.
  resolve: { alias: workerSafeAlias(root) },
  build: {
    outDir: resolve(root, 'dist/bench-deno'),
    emptyOutDir: true,
    minify: false,
    target: 'es2022',
    lib: { entry: resolve(import.meta.dirname, 'deno.ts'), formats: ['es'], fileName: () => 'weft-bench.js' },
    rolldownOptions: { external: (id: string) => dependencies.some((d) => id === d || id.startsWith(`${d}/`)) },
  },
});
