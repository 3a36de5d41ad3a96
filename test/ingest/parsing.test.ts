// The Markdown and HTML readers' section structure, in Node: no DOMParser here, as in the engine
// worker and in Deno, so this is the same code path the worker takes. Also the one table of
// readable file types, and what the chunker keeps of a section's lines and page.
import { describe, expect, test } from 'vitest';
import { scoreText, sourceLabel } from '../../src/chat/citation-marks.js';
import { chunkSections } from '../../src/ingest/chunk.js';
import { parseDocument, parseSections, readDocument } from '../../src/ingest/documents.js';
import { defaultPromptTemplate, passageLine } from '../../src/runtime/answer-context.js';
import type { Passage } from '../../src/runtime/types.js';
import { acceptAttribute, documentTypeOf, documentTypeOfName, mimeTypeOfName, readableTypes, readableTypesText } from '../../src/ingest/file-types.js';

const words = (s: string) => s.split(/\s+/).filter(Boolean).length + 2;

describe('Markdown (mdast + GFM)', () => {
  const md = [
    '---',
    'title: Notes',
    'tags: [a, b]',
    '---',
    'Weft guide',
    '==========',
    '',
    'Intro with a [link text](https://example.com/hidden-url), `inline code`, *emphasis* and <kbd>Ctrl</kbd>.',
    'A soft-wrapped',
    'line.',
    '',
    'Install',
    '-------',
    '',
    '```ts',
    '# not a heading',
    'function f() {',
    '  return 1;',
    '}',
    '```',
    '',
    '    indented code',
    '    ## still code',
    '',
    '## Tables and lists',
    '',
    '| Name | Size |',
    '| ---- | ---: |',
    '| ivf  | 10   |',
    '',
    '- one',
    '- two',
    '  - nested',
    '',
    '3. third',
    '4. fourth',
    '',
    '- [x] done',
    '- [ ] open',
    '',
    '<div>',
    '<script>alert("script text")</script>',
    '<p>Block <b>html</b> text</p>',
    '</div>',
    '',
    '> Quoted words.',
    '',
    'Inline <script>alert("inline payload")</script> and <img src=x onerror="pwned()"> are not text.',
    '',
    '# Other',
    'Setext-looking',
    '---',
    'End.',
  ].join('\n');

  test('setext and ATX headings make the path; code, tables, lists stay readable lines', async () => {
    const sections = await parseSections(md, 'markdown');
    expect(sections).toEqual([
      { headings: ['Weft guide'], text: 'Intro with a link text, inline code, emphasis and Ctrl. A soft-wrapped line.' },
      { headings: ['Weft guide', 'Install'], text: '# not a heading\nfunction f() {\n  return 1;\n}\nindented code\n## still code' },
      {
        headings: ['Weft guide', 'Tables and lists'],
        text: 'Name | Size\nivf | 10\n- one\n- two\n  - nested\n3. third\n4. fourth\n- [x] done\n- [ ] open\nBlock html text\nQuoted words.\nInline and are not text.',
      },
      // "Setext-looking" over "---" is a setext heading (level 2) under "Other".
      { headings: ['Other', 'Setext-looking'], text: 'End.' },
    ]);
    const all = sections.map((s) => [...s.headings, s.text].join('\n')).join('\n');
    for (const gone of ['=====', '-----', '```', 'https://example.com', 'script text', 'title: Notes', '<kbd>', '|---', 'inline payload', 'onerror'])
      expect(all).not.toContain(gone);
  });

  test("text before the first heading is under the front matter's title", async () => {
    expect(await parseSections('---\ntitle: "Trip: Kyoto"\ndate: 2024-05-01\n---\nShrines first.\n\n## Day two\nTemples.', 'markdown')).toEqual([
      { headings: ['Trip: Kyoto'], text: 'Shrines first.' },
      { headings: ['Day two'], text: 'Temples.' },
    ]);
  });

  test('chunks keep the lines of code and tables, and never make code a heading', async () => {
    const chunks = chunkSections({ id: 'guide.md' }, await parseSections(md, 'markdown'), { countTokens: words, maxTokens: 64 });
    const code = chunks.find((c) => c.text.includes('function f()'))!;
    expect(code.headings).toEqual(['Weft guide', 'Install']);
    expect(code.text).toBe('Weft guide › Install\n# not a heading\nfunction f() {\n  return 1;\n}\nindented code\n## still code');
    expect(chunks.find((c) => c.text.includes('ivf | 10'))!.text).toContain('Name | Size\nivf | 10\n- one');
    expect(chunks.flatMap((c) => c.headings)).not.toContain('not a heading');
  });
});

