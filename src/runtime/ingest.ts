// Ingest: documents → heading-aware chunks that fit the embedder's token limit → embeddings →
// the stored index (created, and trained on these vectors, on the first ingest; its lists split
// as it grows, in the add's commit). Re-ingesting a document replaces its chunks in the same
// commit that adds the new ones, so an interruption leaves either the old version or the new one,
// never both and never neither. A document that cannot be read (UNPARSABLE_DOCUMENT: a damaged or
// encrypted PDF, a binary file, a parser that fails on it) does not cost the others: they are
// indexed, and the call then rejects with UNPARSABLE_DOCUMENT naming it.
// Cancel: the signal is checked between documents, embedding batches, k-means iterations and
// record writes, and the loops give the event loop a turn (yieldToEvents) so that an abort sent
// as a message (from the page to the engine worker) is seen within a batch. An ingest that
// created the index and then fails or is aborted deletes it again: the index is exactly as before.
// A first ingest creates its index pending (listed by no one until its first commit lands), so a
// page closed in between leaves none behind either; a first ingest that loses the race for the
// name to another tab's adds to the index that won (createOrAdopt).
// Progress: every stage reports done/total, monotone, ending at its total: 'index' counts the
// k-means iterations of training (or of splitting lists), 'persist' the records written.

import { WeftError, checkAborted, isWeftError } from '../errors.js';
import type { GpuOrCpuOption } from '../gpu/option.js';
import type { Embedder } from '../embed/types.js';
import { chunkSections, parseDocument, readDocument, type Chunk, type ChunkOptions, type DocumentInput } from '../ingest/documents.js';
import type { WeftStore } from '../storage/contract.js';
import { createStoredIndex, openStoredIndex, type StoredIndex, type WriteProgress } from '../stored-index/stored-index.js';
import { yieldToEvents } from '../util/yield.js';
import { nlistFor } from '../ivf/sizing.js';
import { checkDimension } from './retrieval.js';
import type { IndexSettings, IngestProgress } from './types.js';

/**
 * Progress of the stages whose work comes in passes (training, then rounds of list splits; a
 * commit's records): each pass reports its own done/total, and the stage reports the sum of the
 * passes so far, so `done` never goes back and ends equal to `total`. A new pass adds its total
 * (the bar may step back once as it starts, never the count). `finish` ends a stage at its total,
 * once (a stage that had no pass reports 1/1).
 */
function stagedProgress(onProgress: IngestCall['onProgress']) {
  const state = new Map<'index' | 'persist', { base: number; baseTotal: number; done: number; total: number }>();
  const report = (status: 'index' | 'persist', done: number, total: number) => {
    let s = state.get(status);
    if (!s) {
      s = { base: 0, baseTotal: 0, done: 0, total: 0 };
      state.set(status, s);
    }
    if (done < s.done || total !== s.total) {
      s.base += s.done;
      s.baseTotal += s.total;
    } // a new pass
    s.done = done;
    s.total = total;
    onProgress?.({ status, done: s.base + done, total: s.baseTotal + total });
  };
  const finished = new Set<string>();
  return Object.assign(report, {
    finish(status: 'index' | 'persist') {
      if (finished.has(status)) return;
      finished.add(status);
      const s = state.get(status);
      const total = s ? s.baseTotal + s.total : 1;
      onProgress?.({ status, done: total, total });
    },
  });
}

/** Chunks embedded per call. */
const EMBED_BATCH = 32;

export interface IngestTarget {
  store: WeftStore;
  indexName: string;
  embedder: Embedder;
  /** The index, or undefined if it does not exist yet (it is created with `create`). */
  index: StoredIndex | undefined;
  /** Called once a new index exists and holds the ingest's passages (a first ingest that fails deletes it instead). */
  onCreated(index: StoredIndex): void;
  /** What a new index is made with: the runtime's own settings, carried whole (only these fields are read). */
  create: IndexSettings & GpuOrCpuOption;
}

export interface IngestCall {
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
}

/** A document that could not be read, and why. */
interface Unreadable {
  name: string;
  error: WeftError;
}

/**
 * Reads, parses and chunks every document, in order, reporting progress. A document that cannot
 * be read (UNPARSABLE_DOCUMENT) is set aside; any other error (a malformed input) fails the call.
 */
