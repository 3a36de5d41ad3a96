// The record transforms both index kinds write through: each checked against the plain
// row-major view of a list (ids and rows side by side) on fresh random inputs.
import { describe, expect, test } from 'vitest';
import { deinterleave, layoutFor, packedWords } from '../../src/ivf/codec.js';
import { appendToRecord, compactRecord, emptyRecord, groupByList, liveRows, recordsFromLabels, tombstoneRecord } from '../../src/ivf/list-records.js';
import { NO_ID, type ListRecord } from '../../src/ivf/types.js';
import { createRng } from '../../src/random.js';

const layout = layoutFor(10, 'f16'); // 2 units, 8 words per vector
const seed = Math.floor(Math.random() * 2 ** 31);

function randomRows(rng: () => number, n: number): Uint32Array {
  return Uint32Array.from({ length: n * layout.words }, () => Math.floor(rng() * 2 ** 32));
}

/** The record as (id, row) pairs in slot order. */
function view(r: ListRecord): { id: number; row: number[] }[] {
  expect(r.ids.length).toBe(r.count);
  expect(r.codes.length).toBe(packedWords(r.count, layout.units));
  const rows = deinterleave(r.codes, r.count, layout.units);
  return Array.from(r.ids, (id, s) => ({ id, row: Array.from(rows.subarray(s * layout.words, (s + 1) * layout.words)) }));
}

describe(`list records (seed ${seed})`, () => {
  const rng = createRng(seed).next;

  test('append keeps the old slots and adds the members in order', () => {
    const rows = randomRows(rng, 70);
    const ids = Uint32Array.from({ length: 70 }, (_, i) => 1000 + i);
    const first = Array.from({ length: 45 }, (_, i) => i);
    const second = [69, 50, 45, 60];
    const a = appendToRecord(emptyRecord(3), rows, ids, first, layout);
    const b = appendToRecord(a, rows, ids, second, layout);
    const row = (i: number) => Array.from(rows.subarray(i * layout.words, (i + 1) * layout.words));
    expect(b.list).toBe(3);
    expect(view(b)).toEqual([...first, ...second].map((i) => ({ id: 1000 + i, row: row(i) })));
    expect(view(a)).toEqual(first.map((i) => ({ id: 1000 + i, row: row(i) }))); // the input is not changed
  });

  test('tombstones then compaction drop exactly the deleted ids', () => {
    const n = 77;
    const rows = randomRows(rng, n);
    const ids = Uint32Array.from({ length: n }, (_, i) => 5 * i);
    const rec = appendToRecord(
      emptyRecord(0),
      rows,
      ids,
      Array.from({ length: n }, (_, i) => i),
      layout,
    );
    const gone = new Set(Array.from(ids).filter(() => rng() < 0.3));
    const t = tombstoneRecord(rec, gone);
    expect(t.removed).toBe(gone.size);
    expect(view(t.record).map((e) => e.id)).toEqual(Array.from(ids, (id) => (gone.has(id) ? NO_ID : id)));
    const c = compactRecord(t.record, layout)!;
    expect(view(c)).toEqual(view(rec).filter((e) => !gone.has(e.id)));
    expect(compactRecord(c, layout)).toBeUndefined(); // nothing left to drop
    expect(tombstoneRecord(rec, new Set([123456])).record).toBe(rec);
  });

  test('records from labels hold every row once, in its list, and liveRows gives them back', () => {
    const n = 200,
      nlist = 7;
    const rows = randomRows(rng, n);
    const ids = Uint32Array.from({ length: n }, (_, i) => i * 3 + 1);
    const labels = Uint32Array.from({ length: n }, () => Math.floor(rng() * nlist));
    const records = recordsFromLabels(labels, rows, ids, nlist, layout);
    expect(records.map((r) => r.list)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const groups = groupByList(labels);
    for (const r of records) expect(view(r).map((e) => e.id)).toEqual((groups.get(r.list) ?? []).map((i) => ids[i]));
    const live = liveRows(records, layout);
    const order = records.flatMap((r) => groups.get(r.list) ?? []);
    expect(Array.from(live.ids)).toEqual(order.map((i) => ids[i]));
    expect(Array.from(live.rows)).toEqual(order.flatMap((i) => Array.from(rows.subarray(i * layout.words, (i + 1) * layout.words))));
  });
});
