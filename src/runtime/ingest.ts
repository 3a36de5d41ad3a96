// Ingest: documents → heading-aware chunks that fit the embedder's token limit → embeddings →
// the stored index (created, and trained on these vectors, on the first ingest). Re-ingesting a
// document replaces its chunks in the same commit that adds the new ones, so an interruption
// leaves either the old version or the new one, never both and never neither. A document that
// cannot be read (UNPARSABLE_DOCUMENT: a damaged or encrypted PDF, a binary file) does not cost
// the others: they are indexed, and the call then rejects with UNPARSABLE_DOCUMENT naming it.

import { WeftError, checkAborted, isWeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import type { Embedder } from '../embed/onnx-embedder.js';
import type { Metric, StorageType } from '../ivf/types.js';
import { chunkSections, parseDocument, readDocument, type Chunk, type ChunkOptions, type DocumentInput } from '../ingest/documents.js';
import type { WeftStore } from '../store/idb-store.js';
import { createStoredIndex, type StoredIndex } from '../store/stored-index.js';
import { checkDimension } from './retrieval.js';
import type { IngestProgress } from './types.js';

/** Chunks embedded per call. */
const EMBED_BATCH = 32;

export interface IngestTarget {
  store: WeftStore;
  indexName: string;
  embedder: Embedder;
  /** The index, or undefined if it does not exist yet (it is created with `create`). */
  index: StoredIndex | undefined;
  /** Called as soon as a new index exists, before anything is added to it. */
  onCreated(index: StoredIndex): void;
  create: { gpu?: GpuContext | 'cpu'; metric?: Metric; storage?: StorageType; nlist?: number; cacheBytes?: number; language?: string };
}

export interface IngestCall {
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
}

/** A document that could not be read, and why. */
interface Unreadable { name: string; error: WeftError }

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
    checkAborted(call.signal, 'Ingest');
    const source = documents[i]!;
    try {
      const doc = await readDocument(source, i);
      const sections = await parseDocument(doc, call.signal ? { signal: call.signal } : {});
      ids.push(doc.id);
      // Numbered within the document, across its sections.
      for (const c of chunkSections(doc, sections, chunkOptions)) chunks.push(c);
    } catch (e) {
      if (!isWeftError(e, 'UNPARSABLE_DOCUMENT')) throw e;
      // Every reader names the document it could not read (readDocument names an unnamed Blob).
      const name = typeof e.details?.name === 'string' ? e.details.name : `document ${i}`;
      unreadable.push({ name, error: e });
    }
    call.onProgress?.({ status: 'read', done: i + 1, total });
  }
  return { ids, chunks, unreadable };
}

/** The error an ingest ends with when some documents could not be read (after the others were indexed). */
function unreadableError(unreadable: readonly Unreadable[], indexed: { documents: number; chunks: number }): WeftError {
  const kept = indexed.documents
    ? ` The other ${indexed.documents === 1 ? 'document was' : `${indexed.documents} documents were`} indexed (${indexed.chunks} passage${indexed.chunks === 1 ? '' : 's'}).`
    : ' Nothing was indexed.';
  const message = unreadable.length === 1
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
    if (call.signal?.aborted) throw new WeftError('ABORTED', 'Ingest was aborted before anything was stored.');
    parts.push(await embedder.embed(texts.slice(i, i + EMBED_BATCH)));
    call.onProgress?.({ status: 'embed', done: Math.min(texts.length, i + EMBED_BATCH), total: texts.length });
  }
  const vectors = new Float32Array(texts.length * embedder.dim);
  let at = 0;
  for (const p of parts) { vectors.set(p, at); at += p.length; }
  return vectors;
}

/** nlist for a new index: about 2 sqrt(n) lists (a power of two), at least 4 chunks a list. */
const nlistFor = (chunks: number) => Math.max(1, Math.min(Math.floor(chunks / 4), 2 ** Math.round(Math.log2(Math.sqrt(chunks) * 2))));

export async function ingestDocuments(target: IngestTarget, documents: readonly (DocumentInput | Blob)[], call: IngestCall = {}): Promise<{ documents: number; chunks: number }> {
  if (!Array.isArray(documents) || documents.length === 0) throw new WeftError('INVALID_INPUT', 'ingest() needs a non-empty array of documents.');
  const { store, indexName, embedder, create } = target;
  const countTokens = (t: string) => embedder.countTokens(t);
  const { ids, chunks, unreadable } = await readAll(documents, { countTokens, maxTokens: embedder.maxLength }, call);
  if (chunks.length === 0) {
    if (unreadable.length) throw unreadableError(unreadable, { documents: 0, chunks: 0 });
    throw new WeftError('INVALID_INPUT', 'The documents hold no text to index.');
  }
  const vectors = await embedAll(embedder, chunks.map((c) => c.text), call);
  checkDimension(target.index, indexName, embedder.dim);
  let index = target.index;
  if (!index) {
    call.onProgress?.({ status: 'index', done: 0, total: 1 });
    index = await createStoredIndex(vectors, {
      ...(create.gpu ? { gpu: create.gpu } : {}), store, name: indexName, dim: embedder.dim, nlist: create.nlist ?? nlistFor(chunks.length),
      metric: create.metric ?? 'cosine', storage: create.storage ?? 'f16', modelId: embedder.modelId,
      ...(create.cacheBytes ? { cacheBytes: create.cacheBytes } : {}), ...(create.language ? { language: create.language } : {}),
    });
    target.onCreated(index);
    call.onProgress?.({ status: 'index', done: 1, total: 1 });
  }
  call.onProgress?.({ status: 'persist', done: 0, total: chunks.length });
  await index.add(vectors, {
    chunks: chunks.map((c) => ({ docId: c.docId, text: c.text, metadata: { ...c.metadata, headings: c.headings, chunk: c.index } })),
    replaceDocuments: [...new Set(ids)],
    ...(call.signal ? { signal: call.signal } : {}),
  });
  call.onProgress?.({ status: 'persist', done: chunks.length, total: chunks.length });
  const indexed = { documents: ids.length, chunks: chunks.length };
  if (unreadable.length) throw unreadableError(unreadable, indexed);
  return indexed;
}
