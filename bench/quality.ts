// `npm run bench -- quality`: retrieval quality on Cranfield (1400 aeronautics abstracts, 225
// queries with graded judgements), through the real path — the documents ingested into a
// StoredIndex in IndexedDB (their postings committed with their chunks), every query answered by
// StoredIndex.lexicalSearch — and, in the same run on the same text, lunr.js (BM25, k1 1.2,
// b 0.75, Porter stemming, English stopwords) as the standard BM25 reference.
//
// Relevance and the metrics are ir-collections.ts's (Cranfield's grades 1-4 relevant, gain 5 -
// grade; nDCG@10, recall@100, and MAP over the top 1000 here), averaged over the queries with at
// least one relevant document.
//
// Vector and hybrid search need an embedder: with `--embedder DIR` (a sentence-embedding model
// folder as the Hub has it: model.onnx or onnx/model.onnx, tokenizer.json, tokenizer_config.json)
// the documents are embedded into the same stored index and the bench reports vector search
// (exhaustive: nprobe = nlist) and hybrid search (the runtime's fusion, fuse(), of the two
// rankings); `--embedder tiny` runs that path with the tests' random graph (quality meaningless,
// the path exercised). Without one it says they were skipped. A second part times one keyword search on a synthetic index of `scale` chunks
// (Zipf-distributed words): its wall time, the CPU work that blocks the thread, and the longest
// CPU stretch of a session step (one term: decoding its postings and adding them up).

import { lunrReference, meanQuality, parseCranfield, type Collection, type RankingQuality, type SearchFn } from './ir-collections.js';
import { createGpuContext, createRng, type GpuContext } from '../src/weft.js';
import { deleteStore, openStore } from '../src/storage/idb-store.js';
import type { WeftStore } from '../src/storage/contract.js';
import { createStoredIndex, type StoredIndex } from '../src/stored-index/stored-index.js';
import { loadAnalyzer } from '../src/lexical/analyzer.js';
import { Scores, accumulate, queryTerms, topK } from '../src/lexical/bm25.js';
import { createOnnxEmbedder } from '../src/embed/onnx-embedder.js';
import type { Embedder } from '../src/embed/types.js';
import { fuse } from '../src/runtime/fusion.js';
import { NO_ID } from '../src/ivf/types.js';
import { buildTinyEmbeddingGraph } from '../test/support/tiny-onnx.js';
import { bucketOf, decodeBucket, encodeBucket } from '../src/lexical/postings.js';

export interface QualityBenchOptions {
  /** URL prefix of ../shared/assets (served by bench/run.mjs). */
  assets: string;
  /**
   * An embedder for vector and hybrid search: the URL of a model folder (model.onnx or
   * onnx/model.onnx, tokenizer.json, tokenizer_config.json), or 'tiny' (the tests' random graph with
   * the MiniLM tokenizer). Absent: they are skipped.
   */
  embedder?: string;
  /** Chunks of the synthetic index the search time is measured on (0: skip that part). */
  scale: number;
  seed: number;
}

/** Quality of one mode over the judged queries, and its time per query. */
export interface ModeQuality extends RankingQuality {
  msPerQuery: number;
}

/** MAP (over the top 1000), nDCG@10 and recall@100 of `search` over the queries with relevant documents. */
export async function evaluate(c: Collection, search: SearchFn): Promise<ModeQuality> {
  const rankings = new Map<number, number[]>();
  let ms = 0;
  for (const [q, gains] of c.gains) {
    if (![...gains.values()].some((g) => g > 0)) continue;
    const t0 = performance.now();
    rankings.set(q, await search(c.queries[q - 1]!, 1000));
    ms += performance.now() - t0;
  }
  const quality = meanQuality(c, (q) => rankings.get(q) ?? []);
  return { ...quality, msPerQuery: ms / quality.queries };
}

