// Where a benchmark keeps its index: a local store — IndexedDB in the browser (the default), or
// under Deno, which has no IndexedDB, its file store (bench/deno.ts passes it, src/storage/fs-deno.ts) —
// and, for the remote regime, a static host the index is published to: the range host of the
// Vite server behind Chromium's network emulation, or under Deno bench/deno-host.ts.
import { deleteStore, openStore } from '../src/storage/idb-store.js';
import type { WeftStore } from '../src/storage/contract.js';
import { clearRemoteCache } from '../src/storage/remote/section-cache.js';

/** The remote regime's network: latency (ms, to each response's headers) and throughput (Mbit/s, shared). */
export interface BenchNetwork {
  latencyMs: number;
  mbps: number;
}

/** A static host for the remote regime. */
export interface BenchHost {
  /** Puts `file` on the host under `name`; resolves to its URL. */
  publish(name: string, file: Blob): Promise<string>;
  /** The network between the host and the runtime from now on; undefined: full speed. */
  network(conditions: BenchNetwork | undefined): Promise<void>;
  /** Empties the remote tier's local cache of `url` (IndexedDB database `dbName`, where there is IndexedDB). */
  forget(url: string, dbName: string): Promise<void>;
}

export interface BenchStores {
  kind: string;
  open(name: string): Promise<WeftStore>;
  remove(name: string): Promise<void>;
  /** The remote regime's host (none: the regime is refused). */
  remote?: BenchHost;
}

/** Set by bench/run.mjs: Chromium's network emulation (CDP), undefined to lift it. */
declare global {
  interface Window {
    weftBenchNetwork?: (c: BenchNetwork | undefined) => Promise<void>;
  }
}

/** The Vite server's range host (scripts/range-server.mjs), its network emulated by Chromium. */
export const rangeHost: BenchHost = {
  async publish(name, file) {
    const url = new URL(`/__weft-range/files/${name}`, location.href).href;
    await fetch(url, { method: 'PUT', body: file });
    return url;
  },
  network: async (c) => {
    await window.weftBenchNetwork?.(c);
  },
  forget: (url, dbName) => clearRemoteCache(url, dbName),
};

export const indexedDbStores: BenchStores = { kind: 'indexeddb', open: (dbName) => openStore({ dbName }), remove: deleteStore, remote: rangeHost };
