// The cold-open side of `npm run bench -- peers`: loaded in a fresh same-origin iframe, so each
// system opens its index from browser storage with nothing of the build left in memory (no
// Emscripten file, no module state), as a returning visitor's page would. The library starts
// first (WASM instantiation, GPU device), untimed; then open + first answer is timed.

import { createAdapter, type SystemName } from './peers-systems.js';

export interface ColdOpenRequest {
  system: SystemName;
  n: number;
  dim: number;
  nlist: number;
  knob: number;
  k: number;
  query: number[];
}
export interface ColdOpenResult {
  openMs: number;
  firstQueryMs: number;
  ids: number[];
}

declare global {
  interface Window {
    weftPeersOpen?: (r: ColdOpenRequest) => Promise<ColdOpenResult>;
  }
}

window.weftPeersOpen = async (r) => {
  const adapter = createAdapter(r.system);
  await adapter.init();
  const query = new Float32Array(r.query);
  const t0 = performance.now();
  const index = await adapter.open({ n: r.n, dim: r.dim, nlist: r.nlist });
  const t1 = performance.now();
  index.setKnob(r.knob);
  const ids = Array.from(await index.search(query, r.k));
  const t2 = performance.now();
  await index.close();
  return { openMs: t1 - t0, firstQueryMs: t2 - t1, ids };
};
