// The IndexedDB store as a backend of the shared store spec (test/support/store-behaviour.ts): a
// fresh database per test, and its records damaged through raw IndexedDB calls.
import { openDB } from 'idb';
import type { StoreBackend } from './store-behaviour.js';
import type { storeSession } from './store-fixtures.js';

export function idbBackend(db: ReturnType<typeof storeSession>): StoreBackend {
  /** Rewrites one record behind the store's back, as a disk fault or a buggy writer would. */
  const tamper = async (store: 'chunks' | 'manifests' | 'lists', key: IDBValidKey, edit: (record: Record<string, unknown>) => void) => {
    const raw = await openDB(db.dbName);
    const rec = (await raw.get(store, key)) as Record<string, unknown>;
    edit(rec);
    await raw.put(store, rec);
    raw.close();
  };
  return {
    label: 'IndexedDB store',
    fresh: () => db.fresh(),
    tamper: {
      listCodes: (index, list, edit) => tamper('lists', [index, list], (r) => edit(new Uint8Array(r.codes as ArrayBuffer))),
      chunk: (index, id, edit) => tamper('chunks', [index, id], edit),
      manifest: (index, edit) => tamper('manifests', index, edit),
      async rawManifest(index) {
        const raw = await openDB(db.dbName);
        const rec = (await raw.get('manifests', index)) as Record<string, unknown>;
        raw.close();
        return rec;
      },
    },
  };
}
