// Bundles bench/deno.ts into one ES module (WGSL inlined) that Deno runs without a build step.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    outDir: resolve(import.meta.dirname, '../dist/bench-deno'),
    emptyOutDir: true,
    minify: false,
    target: 'es2022',
    lib: { entry: resolve(import.meta.dirname, 'deno.ts'), formats: ['es'], fileName: () => 'weft-bench.js' },
  },
});
