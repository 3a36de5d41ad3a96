import { expect, test } from 'vitest';
import { chunkDocument, parseSections, readDocument } from '../../src/ingest/documents.js';

test('HTML: headings become the path, scripts and navigation are dropped, blocks stay apart', async () => {
  const html = `<!doctype html><html><head><title>t</title><style>p{}</style></head><body>
    <nav>Home | About</nav><h1>Weft</h1><p>On-device RAG.</p><script>alert(1)</script>
    <h2>Search</h2><p>IVF lists are scanned on the GPU.</p><ul><li>fast</li><li>private</li></ul>
    <h2>Storage</h2><p>IndexedDB keeps the index.<br>It survives reloads.</p></body></html>`;
  expect(parseSections(html, 'html')).toEqual([
    { headings: ['Weft'], text: 'On-device RAG.' },
    { headings: ['Weft', 'Search'], text: 'IVF lists are scanned on the GPU.\n\nfast\n\nprivate' },
    { headings: ['Weft', 'Storage'], text: 'IndexedDB keeps the index.\nIt survives reloads.' },
  ]);
  const doc = await readDocument(new File([html], 'page.html', { type: 'text/html' }));
  const chunks = chunkDocument(doc, { countTokens: (s) => s.split(/\s+/).length + 2, maxTokens: 64 });
  expect(chunks.map((c) => c.text)).toEqual([
    'Weft\nOn-device RAG.',
    'Weft › Search\nIVF lists are scanned on the GPU. fast private',
    'Weft › Storage\nIndexedDB keeps the index. It survives reloads.',
  ]);
});
