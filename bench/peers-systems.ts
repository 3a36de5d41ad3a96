// The systems `npm run bench -- peers` compares, each behind one small adapter: build from
// vectors, search one query or a batch, persist to browser storage the way the system supports,
// and open from that storage in a fresh page realm (bench/peers-open.ts). Each peer is configured
// as its own documentation recommends; the comments say where each setting comes from.
// Vectors arrive normalised to unit length, so cosine, inner product and L2 rank alike.

import { openDB, type IDBPDatabase } from 'idb';
import { loadHnswlib, syncFileSystem, waitForFileSystemSynced, type HnswlibModule, type HierarchicalNSW } from 'hnswlib-wasm';
import { HNSW, type MememoIndexJSON } from 'mememo';
import { create, insertMultiple, load, save, search, type AnyOrama, type RawData } from '@orama/orama';
import * as voyGlue from 'voy-search/voy_search_bg.js';
import voyWasmUrl from 'voy-search/voy_search_bg.wasm?url';
import { createGpuContext, type GpuContext } from '../src/gpu/context.js';
import { deleteStore, openStore } from '../src/storage/idb-store.js';
import type { WeftStore } from '../src/storage/contract.js';
import { createStoredIndex, openStoredIndex, type StoredIndex } from '../src/stored-index/stored-index.js';

export type SystemName = 'weft-gpu' | 'weft-cpu' | 'hnswlib-wasm' | 'voy-search' | 'mememo' | 'orama';
export const SYSTEM_NAMES: readonly SystemName[] = ['weft-gpu', 'weft-cpu', 'hnswlib-wasm', 'voy-search', 'mememo', 'orama'];

/** What every system's build needs: unit-length rows, and the size of the IVF partition for Weft. */
export interface BuildInput {
  data: Float32Array;
  n: number;
  dim: number;
  nlist: number;
}

/** A built (or opened) index, searched at the current setting of its knob. */
export interface Searchable {
  /** Sets the search knob (nprobe, efSearch, similarity threshold); a system without one ignores it. */
  setKnob(value: number): void;
  /** The ids of the k best rows for one query. */
  search(query: Float32Array, k: number): Promise<ArrayLike<number>>;
  /** All queries at once where the system has a batch API, one after another where it has none. */
  searchBatch(queries: Float32Array, k: number): Promise<void>;
  /** Bytes the system holds in GPU buffers (invisible to the JS heap figures). */
  gpuBytes(): number;
  /** Size of the system's WASM linear memory (free space inside it included; it never shrinks). */
  wasmBytes(): number;
  close(): Promise<void>;
}

export interface Built extends Searchable {
  /** Writes the index to browser storage (a no-op for systems that build into storage). */
  persist(): Promise<void>;
}

export interface SystemAdapter {
  readonly name: SystemName;
  /** The configuration in words, for the table. */
  readonly config: string;
  /** The search knob swept for recall ≥ 0.95, values in order of rising recall. */
  readonly knob: { name: string; values: readonly number[] };
  /** Starts the library (WASM instantiation, GPU device): not part of any timed figure. */
  init(): Promise<void>;
  /** Turns the rows into the API's input format (outside the build time). */
  prepare(input: BuildInput): unknown;
  build(prepared: unknown, input: BuildInput): Promise<Built>;
  /** Opens what persist() wrote, from storage. */
  open(input: Omit<BuildInput, 'data'>): Promise<Searchable>;
  /** Deletes what the system wrote to storage (before a build, and after the run). */
  cleanup(): Promise<void>;
}

const rowsOf = (data: Float32Array, n: number, dim: number) => Array.from({ length: n }, (_, i) => data.subarray(i * dim, (i + 1) * dim));

// ---- Storage for the peers that persist a serialized form themselves ----------------------------

const BLOBS_DB = 'weft-bench-peers-blobs';
async function blobs(): Promise<IDBPDatabase> {
  return openDB(BLOBS_DB, 1, {
    upgrade(db) {
      db.createObjectStore('blobs');
    },
  });
}
async function putBlob(key: string, value: unknown): Promise<void> {
  const db = await blobs();
  try {
    await db.put('blobs', value, key);
  } finally {
    db.close();
  }
}
async function getBlob<T>(key: string): Promise<T> {
  const db = await blobs();
  try {
    const v = (await db.get('blobs', key)) as T | undefined;
    if (v === undefined) throw new Error(`nothing stored under '${key}'`);
    return v;
  } finally {
    db.close();
  }
}
async function deleteBlob(key: string): Promise<void> {
  const db = await blobs();
  try {
    await db.delete('blobs', key);
  } finally {
    db.close();
  }
}

