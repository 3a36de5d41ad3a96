// Runs a benchmark outside the browser, in Deno's WebGPU (wgpu on Vulkan/Metal/D3D12), for
// machines where a real GPU has no Chromium:
//   deno run -A --unstable-webgpu --node-modules-dir=manual <bundle> search|tiers|rag|workflows|growth '{json options}' [--store DIR]
// `tiers`, `rag`, `workflows` and `growth` keep the index in Deno's file store (src/storage/fs-deno.ts; Deno
// has no IndexedDB) under DIR (default: a temporary folder, removed afterwards): their `idb`
// regime is then lists cold in files. `rag` and `workflows` read ../shared/assets (stories260K,
// the MiniLM tokenizer, Cranfield) unless "assets" says where; their remote regime publishes the
// index to bench/deno-host.ts, a local static host that emulates the network as Chromium does.
// The bundle is built by `npm run build:bench-deno` (WGSL inlined, npm dependencies left to
// node_modules).
import { runSearchBench, type SearchBenchOptions } from './search.js';
import { runPqSearchBench, type PqSearchBenchOptions } from './search-pq.js';
import { runTiersBench, type TiersBenchOptions } from './tiers.js';
import { runRagBench, type RagBenchOptions } from './rag.js';
import { runWorkflowsBench, type WorkflowsBenchOptions } from './workflows.js';
import { runGrowthBench, type GrowthBenchOptions } from './growth.js';
import type { BenchStores } from './stores.js';
import { openFileStore } from '../src/storage/file-store.js';
import { denoFileSystem } from '../src/storage/fs-deno.js';
import { startDenoHost } from './deno-host.js';

declare const Deno: {
  args: string[];
  exit(code: number): never;
  makeTempDir(): Promise<string>;
  remove(path: string, o: { recursive: boolean }): Promise<void>;
};

const [name, json, flag, dir] = Deno.args;
const usage =
  'usage: deno run -A --unstable-webgpu --node-modules-dir=manual weft-bench.js search|tiers|rag|workflows|growth \'{"n":100000,...}\' [--store DIR]';
if (!['search', 'tiers', 'rag', 'workflows', 'growth'].includes(name ?? '') || (flag !== undefined && (flag !== '--store' || !dir))) {
  console.error(usage);
  Deno.exit(2);
}
const given = JSON.parse(json ?? '{}') as Record<string, unknown>;
const log = (s: string) => console.error(s);
let result: unknown;
if (name === 'search') {
  const defaults: SearchBenchOptions = { metric: 'l2', dim: 128, n: 100_000, k: 10, storage: 'f32', queries: 100, seed: 1, niter: 10 };
  // "storage": "pq": the IVF-PQ index against IVF-Flat f16 on the same data (bench/search-pq.ts), as
  // `npm run bench -- search --storage pq` runs it in Chromium: issue 24's 1M x 384 recall run on a GPU.
  result =
    given.storage === 'pq'
      ? await runPqSearchBench({ ...defaults, ...(given as Partial<PqSearchBenchOptions>) }, log)
      : await runSearchBench({ ...defaults, ...(given as Partial<SearchBenchOptions>) }, log);
} else {
  const base = dir ?? (await Deno.makeTempDir());
  const fs = denoFileSystem();
  const host = startDenoHost();
  const stores: BenchStores = {
    kind: 'files',
    open: (storeName: string) => openFileStore({ dir: `${base}/${storeName}`, fs }),
    remove: (storeName: string) => Deno.remove(`${base}/${storeName}`, { recursive: true }).catch(() => undefined),
    remote: host,
  };
  try {
    if (name === 'tiers') {
      const defaults: TiersBenchOptions = { n: 100_000, dim: 384, cacheFraction: 0.25, zipf: 1, storage: 'f16', queries: 300, nprobe: 8, seed: 1 };
      result = await runTiersBench({ ...defaults, ...(given as Partial<TiersBenchOptions>) }, log, stores);
    } else if (name === 'rag') {
      const assets = new URL('../../../shared/assets', import.meta.url).href; // dist/bench-deno/ → the checkout's ../shared
      const defaults: RagBenchOptions = { assets, n: 100_000, requests: 32, maxTokens: 32, nprobe: 8, arrivalMs: 200, regime: 'idb', onnxWasmPaths: null };
      result = await runRagBench({ ...defaults, ...(given as Partial<RagBenchOptions>) }, log, stores);
    } else if (name === 'growth') {
      // Issue 19's run for a GPU machine: 10 -> n in batches, recall beside a fresh index at checkpoints.
      const defaults: GrowthBenchOptions = { n: 200_000, dim: 384, storage: 'f16', nprobe: 16, k: 10, queries: 200, seed: 1 };
      result = await runGrowthBench({ ...defaults, ...(given as Partial<GrowthBenchOptions>) }, log, stores);
    } else {
      const assets = new URL('../../../shared/assets', import.meta.url).href;
      const defaults: WorkflowsBenchOptions = { assets, n: 100_000, requests: 24, rate: 1, maxTokens: 32, nprobe: 8, regime: 'idb', onnxWasmPaths: null };
      result = await runWorkflowsBench({ ...defaults, ...(given as Partial<WorkflowsBenchOptions>) }, log, stores);
    }
  } finally {
    await host.close();
    if (!dir) await Deno.remove(base, { recursive: true }).catch(() => undefined);
  }
}
console.log(JSON.stringify(result));
