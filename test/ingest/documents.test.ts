import { chunkTiling } from '../support/chunk-tiling.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { chunkDocument, parseSections, readDocument, type Chunk } from '../../src/ingest/documents.js';

const dir = resolve(import.meta.dirname, '../../../shared/assets/minilm-tokenizer');
const tok = new Tokenizer(
  JSON.parse(readFileSync(resolve(dir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(resolve(dir, 'tokenizer_config.json'), 'utf8')),
);
const countTokens = (s: string) => tok.encode(s).ids.length;

// Real text: the Cranfield abstracts (aerodynamics), joined into one long Markdown document.
const cran = readFileSync(resolve(import.meta.dirname, '../../../shared/assets/cranfield/cran.all.1400'), 'utf8').replace(/\r\n/g, '\n');
const abstracts = cran
  .split(/^\.I /m)
  .slice(1, 40)
  .map((r) => {
    const title = /\.T\n([\s\S]*?)\n\.A/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? 'untitled';
    const body = /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '';
    return { title, body };
  });

describe('documents and chunking', () => {
  test('Markdown sections keep their heading path; fenced code is not a heading', async () => {
    const md = '# Guide\nIntro text.\n## Install\nRun it.\n```sh\n# not a heading\nnpm i\n```\n## Use\n### Search\nQuery it.\n# Other\nEnd.';
    expect(await parseSections(md, 'markdown')).toEqual([
      { headings: ['Guide'], text: 'Intro text.' },
      { headings: ['Guide', 'Install'], text: 'Run it.\n# not a heading\nnpm i' },
      { headings: ['Guide', 'Use', 'Search'], text: 'Query it.' },
      { headings: ['Other'], text: 'End.' },
    ]);
  });

  test('chunks fit the embedder limit, overlap their neighbours, cover the text, and carry their headings', async () => {
    const md = abstracts.map((a) => `## ${a.title}\n${a.body}`).join('\n\n');
    const doc = { id: 'cranfield.md', text: `# Cranfield\n${md}`, type: 'markdown' as const, metadata: { source: 'cranfield' } };
    const maxTokens = 64;
    const chunks = await chunkDocument(doc, { countTokens, maxTokens, overlapTokens: 12 });
    expect(chunks.length).toBeGreaterThan(abstracts.length);
    for (const c of chunks) {
      expect(countTokens(c.text)).toBeLessThanOrEqual(maxTokens);
      expect(c.text.startsWith(`Cranfield › ${c.headings[1]}\n`)).toBe(true);
      expect(c.metadata).toEqual({ source: 'cranfield' });
    }
    // Every sentence of every abstract is in some chunk of its section.
    for (const a of abstracts.slice(0, 10)) {
      const mine = chunks
        .filter((c) => c.headings[1] === a.title)
        .map((c) => c.text)
        .join(' ');
      for (const sentence of a.body.split(/(?<=[.!?])\s+/).filter((s) => s.length > 3)) {
        for (const w of sentence.split(' ').slice(0, 3)) expect(mine).toContain(w);
      }
    }
    // Consecutive chunks of a section share text (the overlap).
    const sec = chunks.filter((c) => c.headings[1] === chunks[0]!.headings[1]);
    if (sec.length > 1) {
      const a = sec[0]!.text.split('\n')[1]!.split(' ');
      expect(sec[1]!.text).toContain(a.slice(-2).join(' '));
    }
  });

  // Every piece of text of every section, in order, with no gap: the chunk bodies (headings
  // stripped), whitespace aside, tile the section texts; overlap may repeat text, never skip it.
  async function expectCovered(doc: { text: string; type?: 'text' | 'markdown' }, chunks: Chunk[], maxTokens: number, count = countTokens) {
    const tiling = chunkTiling((await parseSections(doc.text, doc.type)).map((s) => s.text));
    const words = new Set<string>();
    for (const c of chunks) {
      expect(count(c.text)).toBeLessThanOrEqual(maxTokens);
      const prefix = c.headings.length ? `${c.headings.join(' › ')}\n` : '';
      expect(c.text.startsWith(prefix)).toBe(true);
      const body = c.text.slice(prefix.length);
      for (const w of c.text.split(/\s+/)) words.add(w);
      tiling.next(body, c.index);
    }
    tiling.done();
    return words;
  }

  // Real text, plus what used to slip through: a "sentence" of thousands of words, words longer
  // than any chunk (punctuation runs, CJK without spaces, a long URL), no headings at all.
  const flat = abstracts
    .map((a) => a.body.replace(/[.!?]/g, ''))
    .join(' ')
    .replace(/\s+/g, ' ');
  const longWords = [
    Array.from({ length: 300 }, (_, i) => `${i.toString(36)}.`).join(''),
    Array.from({ length: 400 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 37) % 5000))).join(''),
    `https://example.com/${Array.from({ length: 150 }, (_, i) => `p${i}-q_${i}`).join('/')}`,
  ];
  const body = [
    abstracts
      .slice(0, 20)
      .map((a) => a.body)
      .join('\n'),
    flat,
    ...longWords,
    abstracts
      .slice(20)
      .map((a) => a.body)
      .join(' '),
  ].join('\n');

  for (const type of ['text', 'markdown'] as const) {
    test(`every word of a long document lands in a chunk within maxTokens (${type})`, async () => {
      const text =
        type === 'text'
          ? body
          : `# Long\n${body
              .split('\n')
              .map((p, i) => `## Part ${i}\n${p}`)
              .join('\n')}`;
      const doc = { id: `long.${type}`, text, type };
      const maxTokens = 64;
      const chunks = await chunkDocument(doc, { countTokens, maxTokens, overlapTokens: 12 });
      expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
      const words = await expectCovered(doc, chunks, maxTokens);
      const cut = new Set(longWords);
      for (const w of text.split(/\s+/)) {
        if (w && !w.startsWith('#') && !cut.has(w)) expect(words.has(w), w).toBe(true);
      }
      // Neighbours overlap, also within a sentence that spans many chunks.
      const bodyOf = (c: (typeof chunks)[number]) => c.text.slice(c.headings.length ? c.text.indexOf('\n') + 1 : 0);
      const first = chunks.findIndex((c) => bodyOf(c).includes(flat.slice(0, 120)));
      const run = chunks.slice(
        first,
        chunks.findIndex((c, i) => i > first && !flat.includes(bodyOf(c))),
      );
      expect(run.length).toBeGreaterThan(10);
      for (let i = 1; i < run.length; i++) expect(run[i]!.text).toContain(run[i - 1]!.text.split(/\s+/).slice(-2).join(' '));
    });
  }

  test('chunking is linear in the document size: 10 MB in seconds', async () => {
    const words = (s: string) => s.split(/\s+/).filter(Boolean).length + 2;
    const text = (bytes: number) => {
      let s = '';
      while (s.length < bytes) s += `${body}\n`;
      return s.slice(0, bytes);
    };
    const time = async (bytes: number, count: (s: string) => number) => {
      const doc = { id: 'big.txt', text: text(bytes) };
      const t0 = performance.now();
      const chunks = await chunkDocument(doc, { countTokens: count, maxTokens: 256 });
      const ms = performance.now() - t0;
      expect(chunks.at(-1)!.text.replace(/\s+/g, '').slice(-20)).toBe(doc.text.replace(/\s+/g, '').slice(-20));
      return ms;
    };
    const small = await time(1 << 20, words),
      big = await time(10 << 20, words);
    expect(big).toBeLessThan(10_000);
    expect(big / small).toBeLessThan(25); // linear: 10x the text, about 10x the time
    // The real WordPiece tokenizer on 1 MB, all of it one sentence-less run.
    const t0 = performance.now();
    const doc = { id: 'flat.txt', text: text(1 << 20).replace(/[.!?\n]/g, ' ') };
    const chunks = await chunkDocument(doc, { countTokens, maxTokens: 256 });
    expect(performance.now() - t0).toBeLessThan(10_000);
    await expectCovered(doc, chunks, 256);
  }, 120_000);

  test('plain text without headings, and bad inputs', async () => {
    expect(await parseSections('  one.\r\ntwo.  ', 'text')).toEqual([{ headings: [], text: 'one.\ntwo.' }]);
    await expect(readDocument({ id: '', text: 'x' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(readDocument({ id: 'a', text: 'x', type: 'docx' as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(readDocument({ id: 'a.pdf', text: 'x', type: 'pdf' } as never)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('bytes'),
    });
    await expect(readDocument(new Blob([new Uint8Array([0xff, 0xfe, 0x00, 0x41])], { type: 'text/plain' }))).rejects.toMatchObject({
      code: 'UNPARSABLE_DOCUMENT',
    });
    await expect(readDocument(new File([new Uint8Array([1, 2, 3])], 'photo.jpg', { type: 'image/jpeg' }))).rejects.toMatchObject({
      code: 'UNPARSABLE_DOCUMENT',
      message: expect.stringContaining("'photo.jpg'"),
    });
    expect(await readDocument(new File(['# Title\nBody.'], 'notes.md'))).toEqual({ id: 'notes.md', text: '# Title\nBody.', type: 'markdown' });
    expect(await readDocument({ id: 'a', text: 'x' })).toEqual({ id: 'a', text: 'x', type: 'text' });
    // A PDF is read as bytes, by MIME type, by name, or by its "%PDF-" signature.
    for (const blob of [new Blob(['%PDF-1.7 x'], { type: 'application/pdf' }), new File(['%PDF-1.7 x'], 'r.PDF'), new Blob(['%PDF-1.7 x'])]) {
      const doc = await readDocument(blob);
      expect(doc.type).toBe('pdf');
      expect(doc.type === 'pdf' && new TextDecoder().decode(doc.bytes)).toBe('%PDF-1.7 x');
    }
    await expect(chunkDocument({ id: 'a.pdf', type: 'pdf' } as never, { countTokens, maxTokens: 64 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});
