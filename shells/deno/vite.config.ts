// Bundles the Deno shell (weft.ts) into one ES module with the WGSL inlined; the npm dependencies
// stay imports, which Deno resolves from the checkout's node_modules (--node-modules-dir=manual).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { workerSafeAlias } from '../../scripts/worker-safe-alias.mjs';

const root = resolve(import.meta.dirname, '../..');
const dependencies = Object.keys(
  (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {},
);

export default defineConfig({
  root,
  publicDir: false,
  // The Markdown stack is bundled (a devDependency): its DOM-free build (scripts/worker-safe-alias.mjs).
  resolve: { alias: workerSafeAlias(root) },
  build: {
    outDir: resolve(root, 'dist/deno-shell'),
    emptyOutDir: true,
    minify: false,
    target: 'es2022',
    lib: { entry: resolve(import.meta.dirname, 'weft.ts'), formats: ['es'], fileName: () => 'weft.js' },
    rolldownOptions: { external: (id: string) => dependencies.some((d) => id === d || id.startsWith(`${d}/`)) },
  },
});
