// `npm run bench -- quality --embedder use-lite`: retrieval quality with a real sentence encoder,
// through the runtime. Run under Node (bench/run.mjs loads it with Vite's SSR loader), where the
// encoder's packages run and Weft runs as it does in Deno: a file store, the index on the CPU
// backend (whose results equal the GPU path's, bit for bit; test/stored-index/cpu-search). For
// each collection (Cranfield; the Debian FAQ where its text is found) the documents go through
// `rag.ingest` (read, chunked to the encoder's chunk size, embedded, indexed with their postings)
// and every query through `rag.search` in 'vector' mode (every list probed: the encoder's own
// ranking), 'lexical' mode (BM25) and 'hybrid' mode (the runtime's default fusion); beside them,
// lunr.js on the whole documents as the standard BM25. Passages are ranked; a document counts at
// its best passage's place. Each fusion method is then applied to the same two rankings the
// hybrid search fused (fusion-methods.ts), which is what the runtime does, so the table compares
// fusions on equal inputs; one of them is checked against the runtime's own hybrid results.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRag } from '../src/runtime/rag.js';
import { openFileStore } from '../src/storage/file-store.js';
import { nodeFileSystem } from '../src/storage/fs-node.js';
import type { Passage } from '../src/runtime/types.js';
import type { Embedder } from '../src/embed/types.js';
import { chunkSections, parseDocument } from '../src/ingest/documents.js';
import { documentRanking, lunrReference, meanQuality, parseCranfield, parseDebianFaq, type Collection, type RankingQuality } from './ir-collections.js';
import { FUSION_METHODS, type SideRanking } from './fusion-methods.js';
import { fuse, type FusionOptions } from '../src/runtime/fusion.js';
import { createUseLiteEmbedder } from './use-lite.js';
import { createRng } from '../src/random.js';

export interface EmbeddedQualityOptions {
  collections: Collection[];
  /** The chunk size ingest cuts documents to (the encoder's maxLength), in SentencePiece pieces. */
  chunkTokens: number;
  /** Passages each side ranks (the runtime's hybrid depth for k = 100 is 200). */
  depth: number;
  /** Where to write every query's rankings (JSON), for studies of fusion outside the benchmark. */
  rankingsFile?: string | undefined;
  /**
   * Tokens of overlap between neighbouring chunks, where not the runtime's default (an eighth of
   * the chunk size): the documents are then cut here by the runtime's own chunker with this
   * overlap and each chunk ingested as a document of its own (its id `<document>#<n>`).
   */
  overlapTokens?: number | undefined;
}

