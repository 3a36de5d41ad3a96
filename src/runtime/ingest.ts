// Ingest: documents → heading-aware chunks that fit the embedder's token limit → embeddings →
// the stored index (created, and trained on these vectors, on the first ingest). Re-ingesting a
// document replaces its chunks in the same commit that adds the new ones, so an interruption
// leaves either the old version or the new one, never both and never neither.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import type { Embedder } from '../embed/onnx-embedder.js';
import type { Metric, StorageType } from '../ivf/types.js';
import { chunkDocument, readDocument, type DocumentInput } from '../ingest/documents.js';
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
  create: { gpu?: GpuContext; metric?: Metric; storage?: StorageType; nlist?: number; cacheBytes?: number };
}

export interface IngestCall {
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
}

/** Reads every document, in order, reporting progress. */
async function readAll(documents: readonly (DocumentInput | Blob)[], call: IngestCall): Promise<DocumentInput[]> {
  const total = documents.length;
  const docs: DocumentInput[] = [];
  for (let i = 0; i < total; i++) {
    docs.push(await readDocument(documents[i]!, i));
    call.onProgress?.({ status: 'read', done: i + 1, total });
  }
  return docs;
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
  const docs = await readAll(documents, call);
  const countTokens = (t: string) => embedder.countTokens(t);
  const chunks = docs.flatMap((d) => chunkDocument(d, { countTokens, maxTokens: embedder.maxLength }));
  if (chunks.length === 0) throw new WeftError('INVALID_INPUT', 'The documents hold no text to index.');
  const vectors = await embedAll(embedder, chunks.map((c) => c.text), call);
  checkDimension(target.index, indexName, embedder.dim);
  let index = target.index;
  if (!index) {
    call.onProgress?.({ status: 'index', done: 0, total: 1 });
    index = await createStoredIndex(vectors, {
      ...(create.gpu ? { gpu: create.gpu } : {}), store, name: indexName, dim: embedder.dim, nlist: create.nlist ?? nlistFor(chunks.length),
      metric: create.metric ?? 'cosine', storage: create.storage ?? 'f16', modelId: embedder.modelId,
      ...(create.cacheBytes ? { cacheBytes: create.cacheBytes } : {}),
    });
    target.onCreated(index);
    call.onProgress?.({ status: 'index', done: 1, total: 1 });
  }
  call.onProgress?.({ status: 'persist', done: 0, total: chunks.length });
  await index.add(vectors, {
    chunks: chunks.map((c) => ({ docId: c.docId, text: c.text, metadata: { ...c.metadata, headings: c.headings, chunk: c.index } })),
    replaceDocuments: [...new Set(docs.map((d) => d.id))],
    ...(call.signal ? { signal: call.signal } : {}),
  });
  call.onProgress?.({ status: 'persist', done: chunks.length, total: chunks.length });
  return { documents: docs.length, chunks: chunks.length };
}
