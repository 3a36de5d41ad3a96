// The RAG runtime's public object: a named index in IndexedDB, an embedder and a generator.
// ingest() turns documents into chunks, embeddings and IVF lists; search() returns passages;
// generate() streams events (retrieval, tokens, traces, done) for an answer grounded in the
// retrieved passages, with citations. This is the sequential schedule (embed, search, then
// generate); the woven scheduler of the engine worker is built on the same pieces.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import type { Embedder } from '../embed/onnx-embedder.js';
import type { Generator } from '../generate/types.js';
import { NO_ID, type Metric, type StorageType } from '../index/types.js';
import { chunkDocument, readDocument, type DocumentInput } from '../ingest/documents.js';
import type { WeftStore } from '../store/idb-store.js';
import { createStoredIndex, openStoredIndex, type StoredIndex } from '../store/stored-index.js';
import { createGapScheduler } from '../schedule/gaps.js';
import type { SearchResult } from '../index/types.js';

export interface RagOptions {
  store: WeftStore;
  /** Name of the index in the store (created on the first ingest if it does not exist). */
  index: string;
  embedder: Embedder;
  generator: Generator;
  gpu?: GpuContext;
  /** For a new index. Defaults: cosine, f16, nlist from the corpus size. */
  metric?: Metric;
  storage?: StorageType;
  nlist?: number;
  cacheBytes?: number;
  /**
   * 'woven' (default): a question's embedding and search slices run in the gaps between the
   * decode steps of the answer in progress (at most `maxSlowdown` of its step time per gap), and
   * its lists are prefetched as soon as it is embedded. 'sequential': embed, search everything,
   * then generate — the baseline, through the same code.
   */
  schedule?: 'sequential' | 'woven';
  /** Woven schedule: how much background work may slow decoding, as a fraction. Default 0.1. */
  maxSlowdown?: number;
  /** Replaces the default prompt (passages first, then the question, asking for cited answers). */
  promptTemplate?: (passages: readonly Passage[], question: string) => string;
}

export interface Passage {
  /** Citation number in the prompt, from 1. */
  citation: number;
  id: number;
  score: number;
  docId: string;
  text: string;
  metadata: Record<string, unknown>;
}

export type IngestProgress =
  | { status: 'read'; done: number; total: number }
  | { status: 'embed'; done: number; total: number }
  | { status: 'index'; done: number; total: number }
  | { status: 'persist'; done: number; total: number };

export interface TraceStage { kind: 'embed' | 'search' | 'prefetch' | 'prefill' | 'decode'; start: number; end: number; clusters?: number; bytes?: number }

export type RagEvent =
  | { type: 'retrieval'; passages: Passage[] }
  | { type: 'token'; text: string }
  | { type: 'trace'; stages: TraceStage[] }
  | { type: 'done'; answer: string; citations: number[]; passages: Passage[]; timings: { totalMs: number; firstTokenMs: number }; tokens: { prompt: number; generated: number } };

export interface Rag {
  readonly index: StoredIndex | undefined;
  ingest(documents: readonly (DocumentInput | Blob)[], options?: { signal?: AbortSignal; onProgress?: (p: IngestProgress) => void }): Promise<{ documents: number; chunks: number }>;
  search(query: string, options?: { k?: number; nprobe?: number; filter?: (metadata: Record<string, unknown>, docId: string) => boolean }): Promise<Passage[]>;
  generate(question: string, options?: { k?: number; nprobe?: number; maxTokens?: number; signal?: AbortSignal }): AsyncGenerator<RagEvent>;
  close(): Promise<void>;
}

export function defaultPromptTemplate(passages: readonly Passage[], question: string): string {
  const context = passages.map((p) => `[${p.citation}] ${p.text}`).join('\n');
  return `Passages:\n${context}\n\nAnswer the question using the passages above and cite them like [1].\nQuestion: ${question}\nAnswer:`;
}

