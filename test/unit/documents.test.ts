import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { chunkDocument, parseSections, readDocument } from '../../src/ingest/documents.js';

const dir = resolve(import.meta.dirname, '../../../shared/assets/minilm-tokenizer');
const tok = new Tokenizer(JSON.parse(readFileSync(resolve(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(resolve(dir, 'tokenizer_config.json'), 'utf8')));
const countTokens = (s: string) => tok.encode(s).ids.length;

// Real text: the Cranfield abstracts (aerodynamics), joined into one long Markdown document.
const cran = readFileSync(resolve(import.meta.dirname, '../../../shared/assets/cranfield/cran.all.1400'), 'utf8').replace(/\r\n/g, '\n');
const abstracts = cran.split(/^\.I /m).slice(1, 40).map((r) => {
  const title = /\.T\n([\s\S]*?)\n\.A/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? 'untitled';
  const body = /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '';
  return { title, body };
});

describe('documents and chunking', () => {
  test('Markdown sections keep their heading path; fenced code is not a heading', () => {
    const md = '# Guide\nIntro text.\n## Install\nRun it.\n```sh\n# not a heading\nnpm i\n```\n## Use\n### Search\nQuery it.\n# Other\nEnd.';
    expect(parseSections(md, 'markdown')).toEqual([
      { headings: ['Guide'], text: 'Intro text.' },
      { headings: ['Guide', 'Install'], text: 'Run it.\n```sh\n# not a heading\nnpm i\n```' },
      { headings: ['Guide', 'Use', 'Search'], text: 'Query it.' },
      { headings: ['Other'], text: 'End.' },
    ]);
  });

  test('chunks fit the embedder limit, overlap their neighbours, cover the text, and carry their headings', () => {
    const md = abstracts.map((a) => `## ${a.title}\n${a.body}`).join('\n\n');
    const doc = { id: 'cranfield.md', text: `# Cranfield\n${md}`, type: 'markdown' as const, metadata: { source: 'cranfield' } };
    const maxTokens = 64;
    const chunks = chunkDocument(doc, { countTokens, maxTokens, overlapTokens: 12 });
    expect(chunks.length).toBeGreaterThan(abstracts.length);
    for (const c of chunks) {
      expect(countTokens(c.text)).toBeLessThanOrEqual(maxTokens);
      expect(c.text.startsWith(`Cranfield › ${c.headings[1]}\n`)).toBe(true);
      expect(c.metadata).toEqual({ source: 'cranfield' });
    }
    // Every sentence of every abstract is in some chunk of its section.
    for (const a of abstracts.slice(0, 10)) {
      const mine = chunks.filter((c) => c.headings[1] === a.title).map((c) => c.text).join(' ');
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

  test('plain text without headings, and bad inputs', async () => {
    expect(parseSections('  one.\r\ntwo.  ', 'text')).toEqual([{ headings: [], text: 'one.\ntwo.' }]);
    await expect(readDocument({ id: '', text: 'x' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(readDocument({ id: 'a', text: 'x', type: 'pdf' as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(readDocument(new Blob([new Uint8Array([0xff, 0xfe, 0x00, 0x41])], { type: 'text/plain' }))).rejects.toMatchObject({ code: 'UNPARSABLE_DOCUMENT' });
    await expect(readDocument(new Blob(['%PDF-1.7'], { type: 'application/pdf' }))).rejects.toMatchObject({ code: 'UNPARSABLE_DOCUMENT' });
    expect(await readDocument(new File(['# Title\nBody.'], 'notes.md'))).toEqual({ id: 'notes.md', text: '# Title\nBody.', type: 'markdown' });
    expect(() => parseSections('<p>x</p>', 'html')).toThrow(expect.objectContaining({ code: 'UNPARSABLE_DOCUMENT' })); // no DOMParser in Node
  });
});