describe('HTML (hast-util-from-html, no DOMParser)', () => {
  const html = `<!doctype html><html><head><title>t</title><style>p { color: red }</style><script>var headScript = 1</script></head><body>
    <nav>Home | About</nav><header><h1>Weft <small>docs</small></h1></header><p>On-device   RAG,
    in the browser.</p><script>alert("script text")</script><noscript>enable js</noscript>
    <div hidden>hidden attribute text</div><p aria-hidden="true">aria hidden text</p><span style="color: red; display: none">styled hidden text</span>
    <span style="visibility:hidden">invisible text</span>
    <h2>Search</h2><p>IVF lists are scanned on the <b>GPU</b>.</p><ul><li>fast</li><li>private<ul><li>nested</li></ul></li></ul>
    <ol start="3"><li>third</li><li>fourth</li></ol>
    <h3>Numbers</h3><table><thead><tr><th>Name</th><th>Size</th></tr></thead><tbody><tr><td>ivf</td><td>10 &amp; more</td></tr></tbody></table>
    <pre><code>function f() {
  return 1;
}</code></pre>
    <h2>Storage</h2><p>IndexedDB keeps the index.<br>It survives reloads.</p><template><p>template text</p></template>
    <footer>Copyright</footer></body></html>`;

  test('headings make the path; scripts, styles, hidden elements and chrome are dropped; blocks, lists, tables, <pre> stay lines', async () => {
    const sections = await parseSections(html, 'html');
    expect(sections).toEqual([
      { headings: ['Weft docs'], text: 'On-device RAG, in the browser.' },
      { headings: ['Weft docs', 'Search'], text: 'IVF lists are scanned on the GPU.\n- fast\n- private\n  - nested\n3. third\n4. fourth' },
      { headings: ['Weft docs', 'Search', 'Numbers'], text: 'Name | Size\nivf | 10 & more\nfunction f() {\n  return 1;\n}' },
      { headings: ['Weft docs', 'Storage'], text: 'IndexedDB keeps the index.\nIt survives reloads.' },
    ]);
    const all = JSON.stringify(sections);
    for (const gone of [
      'script text',
      'headScript',
      'color',
      'enable js',
      'hidden attribute text',
      'aria hidden text',
      'styled hidden text',
      'invisible text',
      'template text',
      'Home',
      'Copyright',
      '&amp;',
    ]) {
      expect(all).not.toContain(gone);
    }
  });

  test("text before the first heading is under the page's <title>", async () => {
    expect(
      await parseSections(
        '<html><head><title> Reset  your password </title></head><body><p>Open settings.</p><h2>Email</h2><p>Check the inbox.</p></body></html>',
        'html',
      ),
    ).toEqual([
      { headings: ['Reset your password'], text: 'Open settings.' },
      { headings: ['Email'], text: 'Check the inbox.' },
    ]);
  });

  test('a page with no readable text is UNPARSABLE_DOCUMENT naming it', async () => {
    await expect(
      parseDocument({ id: 'app.html', text: '<html><body><div id="root"></div><script>render()</script></body></html>', type: 'html' }),
    ).rejects.toMatchObject({ code: 'UNPARSABLE_DOCUMENT', message: expect.stringContaining("'app.html'") });
    expect(await parseSections('', 'html')).toEqual([]);
  });

  test('read from a File named .html, parsed without DOMParser', async () => {
    expect(typeof (globalThis as { DOMParser?: unknown }).DOMParser).toBe('undefined');
    const doc = await readDocument(new File([html], 'page.htm'));
    expect(doc.type).toBe('html');
    expect((await parseDocument(doc)).map((s) => s.headings.at(-1))).toEqual(['Weft docs', 'Search', 'Numbers', 'Storage']);
  });
});

