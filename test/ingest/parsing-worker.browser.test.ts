// Real files of every readable type ingested through the runtime, in the engine worker
// (createRagInWorker: no DOMParser there, pdf.js runs its worker code inside the engine worker)
// and on the main thread (createRag), with one ingest call holding a damaged and an encrypted PDF
// besides the good files: those two are UNPARSABLE_DOCUMENT, named, and the others are indexed.
// What is indexed is read back through search (every passage: k = size, all lists probed).
import { describe, expect, test } from 'vitest';
import type { Passage } from '../../src/runtime/types.js';
import type { Rag } from '../../src/runtime/rag-api.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { makeBrokenPdf, makePdf } from '../support/pdf.js';
import { openLocalRag, openWorkerRag } from '../support/rag-runtimes.js';

/** Messages the engine worker sent the page that were pdf.js's own (its worker code greets its parent when imported into a worker). */
const strayMessages: unknown[] = [];

const runtimes: [string, (dbName: string) => Promise<{ rag: Rag; dispose(): Promise<void> }>][] = [
  [
    'engine worker (createRagInWorker)',
    async (dbName) => {
      const worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'weft-engine' });
      worker.addEventListener('message', (e: MessageEvent<{ sourceName?: unknown } | null>) => {
        if (e.data?.sourceName !== undefined) strayMessages.push(e.data);
      });
      return openWorkerRag(dbName, { indexName: 'files', init: { worker } });
    },
  ],
  ['main thread (createRag)', (dbName) => openLocalRag(dbName, { indexName: 'files' })],
];

const markdown = [
  'Weft guide',
  '==========',
  '',
  'Weft answers questions about your notes on this device.',
  '',
  'Install',
  '-------',
  '',
  'Add the package, then build the index:',
  '',
  '```sh',
  '# install it (a comment, not a heading)',
  'npm install weft-rag',
  'npx weft ingest ./notes',
  '```',
  '',
  '## Search',
  '',
  '| Mode | Finds |',
  '| --- | --- |',
  '| vector | meaning |',
  '| lexical | rare names |',
  '',
  '### Filters',
  '',
  '- by document',
  '- by metadata',
].join('\n');

const html = `<!doctype html><html><head><title>Garden</title>
  <style>.secret-style { color: hotpink }</style><script>window.trackingScript = "script payload"</script></head>
  <body><nav>Home | Shop | Login</nav>
  <h1>Garden notes</h1><p>Tomatoes need full sun and steady watering.</p>
  <script>document.write("inline script payload")</script>
  <div hidden>hidden drawer text</div><p style="display: none">styled away text</p><span aria-hidden="true">icon text</span>
  <h2>Soil</h2><p>Loam holds water<br>and drains well.</p>
  <footer>Copyright footer text</footer></body></html>`;

const pdfPages = [
  ['Volcano report, page one.', 'Shield volcanoes have gentle slopes.'],
  ['Page two: stratovolcanoes are steep cones.'],
  ['Page three: calderas form when a volcano collapses.'],
];

const files = () => [
  new File([markdown], 'guide.md', { type: 'text/markdown' }),
  new File([html], 'garden.html'),
  new File([makeBrokenPdf()], 'broken.pdf', { type: 'application/pdf' }),
  new File([makePdf(pdfPages)], 'report.pdf'),
  new File([makePdf([['Top secret.']], { encrypted: true })], 'locked.pdf', { type: 'application/pdf' }),
];

