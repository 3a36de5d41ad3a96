// Passage filters: a declarative object (document ids; metadata equality, sets and ranges)
// rather than a function, so that the same filter crosses the engine worker's boundary by
// structured clone and behaves the same on both sides. It lives in the store layer because a
// stored index turns it into the allow-list its GPU scan honours (allow-list.ts); the runtime
// re-exports the types. Checked once, then compiled into a predicate over a chunk's document
// and metadata, which carries the checked filter and a canonical key (for caching allow-lists).

import { WeftError } from '../errors.js';

/** A scalar a metadata filter compares with. */
export type MetadataValue = string | number | boolean | null;

/**
 * A range over numbers or over strings (compared by UTF-16 code units, so ISO 8601 dates and
 * times in one format compare in time order). Every bound given must hold; all bounds of one
 * range are numbers, or all strings. A value of the other type never matches.
 */
export interface MetadataRange {
  gt?: number | string;
  gte?: number | string;
  lt?: number | string;
  lte?: number | string;
}

/** One metadata condition: equal to a value, one of several values, or within a range. */
export type MetadataCondition = MetadataValue | readonly MetadataValue[] | MetadataRange;

/**
 * Which passages a search or an answer may use: plain data, so the same filter works on the main
 * thread and in the engine worker. Every condition given must hold.
 */
export interface PassageFilter {
  /** The passage's document, or one of these documents. */
  docId?: string | readonly string[];
  /**
   * Per field: equal to the value; one of the values when an array is given; within the range
   * when `{ gt, gte, lt, lte }` is given. A field whose own value is an array (e.g. tags) matches
   * when one of its elements does. A missing field never matches.
   */
  metadata?: Readonly<Record<string, MetadataCondition>>;
}

/** A checked filter as a predicate over a chunk's metadata and document. */
export interface CompiledFilter {
  (metadata: Readonly<Record<string, unknown>>, docId: string): boolean;
  /** The filter as given, checked: plain data (what a stored index's search takes). */
  readonly filter: PassageFilter;
  /** Canonical text of the filter: the same for filters with the same conditions (field order aside). */
  readonly key: string;
  /** No condition at all (`{}`, or only empty metadata): everything passes. */
  readonly all: boolean;
}

const FORM =
  "A filter looks like { docId: 'a.md' | ['a.md', 'b.md'], metadata: { lang: 'en', tags: ['faq', 'howto'], year: { gte: 2020, lt: 2024 }, date: { gte: '2024-01-01' } } }.";
const OPS = ['gt', 'gte', 'lt', 'lte'] as const;
type Op = (typeof OPS)[number];

const bad = (what: string) => new WeftError('INVALID_OPTION', `filter ${what}. ${FORM}`);
const isScalar = (v: unknown): v is MetadataValue => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type Test = (value: unknown) => boolean;

/** A field's value matches when it passes, or when it is an array with an element that passes. */
const anyOf =
  (test: Test): Test =>
  (value) =>
    test(value) || (Array.isArray(value) && value.some(test));

function rangeTest(field: string, range: Record<string, unknown>): { test: Test; canon: Record<string, number | string> } {
  const keys = Object.keys(range);
  const unknown = keys.filter((k) => !(OPS as readonly string[]).includes(k));
  if (unknown.length > 0) throw bad(`metadata.${field} has unknown range operators (${unknown.join(', ')}); a range takes gt, gte, lt and lte`);
  const bounds = OPS.flatMap((op): [Op, number | string][] => (range[op] === undefined ? [] : [[op, range[op] as number | string]]));
  if (bounds.length === 0) throw bad(`metadata.${field} is an empty range; give at least one of gt, gte, lt, lte`);
  const type = typeof bounds[0]![1];
  for (const [op, v] of bounds) {
    if (!((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string')) throw bad(`metadata.${field}.${op} must be a finite number or a string`);
    if (typeof v !== type) throw bad(`metadata.${field} mixes number and string bounds`);
  }
  const test: Test = (x) =>
    typeof x === type &&
    !Number.isNaN(x) &&
    bounds.every(([op, b]) => {
      const v = x as number | string;
      return op === 'gt' ? v > b : op === 'gte' ? v >= b : op === 'lt' ? v < b : v <= b;
    });
  return { test, canon: Object.fromEntries(bounds) };
}

/** The predicate for `filter` (undefined: no filter); INVALID_OPTION for a malformed filter. */
export function compileFilter(filter: PassageFilter | undefined): CompiledFilter | undefined {
  if (filter === undefined) return undefined;
  if (!isPlainObject(filter)) {
    throw bad(typeof filter === 'function' ? 'is a function; it must be plain data (functions cannot cross the engine worker)' : 'must be an object');
  }
  const unknown = Object.keys(filter).filter((k) => k !== 'docId' && k !== 'metadata');
  if (unknown.length > 0) throw bad(`has unknown fields (${unknown.join(', ')}); it takes docId and metadata`);
  let docs: Set<string> | undefined;
  if (filter.docId !== undefined) {
    const ids: unknown = typeof filter.docId === 'string' ? [filter.docId] : filter.docId;
    if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string')) throw bad('docId must be a string or an array of strings');
    docs = new Set(ids as string[]);
  }
  if (filter.metadata !== undefined && !isPlainObject(filter.metadata)) throw bad('metadata must be an object of field conditions');
  const canonFields: [string, unknown][] = [];
  const fields = Object.entries(filter.metadata ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([field, v]): [string, Test] => {
      if (isPlainObject(v)) {
        const r = rangeTest(field, v);
        canonFields.push([field, { range: r.canon }]);
        return [field, anyOf(r.test)];
      }
      const wanted: unknown[] = Array.isArray(v) ? v : [v];
      if (!wanted.every(isScalar)) throw bad(`metadata.${field} must be a string, number, boolean or null, an array of them, or a range`);
      const set = new Set(wanted);
      canonFields.push([field, { in: [...set].map((w) => [typeof w, w]).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) }]);
      return [field, anyOf((x) => set.has(x as MetadataValue))];
    });
  const docList = docs ? [...docs].sort() : undefined;
  const key = JSON.stringify({ docId: docList ?? null, metadata: canonFields });
  const predicate = (metadata: Readonly<Record<string, unknown>>, docId: string) =>
    (!docs || docs.has(docId)) && fields.every(([field, test]) => Object.hasOwn(metadata, field) && test(metadata[field]));
  // A copy: a caller that changes its filter object later does not change this one.
  return Object.assign(predicate, { filter: structuredClone(filter), key, all: !docs && fields.length === 0 });
}
