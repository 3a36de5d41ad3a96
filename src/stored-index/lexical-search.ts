// Keyword search on a stored index: the query analysed as the chunks were (src/lexical/analyzer.ts),
// the term buckets of its terms read from the store with the manifest they belong to (so N and
// the average length are the ones those postings were counted with), BM25 accumulated term by
// term (src/lexical/bm25.ts), and the k best chunks the caller allows. One search reads and
// scores every term at once; a session does it a few terms per step, so that a scheduler can
// weave a search of a large index between decode steps (a term as common as 'flow' in a
// 100k-chunk index has tens of thousands of postings: see bench/quality.ts for the times).

import { WeftError } from '../errors.js';
import { loadAnalyzer } from '../lexical/analyzer.js';
import { Scores, accumulate, checkLexicalK, queryTerms, topK, type LexicalHits } from '../lexical/bm25.js';
import { bucketOf } from '../lexical/postings.js';
import type { WeftStore } from '../storage/contract.js';
import { lexicalOf } from '../storage/lexical-records.js';
import type { Manifest } from '../storage/records.js';

export type { LexicalHits };

/** Options of StoredIndex.lexicalSearch: k, an allow-list and abort. */
export interface LexicalSearchOptions {
  /** How many chunks to return (fewer when fewer chunks hold a query term). */
  k: number;
  /** Only chunks it accepts are results (k of them whenever k accepted chunks match). */
  allow?: (id: number) => boolean;
  signal?: AbortSignal;
}

/** A stored index's keyword index: its language, whether it stems, chunks, terms and buckets. */
export interface LexicalStats {
  language: string;
  /** Whether the language has a stemmer (otherwise words are matched as segmented). */
  stemming: boolean;
  /** Chunks with at least one indexed term. */
  chunks: number;
  /** Their terms, in all. */
  tokens: number;
  buckets: number;
}

function aborted(name: string): WeftError {
  return new WeftError('ABORTED', `The keyword search of index '${name}' was aborted.`);
}

/**
 * A keyword search cut into slices for a scheduler to weave between decode steps: each step reads
 * and scores the postings of a few query terms (one term by default: one bucket read, then a pass
 * over that term's postings). read() ranks what has been scored so far; once `done` it equals
 * lexicalSearch. All steps score one committed state: if another commit lands between steps, the
 * next step starts again on the new state (after three restarts it scores the rest at once).
 */
export interface LexicalSession {
  /** Distinct query terms (after analysis). */
  readonly terms: number;
  /** Terms scored so far. */
  readonly scored: number;
  readonly done: boolean;
  /** Scores the next `terms` query terms (default 1). */
  step(terms?: number): Promise<void>;
  /** The k best chunks of the terms scored so far (the result once done). */
  read(): LexicalHits;
}

/** Runs the scoring of one step (not its read); a stored index passes its exclusive queue. */
export type StepRunner = <T>(fn: () => Promise<T>) => Promise<T>;

