// The storage tier a benchmark keeps its index in: IndexedDB in the browser (the default); under
// Deno, which has no IndexedDB, bench/deno.ts passes its file store (src/storage/fs-deno.ts).
import { deleteStore, openStore } from '../src/storage/idb-store.js';
import type { WeftStore } from '../src/storage/contract.js';

export interface BenchStores {
  kind: string;
  open(name: string): Promise<WeftStore>;
  remove(name: string): Promise<void>;
}

export const indexedDbStores: BenchStores = { kind: 'indexeddb', open: (dbName) => openStore({ dbName }), remove: deleteStore };