async function readAll(documents: readonly (DocumentInput | Blob)[], chunkOptions: ChunkOptions, call: IngestCall) {
  const total = documents.length;
  const ids: string[] = [];
  const chunks: Chunk[] = [];
  const unreadable: Unreadable[] = [];
  for (let i = 0; i < total; i++) {
    await yieldToEvents();
    checkAborted(call.signal, 'Ingest');
    const source = documents[i]!;
    try {
      const doc = await readDocument(source, i);
      const sections = await parseDocument(doc, call.signal ? { signal: call.signal } : {});
      ids.push(doc.id);
      // Numbered within the document, across its sections.
      for (const c of chunkSections(doc, sections, chunkOptions)) chunks.push(c);
    } catch (e) {
      const failure = documentFailure(e, source, i);
      if (!failure) throw e;
      unreadable.push(failure);
    }
    call.onProgress?.({ status: 'read', done: i + 1, total });
  }
  return { ids, chunks, unreadable };
}

/**
 * A failure that costs only its document: UNPARSABLE_DOCUMENT, or anything a parser threw that
 * is not the caller's mistake (a malformed input, a bad option) nor an abort. Undefined: rethrow.
 */
function documentFailure(e: unknown, source: DocumentInput | Blob, i: number): Unreadable | undefined {
  if (isWeftError(e) && e.code !== 'UNPARSABLE_DOCUMENT') return undefined;
  const named = source as { name?: unknown; id?: unknown };
  const fallback = typeof named.name === 'string' && named.name ? named.name : typeof named.id === 'string' && named.id ? named.id : `document ${i}`;
  if (isWeftError(e, 'UNPARSABLE_DOCUMENT')) {
    // Every reader names the document it could not read (readDocument names an unnamed Blob).
    return { name: typeof e.details?.name === 'string' ? e.details.name : fallback, error: e };
  }
  const why = e instanceof Error ? e.message : String(e);
  return {
    name: fallback,
    error: new WeftError(
      'UNPARSABLE_DOCUMENT',
      `'${fallback}' could not be read (${why}). Check that the file opens elsewhere, or convert it to text or Markdown.`,
      { cause: e, details: { name: fallback } },
    ),
  };
}

/** The error an ingest ends with when some documents could not be read (after the others were indexed). */
function unreadableError(unreadable: readonly Unreadable[], indexed: { documents: number; chunks: number }): WeftError {
  const kept = indexed.documents
    ? ` The other ${indexed.documents === 1 ? 'document was' : `${indexed.documents} documents were`} indexed (${indexed.chunks} passage${indexed.chunks === 1 ? '' : 's'}).`
    : ' Nothing was indexed.';
  const message =
    unreadable.length === 1
      ? `${unreadable[0]!.error.message}${kept}`
      : `${unreadable.length} documents could not be read: ${unreadable.map((u) => `${u.error.message}`).join(' ')}${kept}`;
  return new WeftError('UNPARSABLE_DOCUMENT', message, {
    cause: unreadable[0]!.error,
    details: { name: unreadable[0]!.name, unreadable: unreadable.map((u) => ({ name: u.name, message: u.error.message })), indexed },
  });
}

/**
 * Embeds `texts` in batches into one n x dim array (the embedder knows its dimension only after
 * its first call); aborting between batches stores nothing.
 */
async function embedAll(embedder: Embedder, texts: readonly string[], call: IngestCall): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += EMBED_BATCH) {
    await yieldToEvents();
    if (call.signal?.aborted) throw new WeftError('ABORTED', 'Ingest was aborted before anything was stored.');
    parts.push(await embedder.embed(texts.slice(i, i + EMBED_BATCH)));
    call.onProgress?.({ status: 'embed', done: Math.min(texts.length, i + EMBED_BATCH), total: texts.length });
  }
  const vectors = new Float32Array(texts.length * embedder.dim);
  let at = 0;
  for (const p of parts) {
    vectors.set(p, at);
    at += p.length;
  }
  return vectors;
}

/**
 * The index a first ingest adds to. It creates it `pending` (listed by no one until the add's
 * commit lands, Manifest.pending): a page closed before that leaves no empty index behind. If the
 * name is taken meanwhile (INDEX_EXISTS: another tab's first ingest won the race, or one cut off
 * left its pending index), it opens that index and adds to it like any ingest — a CONFLICT with
 * the other tab's own first commit is planned again by the add — instead of failing now and on
 * every retry. A pending index this embedder cannot add to (another dimension or model, left by
 * a cut-off ingest) is replaced; a committed one is the caller's (DIMENSION_MISMATCH).
 */