/** Opens a keyword search session of `query` on index `name`, whose manifest (as the caller last saw it) is `seen`. */
export async function openLexicalSession(
  store: WeftStore,
  name: string,
  seen: Manifest,
  query: string,
  options: LexicalSearchOptions,
  run: StepRunner = (fn) => fn(),
): Promise<LexicalSession> {
  if (typeof query !== 'string') throw new WeftError('INVALID_INPUT', `lexicalSearch takes the query as a string; got ${typeof query}.`);
  if (options === null || typeof options !== 'object') throw new WeftError('INVALID_OPTION', 'lexicalSearch takes options { k, allow?, signal? }.');
  const k = checkLexicalK(options.k);
  if (options.allow !== undefined && typeof options.allow !== 'function')
    throw new WeftError('INVALID_OPTION', 'allow must be a function of a chunk id returning a boolean.');
  const { signal, allow } = options;
  let lex = lexicalOf(seen);
  let analyzer = await loadAnalyzer(lex.language);
  let terms = [...queryTerms(analyzer.terms(query))];
  void store.warmTermBuckets?.(name, [...new Set(terms.map(([t]) => bucketOf(t, lex.buckets)))]);
  let generation: number | undefined;
  let scores = new Scores(0);
  let scored = 0,
    restarts = 0;

  /**
   * Scores the terms `take` from `read` (their buckets); false when the index was replaced or
   * changed since the earlier steps, and the step must start again.
   */
  const score = async (read: Awaited<ReturnType<WeftStore['readTermBuckets']>>, take: [string, number][]): Promise<boolean> => {
    const now = lexicalOf(read.manifest);
    if (now.language !== lex.language || now.buckets !== lex.buckets) {
      // Replaced by an index of another language or bucket count: analyse the query again.
      if (restarts++ >= 3) throw new WeftError('CONFLICT', `Index '${name}' was replaced during the keyword search; search again.`, { details: { name } });
      lex = now;
      analyzer = await loadAnalyzer(lex.language);
      terms = [...queryTerms(analyzer.terms(query))];
      generation = undefined;
      scored = 0;
      return false;
    }
    if (generation !== read.manifest.generation) {
      if (generation !== undefined) restarts++;
      const restart = generation !== undefined && scored > 0;
      generation = read.manifest.generation;
      // Dense sums for ids below nextId, unless deletes or explicit ids left it far above the chunk count.
      scores = new Scores(Math.min(read.manifest.nextId, 1024 + 4 * now.chunks));
      lex = now;
      if (restart) {
        scored = 0;
        return false;
      }
    }
    const byNumber = new Map(read.buckets.map((b) => [b.bucket, b]));
    for (const [t, qtf] of take) {
      const p = byNumber.get(bucketOf(t, lex.buckets))?.terms.get(t);
      if (p) accumulate(scores, p, qtf, lex);
    }
    scored += take.length;
    return true;
  };

  const step = async (want: number): Promise<void> => {
    for (;;) {
      if (signal?.aborted) throw aborted(name);
      if (scored >= terms.length) return;
      const take = terms.slice(scored, restarts >= 3 ? terms.length : scored + want);
      const buckets = [...new Set(take.map(([t]) => bucketOf(t, lex.buckets)))].sort((a, b) => a - b);
      // The read is I/O and stays out of `run` (a stored index's queue): a bucket coming from a
      // slow tier (IndexedDB, the network) must not hold up the index's other operations, such
      // as another answer's search slices. The read carries its own manifest, so the scoring
      // checks what it got.
      const read = await store.readTermBuckets(
        name,
        buckets,
        take.map(([t]) => t),
      );
      if (signal?.aborted) throw aborted(name);
      if (await run(() => score(read, take))) return;
    }
  };

  return {
    get terms() {
      return terms.length;
    },
    get scored() {
      return scored;
    },
    get done() {
      return scored >= terms.length;
    },
    step(n = 1) {
      if (!(Number.isInteger(n) && n >= 1))
        return Promise.reject(new WeftError('INVALID_OPTION', `step takes a positive whole number of terms; got ${String(n)}.`));
      return step(n);
    },
    read() {
      return topK(scores, k, allow);
    },
  };
}

/** The BM25 search of `query` on index `name`, whose manifest (as the caller last saw it) is `seen`: every term in one step. */
export async function lexicalSearch(store: WeftStore, name: string, seen: Manifest, query: string, options: LexicalSearchOptions): Promise<LexicalHits> {
  const session = await openLexicalSession(store, name, seen, query, options);
  if (!session.done) await session.step(session.terms);
  return session.read();
}

export async function lexicalStats(m: Manifest): Promise<LexicalStats> {
  const lex = lexicalOf(m);
  const analyzer = await loadAnalyzer(lex.language);
  return { language: lex.language, stemming: analyzer.stemming, chunks: lex.chunks, tokens: lex.tokens, buckets: lex.buckets };
}
