// Long CPU work (the CPU backend's scans, k-means and list assignment) on the page's own thread
// must not freeze it: a yielder hands the event loop a turn once a time slice has passed since
// the last one, so input and rendering go on between slices. Work shorter than a slice never waits.

import { yieldToEvents } from '../util/yield.js';

/** Returns a function to call between units of work: a promise to await when the slice is spent, else undefined. */
export function createYielder(sliceMs = 16): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    if (performance.now() - since < sliceMs) return undefined;
    return yieldToEvents().then(() => {
      since = performance.now();
    });
  };
}
