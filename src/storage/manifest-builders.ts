// The manifests a write produces, for the storage core (store-core.ts, commit-writes.ts): that of a
// new index, the checks before a whole-index write (import, rebuild) and the manifest it writes,
// what new centroids change, a moved chunk's record, a commit's progress.

import { WeftError } from '../errors.js';
import { emptyRecord } from '../ivf/list-records.js';
import type { WeftStore, WriteWholeOptions } from './contract.js';
import { isInt, sameRange, show, wholeIndexProblem } from './index-checks.js';
import { DEFAULT_LANGUAGE } from '../lexical/analyzer.js';
import { DEFAULT_BUCKETS, MAX_BUCKETS } from '../lexical/postings.js';
import {
  FORMAT_VERSION,
  centroidChecksum,
  chunkChecksum,
  chunkFields,
  emptyBucketChecksum,
  listChecksum,
  type CentroidData,
  type CommitChanges,
  type LexicalManifest,
  type Manifest,
  type StoredChunk,
  type WholeIndex,
} from './records.js';

export type IndexInit = Parameters<WeftStore['createIndex']>[0];

/**
 * The centroids of `init` and the generation-1 manifest of its empty index, without checksums
 * (validate it with manifestProblem and centroidProblem first, then `withEmptyChecksums`).
 */
export function newIndexManifest(init: IndexInit): { manifest: Manifest; centroids: CentroidData } {
  const now = Date.now();
  const buckets = init.termBuckets ?? DEFAULT_BUCKETS;
  const centroids: CentroidData = {
    centroids: init.centroids,
    ...(init.vmin ? { vmin: init.vmin } : {}),
    ...(init.scale ? { scale: init.scale } : {}),
    ...(init.codebook ? { codebook: init.codebook } : {}),
  };
  const manifest: Manifest = {
    name: init.name,
    formatVersion: FORMAT_VERSION,
    dim: init.dim,
    metric: init.metric,
    storage: init.storage,
    ...(init.pq ? { pq: { m: init.pq.m, bits: init.pq.bits } } : {}),
    nlist: init.nlist,
    modelId: init.modelId ?? '',
    count: 0,
    tombstones: 0,
    nextId: 0,
    checksums: [],
    listCounts: new Array<number>(init.nlist).fill(0),
    centroidsChecksum: 0,
    createdAt: now,
    updatedAt: now,
    generation: 1,
    lexical: {
      language: init.language ?? DEFAULT_LANGUAGE,
      buckets,
      chunks: 0,
      tokens: 0,
      checksums: isInt(buckets, 1, MAX_BUCKETS) ? emptyBucketChecksums(buckets) : [],
    },
    ...(init.pending ? { pending: true as const } : {}),
  };
  return { manifest, centroids };
}

/** A valid new manifest with the checksums of its centroids and of its nlist empty lists. */
export function withEmptyChecksums(manifest: Manifest, centroids: CentroidData): Manifest {
  return {
    ...manifest,
    centroidsChecksum: centroidChecksum(centroids),
    checksums: Array.from({ length: manifest.nlist }, (_, l) => listChecksum(emptyRecord(l))),
  };
}

/** The checksums of `buckets` empty term buckets. */
export function emptyBucketChecksums(buckets: number): number[] {
  return Array.from({ length: buckets }, (_, b) => emptyBucketChecksum(b));
}

/** The manifest of a whole index written over `replaced` (if any) whose generation was `previous`, with its postings' `lexical` part: nextId never goes back. */
export function wholeIndexManifest(whole: WholeIndex, replaced: Manifest | undefined, previous: number, lexical: LexicalManifest): Manifest {
  const w = whole.manifest;
  return {
    name: w.name,
    formatVersion: FORMAT_VERSION,
    dim: w.dim,
    metric: w.metric,
    storage: w.storage,
    ...(w.pq ? { pq: { m: w.pq.m, bits: w.pq.bits } } : {}),
    ...(w.rerank !== undefined ? { rerank: w.rerank } : {}),
    nlist: w.nlist,
    modelId: w.modelId,
    count: w.count,
    tombstones: w.tombstones,
    nextId: Math.max(w.nextId, replaced?.nextId ?? 0),
    checksums: whole.lists.map(listChecksum),
    listCounts: whole.lists.map((l) => l.count),
    centroidsChecksum: centroidChecksum(whole.centroids),
    createdAt: w.createdAt,
    updatedAt: Date.now(),
    generation: previous + 1,
    lexical,
  };
}