// ---- Weft: a stored IVF index in IndexedDB, searched on the GPU or (gpu: 'cpu') on the CPU -------

function weft(name: 'weft-gpu' | 'weft-cpu'): SystemAdapter {
  const dbName = `weft-bench-peers-${name}`;
  const onCpu = name === 'weft-cpu';
  let ctx: GpuContext | undefined;
  // The CPU fallback's option (src/stored-index/stored-index.ts); a GpuContext of the bench's own for the GPU rows.
  const gpu = (): GpuContext | 'cpu' => (onCpu ? 'cpu' : ctx!);
  const searchable = (idx: StoredIndex, store: WeftStore, liveBytes: () => number): Searchable => {
    let nprobe = 1;
    return {
      setKnob(v) {
        nprobe = v;
      },
      async search(q, k) {
        return (await idx.search(q, { k, nprobe })).ids;
      },
      async searchBatch(qs, k) {
        await idx.search(qs, { k, nprobe });
      },
      gpuBytes: liveBytes,
      wasmBytes: () => 0,
      async close() {
        await idx.close();
        store.close();
      },
    };
  };
  return {
    name,
    config: `IVF-Flat f32 cosine, nlist ≈ 2√n, k-means defaults (20 iterations); ${onCpu ? "gpu: 'cpu'" : 'WebGPU'}`,
    knob: { name: 'nprobe', values: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] },
    async init() {
      if (!onCpu) ctx = await createGpuContext();
    },
    prepare: () => undefined,
    async build(_prepared, input) {
      const store = await openStore({ dbName });
      const idx = await createStoredIndex(input.data, {
        splitLists: 'oversized',
        gpu: gpu(),
        store,
        name: 'peers',
        dim: input.dim,
        nlist: input.nlist,
        metric: 'cosine',
        storage: 'f32',
        rebuildImbalance: Infinity,
      });
      for (let i = 0; i < input.n; i += 20000) await idx.add(input.data.subarray(i * input.dim, Math.min(input.n, i + 20000) * input.dim));
      const s = searchable(idx, store, () => (ctx ? ctx.liveBytes : 0));
      // Built into IndexedDB: every add() above is a commit.
      return {
        ...s,
        async persist() {},
        async close() {
          await s.close();
          ctx?.destroy();
          ctx = undefined;
        },
      };
    },
    async open() {
      const store = await openStore({ dbName });
      const idx = await openStoredIndex({ splitLists: 'oversized', gpu: gpu(), store, name: 'peers' });
      const s = searchable(idx, store, () => (ctx ? ctx.liveBytes : 0));
      return {
        ...s,
        async close() {
          await s.close();
          ctx?.destroy();
          ctx = undefined;
        },
      };
    },
    async cleanup() {
      await deleteStore(dbName);
    },
  };
}

// ---- hnswlib-wasm: HNSW in WASM, persisted through Emscripten's IDBFS ----------------------------

function hnswlibWasm(): SystemAdapter {
  const FILE = 'weft-bench-peers.hnsw';
  // The library's own defaults (dist/defaultTypes.d.ts: initIndex m 16, efConstruction 200,
  // randomSeed 100); its README: M in 12-48, efSearch "close to M" then raised for recall.
  const M = 16,
    EF_CONSTRUCTION = 200;
  let lib: HnswlibModule;
  const searchable = (index: HierarchicalNSW): Searchable => ({
    setKnob(v) {
      index.setEfSearch(v);
    },
    async search(q, k) {
      return index.searchKnn(q, k, undefined).neighbors;
    },
    async searchBatch(qs, k) {
      const dim = index.getNumDimensions();
      for (let i = 0; i < qs.length; i += dim) index.searchKnn(qs.subarray(i, i + dim), k, undefined);
    },
    gpuBytes: () => 0,
    wasmBytes: () => lib.HEAPU8.buffer.byteLength,
    async close() {
      /* embind objects of this build expose no delete(); the WASM heap keeps them */
    },
  });
  return {
    name: 'hnswlib-wasm',
    config: `HNSW, cosine, M ${M}, efConstruction ${EF_CONSTRUCTION} (the library's defaults)`,
    knob: { name: 'efSearch', values: [10, 16, 32, 64, 128, 256, 512] },
    async init() {
      lib = await loadHnswlib();
      // Mounting IDBFS starts a sync of its own; a second one started before it ends never calls back.
      await waitForFileSystemSynced();
    },
    prepare: ({ data, n, dim }) => rowsOf(data, n, dim),
    async build(prepared, { n, dim }) {
      const index = new lib.HierarchicalNSW('cosine', dim, '');
      index.initIndex(n, M, EF_CONSTRUCTION, 100);
      index.addPoints(
        prepared as Float32Array[],
        Array.from({ length: n }, (_, i) => i),
        false,
      );
      return {
        ...searchable(index),
        // The README's way: writeIndex to the virtual file system, which syncs it to IndexedDB.
        async persist() {
          await index.writeIndex(FILE);
          await waitForFileSystemSynced();
        },
      };
    },
    async open({ n, dim }) {
      await syncFileSystem('read');
      const index = new lib.HierarchicalNSW('cosine', dim, '');
      await index.readIndex(FILE, n);
      return searchable(index);
    },
    // Emscripten keeps its IDBFS database open for the page's life, and a deleteDatabase() blocked
    // by that connection would block every later open (the cold-open iframe's): the next
    // writeIndex() overwrites the file instead, and the benchmark's browser profile is discarded.
    async cleanup() {},
  };
}

