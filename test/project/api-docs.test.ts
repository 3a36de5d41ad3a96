// The API reference (docs/api/, written by scripts/api-docs.mjs: `npm run docs`) against the
// sources: every export of every public entry has a doc comment, the entries are package.json's
// "exports", and the committed pages are what the script writes now — a doc comment changed in
// src/ without `npm run docs`, or a page edited by hand, fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { entriesOf, extractApi, renderApi, undocumented } from '../../scripts/api-docs.mjs';

const root = resolve(import.meta.dirname, '../..');
const api = extractApi(root);

describe('the API reference', () => {
  test("its entries are package.json's exports, each with its source file", () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown>; scripts: Record<string, string> };
    expect(entriesOf(root).map((e) => e.entry)).toEqual(['weft-rag', 'weft-rag/rag', 'weft-rag/client', 'weft-rag/worker', 'weft-rag/chat']);
    expect(Object.keys(pkg.exports).filter((k) => k !== './package.json')).toHaveLength(api.length);
    expect(pkg.scripts.docs).toBe('node scripts/api-docs.mjs');
  });

  test('every entry exports something, and every export is traced to its declaration', () => {
    for (const e of api) expect(e.exports.length, e.entry).toBeGreaterThan(0);
    expect(api.find((e) => e.entry === 'weft-rag/rag')?.exports.find((x) => x.name === 'createRag')).toMatchObject({
      kind: 'function',
      file: 'src/runtime/rag.ts',
    });
    expect(api.find((e) => e.entry === 'weft-rag/client')?.exports.find((x) => x.name === 'RagSearchOptions')).toMatchObject({
      declaredName: 'RagSearchOptions',
      file: 'src/runtime/types.ts',
    });
  });

  test('every public export has a doc comment', () => {
    expect(undocumented(api), 'add a /** … */ comment right before each declaration named here, then npm run docs').toEqual([]);
  });

  test('docs/api/ is what npm run docs writes', () => {
    const pages = renderApi(api);
    const committed = readdirSync(resolve(root, 'docs/api'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/api/${f}`)
      .sort();
    expect(committed, 'run npm run docs').toEqual([...pages.keys()].sort());
    for (const [path, text] of pages) expect(readFileSync(resolve(root, path), 'utf8'), `${path}: run npm run docs`).toBe(text);
  });
});
