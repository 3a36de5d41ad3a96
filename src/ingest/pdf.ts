// PDF → sections by page (page numbers from 1, so that a citation can say "p. 12"), with Mozilla's
// pdf.js (pdfjs-dist): text items joined into lines by their end-of-line flags, and the heading
// path from the PDF's outline (bookmarks) where it has one.
//
// pdf.js is loaded on the first PDF only (a dynamic import: 1-2 MB that an app without PDFs never
// loads). It normally runs its parser in a Web Worker it starts from a URL (workerSrc), which
// would have to be an asset the app's bundler knows about and is awkward from inside the engine
// worker. Instead its worker module is imported here, into this thread: that sets
// globalThis.pdfjsWorker, and pdf.js then runs the same parser code in-thread over a loopback
// port. The same code path works in the engine worker (a module Web Worker), on the page, in
// Deno and in Node. (In a worker, the module also sets itself up on the worker's own port and
// greets the worker's parent; importWorkerCode keeps that greeting from reaching the app.)

import { WeftError, checkAborted } from '../errors.js';
import type { Section } from './chunk.js';

type Pdfjs = typeof import('pdfjs-dist');

let loading: Promise<Pdfjs> | undefined;

/** pdf.js's worker module announcing itself to a worker's parent: `{ sourceName: 'worker', targetName: 'main', action: 'ready' }`. */
const isPdfjsHandshake = (m: unknown) => typeof m === 'object' && m !== null
  && (m as { sourceName?: unknown }).sourceName === 'worker' && (m as { targetName?: unknown }).targetName === 'main' && (m as { action?: unknown }).action === 'ready';

/**
 * Imports pdf.js's worker code into this thread. Imported into a worker, the module also sets
 * itself up on the worker's own port and posts a "ready" handshake to the worker's parent (the
 * page), which is no message for the app: that one message is held back while the module loads.
 */
async function importWorkerCode(): Promise<void> {
  const scope = globalThis as unknown as { postMessage?: (message: unknown, ...rest: unknown[]) => void };
  const inWorker = typeof (globalThis as { window?: unknown }).window === 'undefined' && typeof scope.postMessage === 'function' && 'onmessage' in globalThis;
  if (!inWorker) { await import('pdfjs-dist/build/pdf.worker.mjs'); return; }
  const own = Object.prototype.hasOwnProperty.call(scope, 'postMessage');
  const post = scope.postMessage!;
  scope.postMessage = function (this: unknown, message: unknown, ...rest: unknown[]) {
    if (!isPdfjsHandshake(message)) post.call(this ?? globalThis, message, ...rest);
  };
  try {
    await import('pdfjs-dist/build/pdf.worker.mjs');
  } finally {
    if (own) scope.postMessage = post;
    else delete scope.postMessage;
  }
}

function pdfjs(): Promise<Pdfjs> {
  if (!loading) {
    loading = (async () => {
      await importWorkerCode();
      return import('pdfjs-dist');
    })();
    loading.catch(() => { loading = undefined; }); // a failed load may be retried
  }
  return loading;
}

const unparsable = (name: string, why: string, cause?: unknown) =>
  new WeftError('UNPARSABLE_DOCUMENT', `'${name}' could not be read as a PDF: ${why}`, { details: { name }, ...(cause === undefined ? {} : { cause }) });

type PdfDocument = Awaited<ReturnType<Pdfjs['getDocument']>['promise']>;

/** An outline (bookmark) entry: its depth (1 outermost), title, and the page it points to (from 0). */
interface OutlineEntry { depth: number; title: string; page: number }

const normalize = (s: string) => s.replace(/\s+/g, ' ').trim().toLowerCase();

