// openRemoteIndex: a stored index (GPU list cache, prefetch, sessions, keyword search, filters)
// over a RemoteStore, so an index published as one file on a static host is searched in place
// with three tiers, GPU ← IndexedDB ← HTTP. The index owns its store: closing it closes both.

import { openStoredIndex, type CacheOptions, type StoredIndex } from './stored-index.js';
import { openRemoteStore, type RemoteStore, type RemoteStoreOptions } from '../storage/remote/remote-store.js';

/** Options of openRemoteIndex: the list cache's and the remote store's. */
export interface RemoteIndexOptions extends CacheOptions, RemoteStoreOptions {}

/** A stored index over a remote store: searched in place, read-only. */
export interface RemoteIndex extends StoredIndex {
  /** The HTTP tier under the index (its URL, publication, request statistics). */
  readonly remote: RemoteStore;
}

/** Opens the index file at `url` (written by exportIndex or `weft-publish`) for searching in place. */
export async function openRemoteIndex(url: string | URL, options: RemoteIndexOptions = {}): Promise<RemoteIndex> {
  const remote = await openRemoteStore(url, options);
  let index: StoredIndex;
  try {
    index = await openStoredIndex({ ...options, store: remote, name: remote.indexName });
  } catch (e) {
    remote.close();
    throw e;
  }
  return Object.create(index, {
    remote: { value: remote, enumerable: true },
    // The index's close stops its reads in flight first (bound-reads.ts), so it never waits on a
    // stalled host; then the store goes, with fetches nobody waits for.
    close: {
      value: async () => {
        try {
          await index.close();
        } finally {
          remote.close();
        }
      },
      enumerable: true,
    },
  }) as RemoteIndex;
}
