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
//
// In-thread, pdf.js's parser and this reader pass their messages as microtasks, so a PDF read
// with getTextContent page after page never gave the event loop a turn: on the page a 163 KB PDF
// that inflates to 64 MB of text froze it for 15.7 s, and an abort was seen only when the parse
// ended. So the reader yields (yieldToEvents) before every page and, within a page, between the
// chunks of pdf.js's text stream (streamTextContent): pdf.js fills the stream up to its high-water
// mark and then waits for the reader to pull, so while the reader yields, the parser waits too,
// and an abort is seen within a chunk. (pdf.js hands out finished text items only: one string of
// megabytes, or a line of text operators that it joins into one item, is built in one go, without
// a turn: 400,000 Tj on one line, 3.2 MB, held the page for half a second. The page's character
// budget below then fails the document when it arrives; a page of many items is stopped as soon as
// it runs past it.) A PDF whose text runs past the budget (per page, and in all) is
// UNPARSABLE_DOCUMENT, which costs that document alone.

import { WeftError, checkAborted } from '../errors.js';
import { sharedRead, type SharedRead } from '../util/shared-read.js';
import { yieldToEvents } from '../util/yield.js';
import type { Section } from './chunk.js';

type Pdfjs = typeof import('pdfjs-dist');

/** pdf.js's worker module announcing itself to a worker's parent: `{ sourceName: 'worker', targetName: 'main', action: 'ready' }`. */
const isPdfjsHandshake = (m: unknown) =>
  typeof m === 'object' &&
  m !== null &&
  (m as { sourceName?: unknown }).sourceName === 'worker' &&
  (m as { targetName?: unknown }).targetName === 'main' &&
  (m as { action?: unknown }).action === 'ready';

/**
 * Imports pdf.js's worker code into this thread. Imported into a worker, the module also sets
 * itself up on the worker's own port and posts a "ready" handshake to the worker's parent (the
 * page), which is no message for the app: that one message is held back while the module loads.
 */
