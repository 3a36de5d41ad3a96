// Heading paths longer than a chunk (issue 19: "one bad document costs only itself"). An FAQ whose
// headings are whole questions, nested three deep, used to be refused under a small embedder limit
// ("maxTokens (64) leaves no room for text under the headings of ...") and that refusal failed a
// whole folder's ingest. Now the repeated heading path is shortened to at most half of a chunk;
// the chunks' `headings` keep the full path. The Debian FAQ (apt-get install debian-faq) is read
// where it is installed; the always-run tests use a page of the same shape written here.
import { chunkTiling } from '../support/chunk-tiling.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { chunkSections, type Chunk, type Section } from '../../src/ingest/chunk.js';
import { chunkDocument, parseDocument, parseSections, readDocument } from '../../src/ingest/documents.js';
import { isWeftError } from '../../src/errors.js';

const dir = resolve(import.meta.dirname, '../../../shared/assets/minilm-tokenizer');
const tok = new Tokenizer(
  JSON.parse(readFileSync(resolve(dir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(resolve(dir, 'tokenizer_config.json'), 'utf8')),
);
const countTokens = (s: string) => tok.encode(s).ids.length;

// Answers: the Cranfield abstracts (real text, already in the shared assets).
const cran = readFileSync(resolve(import.meta.dirname, '../../../shared/assets/cranfield/cran.all.1400'), 'utf8').replace(/\r\n/g, '\n');
const answers = cran
  .split(/^\.I /m)
  .slice(1, 30)
  .map((r) => /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '');

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * An FAQ page shaped like the Debian FAQ's chapters: h1 chapter, h2 questions, h3 follow-up
 * questions, every question a long sentence (the h3 paths run to hundreds of tokens).
 */
function faqPage(): string {
  const looms = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `Loom-${from + i} Edition`).join(', ');
  const parts = [
    '<!DOCTYPE html><html><head><title>Chapter 3. Choosing a weave</title></head><body>',
    '<h1>Chapter 3. Choosing a distribution of the Warp operating system for a workshop with many looms</h1>',
    `<p>${escapeHtml(answers[0]!)}</p>`,
  ];
  for (let q = 1; q <= 4; q++) {
    parts.push(
      `<h2>3.${q}. But what about ${looms(6 * q)}, and the others that say they are based on Warp? Can I use its package tools on them, and will they keep working when Warp moves to its next release?</h2>`,
    );
    parts.push(`<p>${escapeHtml(answers[q]!)}</p>`);
    for (let f = 1; f <= 2; f++) {
      parts.push(
        `<h3>3.${q}.${f}. I know that ${looms(10 * f, 100 * q)} are Warp-based. So after installing one of them on the hard disk, can I use the 'shuttle' package tools on it, and what happens to the packages I installed by hand from somewhere else before, in /usr/local and in my home directory?</h3>`,
      );
      parts.push(`<p>${escapeHtml(answers[4 + 2 * q + f]!)}</p>`, `<p>${escapeHtml(answers[14 + 2 * q + f]!)}</p>`);
    }
  }
  parts.push('</body></html>');
  return parts.join('\n');
}

/**
 * The chunk's heading line (the path, whole or shortened) and the passage under it. A chunk has
 * none where the path has no text, or where not even a word of it fits (limits under 16 tokens).
 */
function split(c: Chunk): { head: string; body: string } {
  const nl = c.text.indexOf('\n');
  const first = nl < 0 ? '' : c.text.slice(0, nl);
  const full = c.headings.filter((h) => h.trim()).join(' › ');
  const isHead = full !== '' && (first === full || first.startsWith('… › ') || (first.endsWith('…') && full.includes(first.slice(0, -1))));
  return isHead ? { head: first, body: c.text.slice(nl + 1) } : { head: '', body: c.text };
}

/**
 * Every chunk within maxTokens, its heading line within half of the room (or the whole path where
 * that fits), its `headings` the section's full path; and the bodies tile the sections' text in
 * order, overlap aside, with no gap (chunkTiling, as documents.test.ts checks).
 */
function expectChunked(sections: readonly Section[], chunks: readonly Chunk[], maxTokens: number, count = countTokens) {
  const tiling = chunkTiling(sections.map((s) => s.text));
  const half = Math.floor((maxTokens - 2) / 2);
  let shortened = 0;
  for (const c of chunks) {
    expect(count(c.text), `chunk ${c.index}`).toBeLessThanOrEqual(maxTokens);
    const { head, body } = split(c);
    const full = c.headings.join(' › ');
    if (maxTokens >= 16) expect(head, `chunk ${c.index} has its headings`).not.toBe('');
    if (head !== full) {
      shortened++;
      expect(count(head) - 2, `heading line of chunk ${c.index}`).toBeLessThanOrEqual(half);
      // What is kept is the innermost end of the path, or the start of the innermost heading.
      const kept = head.replace(/^… › /, '').replace(/…$/, '');
      if (head.endsWith('…')) expect(c.headings.at(-1)!.startsWith(kept), head).toBe(true);
      else expect(full.endsWith(kept), head).toBe(true);
    }
    tiling.next(body, c.index);
  }
  tiling.done();
  return { shortened };
}

describe('heading paths longer than a chunk', () => {
  const html = faqPage();

  test('an FAQ page whose question headings are longer than maxTokens is chunked, its headings shortened in the text and kept whole in the metadata', async () => {
    const sections = await parseSections(html, 'html', 'faq.html');
    const deepest = sections.map((s) => countTokens(s.headings.join(' › '))).reduce((a, b) => Math.max(a, b));
    expect(deepest).toBeGreaterThan(3 * 64); // far longer than a chunk
    for (const maxTokens of [16, 32, 64, 128, 256]) {
      const chunks = await chunkDocument({ id: 'faq.html', text: html, type: 'html', metadata: { shelf: 'faq' } }, { countTokens, maxTokens });
      const { shortened } = expectChunked(sections, chunks, maxTokens);
      expect(shortened).toBeGreaterThan(0);
      // The full path stays in the metadata, and every section has chunks.
      expect(new Set(chunks.map((c) => c.headings.join(' › ')))).toEqual(new Set(sections.map((s) => s.headings.join(' › '))));
      for (const c of chunks) expect(c.metadata).toEqual({ shelf: 'faq' });
    }
    // At 64 tokens: the chapter is elided and the question kept from its start, leaving room for text.
    const chunks = await chunkDocument({ id: 'faq.html', text: html, type: 'html' }, { countTokens, maxTokens: 64 });
    const deep = chunks.find((c) => c.headings.length === 3)!;
    expect(split(deep).head).toMatch(/^… › 3\.1\.1\. I know that Loom-100 Edition, .*…$/);
    expect(countTokens(split(deep).body)).toBeGreaterThan(20);
    // Where the whole path fits, it is kept as it was.
    const intro = chunks.find((c) => c.headings.length === 1)!;
    expect(split(intro).head).toBe(intro.headings[0]);
  });

  test('the innermost headings are kept whole where they fit, the outer ones elided', () => {
    const sections = [
      {
        headings: ['A very long chapter title that goes on and on about many different things at once', 'Part two', 'Install'],
        text: 'Run the installer. Then reboot.',
      },
    ];
    const [chunk] = chunkSections({ id: 'x.md' }, sections, { countTokens, maxTokens: 24 });
    expect(chunk!.text).toBe('… › Part two › Install\nRun the installer. Then reboot.');
    expect(chunk!.headings).toEqual(sections[0]!.headings);
  });

  test('pathological heading paths: one huge heading, a heading that is one long word, a path 200 deep, an empty heading text', () => {
    const text = answers.slice(0, 3).join('\n');
    const cases: Section[][] = [
      [{ headings: [answers.slice(0, 20).join(' ')], text }],
      [{ headings: ['Intro', `https://example.com/${Array.from({ length: 300 }, (_, i) => `p${i}`).join('/')}`], text }],
      [{ headings: Array.from({ length: 200 }, (_, i) => `Level ${i} of the outline`), text, page: 4 }],
      [{ headings: ['', '   '], text }],
    ];
    for (const sections of cases) {
      for (const maxTokens of [8, 16, 64, 256]) {
        const chunks = chunkSections({ id: 'odd.pdf' }, sections, { countTokens, maxTokens });
        expect(chunks.length).toBeGreaterThan(0);
        for (const c of chunks) {
          expect(countTokens(c.text)).toBeLessThanOrEqual(maxTokens);
          expect(c.headings).toEqual(sections[0]!.headings);
          expect(countTokens(split(c).head) - 2).toBeLessThanOrEqual(Math.floor((maxTokens - 2) / 2));
        }
        // The text is all there (here every chunk has a heading line).
        const strip = (s: string) => s.replace(/\s+/g, '');
        const bodies = chunks.map((c) => strip(split(c).body));
        expect(bodies.join('').length).toBeGreaterThanOrEqual(strip(text).length);
        expect(bodies[0]! + bodies.at(-1)!).toContain(strip(text).slice(0, 10));
        expect(strip(text).endsWith(bodies.at(-1)!)).toBe(true);
      }
    }
  });

  test('a countTokens that does not add up over words still gets chunks within maxTokens', async () => {
    // Counts characters, four to a token, rounded up per text: words cost less alone than together.
    const chars = (s: string) => Math.ceil(s.length / 4) + 2;
    const sections = await parseSections(html, 'html', 'faq.html');
    for (const maxTokens of [16, 64]) {
      const chunks = chunkSections({ id: 'faq.html' }, sections, { countTokens: chars, maxTokens });
      for (const c of chunks) expect(chars(c.text)).toBeLessThanOrEqual(maxTokens);
      expect(chunks.map((c) => split(c).body).join(' ')).toContain(answers[0]!.split(' ').slice(-3).join(' '));
    }
  });

  test('thousands of sections under one megabyte-long heading take time linear in the text, not in sections × heading', () => {
    const outer = answers
      .join(' ')
      .repeat(Math.ceil((1 << 20) / answers.join(' ').length))
      .slice(0, 1 << 20);
    const sections: Section[] = Array.from({ length: 5000 }, (_, i) => ({
      headings: [outer, `Question ${i}: why is the sky blue over the workshop on a Tuesday?`],
      text: answers[i % answers.length]!.slice(0, 300),
    }));
    const t0 = performance.now();
    const chunks = chunkSections({ id: 'big.html' }, sections, { countTokens, maxTokens: 64 });
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(new Set(chunks.map((c) => c.headings[1])).size).toBe(5000);
    for (const c of chunks.slice(0, 50)) {
      expect(countTokens(c.text)).toBeLessThanOrEqual(64);
      expect(split(c).head).toBe(`… › ${c.headings[1]}`);
    }
  }, 60_000);

  test('a maxTokens too small for any text, or not a whole number, is INVALID_OPTION saying what to pass', () => {
    const sections = [{ headings: [], text: 'Some text.' }];
    for (const maxTokens of [7, 2, 0, -5]) {
      expect(() => chunkSections({ id: 'a.txt' }, sections, { countTokens, maxTokens })).toThrow(
        expect.objectContaining({
          code: 'INVALID_OPTION',
          message: expect.stringMatching(
            /maxTokens \(-?\d+\) is too small.*at least 6 tokens of text besides the 2 that countTokens adds.*maxLength.*at least 8/,
          ),
        }),
      );
    }
    for (const maxTokens of [Number.NaN, 64.5, Infinity]) {
      expect(() => chunkSections({ id: 'a.txt' }, sections, { countTokens, maxTokens })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/must be a whole number.*maxLength/) }),
      );
    }
    // The smallest limit that is accepted chunks under headings of any length.
    const chunks = chunkSections({ id: 'a.md' }, [{ headings: ['A heading far longer than eight tokens, as questions are'], text: 'Some text here.' }], {
      countTokens,
      maxTokens: 8,
    });
    for (const c of chunks) expect(countTokens(c.text)).toBeLessThanOrEqual(8);
  });
});