/** Refuses a whole-index write before anything is read or written (INVALID_INPUT, INVALID_OPTION); returns the index's name. */
export function checkedWholeWrite(whole: WholeIndex, opts: WriteWholeOptions): string {
  const problem = wholeIndexProblem(whole);
  if (problem) throw new WeftError('INVALID_INPUT', `The index was not written, it is inconsistent: ${problem}`, { details: { name: whole?.manifest?.name } });
  if (opts.expectGeneration !== undefined && !isInt(opts.expectGeneration, 0, Number.MAX_SAFE_INTEGER)) {
    throw new WeftError('INVALID_OPTION', `expectGeneration must be a generation (a non-negative integer); got ${show(opts.expectGeneration)}.`);
  }
  return whole.manifest.name;
}

/**
 * What a commit with new centroids (a list split) changes in the manifest: nlist, the centroids'
 * checksum, and the checksums and counts of the lists it appends (empty unless the commit writes
 * them: `emptyLists` are those the store must write as empty records). The int8 range cannot
 * change in a commit: every stored list's codes follow it.
 */
export function grownCentroids(
  name: string,
  m: Manifest,
  stored: CentroidData,
  changes: CommitChanges,
): { manifest: Pick<Manifest, 'nlist' | 'centroidsChecksum' | 'checksums' | 'listCounts'>; emptyLists: number[] } {
  const c = changes.centroids!;
  if (!sameRange(c.vmin, stored.vmin) || !sameRange(c.scale, stored.scale) || !sameRange(c.codebook, stored.codebook)) {
    throw new WeftError(
      'INVALID_INPUT',
      `Commit to index '${name}': new centroids must keep the stored int8 range (vmin, scale) and PQ codebook; rebuild() retrains them. Nothing was written.`,
      { details: { name } },
    );
  }
  const nlist = c.centroids.length / m.dim;
  const written = new Set((changes.lists ?? []).map((r) => r.list));
  const emptyLists: number[] = [];
  const checksums = m.checksums.slice(),
    listCounts = m.listCounts.slice();
  for (let l = m.nlist; l < nlist; l++) {
    checksums[l] = listChecksum(emptyRecord(l));
    listCounts[l] = 0;
    if (!written.has(l)) emptyLists.push(l);
  }
  return { manifest: { nlist, centroidsChecksum: centroidChecksum(c), checksums, listCounts }, emptyLists };
}

/** A stored chunk record with its vector now in `list`; a damaged record stays damaged (its checksum is not renewed). */
export function movedChunk(name: string, r: StoredChunk, list: number): StoredChunk {
  const intact = r.checksum !== undefined && r.checksum === chunkChecksum(chunkFields(r));
  const moved: StoredChunk = { ...r, index: name, list };
  return intact ? { ...moved, checksum: chunkChecksum(chunkFields(moved)) } : moved;
}

/**
 * Progress of a commit's record writes: a function to call once per record written (chunks put,
 * deleted and moved, then term buckets), which reports at most every 256 records and at the end.
 * The lists are written first and counted with the chunks: they are few.
 */
export function commitProgress(changes: CommitChanges, buckets: number, onProgress: ((done: number, total: number) => void) | undefined): () => void {
  if (!onProgress) return () => undefined;
  const total = (changes.putChunks?.length ?? 0) + (changes.deleteChunks?.length ?? 0) + (changes.moveChunks?.length ?? 0) + buckets;
  let done = 0;
  onProgress(0, total);
  return () => {
    if (++done % 256 === 0 || done === total) onProgress(done, total);
  };
}
