// Passage filters: a declarative object (document ids, metadata values) rather than a function,
// so that the same filter crosses the engine worker's boundary by structured clone and behaves
// the same on both sides. Checked once, then compiled into a predicate over a chunk's metadata.

import { WeftError } from '../errors.js';
import type { MetadataValue, PassageFilter } from './types.js';

export type PassagePredicate = (metadata: Record<string, unknown>, docId: string) => boolean;

const isScalar = (v: unknown): v is MetadataValue => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** A field's value matches a wanted value when equal, or when it is an array holding it. */
const holds = (value: unknown, wanted: MetadataValue) => value === wanted || (Array.isArray(value) && value.includes(wanted));

/** The predicate for `filter` (undefined: keep everything); INVALID_OPTION for a malformed filter. */
export function compileFilter(filter: PassageFilter | undefined): PassagePredicate | undefined {
  if (filter === undefined) return undefined;
  const bad = (what: string) => new WeftError('INVALID_OPTION', `filter ${what}. A filter looks like { docId: 'a.md' | ['a.md', 'b.md'], metadata: { lang: 'en', year: [2023, 2024] } }.`);
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw bad(typeof filter === 'function' ? 'is a function; it must be plain data (functions cannot cross the engine worker)' : 'must be an object');
  }
  const unknown = Object.keys(filter).filter((k) => k !== 'docId' && k !== 'metadata');
  if (unknown.length > 0) throw bad(`has unknown fields (${unknown.join(', ')})`);
  let docs: Set<string> | undefined;
  if (filter.docId !== undefined) {
    const ids = typeof filter.docId === 'string' ? [filter.docId] : filter.docId;
    if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string')) throw bad('docId must be a string or an array of strings');
    docs = new Set(ids);
  }
  if (filter.metadata !== undefined && (typeof filter.metadata !== 'object' || filter.metadata === null || Array.isArray(filter.metadata))) throw bad('metadata must be an object');
  const fields = Object.entries(filter.metadata ?? {}).map(([field, v]): [string, readonly MetadataValue[]] => {
    const wanted = Array.isArray(v) ? v as readonly unknown[] : [v];
    if (!wanted.every(isScalar)) throw bad(`metadata.${field} must be a string, number, boolean or null, or an array of them`);
    return [field, wanted as readonly MetadataValue[]];
  });
  return (metadata, docId) => (!docs || docs.has(docId)) && fields.every(([field, wanted]) => wanted.some((w) => holds(metadata[field], w)));
}