// The Debian FAQ as installed by `apt-get install debian-faq` (17 HTML chapters and the whole FAQ
// as a gzipped PDF). Not on CI machines: skipped where it is absent; its PDF needs pdf.js, which
// loads in Node 22.13+ only (skipped below that).
const FAQ = ['/usr/share/doc/debian/FAQ', '/usr/share/doc/debian-faq'].find((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.en.html')));

describe.skipIf(!FAQ)('the Debian FAQ, where installed', () => {
  const pages = FAQ
    ? readdirSync(FAQ)
        .filter((f) => f.endsWith('.en.html'))
        .sort()
    : [];

  test('every HTML page chunks within 64, 128 and 256 tokens', async () => {
    expect(pages.length).toBeGreaterThan(0);
    for (const page of pages) {
      const sections = await parseSections(readFileSync(resolve(FAQ!, page), 'utf8'), 'html', page);
      for (const maxTokens of [64, 128, 256]) expectChunked(sections, chunkSections({ id: page }, sections, { countTokens, maxTokens }), maxTokens);
    }
  }, 120_000);

  test('the PDF chunks within 64, 128 and 256 tokens', async (ctx) => {
    const file = readdirSync(FAQ!).find((f) => /\.en\.pdf(\.gz)?$/.test(f));
    if (!file) return ctx.skip();
    const raw = readFileSync(resolve(FAQ!, file));
    const doc = await readDocument({ id: 'debian-faq.pdf', type: 'pdf', bytes: new Uint8Array(file.endsWith('.gz') ? gunzipSync(raw) : raw) });
    let sections: Section[];
    try {
      sections = await parseDocument(doc);
    } catch (e) {
      if (isWeftError(e, 'UNPARSABLE_DOCUMENT') && /failed to load here/.test(e.message)) return ctx.skip(); // pdf.js needs Node 22.13+
      throw e;
    }
    for (const maxTokens of [64, 128, 256]) expectChunked(sections, chunkSections(doc, sections, { countTokens, maxTokens }), maxTokens);
  }, 120_000);
});
