// The IndexedDB tier of a remote index: the sections fetched over HTTP (lists, chunk records,
// directory pages, term buckets, the catalog) kept per file URL, with the file's header and table
// of contents so that an index opened before opens offline. Every record carries the fileId of
// the publication it came from: when a URL is found to hold a new publication, its old sections
// are deleted in the same transaction that records the new one, so they can never be mixed in.
// Records are checked by the caller (their section CRC) when read; a damaged one is a miss.
// Which sections stay under the byte budget is the caller's policy; this file only stores.

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { storageError } from '../idb-store.js';

export interface CachedFile {
  url: string;
  fileId: string;
  etag: string | undefined;
  /** File length in bytes. */
  length: number;
  /** The file's first bytes: prelude, header and table of contents. */
  head: ArrayBuffer;
  /** Per-list access counts (the GPU cache preloads the hottest lists on open). */
  access?: ArrayBuffer;
}

interface CachedSection {
  url: string;
  key: string;
  fileId: string;
  data: ArrayBuffer;
  usedAt: number;
}

interface RemoteSchema extends DBSchema {
  files: { key: string; value: CachedFile };
  sections: { key: [string, string]; value: CachedSection };
}

export const REMOTE_CACHE_DB = 'weft-remote';

export interface SectionCache {
  file(url: string): Promise<CachedFile | undefined>;
  /** Records `file` as what `url` holds; a different fileId than the cached one drops the old sections (one transaction). */
  adopt(file: CachedFile): Promise<void>;
  /** Cached bytes of `keys` from publication `fileId` (undefined: not cached). */
  get(url: string, fileId: string, keys: readonly string[]): Promise<(Uint8Array | undefined)[]>;
  put(url: string, fileId: string, entries: readonly { key: string; data: Uint8Array }[]): Promise<void>;
  delete(url: string, keys: readonly string[]): Promise<void>;
  /** Keys and sizes of what is cached for `url` from `fileId`, least recently used first. */
  entries(url: string, fileId: string): Promise<{ key: string; bytes: number }[]>;
  saveAccess(url: string, counts: Float64Array): Promise<void>;
  close(): void;
}

const range = (url: string) => IDBKeyRange.bound([url, ''], [url, '\uffff']);

function openCacheDb(dbName: string, blocking?: () => void): Promise<IDBPDatabase<RemoteSchema>> {
  return openDB<RemoteSchema>(dbName, 1, {
    upgrade(d) {
      d.createObjectStore('files', { keyPath: 'url' });
      d.createObjectStore('sections', { keyPath: ['url', 'key'] });
    },
    ...(blocking ? { blocking } : {}),
  });
}

/**
 * The cache in IndexedDB, or where there is none (Deno, Node) one in memory for this process:
 * the remote tier then works with HTTP and the GPU alone.
 */
