// Reading documents on the page (the main thread, in real Chromium): HTML with the library's
// worker-safe parser, and PDFs written by the test read by pdf.js (loaded on first use, its
// worker code run in this thread), one section per page; damaged and encrypted PDFs are
// UNPARSABLE_DOCUMENT naming the file.
import { expect, test } from 'vitest';
import { chunkSections } from '../../src/ingest/chunk.js';
import { chunkDocument, parseDocument, parseSections, readDocument } from '../../src/ingest/documents.js';
import { makeBrokenPdf, makePdf } from '../support/pdf.js';

const words = (s: string) => s.split(/\s+/).filter(Boolean).length + 2;

test('HTML: headings become the path, scripts and navigation are dropped, blocks stay apart', async () => {
  const html = `<!doctype html><html><head><title>t</title><style>p{}</style></head><body>
    <nav>Home | About</nav><h1>Weft</h1><p>On-device RAG.</p><script>alert(1)</script>
    <h2>Search</h2><p>IVF lists are scanned on the GPU.</p><ul><li>fast</li><li>private</li></ul>
    <h2>Storage</h2><p>IndexedDB keeps the index.<br>It survives reloads.</p></body></html>`;
  expect(await parseSections(html, 'html')).toEqual([
    { headings: ['Weft'], text: 'On-device RAG.' },
    { headings: ['Weft', 'Search'], text: 'IVF lists are scanned on the GPU.\n- fast\n- private' },
    { headings: ['Weft', 'Storage'], text: 'IndexedDB keeps the index.\nIt survives reloads.' },
  ]);
  const chunks = await chunkDocument(new File([html], 'page.html', { type: 'text/html' }), { countTokens: words, maxTokens: 64 });
  expect(chunks.map((c) => c.text)).toEqual([
    'Weft\nOn-device RAG.',
    'Weft › Search\nIVF lists are scanned on the GPU.\n- fast\n- private',
    'Weft › Storage\nIndexedDB keeps the index.\nIt survives reloads.',
  ]);
});

test("PDF: text by page, lines kept, the page number in every chunk's metadata", async () => {
  const pages = [
    ['Page one (intro): shield volcanoes.', 'Basalt lava flows are fluid.'],
    ['Page two covers stratovolcanoes.'],
    ['Page three: calderas \\ collapse.', 'The end.'],
  ];
  const file = new File([makePdf(pages)], 'volcanoes.pdf', { type: 'application/pdf' });
  const doc = await readDocument(file);
  expect(doc.type).toBe('pdf');
  const sections = await parseDocument(doc);
  expect(sections).toEqual(pages.map((lines, i) => ({ headings: [], text: lines.join('\n'), page: i + 1 })));
  const chunks = chunkSections(doc, sections, { countTokens: words, maxTokens: 64 });
  expect(chunks.map((c) => c.metadata.page)).toEqual([1, 2, 3]);
  // A signal stops a long PDF between pages.
  await expect(parseDocument(doc, { signal: AbortSignal.abort() })).rejects.toMatchObject({
    code: 'ABORTED',
    message: expect.stringContaining("'volcanoes.pdf'"),
  });
  // The same in one call, from bytes given as a DocumentInput.
  const again = await chunkDocument(
    { id: 'v.pdf', type: 'pdf', bytes: makePdf(pages).buffer, metadata: { shelf: 'geo' } },
    { countTokens: words, maxTokens: 64 },
  );
  expect(again.map((c) => [c.docId, c.metadata])).toEqual([1, 2, 3].map((page) => ['v.pdf', { shelf: 'geo', page }]));
});

test('PDF: a damaged one and an encrypted one are UNPARSABLE_DOCUMENT naming the file and saying what to do', async () => {
  const broken = await readDocument(new File([makeBrokenPdf()], 'broken.pdf'));
  await expect(parseDocument(broken)).rejects.toMatchObject({
    code: 'UNPARSABLE_DOCUMENT',
    message: expect.stringMatching(/'broken\.pdf'.*damaged or not a PDF.*save or export it again/),
  });
  const locked = await readDocument(new File([makePdf([['Secret.']], { encrypted: true })], 'locked.pdf'));
  await expect(parseDocument(locked)).rejects.toMatchObject({
    code: 'UNPARSABLE_DOCUMENT',
    message: expect.stringMatching(/'locked\.pdf'.*encrypted with a password.*unprotected copy/),
  });
  // A PDF of pages without text (a scan) says so.
  const blank = await readDocument(new File([makePdf([[], []])], 'scan.pdf'));
  await expect(parseDocument(blank)).rejects.toMatchObject({ code: 'UNPARSABLE_DOCUMENT', message: expect.stringMatching(/'scan\.pdf'.*no text layer.*OCR/) });
});

test('PDF: the outline (bookmarks) gives the heading path, from the line that reads as the title', async () => {
  const pages = [
    ['Field guide to volcanoes', 'A short report.'],
    ['Shield volcanoes', 'Gentle slopes of basalt.', 'Stratovolcanoes', 'Steep cones of ash and lava.'],
    ['More on cones: they erupt explosively.'],
    ['Calderas', 'A caldera forms when the chamber empties.'],
  ];
  const outline = [
    {
      title: 'Volcano types',
      page: 2,
      children: [
        { title: 'Shield volcanoes', page: 2 },
        { title: 'Stratovolcanoes', page: 2 },
      ],
    },
    { title: 'Calderas', page: 4 },
  ];
  const doc = await readDocument(new File([makePdf(pages, { outline })], 'guide.pdf'));
  expect(await parseDocument(doc)).toEqual([
    { headings: [], text: 'Field guide to volcanoes\nA short report.', page: 1 },
    { headings: ['Volcano types', 'Shield volcanoes'], text: 'Gentle slopes of basalt.', page: 2 },
    { headings: ['Volcano types', 'Stratovolcanoes'], text: 'Steep cones of ash and lava.', page: 2 },
    { headings: ['Volcano types', 'Stratovolcanoes'], text: 'More on cones: they erupt explosively.', page: 3 },
    { headings: ['Calderas'], text: 'A caldera forms when the chamber empties.', page: 4 },
  ]);
});
