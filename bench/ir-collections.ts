// Retrieval test collections and their metrics, for `bench quality`: documents, queries and graded
// relevance (as gains: 0 = not relevant), parsed from the files they are distributed as, and the
// standard measures of a ranking against them (nDCG@10 with linear gains and a log2 discount, the
// ideal from every judged relevant document; recall@100; average precision over the ranking).
//
// - Cranfield (../shared/assets/cranfield): 1400 aeronautics abstracts, 225 queries with graded
//   judgements. Relevance (cranqrel.readme, Cleverdon's codes): 1 = a complete answer, 2 = high
//   relevance, 3 = useful background, 4 = minimum interest; 5 (no interest) is absent; grade -1
//   (one line per query, not in the readme's scale) is taken as not relevant. Gain = 5 - grade.
//   Queries are numbered by their position in cran.qry (1..225), which is what cranqrel uses.
// - The Debian FAQ (Debian package `debian-faq`, debian-faq.en.txt): every section's answer is a
//   document, every section heading that asks a question (holds a question mark) is a query whose one relevant document
//   is its own answer (gain 1) — known-item question answering, where the words of a question and
//   of its answer differ more than a title's and an abstract's. Cross references that quote another
//   section's question ("Section 6.1, “How many …?”") keep their number and lose the quote, so a
//   question does not match the answers that merely point to it.

import lunr from 'lunr';

/** A document of a collection: its id in the collection's own numbering, and its text. */
export interface CollectionDoc {
  id: number;
  text: string;
}

/** Documents, queries (numbered from 1 by position) and, per query, the gain of each judged relevant document. */
export interface Collection {
  name: string;
  docs: CollectionDoc[];
  queries: string[];
  /** Query number (from 1) -> document id -> gain (> 0: relevant). */
  gains: Map<number, Map<number, number>>;
  /** How relevance was judged, for the report. */
  judged: string;
}

/** A ranking of a collection's document ids, best first. */
export type SearchFn = (query: string, k: number) => Promise<number[]>;

/** Mean quality of a ranking over the queries that have a relevant document. */
export interface RankingQuality {
  ndcg10: number;
  recall100: number;
  /** Average precision over the ranking as returned (its depth is the caller's). */
  map: number;
  queries: number;
}

/** The fields of each `.I` record of a Cranfield file (`.T`, `.W`, …). */
function records(text: string): { id: number; fields: Map<string, string> }[] {
  const out: { id: number; fields: Map<string, string> }[] = [];
  let field = '';
  for (const line of text.split('\n')) {
    const m = /^\.([A-Z])(?:\s+(\d+))?\s*$/.exec(line);
    if (m && m[1] === 'I') {
      out.push({ id: Number(m[2]), fields: new Map() });
      field = '';
      continue;
    }
    if (m) {
      field = m[1]!;
      continue;
    }
    const r = out.at(-1);
    if (r && field) r.fields.set(field, `${r.fields.get(field) ?? ''}${line}\n`);
  }
  return out;
}

/** Cranfield from its three files (cran.all.1400, cran.qry, cranqrel). */
export function parseCranfield(all: string, qry: string, qrel: string): Collection {
  const docs = records(all).map((r) => ({ id: r.id, text: `${r.fields.get('T') ?? ''}\n${r.fields.get('W') ?? ''}`.trim() }));
  const queries = records(qry).map((r) => (r.fields.get('W') ?? '').trim());
  const gains = new Map<number, Map<number, number>>();
  for (const line of qrel.split('\n')) {
    const [q, d, g] = line.trim().split(/\s+/).map(Number);
    if (!Number.isInteger(q) || !Number.isInteger(d) || !Number.isInteger(g) || g! < 1 || g! > 4) continue;
    (gains.get(q!) ?? gains.set(q!, new Map()).get(q!)!).set(d!, 5 - g!);
  }
  return { name: 'cranfield', docs, queries, gains, judged: 'graded (grades 1-4 relevant, gain 5 - grade)' };
}

/**
 * The Debian FAQ from its plain-text edition: one document per section (its answer, without the
 * heading), one query per heading that ends in a question mark (its own answer relevant).
 */
