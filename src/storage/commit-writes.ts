// What a commit and a migration write, record by record, through a backend's writer: the storage
// core (store-core.ts) checks a commit first, then hands it here inside the backend's atomic write.
// Both run inside an IndexedDB transaction, so they await nothing but the writer's calls.

import { WeftError } from '../errors.js';
import { emptyRecord } from '../ivf/list-records.js';
import type { Analyzer } from '../lexical/analyzer.js';
import { DEFAULT_BUCKETS } from '../lexical/postings.js';
import type { RecordWriter } from './backend.js';
import { lexicalOf, postingChange, wholePostingsWith } from './lexical-records.js';
import { commitProgress, grownCentroids, movedChunk } from './manifest-builders.js';
import { checkedBucketsFrom, checkedCentroidsFrom } from './read-checks.js';
import {
  FORMAT_VERSION,
  checkedChunk,
  listChecksum,
  sealedManifest,
  storedChunk,
  type ChunkRecord,
  type CommitChanges,
  type Manifest,
  type StoredManifest,
} from './records.js';

/**
 * Writes commit `changes` (already checked against `m`, the manifest it was planned on) and returns
 * the new manifest: generation + 1, the lists' checksums and counts, new centroids (a split), the
 * chunks put, deleted and moved, and the postings that follow them (those of the chunks deleted or
 * overwritten go, their stored texts read here; those of the chunks put come).
 */
export async function writeCommit(
  w: RecordWriter,
  name: string,
  m: Manifest,
  changes: CommitChanges,
  analyzer: Analyzer,
  onProgress: ((done: number, total: number) => void) | undefined,
): Promise<Manifest> {
  const next: Manifest = {
    ...m,
    checksums: m.checksums.slice(),
    listCounts: m.listCounts.slice(),
    generation: m.generation + 1,
    updatedAt: Date.now(),
  };
  delete next.pending; // the first commit makes a pending index exist
  if (changes.centroids) {
    const grown = grownCentroids(name, m, await checkedCentroidsFrom(w, name, m), changes);
    Object.assign(next, grown.manifest);
    await w.putCentroids(changes.centroids, next.centroidsChecksum);
    for (const l of grown.emptyLists) await w.putList(emptyRecord(l), next.checksums[l]!);
  }
  for (const rec of changes.lists ?? []) {
    const checksum = listChecksum(rec);
    next.checksums[rec.list] = checksum;
    next.listCounts[rec.list] = rec.count;
    await w.putList(rec, checksum);
  }
  // The postings follow the chunks in this write: those of the chunks deleted or
  // overwritten go (their stored texts read here), those of the chunks put come.
  const puts = changes.putChunks ?? [];
  const dels = changes.deleteChunks ?? [];
  // Every stored id is below nextId, so a put at or past it overwrites nothing (an add's new ids).
  const touched = [...new Set([...dels, ...puts.map((c) => c.id).filter((id) => id < m.nextId)])];
  const removed: ChunkRecord[] = [];
  const damaged: number[] = [];
  for (const r of await w.chunks(touched)) {
    if (!r) continue;
    try {
      removed.push(checkedChunk(name, r));
    } catch {
      damaged.push(r.id);
    }
  }
  const lex = lexicalOf(m);
  if (analyzer.language !== lex.language)
    throw new WeftError('CONFLICT', `Index '${name}' was replaced while this commit was prepared. Try again.`, { details: { name } });
  const change = postingChange(analyzer, lex, removed, damaged, puts);
  const { records: buckets, lexical } = change.apply(await checkedBucketsFrom(w, name, m, change.buckets, change.terms, true));
  next.lexical = lexical;
  const progress = commitProgress(changes, buckets.length, onProgress);
  for (const c of puts) {
    await w.putChunk(storedChunk(name, c));
    progress();
  }
  for (const id of dels) {
    await w.deleteChunk(id);
    progress();
  }
  for (const mv of changes.moveChunks ?? []) {
    const [r] = await w.chunks([mv.id]);
    if (r) await w.putChunk(movedChunk(name, r, mv.list));
    progress();
  }
  for (const b of buckets) {
    await w.putBucket(b);
    progress();
  }
  next.count += changes.countDelta ?? 0;
  next.tombstones += changes.tombstoneDelta ?? 0;
  if (changes.nextId !== undefined) next.nextId = Math.max(next.nextId, changes.nextId);
  // nextId stays above every stored chunk id (what lets a commit skip looking for chunks its puts would overwrite).
  for (const c of puts) if (c.id >= next.nextId) next.nextId = c.id + 1;
  await w.putManifest(sealedManifest(next));
  return next;
}

/**
 * Brings index `name`, stored as `r` in an older format, to this one: the chunks' checksums
 * (format 1), then the lexical index built from its chunks (formats 1 and 2), same generation. A
 * chunk whose record fails its checksum is left out of the postings (reading it stays
 * CORRUPT_RECORD). `analyzer`: the default language's (older formats had no other).
 */
export async function writeMigration(w: RecordWriter, name: string, r: StoredManifest, analyzer: Analyzer): Promise<void> {
  const chunks: ChunkRecord[] = [];
  const unsealed: ChunkRecord[] = [];
  await w.eachChunk((page) => {
    for (const stored of page) {
      if (stored.checksum === undefined) unsealed.push(stored);
      try {
        chunks.push(checkedChunk(name, stored.checksum === undefined ? storedChunk(name, stored) : stored));
      } catch {
        /* damaged: not indexed */
      }
    }
  });
  for (const c of unsealed) await w.putChunk(storedChunk(name, c));
  const built = wholePostingsWith(analyzer, chunks, DEFAULT_BUCKETS);
  await w.clearBuckets();
  for (const b of built.records) await w.putBucket(b);
  const { manifestChecksum: _, ...fields } = r;
  // nextId above every stored chunk id (what commits rely on from format 3 on).
  const nextId = chunks.reduce((n, c) => Math.max(n, c.id + 1), fields.nextId);
  await w.putManifest(sealedManifest({ ...fields, nextId, formatVersion: FORMAT_VERSION, lexical: built.lexical }));
}
