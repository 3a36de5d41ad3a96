// The 'pq' index the published-layout tests share (grouped-file, coded-file): 3,000 vectors of a
// fresh gaussian mixture in 32 dimensions, cosine, m 8, with 24 questions near the passages they
// ask for, stored in IndexedDB; and a PUT of a file to the range host Vite mounts.

import { gaussianMixture } from '../../src/random.js';
import type { GpuContext } from '../../src/gpu/context.js';
import { openStore } from '../../src/storage/idb-store.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { createStoredIndex, type StoredIndex } from '../../src/stored-index/stored-index.js';

export const PUBLISHED = { dim: 32, n: 3000, nlist: 64 } as const;

/** The index and its questions (`toClose` gets the store and the index). */
export async function publishedPqIndex(
  ctx: GpuContext,
  dbName: string,
  seed: number,
  toClose: { close(): void | Promise<void> }[],
): Promise<{ store: WeftStore; index: StoredIndex; queries: Float32Array }> {
  const { dim, n, nlist } = PUBLISHED;
  const data = gaussianMixture(n, dim, { centers: 24, seed });
  // Questions near the passages they ask for: indexed vectors moved a little.
  const queries = Float32Array.from({ length: 24 * dim }, (_, i) => data[Math.floor(i / dim) * 125 * dim + (i % dim)]! + 0.1 * Math.sin(i * 12.9898 + seed));
  const store = await openStore({ dbName });
  toClose.push(store);
  const index = await createStoredIndex(data, { gpu: ctx, store, name: 'docs', dim, nlist, metric: 'cosine', storage: 'pq', pq: { m: 8 }, seed });
  toClose.push(index);
  await index.add(data, { chunks: Array.from({ length: n }, (_, i) => ({ docId: `d${i % 9}`, text: `passage ${i}` })) });
  return { store, index, queries };
}

/** Puts `file` on the range host under a fresh name; its URL. */
export async function putFile(prefix: string, file: Blob | Uint8Array): Promise<string> {
  const url = `/__weft-range/files/${prefix}-${crypto.randomUUID()}.weft`;
  await fetch(url, { method: 'PUT', body: file as BodyInit });
  return url;
}

/** Sets the range host's fault for the file at `url` (putFile's): 'down', 'none', … (scripts/range-server.mjs). */
export async function setFault(url: string, kind: string): Promise<void> {
  await fetch(`/__weft-range/fault/${url.split('/').at(-1)}?kind=${kind}`, { method: 'POST' });
}