// ---- voy-search: a k-d tree in WASM (Rust), persisted as its serialized string ------------------

function voySearch(): SystemAdapter {
  // Voy's package imports its .wasm as an ES module, which Vite does not do without a plugin:
  // instantiate it here and hand the exports to the package's own glue (what its entry does).
  let ready: Promise<void> | undefined;
  let memory: WebAssembly.Memory | undefined;
  type Voy = InstanceType<typeof voyGlue.Voy>;
  const searchable = (voy: Voy, dim: number): Searchable => ({
    setKnob() {},
    async search(q, k) {
      return voy.search(q, k).neighbors.map((h) => Number(h.id));
    },
    async searchBatch(qs, k) {
      for (let i = 0; i < qs.length; i += dim) voy.search(qs.subarray(i, i + dim), k);
    },
    gpuBytes: () => 0,
    wasmBytes: () => memory?.buffer.byteLength ?? 0,
    async close() {
      voy.free();
    },
  });
  return {
    name: 'voy-search',
    config: 'k-d tree (exact), no parameters',
    knob: { name: '-', values: [0] },
    init() {
      ready ??= (async () => {
        const { instance } = await WebAssembly.instantiateStreaming(fetch(voyWasmUrl), {
          './voy_search_bg.js': voyGlue as unknown as WebAssembly.ModuleImports,
        });
        voyGlue.__wbg_set_wasm(instance.exports);
        memory = instance.exports.memory as WebAssembly.Memory;
      })();
      return ready;
    },
    // Voy's Resource: one object per row, its embedding a plain number array (README, Usage).
    prepare: ({ data, n, dim }) => ({ embeddings: rowsOf(data, n, dim).map((r, i) => ({ id: String(i), title: '', url: '', embeddings: Array.from(r) })) }),
    async build(prepared, { dim }) {
      const voy = new voyGlue.Voy(prepared as voyGlue.Resource);
      return {
        ...searchable(voy, dim),
        async persist() {
          await putBlob('voy', voy.serialize());
        },
      };
    },
    async open({ dim }) {
      return searchable(voyGlue.Voy.deserialize(await getBlob<string>('voy')), dim);
    },
    async cleanup() {
      await deleteBlob('voy');
    },
  };
}

// ---- MeMemo: HNSW in JS with the embeddings in IndexedDB (Dexie) --------------------------------

