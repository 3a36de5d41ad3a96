// Writes to a stored index as plans: each reads what it needs, computes the new list records
// (src/ivf/list-records.ts) and chunk changes, and returns them as ONE commit for the caller to
// apply with the generation it planned from. Nothing here touches the GPU cache or the
// snapshot: a plan that is not committed changes nothing, and a plan based on a stale view is
// refused by the store (CONFLICT) instead of overwriting another tab's commit.

import { WeftError } from '../errors.js';
import { appendToRecord, compactRecord, groupByList, liveRows, recordsFromLabels, tombstoneRecord } from '../ivf/list-records.js';
import { prepareRows } from '../ivf/probe.js';
import { assignLists } from '../ivf/train.js';
import { NO_ID, type ListRecord } from '../ivf/types.js';
import { checkIds, checkVectors } from '../ivf/validate.js';
import type { ChunkRecord, CommitChanges, WholeIndex } from '../storage/contract.js';
import { rowCodec, trainQuantizers } from './quantizers.js';
import { quantizersOf, type IndexEnv, type IndexSnapshot } from './snapshot.js';

export type WriteEnv = IndexEnv;

/** The chunk stored with an added vector: its document id, text and metadata. */
export interface ChunkInput {
  docId: string;
  text?: string;
  metadata?: Record<string, unknown>;
}

export interface AddInput {
  ids?: ArrayLike<number>;
  chunks?: readonly ChunkInput[];
  /** Documents whose vectors this add replaces (deleted in the same commit). */
  replaceDocuments?: readonly string[];
}

/** Ids a caller names for delete/chunks: integers in [0, 2^32 - 2], else INVALID_ID. */
export function checkExistingIds(ids: unknown): number[] {
  if (ids === null || typeof ids !== 'object' || typeof (ids as ArrayLike<number>).length !== 'number') {
    throw new WeftError('INVALID_ID', 'Pass the ids as an array (or typed array) of integers.');
  }
  const out = Array.from(ids as ArrayLike<unknown>);
  out.forEach((id, i) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= NO_ID) {
      throw new WeftError('INVALID_ID', `Id ${String(id)} at position ${i} is not an integer in [0, ${NO_ID - 1}]; ids are the ones add() returned.`, {
        details: { position: i },
      });
    }
  });
  return out as number[];
}

/** Tombstones `ids` in their lists (read from the store): the changed records and how many vectors went. */
async function tombstones(env: WriteEnv, ids: readonly number[]): Promise<{ records: Map<number, ListRecord>; removed: number; chunkIds: number[] }> {
  if (ids.length === 0) return { records: new Map(), removed: 0, chunkIds: [] }; // no store round trips for nothing
  const chunks = await env.store.readChunks(env.name, ids);
  const byList = new Map<number, Set<number>>();
  const chunkIds: number[] = [];
  chunks.forEach((ch) => {
    if (!ch) return;
    chunkIds.push(ch.id);
    let s = byList.get(ch.list);
    if (!s) {
      s = new Set();
      byList.set(ch.list, s);
    }
    s.add(ch.id);
  });
  const records = new Map<number, ListRecord>();
  let removed = 0;
  const lists = [...byList.keys()].sort((a, b) => a - b);
  for (const r of await env.store.readLists(env.name, lists)) {
    const t = tombstoneRecord(r, byList.get(r.list)!);
    records.set(r.list, t.record);
    removed += t.removed;
  }
  return { records, removed, chunkIds };
}