async function createOrAdopt(
  target: IngestTarget,
  vectors: Float32Array,
  chunks: number,
  call: IngestCall,
  stages: (status: 'index', done: number, total: number) => void,
): Promise<{ index: StoredIndex; created: boolean }> {
  const { store, indexName, embedder, create } = target;
  const gpu = create.gpu ? { gpu: create.gpu } : {};
  const cacheBytes = create.cacheBytes !== undefined ? { cacheBytes: create.cacheBytes } : {};
  for (let attempt = 0; ; attempt++) {
    try {
      const index = await createStoredIndex(vectors, {
        ...gpu,
        ...cacheBytes,
        store,
        name: indexName,
        dim: embedder.dim,
        nlist: create.nlist ?? nlistFor(chunks),
        metric: create.metric ?? 'cosine',
        storage: create.storage ?? 'f16',
        ...(create.pq ? { pq: create.pq } : {}),
        modelId: embedder.modelId,
        pending: true,
        ...(create.language ? { language: create.language } : {}),
        ...(call.signal ? { signal: call.signal } : {}),
        onProgress: (p) => stages('index', p.done, p.total),
      });
      return { index, created: true };
    } catch (e) {
      if (!isWeftError(e, 'INDEX_EXISTS') || attempt > 0) throw e;
    }
    let index: StoredIndex;
    try {
      index = await openStoredIndex({ ...gpu, ...cacheBytes, store, name: indexName });
    } catch (e) {
      if (isWeftError(e, 'UNKNOWN_INDEX')) continue; // deleted again meanwhile: create it after all
      throw e;
    }
    const m = index.manifest;
    if (m.pending && (m.dim !== embedder.dim || m.modelId !== embedder.modelId)) {
      await index.close();
      await store.deleteIndex(indexName, { onlyPending: true }).catch(() => undefined);
      continue;
    }
    try {
      checkDimension(index, indexName, embedder.dim);
    } catch (e) {
      await index.close();
      throw e;
    }
    return { index, created: false };
  }
}

export async function ingestDocuments(
  target: IngestTarget,
  documents: readonly (DocumentInput | Blob)[],
  call: IngestCall = {},
): Promise<{ documents: number; chunks: number }> {
  if (!Array.isArray(documents) || documents.length === 0) throw new WeftError('INVALID_INPUT', 'ingest() needs a non-empty array of documents.');
  const { store, indexName, embedder } = target;
  const countTokens = (t: string) => embedder.countTokens(t);
  const { ids, chunks, unreadable } = await readAll(documents, { countTokens, maxTokens: embedder.maxLength }, call);
  if (chunks.length === 0) {
    if (unreadable.length) throw unreadableError(unreadable, { documents: 0, chunks: 0 });
    throw new WeftError('INVALID_INPUT', 'The documents hold no text to index.');
  }
  const vectors = await embedAll(
    embedder,
    chunks.map((c) => c.text),
    call,
  );
  checkDimension(target.index, indexName, embedder.dim);
  const stages = stagedProgress(call.onProgress);
  const progress = (p: WriteProgress) => {
    // The commit starts writing once its lists are planned (split): indexing is over.
    if (p.status === 'save') stages.finish('index');
    stages(p.status === 'split' ? 'index' : 'persist', p.done, p.total);
  };
  const add = (into: StoredIndex) =>
    into.add(vectors, {
      chunks: chunks.map((c) => ({ docId: c.docId, text: c.text, metadata: { ...c.metadata, headings: c.headings, chunk: c.index } })),
      replaceDocuments: [...new Set(ids)],
      onProgress: progress,
      ...(call.signal ? { signal: call.signal } : {}),
    });
  if (target.index) {
    await add(target.index);
  } else {
    const { index, created } = await createOrAdopt(target, vectors, chunks.length, call, stages);
    try {
      await add(index);
    } catch (e) {
      await index.close().catch(() => undefined);
      // Created by this ingest and still without a commit: it goes, so a failed or cancelled
      // first ingest leaves nothing behind (onlyPending: not once another ingest has added to it).
      if (created) await store.deleteIndex(indexName, { onlyPending: true }).catch(() => undefined);
      throw e;
    }
    target.onCreated(index);
  }
  stages.finish('index');
  stages.finish('persist');
  const indexed = { documents: ids.length, chunks: chunks.length };
  if (unreadable.length) throw unreadableError(unreadable, indexed);
  return indexed;
}
