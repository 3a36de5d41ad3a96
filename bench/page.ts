// The benchmark page: `bench/run.mjs` opens it in headless Chromium and calls weftBench.run().
import { runSearchBench, type SearchBenchOptions } from './search.js';
import { runPqSearchBench, type PqSearchBenchOptions } from './search-pq.js';
import { runRemotePqBench, type RemotePqBenchOptions } from './remote-pq.js';
import { runTiersBench, type TiersBenchOptions } from './tiers.js';
import { runModelsBench, type ModelsBenchOptions } from './models.js';
import { runRagBench, type RagBenchOptions } from './rag.js';
import { runRerankBench, type RerankBenchOptions } from './rerank.js';
import { runQualityBench, type QualityBenchOptions } from './quality.js';
import { runPeersBench, type PeersBenchOptions } from './peers.js';
import { runGrowthBench, type GrowthBenchOptions } from './growth.js';
import { runWorkflowsBench, type WorkflowsBenchOptions } from './workflows.js';

const benches = {
  search: (o: unknown, log: (s: string) => void) => runSearchBench(o as SearchBenchOptions, log),
  'search-pq': (o: unknown, log: (s: string) => void) => runPqSearchBench(o as PqSearchBenchOptions, log),
  'remote-pq': (o: unknown, log: (s: string) => void) => runRemotePqBench(o as RemotePqBenchOptions, log),
  tiers: (o: unknown, log: (s: string) => void) => runTiersBench(o as TiersBenchOptions, log),
  models: (o: unknown, log: (s: string) => void) => runModelsBench(o as ModelsBenchOptions, log),
  rag: (o: unknown, log: (s: string) => void) => runRagBench(o as RagBenchOptions, log),
  rerank: (o: unknown, log: (s: string) => void) => runRerankBench(o as RerankBenchOptions, log),
  quality: (o: unknown, log: (s: string) => void) => runQualityBench(o as QualityBenchOptions, log),
  peers: (o: unknown, log: (s: string) => void) => runPeersBench(o as PeersBenchOptions, log),
  growth: (o: unknown, log: (s: string) => void) => runGrowthBench(o as GrowthBenchOptions, log),
  workflows: (o: unknown, log: (s: string) => void) => runWorkflowsBench(o as WorkflowsBenchOptions, log),
};

declare global {
  interface Window {
    weftBench: { run(name: string, options: unknown): Promise<unknown> };
    weftBenchLog?: (s: string) => void;
  }
}

window.weftBench = {
  async run(name, options) {
    const bench = benches[name as keyof typeof benches];
    if (!bench) throw new Error(`Unknown benchmark '${name}'. Available: ${Object.keys(benches).join(', ')}.`);
    const el = document.getElementById('log')!;
    return bench(options, (s) => {
      el.textContent += `\n${s}`;
      console.log(`[bench] ${s}`);
    });
  },
};