describe.each(runtimes)('parsing in the runtime: %s', (_name, open) => {
  test('Markdown, HTML and a 3-page PDF are indexed with their headings and pages; a damaged and an encrypted PDF are named, and cost the others nothing', async () => {
    const dbName = `weft-parsing-${crypto.randomUUID()}`;
    const { rag, dispose } = await open(dbName);
    try {
      const error = await rag.ingest(files()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ name: 'WeftError', code: 'UNPARSABLE_DOCUMENT' });
      const e = error as { message: string; details: { unreadable: { name: string; message: string }[]; indexed: { documents: number; chunks: number } } };
      expect(e.message).toMatch(/'broken\.pdf' could not be read as a PDF: it is damaged/);
      expect(e.message).toMatch(/'locked\.pdf' could not be read as a PDF: it is encrypted with a password/);
      expect(e.message).toMatch(/The other 3 documents were indexed/);
      expect(e.details.unreadable.map((u) => u.name)).toEqual(['broken.pdf', 'locked.pdf']);

      const info = await rag.info();
      expect(info.size).toBe(e.details.indexed.chunks);
      expect(e.details.indexed.documents).toBe(3);
      const all: Passage[] = await rag.search('volcano garden guide', { k: info.size, nprobe: info.nlist! });
      expect(all.length).toBe(info.size);
      const of = (doc: string) => all.filter((p) => p.docId === doc).sort((a, b) => (a.metadata.chunk as number) - (b.metadata.chunk as number));
      expect(new Set(all.map((p) => p.docId))).toEqual(new Set(['guide.md', 'garden.html', 'report.pdf']));

      // Markdown: setext and ATX headings make the path, the setext underline is no text, code is code.
      const guide = of('guide.md');
      const paths = guide.map((p) => (p.metadata.headings as string[]).join(' › '));
      expect(paths).toContain('Weft guide');
      expect(paths).toContain('Weft guide › Install');
      expect(paths).toContain('Weft guide › Search');
      expect(paths).toContain('Weft guide › Search › Filters');
      for (const p of guide) {
        expect(p.text).not.toMatch(/={3,}|-{3,}|```/);
        expect(p.metadata.headings).not.toContain('install it (a comment, not a heading)');
      }
      const code = guide.find((p) => p.text.includes('npm install weft-rag'))!;
      expect(code.metadata.headings).toEqual(['Weft guide', 'Install']);
      expect(code.text).toContain('# install it (a comment, not a heading)\nnpm install weft-rag\nnpx weft ingest ./notes');
      expect(guide.map((p) => p.text).join('\n')).toContain('Mode | Finds\nvector | meaning\nlexical | rare names');

      // HTML: no script, style, hidden or chrome text anywhere; headings kept.
      const garden = of('garden.html');
      expect(garden.map((p) => p.metadata.headings)).toEqual([['Garden notes'], ['Garden notes', 'Soil']]);
      expect(garden.map((p) => p.text)).toEqual([
        'Garden notes\nTomatoes need full sun and steady watering.',
        'Garden notes › Soil\nLoam holds water\nand drains well.',
      ]);
      const everything = all.map((p) => p.text).join('\n');
      for (const gone of [
        'payload',
        'trackingScript',
        'hotpink',
        'secret-style',
        'hidden drawer',
        'styled away',
        'icon text',
        'Login',
        'Copyright',
        'Top secret',
      ]) {
        expect(everything).not.toContain(gone);
      }

      // PDF: one passage per page here, each with its page number.
      const report = of('report.pdf');
      expect(report.map((p) => p.metadata.page)).toEqual([1, 2, 3]);
      expect(report.map((p) => p.text)).toEqual(pdfPages.map((lines) => lines.join('\n')));

      // pdf.js ran inside the engine worker without posting anything of its own to the page.
      expect(strayMessages).toEqual([]);

      // Ingesting the good files again replaces them; the unreadable ones still fail alone, and change nothing.
      await expect(rag.ingest(files().filter((f) => !/broken|locked/.test(f.name)))).resolves.toEqual({ documents: 3, chunks: info.size });
      await expect(rag.ingest([new File([makeBrokenPdf()], 'broken.pdf')])).rejects.toMatchObject({
        code: 'UNPARSABLE_DOCUMENT',
        message: expect.stringMatching(/'broken\.pdf'.*Nothing was indexed/),
      });
      expect((await rag.info()).size).toBe(info.size);
    } finally {
      await dispose();
      await deleteStore(dbName);
    }
  });
});