/** The embedder `--embedder` names: a model folder's URL, or 'tiny' (the tests' random graph). */
async function loadEmbedder(o: QualityBenchOptions): Promise<Embedder> {
  const common = { device: 'wasm' as const, wasmPaths: '/node_modules/onnxruntime-web/dist/', cache: false, batchSize: 32 };
  if (o.embedder === 'tiny') {
    const rng = createRng(5);
    const V = 30522,
      D = 32;
    const tok = async (f: string) => (await fetch(`${o.assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;
    const model = buildTinyEmbeddingGraph(
      Float32Array.from({ length: V * D }, () => rng.normal()),
      Float32Array.from({ length: D * D }, () => rng.normal() * 0.3),
      new Float32Array(D),
      V,
      D,
    );
    return createOnnxEmbedder({
      ...common,
      model,
      tokenizer: await tok('tokenizer.json'),
      tokenizerConfig: await tok('tokenizer_config.json'),
      maxLength: 256,
      modelId: 'tiny',
    });
  }
  const dir = o.embedder!.replace(/\/$/, '');
  const model = (await fetch(`${dir}/onnx/model.onnx`, { method: 'HEAD' })).ok ? `${dir}/onnx/model.onnx` : `${dir}/model.onnx`;
  return createOnnxEmbedder({ ...common, model, tokenizer: `${dir}/tokenizer.json`, tokenizerConfig: `${dir}/tokenizer_config.json`, modelId: dir });
}

/**
 * Cranfield in a stored index (IndexedDB), one chunk per document, keyword search through it; with
 * an embedder the vectors are the documents' embeddings (placeholders otherwise: keyword search
 * never reads them).
 */
async function storedIndex(
  ctx: GpuContext,
  c: Collection,
  dbName: string,
  embedder: Embedder | undefined,
): Promise<{ index: StoredIndex; store: WeftStore; lexical: SearchFn; docOf: Map<number, number>; ingestMs: number; embedMs: number }> {
  const store = await openStore({ dbName });
  let vectors: Float32Array,
    dim: number,
    embedMs = 0;
  if (embedder) {
    const t0 = performance.now();
    // A few Cranfield records have no title or abstract: they get a placeholder (the embedder refuses empty text).
    vectors = await embedder.embed(c.docs.map((d) => d.text || `document ${d.id}`));
    embedMs = performance.now() - t0;
    dim = embedder.dim;
  } else {
    dim = 8;
    const rng = createRng(7);
    vectors = Float32Array.from({ length: c.docs.length * dim }, () => rng.next() - 0.5);
  }
  const index = await createStoredIndex(vectors, {
    splitLists: 'oversized',
    gpu: ctx,
    store,
    name: 'cranfield',
    dim,
    nlist: embedder ? 32 : 4,
    metric: embedder ? 'cosine' : 'l2',
    storage: 'f32',
    rebuildImbalance: Infinity,
  });
  const t0 = performance.now();
  const ids = await index.add(vectors, { chunks: c.docs.map((d) => ({ docId: `cran-${d.id}`, text: d.text })) });
  const ingestMs = performance.now() - t0;
  const docOf = new Map(Array.from(ids, (id, i) => [id, c.docs[i]!.id]));
  return { index, store, ingestMs, embedMs, docOf, lexical: async (q, k) => Array.from((await index.lexicalSearch(q, { k })).ids, (id) => docOf.get(id)!) };
}

/**
 * Vector search (every list probed: the embedding's own ranking) and hybrid search (the runtime's
 * default fusion of the vector and keyword rankings) over the stored index.
 */
function embeddingModes(index: StoredIndex, embedder: Embedder, docOf: Map<number, number>): Record<string, SearchFn> {
  const vectorRanking = async (q: string, k: number) => {
    const r = await index.search(await embedder.embed([q]), { k: Math.min(k, index.size, 1024), nprobe: index.nlist });
    const ids: number[] = [],
      scores: number[] = [];
    r.ids.forEach((id, i) => {
      if (id !== NO_ID) {
        ids.push(id);
        scores.push(r.distances[i]!);
      }
    });
    return { ids, scores };
  };
  return {
    vector: async (q, k) => (await vectorRanking(q, k)).ids.map((id) => docOf.get(id)!),
    hybrid: async (q, k) => {
      const v = await vectorRanking(q, k);
      const l = await index.lexicalSearch(q, { k });
      return fuse({ ...v, better: 'higher' }, { ids: l.ids, scores: l.scores, better: 'higher' }, k, undefined, index.size).map((f) => docOf.get(f.id)!);
    },
  };
}

/** A synthetic index of `n` chunks (Zipf words): the time of one keyword search, and of its CPU part. */
async function searchTime(ctx: GpuContext, n: number, seed: number, dbName: string, log: (s: string) => void) {
  const rng = createRng(seed);
  const vocab = 50_000;
  // Zipf(1) by inverse CDF over a table of cumulative weights.
  const cdf = new Float64Array(vocab);
  let acc = 0;
  for (let i = 0; i < vocab; i++) {
    acc += 1 / (i + 1);
    cdf[i] = acc;
  }
  const word = () => {
    const x = rng.next() * acc;
    let lo = 0,
      hi = vocab - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return `w${lo.toString(36)}`;
  };
  const store = await openStore({ dbName });
  const dim = 8;
  const batch = 10_000;
  const vectors = Float32Array.from({ length: batch * dim }, () => rng.next() - 0.5);
  const index = await createStoredIndex(vectors, {
    splitLists: 'oversized',
    gpu: ctx,
    store,
    name: 'scale',
    dim,
    nlist: 16,
    storage: 'f32',
    rebuildImbalance: Infinity,
    niter: 3,
  });
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    await index.add(vectors.subarray(0, m * dim), {
      chunks: Array.from({ length: m }, (_, j) => ({ docId: `s${i + j}`, text: Array.from({ length: 80 }, word).join(' ') })),
    });
    log(`  ${i + m} chunks ingested (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const ingestMs = performance.now() - t0;
  // A small write on the large index (one document of 10 chunks): it rewrites the buckets its terms fall in.
  const t1 = performance.now();
  await index.add(vectors.subarray(0, 10 * dim), {
    chunks: Array.from({ length: 10 }, () => ({ docId: 'small', text: Array.from({ length: 80 }, word).join(' ') })),
  });
  const smallAddMs = performance.now() - t1;
  const analyzer = await loadAnalyzer('english');
  const lex = index.manifest.lexical!;
  const total: number[] = [],
    cpu: number[] = [],
    slice: number[] = [],
    rank: number[] = [],
    bucketBytes: number[] = [];
  for (let q = 0; q < 40; q++) {
    const query = Array.from({ length: 6 }, word).join(' ');
    let t = performance.now();
    await index.lexicalSearch(query, { k: 10 });
    total.push(performance.now() - t);
    // The same query's CPU work alone (decoding its buckets, scoring, ranking): what blocks the thread.
    const terms = queryTerms(analyzer.terms(query));
    const buckets = [...new Set([...terms.keys()].map((x) => bucketOf(x, lex.buckets)))];
    const read = await store.readTermBuckets('scale', buckets);
    const raw = read.buckets.map((b) => ({ b: b.bucket, bytes: encodeBucket(b) }));
    bucketBytes.push(raw.reduce((a, r) => a + r.bytes.byteLength, 0));
    // Per term (what one session step does after its read): decode that term's postings, add them up.
    const scores = new Scores(read.manifest.nextId);
    let sum = 0,
      longest = 0;
    for (const [term, qtf] of terms) {
      const b = bucketOf(term, lex.buckets);
      const t1 = performance.now();
      const p = decodeBucket(b, raw.find((r) => r.b === b)!.bytes, new Set([term])).terms.get(term);
      if (p) accumulate(scores, p, qtf, read.manifest.lexical!);
      const d = performance.now() - t1;
      sum += d;
      longest = Math.max(longest, d);
    }
    t = performance.now();
    topK(scores, 10);
    const r = performance.now() - t;
    cpu.push(sum + r);
    slice.push(longest);
    rank.push(r);
  }
  await index.close();
  store.close();
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const p99 = (v: number[]) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(v.length * 0.99))]!;
  return {
    chunks: n,
    ingestMs,
    smallAddMs,
    searchMsMedian: median(total),
    searchMsP99: p99(total),
    cpuMsMedian: median(cpu),
    cpuMsP99: p99(cpu),
    sliceCpuMsMedian: median(slice),
    sliceCpuMsP99: p99(slice),
    rankMsMedian: median(rank),
    rankMsP99: p99(rank),
    bucketKBMedian: median(bucketBytes) / 1024,
    postingsTokens: lex.tokens,
  };
}

/** The benchmark: keyword search against lunr, vector and hybrid search where an embedder is given, and the keyword search's time at scale. */
export async function runQualityBench(o: QualityBenchOptions, log: (s: string) => void) {
  const base = `${o.assets}/cranfield`;
  const [all, qry, qrel] = await Promise.all(
    ['cran.all.1400', 'cran.qry', 'cranqrel'].map(async (f) => {
      const r = await fetch(`${base}/${f}`);
      if (!r.ok) throw new Error(`${base}/${f}: HTTP ${r.status}`);
      return r.text();
    }),
  );
  const c = parseCranfield(all!, qry!, qrel!);
  log(`Cranfield: ${c.docs.length} documents, ${c.queries.length} queries, judgements for ${c.gains.size}`);
  const dbName = `weft-bench-quality-${o.seed}`;
  await deleteStore(dbName);
  const ctx = await createGpuContext();
  try {
    const embedder = o.embedder ? await loadEmbedder(o) : undefined;
    const weft = await storedIndex(ctx, c, dbName, embedder);
    log(`${embedder ? `embedded in ${weft.embedMs.toFixed(0)} ms, ` : ''}ingested into IndexedDB in ${weft.ingestMs.toFixed(0)} ms`);
    const lexical = await evaluate(c, weft.lexical);
    log(`weft lexical: MAP ${lexical.map.toFixed(4)}, nDCG@10 ${lexical.ndcg10.toFixed(4)}, recall@100 ${lexical.recall100.toFixed(4)}`);
    const ref = lunrReference(c);
    const lunrQ = await evaluate(c, async (q, k) => ref.rank(q, k));
    log(`lunr BM25:    MAP ${lunrQ.map.toFixed(4)}, nDCG@10 ${lunrQ.ndcg10.toFixed(4)}, recall@100 ${lunrQ.recall100.toFixed(4)}`);
    const extra: Record<string, ModeQuality> = {};
    let skipped: string | undefined;
    if (!embedder) skipped = 'no embedder was given (--embedder DIR): vector and hybrid search need one, so only keyword search ran';
    else {
      for (const [mode, search] of Object.entries(embeddingModes(weft.index, embedder, weft.docOf))) {
        extra[mode] = await evaluate(c, search);
        log(`weft ${mode}: MAP ${extra[mode]!.map.toFixed(4)}, nDCG@10 ${extra[mode]!.ndcg10.toFixed(4)}, recall@100 ${extra[mode]!.recall100.toFixed(4)}`);
      }
      await embedder.destroy();
    }
    if (skipped) log(`vector and hybrid: skipped — ${skipped}`);
    await weft.index.close();
    weft.store.close();
    let scale: Awaited<ReturnType<typeof searchTime>> | undefined;
    if (o.scale > 0) {
      log(`timing keyword search on a synthetic ${o.scale}-chunk index…`);
      await deleteStore(dbName);
      scale = await searchTime(ctx, o.scale, o.seed, dbName, log);
      log(
        `one search: ${scale.searchMsMedian.toFixed(1)} ms median (${scale.searchMsP99.toFixed(1)} p99), of which CPU ${scale.cpuMsMedian.toFixed(2)} ms median (${scale.cpuMsP99.toFixed(2)} p99); longest one-term slice ${scale.sliceCpuMsMedian.toFixed(2)} ms median (${scale.sliceCpuMsP99.toFixed(2)} p99), ranking ${scale.rankMsMedian.toFixed(2)} ms`,
      );
    }
    const vs = { map: lexical.map / lunrQ.map, ndcg10: lexical.ndcg10 / lunrQ.ndcg10, recall100: lexical.recall100 / lunrQ.recall100 };
    return {
      collection: 'cranfield',
      documents: c.docs.length,
      queries: lexical.queries,
      ingestMs: weft.ingestMs,
      lunrBuildMs: ref.buildMs,
      lexical,
      reference: { name: 'lunr.js 2.3 (BM25 k1 1.2 b 0.75, Porter stemmer, English stopwords)', ...lunrQ },
      ...extra,
      ...(skipped ? { skipped } : {}),
      ...(scale ? { scale } : {}),
      targets: [
        { name: 'lexical MAP / lunr BM25 MAP', want: '>= 1', got: vs.map, met: vs.map >= 1 },
        { name: 'lexical nDCG@10 / lunr BM25 nDCG@10', want: '>= 1', got: vs.ndcg10, met: vs.ndcg10 >= 1 },
        { name: 'lexical recall@100 / lunr BM25 recall@100', want: '>= 1', got: vs.recall100, met: vs.recall100 >= 1 },
      ],
    };
  } finally {
    ctx.destroy();
    await deleteStore(dbName);
  }
}
