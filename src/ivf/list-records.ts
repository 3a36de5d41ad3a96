// Changes to IVF lists as pure functions from records to new records: append encoded vectors,
// tombstone ids, drop tombstones, or build every list from fresh labels. The in-memory index and
// the stored index both write through these, so a list always has one shape (ids plus codes in
// whole interleaved blocks, see codec.ts) whichever tier holds it; a write is then a set of new
// records that one commit (or one upload) puts in place.

import { appendInterleaved, deinterleave, packRows, type Layout } from './codec.js';
import { NO_ID, type ListRecord } from './types.js';

/** An empty list record. */
export function emptyRecord(list: number): ListRecord {
  return { list, count: 0, ids: new Uint32Array(0), codes: new Uint32Array(0) };
}

/** Row indices per list label, each in input order. */
export function groupByList(labels: ArrayLike<number>): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    let g = groups.get(l);
    if (!g) {
      g = [];
      groups.set(l, g);
    }
    g.push(i);
  }
  return groups;
}

/** The row-major rows `picks` of `rows` (words per row), one after another. */
export function pickRows(rows: Uint32Array, picks: readonly number[], words: number): Uint32Array {
  const out = new Uint32Array(picks.length * words);
  picks.forEach((i, j) => out.set(rows.subarray(i * words, (i + 1) * words), j * words));
  return out;
}

/**
 * `record` with the vectors `members` (indices into the row-major encoded `rows` and `ids`)
 * appended after its current slots.
 */
export function appendToRecord(record: ListRecord, rows: Uint32Array, ids: ArrayLike<number>, members: readonly number[], layout: Layout): ListRecord {
  const m = members.length;
  const nextIds = new Uint32Array(record.count + m);
  nextIds.set(record.ids.subarray(0, record.count));
  members.forEach((i, j) => {
    nextIds[record.count + j] = ids[i]!;
  });
  return {
    list: record.list,
    count: record.count + m,
    ids: nextIds,
    codes: appendInterleaved(record.codes, record.count, pickRows(rows, members, layout.words), m, layout.units),
  };
}

/** `record` with the ids in `gone` replaced by tombstones (NO_ID), and how many were. */
export function tombstoneRecord(record: ListRecord, gone: ReadonlySet<number>): { record: ListRecord; removed: number } {
  const ids = record.ids.slice();
  let removed = 0;
  for (let s = 0; s < record.count; s++)
    if (gone.has(ids[s]!)) {
      ids[s] = NO_ID;
      removed++;
    }
  return { record: removed ? { ...record, ids } : record, removed };
}

/** `record` without its tombstones (undefined when it has none). */
export function compactRecord(record: ListRecord, layout: Layout): ListRecord | undefined {
  const live: number[] = [];
  for (let s = 0; s < record.count; s++) if (record.ids[s] !== NO_ID) live.push(s);
  if (live.length === record.count) return undefined;
  const rows = pickRows(deinterleave(record.codes, record.count, layout.units), live, layout.words);
  return { list: record.list, count: live.length, ids: Uint32Array.from(live, (s) => record.ids[s]!), codes: packRows(rows, live.length, layout.units) };
}

/** Every list of an index of `nlist` lists, built from row-major encoded `rows`, their `ids` and list `labels`. */
export function recordsFromLabels(labels: ArrayLike<number>, rows: Uint32Array, ids: ArrayLike<number>, nlist: number, layout: Layout): ListRecord[] {
  const groups = groupByList(labels);
  return Array.from({ length: nlist }, (_, l) => {
    const members = groups.get(l) ?? [];
    return {
      list: l,
      count: members.length,
      ids: Uint32Array.from(members, (i) => ids[i]!),
      codes: packRows(pickRows(rows, members, layout.words), members.length, layout.units),
    };
  });
}

/** The live vectors of `records` as row-major encoded rows with their ids (tombstones skipped). */
export function liveRows(records: readonly ListRecord[], layout: Layout): { ids: Uint32Array; rows: Uint32Array } {
  const ids: number[] = [];
  const parts: Uint32Array[] = [];
  for (const r of records) {
    const rows = deinterleave(r.codes, r.count, layout.units);
    const live: number[] = [];
    for (let s = 0; s < r.count; s++)
      if (r.ids[s] !== NO_ID) {
        live.push(s);
        ids.push(r.ids[s]!);
      }
    parts.push(pickRows(rows, live, layout.words));
  }
  const rows = new Uint32Array(ids.length * layout.words);
  let at = 0;
  for (const p of parts) {
    rows.set(p, at);
    at += p.length;
  }
  return { ids: Uint32Array.from(ids), rows };
}