test("chunks carry their section's page in their metadata", () => {
  const chunks = chunkSections(
    { id: 'r.pdf', metadata: { source: 'x' } },
    [
      { headings: [], text: 'One.', page: 1 },
      { headings: [], text: 'Two.', page: 3 },
    ],
    { countTokens: words, maxTokens: 64 },
  );
  expect(chunks.map((c) => c.metadata)).toEqual([
    { source: 'x', page: 1 },
    { source: 'x', page: 3 },
  ]);
});

test('one table of readable file types', () => {
  expect(readableTypes.map((t) => t.type)).toEqual(['text', 'markdown', 'html', 'pdf']);
  expect(documentTypeOfName('notes/A.MD')).toBe('markdown');
  expect(documentTypeOfName('report.pdf')).toBe('pdf');
  expect(documentTypeOfName('.pdf')).toBeUndefined();
  expect(documentTypeOfName('photo.jpg')).toBeUndefined();
  expect(documentTypeOf({ name: 'x.bin', type: 'application/pdf' })).toBe('pdf');
  expect(documentTypeOf({ name: 'page.html', type: 'text/html; charset=utf-8' })).toBe('html');
  expect(documentTypeOf({ name: 'page.html', type: 'application/octet-stream' })).toBe('html');
  expect(documentTypeOf({ name: 'notes.md', type: 'text/plain' })).toBe('markdown');
  expect(documentTypeOf({ name: 'notes', type: 'text/plain' })).toBe('text');
  expect(documentTypeOf({ name: 'notes.txt', type: 'text/html' })).toBe('html');
  expect(mimeTypeOfName('a.htm')).toBe('text/html');
  for (const part of ['.txt', '.md', '.html', '.pdf', 'application/pdf', 'text/markdown']) expect(acceptAttribute.split(',')).toContain(part);
  expect(readableTypesText).toBe('plain text (.txt), Markdown (.md), HTML (.html) or PDF (.pdf)');
});

test("a passage with a page is cited with it: in the default prompt and in <weft-chat>'s source list", () => {
  const pdf = { citation: 2, id: 7, score: 1, docId: 'report.pdf', text: 'Calderas form.', metadata: { page: 12, headings: [] } };
  const md = { citation: 1, id: 3, score: 1, docId: 'notes.md', text: 'Notes.', metadata: { headings: ['Notes'] } };
  expect(passageLine(pdf)).toBe('[2] (p. 12) Calderas form.');
  expect(passageLine(md)).toBe('[1] Notes.');
  expect(defaultPromptTemplate([md, pdf] as unknown as Passage[], 'Q?')).toContain('[1] Notes.\n[2] (p. 12) Calderas form.\n');
  expect(sourceLabel(pdf)).toBe('report.pdf, p. 12');
  expect(sourceLabel(md)).toBe('notes.md');
  expect(sourceLabel({ docId: 'x.pdf', metadata: { page: 'twelve' } })).toBe('x.pdf');
});

test("the source panel names each ranking's score, and never the fused rank statistic", () => {
  expect(scoreText({ scores: { vector: 0.41234, lexical: 7.3081, fused: 0.0328 } })).toBe('similarity 0.412 · BM25 7.31');
  expect(scoreText({ scores: { lexical: 2, fused: 0.016, rerank: -1.5 } })).toBe('BM25 2.00 · reranker -1.500');
  expect(scoreText({ scores: {} })).toBe('');
});
