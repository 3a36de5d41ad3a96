// Runs a benchmark outside the browser, in Deno's WebGPU (wgpu on Vulkan/Metal/D3D12), for
// machines where a real GPU has no Chromium: `deno run -A --unstable-webgpu <bundle> search '{json options}'`.
// The bundle is built by `vite build --config bench/vite.deno.config.ts` (WGSL inlined).
import { runSearchBench, type SearchBenchOptions } from './search.js';

declare const Deno: { args: string[]; exit(code: number): never };

const [name, json] = Deno.args;
if (name !== 'search') {
  console.error('usage: deno run -A --unstable-webgpu weft-bench.js search \'{"n":100000,"dim":128,...}\'');
  Deno.exit(2);
}
const defaults: SearchBenchOptions = { metric: 'l2', dim: 128, n: 100_000, k: 10, storage: 'f32', queries: 100, seed: 1, niter: 10 };
const result = await runSearchBench({ ...defaults, ...(JSON.parse(json ?? '{}') as Partial<SearchBenchOptions>) }, (s) => console.error(s));
console.log(JSON.stringify(result));