export function parseDebianFaq(text: string): Collection {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^Chapter 1\./.test(l));
  const sections: { heading: string; body: string[] }[] = [];
  for (let i = Math.max(0, start); i < lines.length; i++) {
    const line = lines[i]!;
    const h = /^(\d+(?:\.\d+)+)\.\s+(\S.*)$/.exec(line);
    if (h) {
      // A heading goes on over the unindented lines that follow it.
      let heading = h[2]!;
      while (i + 1 < lines.length && /^\S/.test(lines[i + 1]!)) heading += ` ${lines[++i]!.trim()}`;
      sections.push({ heading: heading.trim(), body: [] });
    } else if (/^(Chapter|Appendix) /.test(line)) {
      sections.push({ heading: '', body: [] }); // a chapter's preface: not a section's answer
    } else sections.at(-1)?.body.push(line);
  }
  const docs: CollectionDoc[] = [];
  const queries: string[] = [];
  const gains = new Map<number, Map<number, number>>();
  for (const s of sections) {
    const body = s.body
      .join('\n')
      .replace(/(Section [\d.]+),\s*“[^”]*”/g, '$1')
      .replace(/[ \t]+/g, ' ')
      .replace(/\n\s*\n+/g, '\n\n')
      .trim();
    if (!s.heading || body.length < 20) continue;
    const id = docs.length + 1;
    docs.push({ id, text: body });
    if (s.heading.includes('?')) {
      queries.push(s.heading);
      gains.set(queries.length, new Map([[id, 1]]));
    }
  }
  return { name: 'debian-faq', docs, queries, gains, judged: 'known item (a question, its own answer; gain 1)' };
}

/** nDCG@10, recall@100 and average precision of one ranking against one query's gains. */
export function queryQuality(ranking: readonly number[], gains: ReadonlyMap<number, number>): { ndcg10: number; recall100: number; ap: number } {
  const relevant = [...gains.values()].filter((g) => g > 0);
  let hits = 0;
  let sumPrec = 0;
  const seen = new Set<number>();
  ranking.forEach((d, i) => {
    if (seen.has(d)) return;
    seen.add(d);
    if ((gains.get(d) ?? 0) > 0) {
      hits++;
      sumPrec += hits / (i + 1);
    }
  });
  const dcg = ranking.slice(0, 10).reduce((a, d, i) => a + (gains.get(d) ?? 0) / Math.log2(i + 2), 0);
  const ideal = relevant
    .sort((a, b) => b - a)
    .slice(0, 10)
    .reduce((a, g, i) => a + g / Math.log2(i + 2), 0);
  const found100 = new Set(ranking.slice(0, 100).filter((d) => (gains.get(d) ?? 0) > 0)).size;
  return { ndcg10: dcg / ideal, recall100: found100 / relevant.length, ap: sumPrec / relevant.length };
}

/** The mean of queryQuality over the queries with a relevant document, given each query's ranking. */
export function meanQuality(c: Collection, rankingOf: (queryNumber: number) => readonly number[]): RankingQuality {
  let ndcg = 0;
  let recall = 0;
  let ap = 0;
  let n = 0;
  for (let q = 1; q <= c.queries.length; q++) {
    const gains = c.gains.get(q);
    if (!gains || ![...gains.values()].some((g) => g > 0)) continue;
    const r = queryQuality(rankingOf(q), gains);
    ndcg += r.ndcg10;
    recall += r.recall100;
    ap += r.ap;
    n++;
  }
  return { ndcg10: ndcg / n, recall100: recall / n, map: ap / n, queries: n };
}

/** The documents of a ranking of passages, each at its best passage's place (later passages of a document dropped). */
export function documentRanking(passageDocs: readonly number[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const d of passageDocs) {
    if (seen.has(d)) continue;
    seen.add(d);
    out.push(d);
  }
  return out;
}

/**
 * lunr.js over a collection's whole documents, the standard BM25 both quality benchmarks compare
 * with: its default pipeline (trimmer, English stopwords, Porter stemmer) and BM25 (k1 1.2, b 0.75).
 * Each query word is a term clause (through lunr's search pipeline), so query punctuation is not
 * read as lunr's query syntax; a document's score sums over the clauses it matches.
 */
export function lunrReference(c: Collection): { rank: (query: string, k: number) => number[]; buildMs: number } {
  const t0 = performance.now();
  const idx = lunr(function () {
    this.ref('id');
    this.field('text');
    for (const d of c.docs) this.add({ id: String(d.id), text: d.text });
  });
  const buildMs = performance.now() - t0;
  const rank = (q: string, k: number) =>
    idx
      .query((query) => {
        for (const token of lunr.tokenizer(q)) query.term(token.toString(), { presence: lunr.Query.presence.OPTIONAL });
      })
      .slice(0, k)
      .map((r) => Number(r.ref));
  return { rank, buildMs };
}
