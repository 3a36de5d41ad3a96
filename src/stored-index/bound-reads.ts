// A store whose reads carry one operation's signal: what a search, a session, a prefetch or a
// keyword search hands to the code below it, which reads the store without knowing about signals.
// So a read over a slow tier (the remote store) stops when the operation is aborted, and the
// search code needs no signal threaded through each of its calls. Views nest: a read then stops
// at whichever signal aborts first (an operation's, or its index's close).

import type { ReadOptions, WeftStore } from '../storage/contract.js';

/** `store`, with `signal` passed to every read (the store itself when there is no signal). */
export function readsWith(store: WeftStore, signal: AbortSignal | undefined): WeftStore {
  if (!signal) return store;
  const o = (given?: ReadOptions): ReadOptions => ({ signal: given?.signal ? AbortSignal.any([given.signal, signal]) : signal });
  return Object.create(store, {
    readLists: { value: (name: string, lists: readonly number[], given?: ReadOptions) => store.readLists(name, lists, o(given)) },
    readChunks: { value: (name: string, ids: readonly number[], given?: ReadOptions) => store.readChunks(name, ids, o(given)) },
    readVectors: { value: (name: string, ids: readonly number[], given?: ReadOptions) => store.readVectors(name, ids, o(given)) },
    ...(store.readGroupCentroids
      ? {
          readGroupCentroids: {
            value: (name: string, groups: readonly number[], given?: ReadOptions) => store.readGroupCentroids!(name, groups, o(given)),
          },
        }
      : {}),
    ...(store.readPlaces
      ? { readPlaces: { value: (name: string, lists: readonly number[], given?: ReadOptions) => store.readPlaces!(name, lists, o(given)) } }
      : {}),
    readCatalog: { value: (name: string, given?: ReadOptions) => store.readCatalog(name, o(given)) },
    readTermBuckets: {
      value: (name: string, buckets: readonly number[], terms?: readonly string[], given?: ReadOptions) =>
        store.readTermBuckets(name, buckets, terms, o(given)),
    },
  }) as WeftStore;
}
