// Filters inside the search: a stored index turns a declarative filter (filter.ts) into an
// allow-list, a bitmap of one bit per vector id that the GPU scan (shaders/scan.wgsl), the CPU
// scoring of uncached lists and sliced sessions all honour, so a selective filter still yields k
// passages. The bitmap is built from a catalog of every live chunk's id, list, document and
// metadata (not its text), read from the store on first filtered use; this tab's own commits
// update it in place (their chunk changes are known), and any other change of generation (another
// tab's commit adopted, a rebuild, an import) reads it again; bitmaps are cached per filter while
// the generation stays the same.

import type { CatalogEntry, ChunkCatalog } from '../storage/contract.js';
import type { CompiledFilter } from './passage-filter.js';

export type { CatalogEntry, ChunkCatalog } from '../storage/contract.js';

export interface AllowList {
  /** Live chunks the filter keeps. */
  readonly count: number;
  has(id: number): boolean;
  /** Bit (id % 32) of word floor(id / 32) is set for each kept id; as long as the largest kept id needs. */
  readonly bits: Uint32Array;
  /** Kept chunks per IVF list (how far a search must probe to find k of them). */
  readonly perList: Uint32Array;
}

/** The allow-list of `filter` over `catalog`. */
export function buildAllowList(catalog: ChunkCatalog, filter: CompiledFilter, nlist: number): AllowList {
  const kept: CatalogEntry[] = [];
  let top = -1;
  for (const ch of catalog.chunks) {
    if (!filter(ch.metadata ?? {}, ch.docId)) continue;
    kept.push(ch);
    if (ch.id > top) top = ch.id;
  }
  const bits = new Uint32Array(Math.floor(top / 32) + 1);
  const perList = new Uint32Array(nlist);
  for (const ch of kept) {
    bits[ch.id >>> 5]! |= 1 << (ch.id & 31);
    if (ch.list < nlist) perList[ch.list]!++;
  }
  return {
    count: kept.length,
    bits,
    perList,
    has: (id) => {
      const w = Math.floor(id / 32);
      return Number.isInteger(id) && id >= 0 && w < bits.length && ((bits[w]! >>> (id & 31)) & 1) === 1;
    },
  };
}

/** Allow-lists kept per filter for one open index. */
export interface AllowLists {
  /** The allow-list of `filter` at `generation` (the catalog is read again when that moved on). */
  get(filter: CompiledFilter, generation: number): Promise<AllowList>;
  /**
   * This tab committed `changes` on generation `from`, giving `to`: a catalog at `from` takes the
   * chunks put and deleted and moves to `to` (a catalog at any other generation is read again on
   * next use anyway).
   */
  committed(
    from: number,
    to: number,
    changes: { putChunks?: readonly CatalogEntry[]; deleteChunks?: readonly number[]; moveChunks?: readonly { id: number; list: number }[] },
  ): void;
}

/** Filters whose bitmaps are kept at once (least recently used ones go first). */
const KEEP = 16;

/** `nlist`: the index's lists now (a split adds some). */
export function createAllowLists(readCatalog: () => Promise<ChunkCatalog>, nlist: () => number): AllowLists {
  let catalog: ChunkCatalog | undefined;
  const lists = new Map<string, AllowList>();
  return {
    committed(from, to, changes) {
      if (!catalog || catalog.generation !== from) return;
      const puts = changes.putChunks ?? [];
      const gone = new Set([...(changes.deleteChunks ?? []), ...puts.map((c) => c.id)]);
      const moves = new Map((changes.moveChunks ?? []).map((m) => [m.id, m.list]));
      const chunks = (gone.size > 0 ? catalog.chunks.filter((c) => !gone.has(c.id)) : catalog.chunks.slice()).map((c) =>
        moves.has(c.id) ? { ...c, list: moves.get(c.id)! } : c,
      );
      for (const c of puts) chunks.push({ id: c.id, list: c.list, docId: c.docId, ...(c.metadata !== undefined ? { metadata: c.metadata } : {}) });
      catalog = { generation: to, chunks };
      lists.clear();
    },

    async get(filter, generation) {
      if (!catalog || catalog.generation !== generation) {
        lists.clear();
        catalog = undefined;
        catalog = await readCatalog();
      }
      let a = lists.get(filter.key);
      if (a) {
        lists.delete(filter.key); // most recently used last
      } else {
        a = buildAllowList(catalog, filter, nlist());
        if (lists.size >= KEEP) lists.delete(lists.keys().next().value!);
      }
      lists.set(filter.key, a);
      return a;
    },
  };
}