async function importWorkerCode(): Promise<void> {
  const scope = globalThis as unknown as { postMessage?: (message: unknown, ...rest: unknown[]) => void };
  const inWorker = typeof (globalThis as { window?: unknown }).window === 'undefined' && typeof scope.postMessage === 'function' && 'onmessage' in globalThis;
  if (!inWorker) {
    await import('pdfjs-dist/build/pdf.worker.mjs');
    return;
  }
  const own = Object.hasOwn(scope, 'postMessage');
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

// Loaded once for every PDF; a failed load is tried again by the next PDF. Made on the first
// PDF, not at module load: a call at the top level would keep pdf.js's worker in the bundle of
// an app that never reads a PDF (the bundler cannot drop a call it does not know is pure).
let loading: SharedRead<Pdfjs> | undefined;
const pdfjs = (): Promise<Pdfjs> =>
  (loading ??= sharedRead(async () => {
    await importWorkerCode();
    return import('pdfjs-dist');
  }, 'Loading pdf.js')).get();

const unparsable = (name: string, why: string, cause?: unknown) =>
  new WeftError('UNPARSABLE_DOCUMENT', `'${name}' could not be read as a PDF: ${why}`, { details: { name }, ...(cause === undefined ? {} : { cause }) });

type PdfDocument = Awaited<ReturnType<Pdfjs['getDocument']>['promise']>;
type PdfPage = Awaited<ReturnType<PdfDocument['getPage']>>;

/** How much text one PDF may give, in characters: past either, the document is UNPARSABLE_DOCUMENT. */
export interface PdfLimits {
  /** On one page. A dense page of small print holds some 10,000; more than 100 times that is no page a person reads. */
  pageChars: number;
  /** In the whole document: some 10,000 dense pages. */
  totalChars: number;
}

export const defaultPdfLimits: Readonly<PdfLimits> = { pageChars: 1_000_000, totalChars: 50_000_000 };

const tooMuchText = (name: string, where: string, limit: number, remedy: string) =>
  unparsable(
    name,
    `it has more text ${where} than Weft reads from a PDF (over ${limit.toLocaleString('en-US')} characters), as a PDF built to inflate does. If it is a real document, ${remedy}.`,
  );

/** `promise`, or undefined once `ms` have passed without it settling. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Yields to the event loop once `everyMs` have passed since the last yield, then checks `signal`. */
function breather(signal: AbortSignal | undefined, what: string, everyMs = 8) {
  let last = performance.now();
  return async () => {
    if (performance.now() - last < everyMs) return;
    await yieldToEvents();
    last = performance.now();
    checkAborted(signal, what);
  };
}

/** An outline (bookmark) entry: its depth (1 outermost), title, and the page it points to (from 0). */
interface OutlineEntry {
  depth: number;
  title: string;
  page: number;
}

const normalize = (s: string) => s.replace(/\s+/g, ' ').trim().toLowerCase();

/** The outline's entries in document order, each with its page; entries without a resolvable page are left out. */
async function outlineOf(doc: PdfDocument, breathe: () => Promise<void>): Promise<OutlineEntry[]> {
  const out: OutlineEntry[] = [];
  type Item = Awaited<ReturnType<PdfDocument['getOutline']>>[number];
  const walk = async (items: readonly Item[], depth: number) => {
    for (const item of items) {
      await breathe();
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

/** pdf.js's text items as they stream in: one per run of text, `hasEOL` where a line ends. */
type TextChunk = { items: ({ str: string; hasEOL: boolean } | { type: string })[] };

/**
 * A page's text, its lines as pdf.js ends them, read from pdf.js's text stream chunk by chunk with
 * `breathe` between chunks (pdf.js waits meanwhile: see the file's header). `count` is given each
 * chunk's characters and throws when they run past a budget; the stream is then cancelled.
 */
async function pageLines(page: PdfPage, breathe: () => Promise<void>, count: (chars: number) => void): Promise<string[]> {
  const reader = (page.streamTextContent() as ReadableStream<TextChunk>).getReader();
  const raw: string[] = [];
  let line = '';
  try {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      let chars = 0;
      for (const item of chunk.value.items) {
        if (!('str' in item)) continue; // marked-content boundaries
        line += item.str;
        chars += item.str.length;
        if (item.hasEOL) {
          raw.push(line);
          line = '';
        }
      }
      count(chars);
      await breathe();
    }
  } catch (e) {
    reader.cancel(e).catch(() => undefined); // pdf.js's parser stops at its next pause (its stream needs a reason)
    throw e;
  }
  raw.push(line);
  return raw;
}

/**
 * The PDF's text as sections: one per page that has text, with the page number (from 1). Where the
 * PDF has an outline (bookmarks), the outline gives the heading path: an entry applies from its
 * page on, and from the line that reads as its title when the page has one (that line becomes the
 * heading; the page's text before it stays under the previous path). It yields to the event loop
 * between pages and within a page's text; aborting `signal` stops it there (ABORTED). More text
 * than `limits` allow (per page, in all) is UNPARSABLE_DOCUMENT.
 */
export async function pdfSections(bytes: Uint8Array, name: string, signal?: AbortSignal, limits: Readonly<PdfLimits> = defaultPdfLimits): Promise<Section[]> {
  checkAborted(signal, `Reading '${name}'`);
  let lib: Pdfjs;
  try {
    lib = await pdfjs();
  } catch (e) {
    throw unparsable(
      name,
      `pdf.js (pdfjs-dist) failed to load here (${e instanceof Error ? e.message : String(e)}). It needs a current browser, Deno, or Node 22.13+, and the app's bundle must include pdfjs-dist; or convert the PDF to text first.`,
      e,
    );
  }
  // pdf.js takes the bytes over (they may be transferred): it gets its own copy.
  const task = lib.getDocument({ data: bytes.slice(), useWasm: false, disableFontFace: true, useSystemFonts: false, verbosity: 0 });
  try {
    const doc = await task.promise;
    const breathe = breather(signal, `Reading '${name}'`);
    const outline = await outlineOf(doc, breathe);
    let next = 0; // the first outline entry not applied yet
    const path: string[] = [];
    const apply = (e: OutlineEntry) => {
      path.length = e.depth - 1;
      path.push(e.title);
    };
    const sections: Section[] = [];
    let chars = 0; // read so far, for the budget
    let kept = 0; // in the sections, for "no text layer"
    for (let n = 1; n <= doc.numPages; n++) {
      await breathe();
      checkAborted(signal, `Reading '${name}'`);
      const page = await doc.getPage(n);
      let onPage = 0;
      const raw = await pageLines(page, breathe, (c) => {
        onPage += c;
        chars += c;
        if (onPage > limits.pageChars) throw tooMuchText(name, `on page ${n}`, limits.pageChars, 'convert it to text first');
        if (chars > limits.totalChars)
          throw tooMuchText(name, `in its ${doc.numPages} pages`, limits.totalChars, 'split it into smaller PDFs or convert it to text first');
      });
      page.cleanup();
      const lines = raw.map((l) => l.replace(/\s+/g, ' ').trim()).filter(Boolean);
      kept += lines.join('').length;
      let from = 0;
      const emit = (to: number) => {
        const text = lines.slice(from, to).join('\n');
        if (text) sections.push({ headings: path.filter(Boolean), text, page: n });
      };
      for (; next < outline.length && outline[next]!.page < n - 1; next++) apply(outline[next]!); // entries of earlier pages without text
      for (; next < outline.length && outline[next]!.page === n - 1; next++) {
        const entry = outline[next]!;
        const at = lines.findIndex((l, i) => i >= from && normalize(l) === normalize(entry.title));
        if (at >= 0) {
          emit(at);
          from = at + 1;
        }
        apply(entry);
      }
      emit(lines.length);
    }
    if (kept === 0) {
      throw unparsable(
        name,
        `it has no text layer (${doc.numPages} page${doc.numPages === 1 ? '' : 's'} of images, e.g. a scan). Run it through OCR, or export it with its text.`,
      );
    }
    return sections;
  } catch (e) {
    if (e instanceof WeftError) throw e;
    const kind = (e as { name?: unknown } | null)?.name;
    if (kind === 'PasswordException')
      throw unparsable(name, 'it is encrypted with a password. Save an unprotected copy (print to PDF, or remove the password in a PDF tool) and add that.', e);
    const detail = e instanceof Error ? e.message : String(e);
    throw unparsable(name, `it is damaged or not a PDF (${detail}). Open it in a PDF viewer and save or export it again, or convert it to text first.`, e);
  } finally {
    // Ends pdf.js's parser. It waits for pdf.js's tasks to stop, and a task waiting for a reader
    // that is gone would never stop: a stuck teardown must not hold back the document's outcome.
    await within(
      task.destroy().catch(() => undefined),
      1000,
    );
  }
}