/** Cranfield from its folder, and the Debian FAQ from its text (plain or gzipped) where a path is given. */
export async function loadCollections(cranfieldDir: string, faqPath: string | undefined): Promise<Collection[]> {
  const [all, qry, qrel] = await Promise.all(['cran.all.1400', 'cran.qry', 'cranqrel'].map((f) => readFile(join(cranfieldDir, f), 'utf8')));
  const out = [parseCranfield(all!, qry!, qrel!)];
  if (faqPath) {
    const bytes = await readFile(faqPath);
    out.push(parseDebianFaq((faqPath.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8')));
  }
  return out;
}

/** One query's two rankings (passage ids best first, their scores, their documents) and the runtime's hybrid ranking. */
export interface QueryRankings {
  vector: SideRanking;
  lexical: SideRanking;
  hybridDocs: number[];
}

export interface CollectionResult {
  name: string;
  judged: string;
  documents: number;
  passages: number;
  queries: number;
  ingestMs: number;
  quality: Record<string, RankingQuality>;
  /** Queries whose runtime hybrid ranking (top 100 documents) differs from the default fusion applied here: 0 expected. */
  hybridMismatches: number;
  /**
   * nDCG@10 of the default fusion minus the better single ranking's, with each side ranked to
   * `depth` passages (the runtime ranks max(2k, 50)), with the encoder's vectors and with random
   * ones in their place (a useless embedder: random passages, random similarities).
   */
  margins: { depth: number; encoder: number; randomVectors: number }[];
  /** Of the top 10 fused passages (each side 50 deep, as the runtime ranks for k up to 25), how many each side brought, per query on average. */
  contributions: Record<string, { both: number; vectorOnly: number; lexicalOnly: number }>;
}

const sideOf = (passages: readonly Passage[], docOf: (p: Passage) => number, score: (p: Passage) => number): SideRanking => ({
  ids: passages.map((p) => p.id),
  scores: passages.map(score),
  docs: passages.map(docOf),
});

/** The documents cut by the runtime's chunker with `overlapTokens` of overlap, each chunk a document of its own. */
async function chunkedWithOverlap(docs: { id: string; text: string }[], embedder: Embedder, overlapTokens: number) {
  const out: { id: string; text: string }[] = [];
  for (const d of docs) {
    const sections = await parseDocument(d);
    const chunks = chunkSections(d, sections, { countTokens: (t) => embedder.countTokens(t), maxTokens: embedder.maxLength, overlapTokens });
    chunks.forEach((ch, i) => out.push({ id: `${d.id}#${i}`, text: ch.text }));
  }
  return out;
}

/** Ingests one collection through the runtime and ranks its queries in every mode; the store is removed after. */
async function rankCollection(c: Collection, o: EmbeddedQualityOptions, log: (s: string) => void) {
  const embedder = await createUseLiteEmbedder({ maxTokens: o.chunkTokens });
  const dir = await mkdtemp(join(tmpdir(), 'weft-quality-'));
  const store = await openFileStore({ dir, fs: nodeFileSystem() });
  const rag = await createRag({ store, indexName: c.name, embedder, gpu: 'cpu' });
  try {
    const t0 = performance.now();
    const inputs = c.docs.map((d) => ({ id: String(d.id), text: d.text }));
    const ingested = await rag.ingest(o.overlapTokens === undefined ? inputs : await chunkedWithOverlap(inputs, embedder, o.overlapTokens));
    const ingestMs = performance.now() - t0;
    const info = await rag.info();
    log(
      `${c.name}: ${ingested.documents} documents, ${ingested.chunks} passages (chunks of at most ${o.chunkTokens} pieces), nlist ${info.nlist}, ingested in ${(ingestMs / 1000).toFixed(0)} s`,
    );
    const docOf = (p: Passage) => Number.parseInt(p.docId, 10);
    const rankings: QueryRankings[] = [];
    for (const q of c.queries) {
      const all = { k: o.depth, nprobe: info.nlist! };
      const vector = await rag.search(q, { ...all, mode: 'vector' });
      const lexical = await rag.search(q, { ...all, mode: 'lexical' });
      const hybrid = await rag.search(q, { k: 100, nprobe: info.nlist!, mode: 'hybrid' });
      rankings.push({
        vector: sideOf(vector, docOf, (p) => p.scores.vector!),
        lexical: sideOf(lexical, docOf, (p) => p.scores.lexical!),
        hybridDocs: documentRanking(hybrid.map(docOf)),
      });
    }
    return { rankings, ingestMs, passages: ingested.chunks };
  } finally {
    await rag.close();
    store.close();
    await rm(dir, { recursive: true, force: true });
    await embedder.destroy();
  }
}

const cut = (s: SideRanking, depth: number): SideRanking => ({ ids: s.ids.slice(0, depth), scores: s.scores.slice(0, depth), docs: s.docs.slice(0, depth) });

/** Each query's vector side replaced by random passages of the index with random, decreasing similarities. */
function randomVectors(rankings: readonly QueryRankings[], seed: number): QueryRankings[] {
  const docOf = new Map<number, number>();
  for (const r of rankings) for (const s of [r.vector, r.lexical]) s.ids.forEach((id, i) => docOf.set(id, s.docs[i]!));
  const ids = [...docOf.keys()];
  const rng = createRng(seed);
  return rankings.map((r) => {
    const picked = [...new Set(Array.from({ length: r.vector.ids.length }, () => ids[Math.floor(rng.next() * ids.length)]!))];
    const scores = picked.map(() => 0.3 + 0.1 * rng.next()).sort((a, b) => b - a);
    return { ...r, vector: { ids: picked, scores, docs: picked.map((id) => docOf.get(id)!) } };
  });
}

/** The default fusion's nDCG@10 less the better single ranking's, at several depths, with the encoder's vectors and random ones. */
function fusionMargins(c: Collection, rankings: readonly QueryRankings[], passages: number): CollectionResult['margins'] {
  const margin = (rs: readonly QueryRankings[], depth: number) => {
    const side = (pick: (r: QueryRankings) => SideRanking) => meanQuality(c, (q) => documentRanking(cut(pick(rs[q - 1]!), depth).docs)).ndcg10;
    const fused = meanQuality(c, (q) =>
      documentRanking(FUSION_METHODS.default!(cut(rs[q - 1]!.vector, depth), cut(rs[q - 1]!.lexical, depth), passages)),
    ).ndcg10;
    return (
      fused -
      Math.max(
        side((r) => r.vector),
        side((r) => r.lexical),
      )
    );
  };
  const random = randomVectors(rankings, 7);
  return [20, 50, 200].map((depth) => ({ depth, encoder: margin(rankings, depth), randomVectors: margin(random, depth) }));
}

/** Of the top 10 passages fused from each side's top 50, how many both sides ranked, and how many only one, per query on average. */
function contributions(rankings: readonly QueryRankings[], passages: number, options: FusionOptions) {
  const sum = { both: 0, vectorOnly: 0, lexicalOnly: 0 };
  for (const r of rankings) {
    const v = cut(r.vector, 50);
    const l = cut(r.lexical, 50);
    for (const f of fuse({ ...v, better: 'higher' }, { ...l, better: 'higher' }, 10, options, passages)) {
      if (f.vector !== undefined && f.lexical !== undefined) sum.both++;
      else if (f.vector !== undefined) sum.vectorOnly++;
      else sum.lexicalOnly++;
    }
  }
  const n = rankings.length;
  return { both: sum.both / n, vectorOnly: sum.vectorOnly / n, lexicalOnly: sum.lexicalOnly / n };
}

/** The benchmark over every collection given. */
export async function runEmbeddedQuality(
  o: EmbeddedQualityOptions,
  log: (s: string) => void,
): Promise<{ chunkTokens: number; collections: CollectionResult[] }> {
  const out: CollectionResult[] = [];
  const dump: Record<string, QueryRankings[]> = {};
  for (const c of o.collections) {
    const { rankings, ingestMs, passages } = await rankCollection(c, o, log);
    dump[c.name] = rankings;
    const quality: Record<string, RankingQuality> = {};
    const docsOf = (r: SideRanking) => documentRanking(r.docs);
    quality.lexical = meanQuality(c, (q) => docsOf(rankings[q - 1]!.lexical));
    quality.vector = meanQuality(c, (q) => docsOf(rankings[q - 1]!.vector));
    quality['hybrid (runtime default)'] = meanQuality(c, (q) => rankings[q - 1]!.hybridDocs);
    for (const [name, method] of Object.entries(FUSION_METHODS)) {
      quality[`hybrid ${name}`] = meanQuality(c, (q) => documentRanking(method(rankings[q - 1]!.vector, rankings[q - 1]!.lexical, passages)));
    }
    const lunr = lunrReference(c);
    quality['lunr.js BM25 (whole documents)'] = meanQuality(c, (q) => lunr.rank(c.queries[q - 1]!, 100));
    // The runtime's hybrid search against its fusion applied here to the same two rankings.
    const runtimeDefault = FUSION_METHODS.default!;
    const hybridMismatches = rankings.filter((r) => {
      const here = documentRanking(runtimeDefault(r.vector, r.lexical, passages).slice(0, 100));
      return here.join() !== r.hybridDocs.join();
    }).length;
    out.push({
      name: c.name,
      judged: c.judged,
      documents: c.docs.length,
      passages,
      queries: quality.lexical.queries,
      ingestMs,
      quality,
      hybridMismatches,
      margins: fusionMargins(c, rankings, passages),
      contributions: {
        adaptive: contributions(rankings, passages, { method: 'adaptive' }),
        'rrf k=60': contributions(rankings, passages, { method: 'rrf' }),
      },
    });
  }
  if (o.rankingsFile)
    await writeFile(
      o.rankingsFile,
      JSON.stringify({
        chunkTokens: o.chunkTokens,
        gains: Object.fromEntries(o.collections.map((c) => [c.name, [...c.gains].map(([q, g]) => [q, [...g]])])),
        rankings: dump,
      }),
    );
  return { chunkTokens: o.chunkTokens, collections: out };
}
