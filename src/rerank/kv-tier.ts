// Where a decoder reranker keeps each passage's KV cache once computed (HyperRAG's document-side
// KV reuse): a GPU tier with a byte budget and the project's eviction policies (hotness or LRU,
// src/util/cache-policy.ts), then an IndexedDB tier in a database of its own ('weft-kv'), with a byte
// budget and least-recently-used eviction, that outlives the page. Every computed KV is written
// through to IndexedDB (off the scoring path: the write is not awaited by the step), and an
// IndexedDB hit is promoted to the GPU. A record carries a CRC-32 over its key, tokens and bytes;
// one that fails it is deleted and reported as a miss, so the passage is recomputed (a cache
// heals itself; nothing the user stored is involved). An IndexedDB failure (quota, a blocked or
// unavailable database) never fails reranking: the tier goes on without it and counts the error.
// Budgets hold across tabs: an IndexedDB write measures and evicts in the same transaction.

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { WeftError } from '../errors.js';
import { crc32 } from '../storage/checksum.js';
import { createPolicy, type CachePolicy, type CachePolicyName } from '../util/cache-policy.js';

/** A KV snapshot as bytes: what the IndexedDB tier stores. */
export interface KvBytes {
  tokens: number[];
  data: ArrayBuffer;
}

/** How the tier handles the reranker's in-memory snapshots (GPU buffers for the reference generator). */
export interface KvCodec<S> {
  bytes(s: S): number;
  /** Starts reading `s` at once (before anything can release it) and resolves with its bytes. */
  toBytes(s: S): Promise<KvBytes>;
  fromBytes(b: KvBytes): S;
  release(s: S): void;
}

/**
 * Where a decoder reranker keeps its passages' KV: the GPU tier's budget and eviction policy, the
 * IndexedDB tier's database and budget.
 */
export interface KvTierOptions {
  /** Bytes of KV the GPU tier may hold. Default 64 MiB. */
  gpuBytes?: number;
  /** The IndexedDB database, or false for none. Default 'weft-kv'. */
  database?: string | false;
  /** Bytes of KV the IndexedDB tier may hold (across tabs). Default 256 MiB. */
  idbBytes?: number;
  /** Eviction in the GPU tier. Default 'hotness'. */
  policy?: CachePolicyName;
}

/**
 * A KV tier's counters: hits per tier, misses, corrupt records, entries, bytes, evictions, writes and
 * IndexedDB errors.
 */
export interface KvTierStats {
  gpuHits: number;
  idbHits: number;
  misses: number;
  /** Records that failed their checksum (deleted and recomputed). */
  corrupt: number;
  gpuEntries: number;
  gpuBytes: number;
  gpuEvictions: number;
  idbWrites: number;
  idbEvictions: number;
  /** IndexedDB operations that failed (the tier went on without them). */
  idbErrors: number;
}

export interface KvTier<S> {
  /**
   * The snapshot for `key`: from the GPU, else from IndexedDB (then kept on the GPU when it fits:
   * `kept` false means the caller releases it after use), else undefined.
   */
  get(key: string, options?: { touch?: boolean }): Promise<{ snapshot: S; kept: boolean } | undefined>;
  /**
   * Records one request's keys for the GPU eviction policy (hotness decays per request, as the
   * IVF list cache's does per probe request); get() then passes touch: false. A get() that was
   * not preceded by one counts as a request of its own.
   */
  touch(keys: readonly string[]): void;
  /**
   * Keeps a freshly computed snapshot: on the GPU if it fits the budget (evicting colder ones)
   * and written through to IndexedDB. Returns false when the GPU tier did not keep it: the caller
   * releases it after use.
   */
  put(key: string, s: S): boolean;
  /** Settles when the IndexedDB writes started so far are done. */
  flush(): Promise<void>;
  stats(): KvTierStats;
  /**
   * Sets the GPU tier's budget to `bytes` (at most its gpuBytes option), evicting the coldest
   * entries past it; returns the budget now. The device's memory budget calls it when a load
   * needs memory, and again when memory is free (an elastic hold, gpu/budget.ts).
   */
  resizeGpu(bytes: number): number;
  /** The GPU tier's budget as configured (gpuBytes): the most resizeGpu gives it. */
  readonly gpuMax: number;
  /** Releases the GPU tier and closes the database (after pending writes). */
  close(): Promise<void>;
}