export async function openSectionCache(dbName = REMOTE_CACHE_DB): Promise<SectionCache> {
  if (typeof indexedDB === 'undefined') return memorySectionCache();
  let db: IDBPDatabase<RemoteSchema>;
  try {
    db = await openCacheDb(dbName, () => db.close());
  } catch (e) {
    throw storageError(e, 'Opening the remote-index cache');
  }
  const within = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw storageError(e, what);
    }
  };
  return {
    file: (url) => within('Reading the remote-index cache', () => db.get('files', url)),
    adopt: (file) =>
      within('Recording a remote index in the cache', async () => {
        const t = db.transaction(['files', 'sections'], 'readwrite');
        const old = await t.objectStore('files').get(file.url);
        if (old && old.fileId !== file.fileId) await t.objectStore('sections').delete(range(file.url));
        await t.objectStore('files').put({ ...file, ...(old && old.fileId === file.fileId && old.access && !file.access ? { access: old.access } : {}) });
        await t.done;
      }),
    get: (url, fileId, keys) =>
      within('Reading the remote-index cache', async () => {
        const t = db.transaction('sections', 'readonly');
        const got = await Promise.all(keys.map((k) => t.store.get([url, k])));
        return got.map((r) => (r && r.fileId === fileId ? new Uint8Array(r.data) : undefined));
      }),
    put: (url, fileId, entries) =>
      within('Caching remote sections', async () => {
        const t = db.transaction(['files', 'sections'], 'readwrite');
        // Only sections of the publication the cache records for this URL (a newer one may have been adopted meanwhile, in another tab).
        const f = await t.objectStore('files').get(url);
        if (!f || f.fileId !== fileId) {
          t.abort();
          await t.done.catch(() => undefined);
          return;
        }
        const now = Date.now();
        for (const e of entries) void t.objectStore('sections').put({ url, key: e.key, fileId, data: e.data.slice().buffer, usedAt: now });
        await t.done;
      }),
    delete: (url, keys) =>
      within('Evicting remote sections', async () => {
        const t = db.transaction('sections', 'readwrite');
        for (const k of keys) void t.store.delete([url, k]);
        await t.done;
      }),
    entries: (url, fileId) =>
      within('Reading the remote-index cache', async () => {
        const out: { key: string; bytes: number; usedAt: number }[] = [];
        let cursor = await db.transaction('sections', 'readonly').store.openCursor(range(url));
        while (cursor) {
          const v = cursor.value;
          if (v.fileId === fileId) out.push({ key: v.key, bytes: v.data.byteLength, usedAt: v.usedAt });
          cursor = await cursor.continue();
        }
        return out.sort((a, b) => a.usedAt - b.usedAt).map(({ key, bytes }) => ({ key, bytes }));
      }),
    saveAccess: (url, counts) =>
      within('Saving remote access statistics', async () => {
        const t = db.transaction('files', 'readwrite');
        const f = await t.store.get(url);
        if (f) await t.store.put({ ...f, access: counts.slice().buffer });
        await t.done;
      }),
    close() {
      db.close();
    },
  };
}

function memorySectionCache(): SectionCache {
  const files = new Map<string, CachedFile>();
  const sections = new Map<string, CachedSection>();
  const id = (url: string, key: string) => `${url}\n${key}`;
  const ofUrl = (url: string) => [...sections.values()].filter((v) => v.url === url);
  return {
    async file(url) {
      return files.get(url);
    },
    async adopt(file) {
      const old = files.get(file.url);
      if (old && old.fileId !== file.fileId) for (const v of ofUrl(file.url)) sections.delete(id(v.url, v.key));
      files.set(file.url, { ...file, ...(old?.fileId === file.fileId && old.access && !file.access ? { access: old.access } : {}) });
    },
    async get(url, fileId, keys) {
      return keys.map((k) => {
        const v = sections.get(id(url, k));
        return v && v.fileId === fileId ? new Uint8Array(v.data) : undefined;
      });
    },
    async put(url, fileId, entries) {
      if (files.get(url)?.fileId !== fileId) return;
      for (const e of entries) sections.set(id(url, e.key), { url, key: e.key, fileId, data: e.data.slice().buffer, usedAt: Date.now() });
    },
    async delete(url, keys) {
      for (const k of keys) sections.delete(id(url, k));
    },
    async entries(url, fileId) {
      return ofUrl(url)
        .filter((v) => v.fileId === fileId)
        .map((v) => ({ key: v.key, bytes: v.data.byteLength }));
    },
    async saveAccess(url, counts) {
      const f = files.get(url);
      if (f) files.set(url, { ...f, access: counts.slice().buffer });
    },
    close() {
      /* nothing held */
    },
  };
}

/** Deletes what the remote tier cached for `url` (every URL when omitted). */
export async function clearRemoteCache(url?: string, dbName = REMOTE_CACHE_DB): Promise<void> {
  const db = await openCacheDb(dbName);
  try {
    const t = db.transaction(['files', 'sections'], 'readwrite');
    if (url === undefined) {
      await t.objectStore('files').clear();
      await t.objectStore('sections').clear();
    } else {
      await t.objectStore('files').delete(url);
      await t.objectStore('sections').delete(range(url));
    }
    await t.done;
  } finally {
    db.close();
  }
}
