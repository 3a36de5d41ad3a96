// Documents in, passages out: plain text, Markdown, HTML and PDF (Files, Blobs, or DocumentInputs)
// are read (readDocument: type from the one table in file-types.ts, text decoded and checked),
// parsed into sections that keep their heading path and page (parseDocument: markdown.ts,
// html.ts, pdf.ts; async because PDF is, and because the Markdown reader and pdf.js load on first
// use), and chunked to the embedder's limit (chunk.ts).
// Everything here runs alike in the engine worker, on the page, in Node and in Deno.

import { WeftError } from '../errors.js';
import { chunkSections, type Chunk, type ChunkOptions, type Section } from './chunk.js';
import { documentTypeOf, documentTypes, readableTypesText, type DocumentType } from './file-types.js';
import { htmlSections } from './html.js';
import { pdfSections } from './pdf.js';

export type { Chunk, ChunkOptions, Section } from './chunk.js';
export { chunkSections } from './chunk.js';
export type { DocumentType } from './file-types.js';

/** The document types whose content is text. */
export type TextDocumentType = Exclude<DocumentType, 'pdf'>;

/** A document given as text. */
export interface TextDocumentInput {
  id: string;
  text: string;
  /** Default 'text'. */
  type?: TextDocumentType;
  metadata?: Record<string, unknown>;
}

/** A document given as the bytes of a file (a PDF). */
export interface BinaryDocumentInput {
  id: string;
  bytes: Uint8Array | ArrayBuffer;
  type: 'pdf';
  metadata?: Record<string, unknown>;
}

/** A document to ingest: its id (shown in citations), its content, and metadata its passages carry. */
export type DocumentInput = TextDocumentInput | BinaryDocumentInput;

/** A DocumentInput as readDocument returns it: its type known, a PDF's bytes as a Uint8Array. */
export type ReadDocument = (TextDocumentInput & { type: TextDocumentType }) | (BinaryDocumentInput & { bytes: Uint8Array });

const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // "%PDF-"
const isPdf = (bytes: Uint8Array) => PDF_MAGIC.every((b, i) => bytes[i] === b);

/**
 * Reads a File/Blob (its type by MIME type or file name, see file-types.ts; a blob that starts
 * with "%PDF-" is a PDF) or checks a DocumentInput. A Blob without a name is called `blob-<index>`.
 */
export async function readDocument(source: DocumentInput | Blob, index = 0): Promise<ReadDocument> {
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = (source as Blob & { name?: string }).name || `blob-${index}`;
    const bytes = new Uint8Array(await source.arrayBuffer());
    const type = documentTypeOf({ name, type: source.type }) ?? (isPdf(bytes) ? 'pdf' : undefined);
    if (!type) {
      throw new WeftError('UNPARSABLE_DOCUMENT', `'${name}' (${source.type || 'no type'}) is not ${readableTypesText}. Convert it to one of those first.`, {
        details: { name },
      });
    }
    if (type === 'pdf') return { id: name, bytes, type };
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new WeftError('UNPARSABLE_DOCUMENT', `'${name}' is not valid UTF-8 text. Save it as UTF-8, or convert it to text first.`, { details: { name } });
    }
    if (text.includes('\u0000'))
      throw new WeftError('UNPARSABLE_DOCUMENT', `'${name}' looks binary (it contains NUL bytes); it cannot be read as ${type}.`, { details: { name } });
    return { id: name, text, type };
  }
  const doc = source as unknown as Partial<Omit<TextDocumentInput, 'type'> & Omit<BinaryDocumentInput, 'type'> & { type: DocumentType }> | null;
  if (!doc || typeof doc.id !== 'string' || doc.id === '') {
    throw new WeftError('INVALID_INPUT', `Document ${index} needs a non-empty string id (or pass a File/Blob).`, { details: { index } });
  }
  if (doc.type !== undefined && !documentTypes.includes(doc.type)) {
    throw new WeftError('INVALID_OPTION', `Unknown document type '${String(doc.type)}' for '${doc.id}'. Valid values: ${documentTypes.join(', ')}.`, {
      details: { name: doc.id },
    });
  }
  if (doc.type === 'pdf') {
    const bytes = doc.bytes instanceof Uint8Array ? doc.bytes : doc.bytes instanceof ArrayBuffer ? new Uint8Array(doc.bytes) : undefined;
    if (!bytes)
      throw new WeftError(
        'INVALID_INPUT',
        `Document '${doc.id}' is a PDF: give its file's bytes as \`bytes\` (a Uint8Array or ArrayBuffer), or pass the File/Blob itself.`,
        { details: { index, name: doc.id } },
      );
    return { ...(doc as BinaryDocumentInput), bytes, type: 'pdf' };
  }
  if (typeof doc.text !== 'string') {
    throw new WeftError('INVALID_INPUT', `Document '${doc.id}' needs a string text (or, for a PDF, type: 'pdf' and its bytes; or pass a File/Blob).`, {
      details: { index, name: doc.id },
    });
  }
  return { ...(doc as TextDocumentInput), type: doc.type ?? 'text' };
}

let markdownModule: Promise<typeof import('./markdown.js')> | undefined;

/**
 * The Markdown reader, loaded on the first Markdown document (micromark and its tables stay out of
 * a worker that never reads one, and a bundle that resolved one of its dependencies to a build the
 * thread cannot run fails that document, not the whole worker).
 */
async function markdownReader(name: string | undefined) {
  markdownModule ??= import('./markdown.js');
  try {
    return await markdownModule;
  } catch (e) {
    markdownModule = undefined;
    throw new WeftError(
      'UNPARSABLE_DOCUMENT',
      `${name === undefined ? 'The Markdown document' : `'${name}'`} could not be read: the Markdown parser failed to load here (${e instanceof Error ? e.message : String(e)}). If a bundler built this worker, make it resolve 'decode-named-character-reference' to its plain build (decode-named-character-reference/index.js: its "browser" build needs a DOM); or convert the document to text.`,
      { cause: e, details: { name } },
    );
  }
}

/** Splits a text document into sections with their heading paths. */
export async function parseSections(text: string, type: TextDocumentType = 'text', name?: string): Promise<Section[]> {
  if (type === 'html') return htmlSections(text, name);
  if (type === 'markdown') return (await markdownReader(name)).markdownSections(text);
  const body = text.replace(/\r\n?/g, '\n').trim();
  return body ? [{ headings: [], text: body }] : [];
}

/**
 * A document's sections, with their heading paths (and pages, for a PDF). Rejects with
 * UNPARSABLE_DOCUMENT, naming the document, when it cannot be read (a damaged or encrypted PDF,
 * HTML with no text); aborting `options.signal` stops a long PDF between pages and between chunks of a page's text (ABORTED); a PDF with more text than pdf.ts's budget is UNPARSABLE_DOCUMENT.
 */
export async function parseDocument(doc: DocumentInput, options: { signal?: AbortSignal } = {}): Promise<Section[]> {
  if (doc.type === 'pdf') {
    return pdfSections(doc.bytes instanceof Uint8Array ? doc.bytes : new Uint8Array(doc.bytes), doc.id, options.signal);
  }
  return parseSections(doc.text, doc.type ?? 'text', doc.id);
}

/** Reads, parses and chunks any document (a File/Blob or a DocumentInput): readDocument, parseDocument, chunkSections. */
export async function chunkDocument(source: DocumentInput | Blob, opts: ChunkOptions, index = 0): Promise<Chunk[]> {
  const doc = await readDocument(source, index);
  return chunkSections(doc, await parseDocument(doc), opts);
}