/** The outline's entries in document order, each with its page; entries without a resolvable page are left out. */
async function outlineOf(doc: PdfDocument): Promise<OutlineEntry[]> {
  const out: OutlineEntry[] = [];
  type Item = Awaited<ReturnType<PdfDocument['getOutline']>>[number];
  const walk = async (items: readonly Item[], depth: number) => {
    for (const item of items) {
      let page: number | undefined;
      try {
        const dest = typeof item.dest === 'string' ? await doc.getDestination(item.dest) : item.dest;
        const target: unknown = dest?.[0];
        if (typeof target === 'number') page = target;
        else if (target && typeof target === 'object') page = await doc.getPageIndex(target as Parameters<PdfDocument['getPageIndex']>[0]);
      } catch {
        page = undefined; // a dangling destination: the entry is skipped, its children are not
      }
      const title = item.title.replace(/\s+/g, ' ').trim();
      if (page !== undefined && title) out.push({ depth, title, page });
      if (item.items?.length) await walk(item.items, depth + 1);
    }
  };
  await walk((await doc.getOutline().catch(() => null)) ?? [], 1);
  // In page order (a stable sort keeps the document order within a page).
  return out.sort((a, b) => a.page - b.page);
}

/**
 * The PDF's text as sections: one per page that has text, with the page number (from 1). Where the
 * PDF has an outline (bookmarks), the outline gives the heading path: an entry applies from its
 * page on, and from the line that reads as its title when the page has one (that line becomes the
 * heading; the page's text before it stays under the previous path). Aborting `signal` stops it
 * between pages (ABORTED).
 */
export async function pdfSections(bytes: Uint8Array, name: string, signal?: AbortSignal): Promise<Section[]> {
  let lib: Pdfjs;
  try {
    lib = await pdfjs();
  } catch (e) {
    throw unparsable(name, `pdf.js (pdfjs-dist) failed to load here (${e instanceof Error ? e.message : String(e)}). It needs a current browser, Deno, or Node 22.13+, and the app's bundle must include pdfjs-dist; or convert the PDF to text first.`, e);
  }
  // pdf.js takes the bytes over (they may be transferred): it gets its own copy.
  const task = lib.getDocument({ data: bytes.slice(), useWasm: false, disableFontFace: true, useSystemFonts: false, verbosity: 0 });
  try {
    const doc = await task.promise;
    const outline = await outlineOf(doc);
    let next = 0; // the first outline entry not applied yet
    const path: string[] = [];
    const apply = (e: OutlineEntry) => { path.length = e.depth - 1; path.push(e.title); };
    const sections: Section[] = [];
    let chars = 0;
    for (let n = 1; n <= doc.numPages; n++) {
      checkAborted(signal, `Reading '${name}'`);
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      const raw: string[] = [];
      let line = '';
      for (const item of content.items) {
        if (!('str' in item)) continue; // marked-content boundaries
        line += item.str;
        if (item.hasEOL) { raw.push(line); line = ''; }
      }
      raw.push(line);
      page.cleanup();
      const lines = raw.map((l) => l.replace(/\s+/g, ' ').trim()).filter(Boolean);
      chars += lines.join('').length;
      let from = 0;
      const emit = (to: number) => {
        const text = lines.slice(from, to).join('\n');
        if (text) sections.push({ headings: path.filter(Boolean), text, page: n });
      };
      for (; next < outline.length && outline[next]!.page < n - 1; next++) apply(outline[next]!); // entries of earlier pages without text
      for (; next < outline.length && outline[next]!.page === n - 1; next++) {
        const entry = outline[next]!;
        const at = lines.findIndex((l, i) => i >= from && normalize(l) === normalize(entry.title));
        if (at >= 0) { emit(at); from = at + 1; }
        apply(entry);
      }
      emit(lines.length);
    }
    if (chars === 0) {
      throw unparsable(name, `it has no text layer (${doc.numPages} page${doc.numPages === 1 ? '' : 's'} of images, e.g. a scan). Run it through OCR, or export it with its text.`);
    }
    return sections;
  } catch (e) {
    if (e instanceof WeftError) throw e;
    const kind = (e as { name?: unknown } | null)?.name;
    if (kind === 'PasswordException') throw unparsable(name, 'it is encrypted with a password. Save an unprotected copy (print to PDF, or remove the password in a PDF tool) and add that.', e);
    const detail = e instanceof Error ? e.message : String(e);
    throw unparsable(name, `it is damaged or not a PDF (${detail}). Open it in a PDF viewer and save or export it again, or convert it to text first.`, e);
  } finally {
    await task.destroy().catch(() => undefined);
  }
}