interface KvRecord {
  key: string;
  tokens: Int32Array;
  data: ArrayBuffer;
  crc: number;
}
interface KvMeta {
  key: string;
  bytes: number;
  used: number;
}
interface KvSchema extends DBSchema {
  kv: { key: string; value: KvRecord };
  meta: { key: string; value: KvMeta };
}

export const KV_DB_VERSION = 1;

export function recordChecksum(key: string, tokens: Int32Array, data: ArrayBuffer): number {
  return crc32(new TextEncoder().encode(key), tokens, new Uint8Array(data));
}

/** Opens (creating) the KV database: the tier's and the tests' one way in. */
export function openKvDatabase(name: string, onBlocking?: () => void): Promise<IDBPDatabase<KvSchema>> {
  let db: IDBPDatabase<KvSchema> | undefined;
  return openDB<KvSchema>(name, KV_DB_VERSION, {
    upgrade(d) {
      d.createObjectStore('kv', { keyPath: 'key' });
      d.createObjectStore('meta', { keyPath: 'key' });
    },
    blocking() {
      db?.close();
      onBlocking?.();
    },
  }).then((d) => (db = d));
}

export function createKvTier<S>(codec: KvCodec<S>, options: KvTierOptions = {}): KvTier<S> {
  const gpuMax = options.gpuBytes ?? 64 * 2 ** 20;
  let gpuBudget = gpuMax;
  const idbBudget = options.idbBytes ?? 256 * 2 ** 20;
  for (const [what, v] of [
    ['gpuBytes', gpuMax],
    ['idbBytes', idbBudget],
  ] as const) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new WeftError('INVALID_OPTION', `kv.${what} must be a number of bytes >= 0 (got ${String(v)}).`);
  }
  const policy: CachePolicy = createPolicy(options.policy ?? 'hotness');
  const ids = new Map<string, number>();
  const idOf = (key: string) => {
    let i = ids.get(key);
    if (i === undefined) {
      i = ids.size;
      ids.set(key, i);
    }
    return i;
  };
  const gpu = new Map<number, { key: string; s: S; bytes: number }>();
  let gpuBytes = 0;
  const st: KvTierStats = {
    gpuHits: 0,
    idbHits: 0,
    misses: 0,
    corrupt: 0,
    gpuEntries: 0,
    gpuBytes: 0,
    gpuEvictions: 0,
    idbWrites: 0,
    idbEvictions: 0,
    idbErrors: 0,
  };
  const pending = new Set<Promise<unknown>>();
  let closed = false;
  let clock = 0;
  const now = () => (clock = Math.max(Date.now(), clock + 0.001));

  const dbName = options.database === undefined ? 'weft-kv' : options.database;
  let dbp: Promise<IDBPDatabase<KvSchema> | undefined> | undefined;
  const db = () => {
    if (dbName === false || closed) return Promise.resolve(undefined);
    dbp ??= openKvDatabase(dbName, () => {
      dbp = undefined;
    }).catch(() => {
      st.idbErrors++;
      dbp = undefined;
      return undefined;
    });
    return dbp;
  };
  const track = <T>(p: Promise<T>) => {
    const q = p.catch(() => {
      st.idbErrors++;
    });
    pending.add(q);
    void q.finally(() => pending.delete(q));
    return q;
  };

  /** Evicts the coldest entries (never `keep`) until `bytes` more fit the GPU budget; false if they cannot. */
  const evictFor = (bytes: number, keep: ReadonlySet<number>): boolean => {
    while (gpuBytes + bytes > gpuBudget) {
      const victim = policy.victims(gpu.keys(), keep)[0];
      if (victim === undefined) return false;
      const e = gpu.get(victim)!;
      gpu.delete(victim);
      gpuBytes -= e.bytes;
      policy.forget(victim);
      codec.release(e.s);
      st.gpuEvictions++;
    }
    return true;
  };

  /** Makes room for `bytes` on the GPU (never evicting `keep`) and admits the entry if it fits. */
  const admit = (key: string, s: S, bytes: number): boolean => {
    if (bytes > gpuBudget) return false;
    const id = idOf(key);
    if (!evictFor(bytes, new Set([id]))) return false;
    gpu.set(id, { key, s, bytes });
    gpuBytes += bytes;
    policy.admit(id);
    return true;
  };

  const persist = async (key: string, bytesP: Promise<KvBytes>) => {
    const b = await bytesP;
    const d = await db();
    if (!d) return;
    const size = b.data.byteLength;
    if (size > idbBudget) return;
    const tokens = Int32Array.from(b.tokens);
    const record: KvRecord = { key, tokens, data: b.data, crc: recordChecksum(key, tokens, b.data) };
    const tx = d.transaction(['kv', 'meta'], 'readwrite');
    const metas = await tx.objectStore('meta').getAll();
    let total = 0;
    for (const m of metas) if (m.key !== key) total += m.bytes;
    metas.sort((a, b2) => a.used - b2.used);
    for (const m of metas) {
      if (total + size <= idbBudget) break;
      if (m.key === key) continue;
      void tx.objectStore('kv').delete(m.key);
      void tx.objectStore('meta').delete(m.key);
      total -= m.bytes;
      st.idbEvictions++;
    }
    void tx.objectStore('kv').put(record);
    void tx.objectStore('meta').put({ key, bytes: size, used: now() });
    await tx.done;
    st.idbWrites++;
  };

  /** Deletes a record that failed its checks (its passage is recomputed and written again). */
  const drop = async (key: string) => {
    const d = await db();
    if (!d) return;
    const tx = d.transaction(['kv', 'meta'], 'readwrite');
    void tx.objectStore('kv').delete(key);
    void tx.objectStore('meta').delete(key);
    await tx.done;
  };

  const fromIdb = async (key: string): Promise<KvBytes | undefined> => {
    const d = await db();
    if (!d) return undefined;
    let r: KvRecord | undefined;
    try {
      r = await d.get('kv', key);
    } catch {
      st.idbErrors++;
      return undefined;
    }
    if (!r) return undefined;
    const ok = r.tokens instanceof Int32Array && r.data instanceof ArrayBuffer && r.key === key && recordChecksum(key, r.tokens, r.data) === r.crc;
    if (!ok) {
      st.corrupt++;
      void track(drop(key));
      return undefined;
    }
    void track(
      (async () => {
        const tx = d.transaction('meta', 'readwrite');
        const m = await tx.store.get(key);
        if (m) await tx.store.put({ ...m, used: now() });
        await tx.done;
      })(),
    );
    return { tokens: Array.from(r.tokens), data: r.data };
  };

  return {
    touch(keys) {
      policy.touch(keys.map(idOf));
    },
    async get(key, opts = {}) {
      if (closed) throw new WeftError('DESTROYED', 'This KV tier was closed.');
      const id = idOf(key);
      if (opts.touch !== false) policy.touch([id]);
      const e = gpu.get(id);
      if (e) {
        st.gpuHits++;
        return { snapshot: e.s, kept: true };
      }
      const b = await fromIdb(key);
      if (!b) {
        st.misses++;
        return undefined;
      }
      let s: S;
      try {
        s = codec.fromBytes(b);
      } catch {
        // Intact bytes that do not fit this model (another model under the same id): recomputed.
        st.corrupt++;
        st.misses++;
        void track(drop(key));
        return undefined;
      }
      st.idbHits++;
      return { snapshot: s, kept: admit(key, s, codec.bytes(s)) };
    },
    put(key, s) {
      if (closed) throw new WeftError('DESTROYED', 'This KV tier was closed.');
      // Read first: admitting may evict (and release) older entries, never this one, but the
      // bytes must be on their way before the caller can release a snapshot the GPU did not keep.
      if (dbName !== false) void track(persist(key, codec.toBytes(s)));
      return admit(key, s, codec.bytes(s));
    },
    async flush() {
      while (pending.size) await Promise.all([...pending]);
    },
    stats: () => ({ ...st, gpuEntries: gpu.size, gpuBytes }),
    gpuMax,
    resizeGpu(bytes) {
      gpuBudget = Math.max(0, Math.min(gpuMax, bytes));
      evictFor(0, new Set());
      return gpuBudget;
    },
    async close() {
      if (closed) return;
      await this.flush();
      closed = true;
      for (const e of gpu.values()) codec.release(e.s);
      gpu.clear();
      gpuBytes = 0;
      const d = await dbp;
      d?.close();
      dbp = undefined;
    },
  };
}