export async function createRag(options: RagOptions): Promise<Rag> {
  const { store, embedder, generator } = options;
  const name = options.index;
  let index: StoredIndex | undefined;
  if ((await store.listIndexes()).some((m) => m.name === name)) {
    index = await openStoredIndex(options.gpu ?? null, { store, name, ...(options.cacheBytes ? { cacheBytes: options.cacheBytes } : {}) });
  }
  const template = options.promptTemplate ?? defaultPromptTemplate;
  let busy: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => { const r = busy.then(fn); busy = r.catch(() => undefined); return r; };
  // The generator holds one context: answers are decoded one request at a time, while the next
  // request's retrieval (the index lock above) proceeds meanwhile.
  const lock = () => {
    let tail: Promise<void> = Promise.resolve();
    return async (): Promise<() => void> => {
      let release!: () => void;
      const previous = tail;
      tail = new Promise<void>((r) => { release = r; });
      await previous;
      return release;
    };
  };
  const acquireGenerator = lock();
  const acquireRequest = lock();

  const checkDim = (dim: number) => {
    if (index && dim !== index.dim) {
      throw new WeftError('DIMENSION_MISMATCH', `The embedder gives ${dim}-dimensional vectors but index '${name}' holds ${index.dim}-dimensional ones. Use the embedder the index was built with (${index.manifest.modelId || 'recorded in its manifest'}).`, { details: { embedder: dim, index: index.dim } });
    }
  };

  const gaps = createGapScheduler({ maxSlowdown: options.maxSlowdown ?? 0.1 });
  const woven = (options.schedule ?? 'woven') === 'woven';

  const checkQuery = (query: string) => {
    if (typeof query !== 'string' || query.trim() === '') throw new WeftError('INVALID_INPUT', 'The question is empty; ask something.');
    if (!index || index.size === 0) throw new WeftError('EMPTY_INDEX', `Index '${name}' holds no passages yet; ingest() documents first.`);
    return index;
  };

  const passagesOf = async (idx: StoredIndex, r: SearchResult, k: number, filter?: (m: Record<string, unknown>, docId: string) => boolean): Promise<Passage[]> => {
    const ids = Array.from(r.ids).filter((id) => id !== NO_ID);
    const chunks = await idx.chunks(ids);
    const out: Passage[] = [];
    ids.forEach((id, i) => {
      const ch = chunks[i];
      if (!ch || out.length >= k) return;
      const metadata = ch.metadata ?? {};
      if (filter && !filter(metadata, ch.docId)) return;
      out.push({ citation: out.length + 1, id, score: r.distances[i]!, docId: ch.docId, text: ch.text, metadata });
    });
    return out;
  };

  const search = async (query: string, k: number, nprobe: number | undefined, filter?: (m: Record<string, unknown>, docId: string) => boolean): Promise<Passage[]> => {
    const idx = checkQuery(query);
    const q = await embedder.embed([query]);
    checkDim(q.length);
    // With a filter, fetch more candidates so that k survive it.
    const want = Math.min(idx.size, filter ? k * 4 : k);
    const r = await idx.search(q, { k: want, nprobe: nprobe ?? Math.min(idx.nlist, 8) });
    return passagesOf(idx, r, k, filter);
  };

  /** Woven retrieval: every GPU sub-stage waits for a gap in the answer being decoded, if any. */
  const wovenSearch = async (query: string, k: number, nprobe: number | undefined, t0: number, stages: TraceStage[]): Promise<Passage[]> => {
    const idx = checkQuery(query);
    let s0 = performance.now();
    const q = await gaps.run(() => embedder.embed([query]));
    checkDim(q.length);
    stages.push({ kind: 'embed', start: s0 - t0, end: performance.now() - t0 });
    const np = nprobe ?? Math.min(idx.nlist, 8);
    // Lookahead (TeleRAG): start streaming the lists this question will probe right away.
    const p0 = performance.now();
    const prefetch = idx.prefetch(q, { nprobe: np });
    void prefetch.done.then((r) => { stages.push({ kind: 'prefetch', start: p0 - t0, end: performance.now() - t0, clusters: r.arrived.length, bytes: r.bytes }); }, () => undefined);
    const session = await gaps.run(() => idx.searchSession(q, { k: Math.min(idx.size, k), nprobe: np }));
    try {
      while (!session.done) {
        s0 = performance.now();
        const r = await gaps.run(() => session.step(1)); // one cluster-sized slice per sub-stage
        stages.push({ kind: 'search', start: s0 - t0, end: performance.now() - t0, clusters: r.lists, bytes: r.streamedBytes });
      }
      return await passagesOf(idx, await session.read(), k);
    } finally {
      session.destroy();
    }
  };

  async function* answer(question: string, opts: { k?: number; nprobe?: number; maxTokens?: number; signal?: AbortSignal }): AsyncGenerator<RagEvent> {
    const t0 = performance.now();
    const stages: TraceStage[] = [];
    const passages = woven
      ? await wovenSearch(question, opts.k ?? 3, opts.nprobe, t0, stages)
      : await serial(async () => {
        const s0 = performance.now();
        const p = await search(question, opts.k ?? 3, opts.nprobe);
        stages.push({ kind: 'search', start: s0 - t0, end: performance.now() - t0 });
        return p;
      });
    yield { type: 'retrieval', passages };
    // Fit the passages into the generator's context, leaving room for the answer.
    const maxTokens = opts.maxTokens ?? 64;
    const room = generator.contextLength - maxTokens - generator.countTokens(template([], question)) - 4;
    const fitted: Passage[] = [];
    let used = 0;
    for (const p of passages) {
      const cost = generator.countTokens(`[${p.citation}] ${p.text}\n`);
      if (used + cost <= room) { fitted.push(p); used += cost; continue; }
      const keep = Math.max(0, Math.floor(p.text.length * (room - used) / cost) - 8);
      if (keep > 20) { fitted.push({ ...p, text: p.text.slice(0, keep) }); used = room; }
      break;
    }
    const prompt = template(fitted, question);
    const release = await acquireGenerator();
    if (woven) gaps.decoding(true);
    let answer = '';
    let generated = 0;
    let firstTokenMs = 0;
    let d0 = performance.now();
    try {
      generator.reset();
      const p0 = performance.now();
      await generator.prefill(prompt, opts.signal ? { signal: opts.signal } : {});
      stages.push({ kind: 'prefill', start: p0 - t0, end: performance.now() - t0 });
      d0 = performance.now();
      while (generated < maxTokens) {
        if (opts.signal?.aborted) { await generator.interrupt(); break; }
        const st = performance.now();
        const t = await generator.step();
        const stepMs = performance.now() - st;
        if (t.done) break;
        if (generated === 0) firstTokenMs = performance.now() - t0;
        generated++;
        answer += t.piece;
        yield { type: 'token', text: t.piece };
        if (woven) await gaps.gap(stepMs); // other requests' sub-stages, within budget
      }
    } finally {
      if (woven) gaps.decoding(false);
      release(); // also when the caller stops iterating early
    }
    stages.push({ kind: 'decode', start: d0 - t0, end: performance.now() - t0 });
    yield { type: 'trace', stages };
    const citations = [...new Set(Array.from(answer.matchAll(/\[(\d+)\]/g), (m) => Number(m[1])))].filter((c) => c >= 1 && c <= fitted.length);
    yield {
      type: 'done', answer, citations, passages: fitted,
      timings: { totalMs: performance.now() - t0, firstTokenMs },
      tokens: { prompt: generator.countTokens(prompt), generated },
    };
  }

  const rag: Rag = {
    get index() { return index; },

    ingest(documents, opts = {}) {
      return serial(async () => {
        if (!Array.isArray(documents) || documents.length === 0) throw new WeftError('INVALID_INPUT', 'ingest() needs a non-empty array of documents.');
        const total = documents.length;
        const docs: DocumentInput[] = [];
        for (let i = 0; i < total; i++) {
          docs.push(await readDocument(documents[i]!, i));
          opts.onProgress?.({ status: 'read', done: i + 1, total });
        }
        const countTokens = (t: string) => embedder.tokenize(t).length;
        const chunks = docs.flatMap((d) => chunkDocument(d, { countTokens, maxTokens: embedder.maxLength }));
        if (chunks.length === 0) throw new WeftError('INVALID_INPUT', 'The documents hold no text to index.');
        const texts = chunks.map((c) => c.text);
        const parts: Float32Array[] = [];
        for (let i = 0; i < texts.length; i += 32) {
          if (opts.signal?.aborted) throw new WeftError('ABORTED', 'Ingest was aborted before anything was stored.');
          parts.push(await embedder.embed(texts.slice(i, i + 32)));
          opts.onProgress?.({ status: 'embed', done: Math.min(texts.length, i + 32), total: texts.length });
        }
        const dim = embedder.dim;
        checkDim(dim);
        const vectors = new Float32Array(texts.length * dim);
        let at = 0;
        for (const p of parts) { vectors.set(p, at); at += p.length; }
        if (!index) {
          const nlist = options.nlist ?? Math.max(1, Math.min(Math.floor(chunks.length / 4), 2 ** Math.round(Math.log2(Math.sqrt(chunks.length) * 2))));
          opts.onProgress?.({ status: 'index', done: 0, total: 1 });
          index = await createStoredIndex(options.gpu ?? null, vectors, {
            store, name, dim, nlist, metric: options.metric ?? 'cosine', storage: options.storage ?? 'f16', modelId: embedder.modelId,
            ...(options.cacheBytes ? { cacheBytes: options.cacheBytes } : {}),
          });
          opts.onProgress?.({ status: 'index', done: 1, total: 1 });
        }
        // Re-ingesting a document replaces its chunks: the new ones are committed first and the
        // old ones deleted after, so an abort in between never leaves a document without chunks.
        const old: number[] = [];
        for (const d of docs) old.push(...await store.chunkIdsOfDocument(name, d.id));
        opts.onProgress?.({ status: 'persist', done: 0, total: chunks.length });
        await index.add(vectors, {
          chunks: chunks.map((c) => ({ docId: c.docId, text: c.text, metadata: { ...c.metadata, headings: c.headings, chunk: c.index } })),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        if (old.length) await index.delete(old);
        opts.onProgress?.({ status: 'persist', done: chunks.length, total: chunks.length });
        return { documents: docs.length, chunks: chunks.length };
      });
    },

    search(query, opts = {}) {
      return serial(() => search(query, opts.k ?? 5, opts.nprobe, opts.filter));
    },

    async *generate(question, opts = {}) {
      // The sequential baseline handles one request at a time, retrieval and answer together.
      const releaseRequest = woven ? () => undefined : await acquireRequest();
      try {
        yield* answer(question, opts);
      } finally {
        releaseRequest();
      }
    },

    async close() {
      await busy;
      await index?.close();
      index = undefined;
    },
  };
  return rag;
}
