// Passage filters are plain data (they cross the engine worker): what they keep, and the
// malformed ones they refuse.
import { expect, test } from 'vitest';
import { compileFilter } from '../../src/runtime/filter.js';

test('a filter keeps the passages whose document and metadata match; arrays mean any of; array fields match by membership', () => {
  expect(compileFilter(undefined)).toBeUndefined();
  const keep = compileFilter({ docId: ['a.md', 'b.md'], metadata: { lang: 'en', year: [2023, 2024], tags: 'faq' } })!;
  const meta = { lang: 'en', year: 2024, tags: ['faq', 'billing'] };
  expect(keep(meta, 'a.md')).toBe(true);
  expect(keep(meta, 'c.md')).toBe(false);
  expect(keep({ ...meta, year: 2022 }, 'b.md')).toBe(false);
  expect(keep({ ...meta, lang: 'de' }, 'b.md')).toBe(false);
  expect(keep({ ...meta, tags: ['billing'] }, 'b.md')).toBe(false);
  expect(keep({ lang: 'en', year: 2023 }, 'b.md')).toBe(false); // a missing field does not match
  expect(compileFilter({ docId: 'x' })!({}, 'x')).toBe(true);
  expect(compileFilter({ metadata: { draft: null } })!({ draft: null }, 'x')).toBe(true);
  expect(compileFilter({})!({ any: 1 }, 'y')).toBe(true);
});

test('functions, unknown fields and non-scalar values are refused with INVALID_OPTION', () => {
  for (const bad of [() => true, { lang: 'en' }, { docId: 3 }, { metadata: { a: { b: 1 } } }, { metadata: 'en' }, null, 'en']) {
    expect(() => compileFilter(bad as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  }
});