/** Adding vectors (and their chunks), replacing documents' vectors in the same commit. */
export async function planAdd(
  env: WriteEnv,
  snap: IndexSnapshot,
  vectors: Float32Array,
  input: AddInput,
): Promise<{ ids: Uint32Array; changes: CommitChanges }> {
  const { layout, metric, store, name } = env;
  const { manifest, trained } = snap;
  const n = checkVectors('vectors', vectors, layout.dim, { metric, storage: layout.storage });
  if (input.chunks && input.chunks.length !== n)
    throw new WeftError('INVALID_OPTION', `Got ${input.chunks.length} chunks for ${n} vectors; pass one per vector.`);
  let ids: Uint32Array;
  if (input.ids) {
    ids = checkIds(input.ids, n, () => false);
    const existing = await store.readChunks(name, Array.from(ids));
    const dup = existing.findIndex((r) => r !== undefined);
    if (dup >= 0)
      throw new WeftError('DUPLICATE_ID', `Id ${ids[dup]} is already in index '${name}'. Delete it first or use another id.`, { details: { id: ids[dup] } });
  } else {
    if (manifest.nextId + n > NO_ID) throw new WeftError('INVALID_ID', 'Automatic ids are exhausted; pass ids explicitly.');
    ids = Uint32Array.from({ length: n }, (_, i) => manifest.nextId + i);
  }
  const prepared = prepareRows(metric, vectors, layout.dim);
  const labels = await assignLists(env.ctx, prepared, trained.centroids, layout.dim, metric);
  const codec = rowCodec(env, trained);
  const rows = codec.encode(prepared, labels, trained.centroids);
  const replaced: number[] = [];
  for (const doc of input.replaceDocuments ?? []) replaced.push(...(await store.chunkIdsOfDocument(name, doc)));
  const gone = await tombstones(env, replaced);
  const groups = groupByList(labels);
  const missing = [...groups.keys()].filter((l) => !gone.records.has(l)).sort((a, b) => a - b);
  for (const r of await store.readLists(name, missing)) gone.records.set(r.list, r);
  const records = [...gone.records.values()]
    .map((r) => {
      const members = groups.get(r.list);
      return members ? appendToRecord(r, rows, ids, members, layout) : r;
    })
    .sort((a, b) => a.list - b.list);
  const putChunks: ChunkRecord[] = Array.from(ids, (id, i) => {
    const ch = input.chunks?.[i];
    return {
      id,
      list: labels[i]!,
      docId: ch?.docId ?? '',
      text: ch?.text ?? '',
      ...(ch?.metadata ? { metadata: ch.metadata } : {}),
      ...codec.chunkVector(prepared, i),
    };
  });
  let nextId = manifest.nextId;
  for (const id of ids) nextId = Math.max(nextId, id + 1);
  return {
    ids,
    changes: { lists: records, putChunks, deleteChunks: gone.chunkIds, countDelta: n - gone.removed, tombstoneDelta: gone.removed, nextId },
  };
}

/** Deleting vectors by id: tombstones in their lists, chunks removed. */
export async function planDelete(env: WriteEnv, ids: readonly number[]): Promise<{ removed: number; changes: CommitChanges }> {
  const gone = await tombstones(env, ids);
  return {
    removed: gone.removed,
    changes: { lists: [...gone.records.values()], deleteChunks: gone.chunkIds, countDelta: -gone.removed, tombstoneDelta: gone.removed },
  };
}

/** Rewriting the lists that hold tombstones without them. */
export async function planCompact(env: WriteEnv, snap: IndexSnapshot): Promise<{ removed: number; changes: CommitChanges }> {
  const all = snap.manifest.listCounts.flatMap((n, l) => (n > 0 ? [l] : []));
  const changed: ListRecord[] = [];
  let removed = 0;
  for (const r of await env.store.readLists(env.name, all)) {
    const c = compactRecord(r, env.layout);
    if (!c) continue;
    changed.push(c);
    removed += r.count - c.count;
  }
  return { removed, changes: { lists: changed, tombstoneDelta: -removed } };
}

/**
 * Retraining on the live vectors and redistributing them: the whole new index, and the
 * generation it was planned from (the replace must be refused if the index moved on since).
 * Undefined when there are too few live vectors to retrain.
 */
export async function planRebuild(env: WriteEnv, seed: number): Promise<{ whole: WholeIndex; generation: number } | undefined> {
  const { layout, metric } = env;
  const whole = await env.store.readWholeIndex(env.name);
  const { nlist } = whole.manifest;
  const live = liveRows(whole.lists, layout);
  const n = live.ids.length;
  if (n < nlist) return undefined; // too few vectors to retrain; keep the lists as they are
  const vectors = await rowCodec(env, quantizersOf(whole.centroids, layout.dim, env.pq)).vectors(live.rows, live.ids, whole.chunks);
  const prepared = prepareRows(metric, vectors, layout.dim);
  const trained = await trainQuantizers(env.ctx, prepared, { nlist, metric, layout, pq: env.pq, seed, niter: 20, maxTrainPointsPerCentroid: 256 });
  const labels = await assignLists(env.ctx, prepared, trained.centroids, layout.dim, metric);
  const codec = rowCodec(env, quantizersOf(trained, layout.dim, env.pq));
  const lists = recordsFromLabels(labels, codec.encode(prepared, labels, trained.centroids), live.ids, nlist, layout);
  const listOf = new Map<number, number>();
  live.ids.forEach((id, i) => listOf.set(id, labels[i]!));
  const chunks = whole.chunks.filter((ch) => listOf.has(ch.id)).map((ch) => ({ ...ch, list: listOf.get(ch.id)! }));
  return {
    generation: whole.manifest.generation,
    whole: {
      manifest: { ...whole.manifest, count: n, tombstones: 0 },
      centroids: trained,
      lists,
      chunks,
    },
  };
}
