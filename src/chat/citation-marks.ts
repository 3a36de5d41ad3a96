// An answer's text cut into plain text and citation marks ([1], [2][3], [1, 2]) that name
// passages the answer actually had, so <weft-chat> can render the marks as buttons; and how a
// source is named in the source list ("report.pdf, p. 12"). Pure and string-only: the parts are
// rendered as text, never parsed as HTML.

import { passagePage } from '../runtime/answer-context.js';
import type { Passage } from '../runtime/types.js';

/** A piece of an answer: text as it is, or a citation of the passage with that number. */
export type AnswerPart = { text: string } | { citation: number };

const MARK = /\[(\d+(?:\s*,\s*\d+)*)\]/g;

/**
 * Splits `text` at its citation marks. A mark becomes citation parts only when every number in it
 * is in `known` (the passages of the answer); anything else ("[2023]", a mark streaming in half
 * written) stays text.
 */
export function splitCitations(text: string, known: ReadonlySet<number>): AnswerPart[] {
  const parts: AnswerPart[] = [];
  let last = 0;
  for (const m of text.matchAll(MARK)) {
    const numbers = m[1]!.split(',').map((n) => Number(n.trim()));
    if (!numbers.every((n) => known.has(n))) continue;
    if (m.index > last) parts.push({ text: text.slice(last, m.index) });
    for (const citation of numbers) parts.push({ citation });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

/**
 * How the source list names a passage's source: its document, and its page where it has one
 * (metadata.page, from 1: PDF passages), e.g. "report.pdf, p. 12".
 */
export function sourceLabel(p: Pick<Passage, 'docId' | 'metadata'>): string {
  const page = passagePage(p);
  return page === undefined ? p.docId : `${p.docId}, p. ${page}`;
}

/**
 * What each ranking gave a passage, for people: "similarity 0.412 · BM25 7.31 · reranker -1.204"
 * (the fused score of hybrid retrieval is a rank statistic, not shown).
 */
export function scoreText(p: Pick<Passage, 'scores'>): string {
  const { vector, lexical, rerank } = p.scores ?? {};
  return [
    vector !== undefined ? `similarity ${vector.toFixed(3)}` : '',
    lexical !== undefined ? `BM25 ${lexical.toFixed(2)}` : '',
    rerank !== undefined ? `reranker ${rerank.toFixed(3)}` : '',
  ]
    .filter(Boolean)
    .join(' · ');
}