function mememo(): SystemAdapter {
  // The constructor's defaults (m 16, efConstruction 100, mMax0 2m) with useIndexedDB: true, the
  // mode MeMemo is about; 'cosine-normalized' is its default distance, for unit-length vectors.
  const searchable = (index: HNSW, dim: number): Searchable => {
    let ef = 10;
    return {
      setKnob(v) {
        ef = v;
      },
      async search(q, k) {
        return (await index.query(Array.from(q), k, ef)).keys.map(Number);
      },
      async searchBatch(qs, k) {
        for (let i = 0; i < qs.length; i += dim) await index.query(Array.from(qs.subarray(i, i + dim)), k, ef);
      },
      gpuBytes: () => 0,
      wasmBytes: () => 0,
      // Dexie's open table keeps every node reachable; close its connection to let them go.
      async close() {
        if ('dbPromise' in index.nodes) (await index.nodes.dbPromise).db.close();
      },
    };
  };
  return {
    name: 'mememo',
    config: 'HNSW over IndexedDB, cosine-normalized, m 16, efConstruction 100 (its defaults)',
    knob: { name: 'ef', values: [10, 16, 32, 64, 128, 256, 512] },
    async init() {},
    prepare: ({ data, n, dim }) => ({ keys: Array.from({ length: n }, (_, i) => String(i)), values: rowsOf(data, n, dim).map((r) => Array.from(r)) }),
    async build(prepared, { data, dim }) {
      const { keys, values } = prepared as { keys: string[]; values: number[][] };
      const index = new HNSW({ distanceFunction: 'cosine-normalized', useIndexedDB: true, seed: 1 });
      await index.bulkInsert(keys, values);
      return {
        ...searchable(index, dim),
        // Its documented reload path: exportIndex() keeps the graph; loadIndex() then
        // bulkInsertSkipIndex() with the embeddings (a new HNSW clears its IndexedDB table).
        async persist() {
          await putBlob('mememo', { index: index.exportIndex(), data });
        },
      };
    },
    async open({ n, dim }) {
      const { index: json, data } = await getBlob<{ index: MememoIndexJSON; data: Float32Array }>('mememo');
      const index = new HNSW({ distanceFunction: 'cosine-normalized', useIndexedDB: true });
      index.loadIndex(json);
      await index.bulkInsertSkipIndex(
        Array.from({ length: n }, (_, i) => String(i)),
        rowsOf(data, n, dim).map((r) => Array.from(r)),
      );
      return searchable(index, dim);
    },
    async cleanup() {
      await deleteBlob('mememo');
      await new Promise<void>((resolve) => {
        const r = indexedDB.deleteDatabase('mememo-index-store');
        r.onsuccess = r.onerror = r.onblocked = () => resolve();
      });
    },
  };
}

// ---- Orama: vector search (exact scan above a similarity threshold), persisted with save/load ---

function orama(): SystemAdapter {
  const schema = (dim: number) => ({ embedding: `vector[${dim}]` }) as const;
  const searchable = (db: AnyOrama, dim: number): Searchable => {
    // Orama's README: "Minimum similarity to determine a match. Defaults to 0.8"; lower
    // thresholds let more rows through, so the sweep lowers it until k results are the right ones.
    let similarity = 0.8;
    const one = async (q: Float32Array, k: number) =>
      (
        await search(db, { mode: 'vector', vector: { value: q as unknown as number[], property: 'embedding' }, similarity, limit: k, includeVectors: false })
      ).hits.map((h) => Number(h.id));
    return {
      setKnob(v) {
        similarity = v;
      },
      search: one,
      async searchBatch(qs, k) {
        for (let i = 0; i < qs.length; i += dim) await one(qs.subarray(i, i + dim), k);
      },
      gpuBytes: () => 0,
      wasmBytes: () => 0,
      async close() {},
    };
  };
  return {
    name: 'orama',
    config: 'vector search (exact scan), similarity threshold 0.8 (its default), lowered until recall ≥ 0.95',
    knob: { name: 'similarity', values: [0.8, 0.6, 0.4, 0.2, 0, -1] },
    async init() {},
    prepare: ({ data, n, dim }) => rowsOf(data, n, dim).map((r, i) => ({ id: String(i), embedding: Array.from(r) })),
    async build(prepared, { dim }) {
      const db = create({ schema: schema(dim) }) as unknown as AnyOrama;
      await insertMultiple(db, prepared as never[]);
      // Orama's persistence plugin writes save()'s RawData as JSON (its 'json' format).
      return {
        ...searchable(db, dim),
        async persist() {
          await putBlob('orama', JSON.stringify(save(db)));
        },
      };
    },
    async open({ dim }) {
      const raw = JSON.parse(await getBlob<string>('orama')) as RawData;
      const db = create({ schema: schema(dim) }) as unknown as AnyOrama;
      load(db, raw);
      return searchable(db, dim);
    },
    async cleanup() {
      await deleteBlob('orama');
    },
  };
}

export function createAdapter(name: SystemName): SystemAdapter {
  switch (name) {
    case 'weft-gpu':
    case 'weft-cpu':
      return weft(name);
    case 'hnswlib-wasm':
      return hnswlibWasm();
    case 'voy-search':
      return voySearch();
    case 'mememo':
      return mememo();
    case 'orama':
      return orama();
    default:
      throw new Error(`unknown system '${String(name)}' (known: ${SYSTEM_NAMES.join(', ')})`);
  }
}
