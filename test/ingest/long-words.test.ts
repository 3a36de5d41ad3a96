// A word longer than any passage (issue 20: "faults and hostile input"). WordPiece counts a word
// of more than 100 characters as one token, [UNK], so a single unbroken 1 MB "word" used to become
// a 1 MB passage, past every chunk limit (a PDF bomb gave a 2 MB one). Now no chunk's text is longer
// than maxTokens × CHARS_PER_TOKEN characters, whatever the tokenizer counts, and the text is all
// there, in order (chunkTiling). Counted with the real all-MiniLM-L6-v2 tokenizer.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { CHARS_PER_TOKEN, chunkSections, type Chunk, type Section } from '../../src/ingest/chunk.js';
import { chunkDocument, parseSections } from '../../src/ingest/documents.js';
import { chunkTiling } from '../support/chunk-tiling.js';

const dir = resolve(import.meta.dirname, '../../../shared/assets/minilm-tokenizer');
const tok = new Tokenizer(
  JSON.parse(readFileSync(resolve(dir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(resolve(dir, 'tokenizer_config.json'), 'utf8')),
);
const countTokens = (s: string) => tok.encode(s).ids.length;

// Real text around the long words: Cranfield abstracts (in the shared assets).
const cran = readFileSync(resolve(import.meta.dirname, '../../../shared/assets/cranfield/cran.all.1400'), 'utf8').replace(/\r\n/g, '\n');
const abstracts = cran
  .split(/^\.I /m)
  .slice(1, 40)
  .map((r) => /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '');

/** `length` letters with no space or punctuation in them (the tokenizer cannot split it): one "word". */
function word(length: number, seed = 1): string {
  const out = new Array<string>(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = String.fromCharCode(97 + ((x >>> 16) % 26));
  }
  return out.join('');
}

/** Every chunk within maxTokens and within maxTokens × CHARS_PER_TOKEN characters; the bodies (past any heading line) tile the sections' text. */
function expectWithin(sections: readonly Section[], chunks: readonly Chunk[], maxTokens: number) {
  const tiling = chunkTiling(sections.map((s) => s.text));
  expect(chunks.length).toBeGreaterThan(0);
  for (const c of chunks) {
    expect(c.text.length, `chunk ${c.index}: ${c.text.length} characters`).toBeLessThanOrEqual(maxTokens * CHARS_PER_TOKEN);
    expect(countTokens(c.text), `chunk ${c.index}`).toBeLessThanOrEqual(maxTokens);
    tiling.next(c.headings.length ? c.text.slice(c.text.indexOf('\n') + 1) : c.text, c.index);
  }
  tiling.done();
}

test('a document that is one unbroken 1 MB word becomes passages within the limit, all of it kept', async () => {
  const text = word(1 << 20);
  expect(countTokens(text)).toBe(3); // [CLS] [UNK] [SEP]: the tokenizer sees one token
  for (const maxTokens of [64, 256]) {
    const t0 = performance.now();
    const chunks = await chunkDocument({ id: 'bomb.txt', text }, { countTokens, maxTokens });
    expect(performance.now() - t0).toBeLessThan(30_000);
    expectWithin([{ headings: [], text }], chunks, maxTokens);
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(text.length / (maxTokens * CHARS_PER_TOKEN)));
  }
}, 120_000);

test('normal text with long words in it: every passage within the limit, the text all there, the normal text chunked as before', async () => {
  const prose = abstracts.slice(0, 12).join(' ');
  const markdown = [
    '# Boundary layers',
    abstracts[0],
    `See ${word(200_000, 7)} for the data.`,
    abstracts[1],
    '## Appendix',
    `${abstracts[2]} ${word(5_000, 3)} ${word(150, 5)}, ${word(120, 9)}.`,
    abstracts[3],
    '## Results',
    prose,
  ].join('\n\n');
  const sections = await parseSections(markdown, 'markdown', 'paper.md');
  for (const maxTokens of [32, 128, 256]) {
    const chunks = await chunkDocument({ id: 'paper.md', text: markdown, type: 'markdown' }, { countTokens, maxTokens });
    expectWithin(sections, chunks, maxTokens);
    // Ordinary prose is cut by its tokens, the characters never the limit: its chunks are as full as before.
    const results = chunkSections({ id: 'r.md' }, [{ headings: ['Results'], text: prose }], { countTokens, maxTokens });
    const filled = results.slice(0, -1).map((c) => countTokens(c.text));
    expect(filled.reduce((a, b) => a + b, 0) / filled.length).toBeGreaterThan(maxTokens * 0.7);
    for (const c of results) expect(c.text.length).toBeLessThan(maxTokens * 8);
  }
});

test("a heading that is one 1 MB word is shortened in every chunk's text, kept whole in its headings", () => {
  const heading = word(1 << 20, 11);
  const sections: Section[] = [{ headings: ['Notes', heading], text: abstracts.slice(0, 4).join(' ') }];
  for (const maxTokens of [16, 256]) {
    const chunks = chunkSections({ id: 'odd.md' }, sections, { countTokens, maxTokens });
    expectWithin(sections, chunks, maxTokens);
    for (const c of chunks) expect(c.headings).toEqual(['Notes', heading]);
  }
});
