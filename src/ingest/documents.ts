// Documents in, passages out: plain text, Markdown and HTML (strings, Files or Blobs) become
// sections that keep their heading path, and sections become chunks that fit the embedder's
// token limit, with overlap between neighbours and the headings repeated at the top of every
// chunk (so a passage retrieved alone still says what it is about).

import { WeftError } from '../errors.js';

export type DocumentType = 'text' | 'markdown' | 'html';

export interface DocumentInput {
  id: string;
  text: string;
  type?: DocumentType;
  metadata?: Record<string, unknown>;
}

export interface Section {
  /** Heading path, outermost first. */
  headings: string[];
  text: string;
}

export interface Chunk {
  docId: string;
  /** Position of the chunk in its document. */
  index: number;
  /** What is embedded and shown: the heading path, then the passage. */
  text: string;
  headings: string[];
  metadata: Record<string, unknown>;
}

export interface ChunkOptions {
  /** Token count as the embedder counts it (special tokens included). */
  countTokens: (text: string) => number;
  /** The embedder's limit. */
  maxTokens: number;
  /** Tokens repeated from the end of one chunk at the start of the next. Default maxTokens / 8. */
  overlapTokens?: number;
}

const EXTENSIONS: Record<string, DocumentType> = { txt: 'text', text: 'text', md: 'markdown', markdown: 'markdown', html: 'html', htm: 'html' };

/** Reads a File/Blob (by MIME type or file name) or passes a DocumentInput through, checked. */
export async function readDocument(source: DocumentInput | Blob, index = 0): Promise<DocumentInput> {
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = (source as Blob & { name?: string }).name ?? `blob-${index}`;
    const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : '';
    const mime = source.type.split(';')[0]!.trim();
    const type: DocumentType | undefined = mime === 'text/html' ? 'html' : mime === 'text/markdown' ? 'markdown' : mime === 'text/plain' ? 'text' : EXTENSIONS[ext];
    if (!type) {
      throw new WeftError('UNPARSABLE_DOCUMENT', `'${name}' (${mime || 'no type'}) is not plain text, Markdown or HTML. Convert it to text first.`, { details: { name } });
    }
    const bytes = new Uint8Array(await source.arrayBuffer());
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new WeftError('UNPARSABLE_DOCUMENT', `'${name}' is not valid UTF-8 text. Save it as UTF-8, or convert it to text first.`, { details: { name } });
    }
    if (text.includes('\u0000')) throw new WeftError('UNPARSABLE_DOCUMENT', `'${name}' looks binary (it contains NUL bytes); it cannot be read as ${type}.`, { details: { name } });
    return { id: name, text, type };
  }
  const doc = source as DocumentInput;
  if (!doc || typeof doc.id !== 'string' || doc.id === '' || typeof doc.text !== 'string') {
    throw new WeftError('INVALID_INPUT', `Document ${index} needs a non-empty string id and a string text (or pass a File/Blob).`, { details: { index } });
  }
  if (doc.type !== undefined && !['text', 'markdown', 'html'].includes(doc.type)) {
    throw new WeftError('INVALID_OPTION', `Unknown document type '${String(doc.type)}'. Valid values: text, markdown, html.`);
  }
  return doc;
}

/** Splits a document into sections with their heading paths. */
export function parseSections(text: string, type: DocumentType = 'text'): Section[] {
  if (type === 'html') return htmlSections(text);
  if (type === 'markdown') return markdownSections(text);
  const body = text.replace(/\r\n?/g, '\n').trim();
  return body ? [{ headings: [], text: body }] : [];
}

function markdownSections(md: string): Section[] {
  const out: Section[] = [];
  const path: string[] = [];
  let buf: string[] = [];
  let fence = false;
  const flush = () => {
    const text = buf.join('\n').trim();
    if (text) out.push({ headings: path.filter(Boolean), text });
    buf = [];
  };
  for (const line of md.replace(/\r\n?/g, '\n').split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    const h = fence ? null : /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      flush();
      const level = h[1]!.length;
      path.length = level;
      path[level - 1] = h[2]!;
      continue;
    }
    buf.push(line);
  }
  flush();
  return out;
}

function htmlSections(html: string): Section[] {
  if (typeof DOMParser === 'undefined') {
    throw new WeftError('UNPARSABLE_DOCUMENT', 'HTML documents need DOMParser (a browser, a worker with it, or Deno); convert the HTML to text first here.');
  }
  const doc = new DOMParser().parseFromString(html, 'text/html');
  doc.querySelectorAll('script, style, noscript, template, nav, footer').forEach((n) => n.remove());
  const out: Section[] = [];
  const path: string[] = [];
  let buf: string[] = [];
  const flush = () => {
    // Text nodes are inline (joined as they are); block elements and <br> supply the line breaks.
    const text = buf.join('').replace(/[ \t]+/g, ' ').split('\n').map((l) => l.trim()).join('\n').replace(/\n{3,}/g, '\n\n').trim();
    if (text) out.push({ headings: path.filter(Boolean), text });
    buf = [];
  };
  const BLOCK = /^(P|DIV|LI|PRE|BLOCKQUOTE|TR|SECTION|ARTICLE|UL|OL|TABLE|DD|DT|FIGCAPTION)$/;
  const walk = (node: Node) => {
    for (const child of Array.from(node.childNodes)) {
      if (child.nodeType === Node.TEXT_NODE) { buf.push(child.textContent ?? ''); continue; }
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      const el = child as Element;
      const m = /^H([1-6])$/.exec(el.tagName);
      if (m) {
        flush();
        const level = Number(m[1]);
        path.length = level;
        path[level - 1] = (el.textContent ?? '').trim();
        continue;
      }
      if (el.tagName === 'BR') { buf.push('\n'); continue; }
      const block = BLOCK.test(el.tagName);
      if (block) buf.push('\n');
      walk(el);
      if (block) buf.push('\n');
    }
  };
  walk(doc.body ?? doc.documentElement);
  flush();
  if (out.length === 0 && html.trim() && !doc.body?.textContent?.trim()) {
    throw new WeftError('UNPARSABLE_DOCUMENT', 'The HTML document has no readable text.');
  }
  return out;
}

/** Sentence-ish units: sentence ends, line breaks; over-long ones are cut at words. */
function units(text: string): string[] {
  return text.split(/(?<=[.!?])\s+|\n+/).map((s) => s.trim()).filter(Boolean);
}

export function chunkDocument(doc: DocumentInput, opts: ChunkOptions): Chunk[] {
  const sections = parseSections(doc.text, doc.type ?? 'text');
  const chunks: Chunk[] = [];
  const overlap = opts.overlapTokens ?? Math.floor(opts.maxTokens / 8);
  for (const section of sections) {
    const prefix = section.headings.length ? `${section.headings.join(' › ')}\n` : '';
    const budget = opts.maxTokens - (prefix ? opts.countTokens(prefix) - 2 : 0); // the [CLS]/[SEP] pair is counted once
    if (budget < 8) throw new WeftError('INVALID_OPTION', `maxTokens (${opts.maxTokens}) leaves no room for text under the headings of '${doc.id}'.`);
    // Cut units that alone exceed the budget at word boundaries.
    const pieces: string[] = [];
    for (const u of units(section.text)) {
      if (opts.countTokens(u) <= budget) { pieces.push(u); continue; }
      let cur: string[] = [];
      for (const w of u.split(/\s+/)) {
        if (cur.length && opts.countTokens([...cur, w].join(' ')) > budget) { pieces.push(cur.join(' ')); cur = []; }
        cur.push(w);
      }
      if (cur.length) pieces.push(cur.join(' '));
    }
    let cur: string[] = [];
    const emit = () => {
      if (!cur.length) return;
      chunks.push({ docId: doc.id, index: chunks.length, text: prefix + cur.join(' '), headings: section.headings, metadata: { ...(doc.metadata ?? {}) } });
    };
    for (const p of pieces) {
      if (cur.length && opts.countTokens([...cur, p].join(' ')) > budget) {
        emit();
        // Carry the tail of this chunk into the next, up to `overlap` tokens.
        const tail: string[] = [];
        for (let i = cur.length - 1; i >= 0; i--) {
          if (opts.countTokens([cur[i]!, ...tail].join(' ')) - 2 > overlap) break;
          tail.unshift(cur[i]!);
        }
        cur = opts.countTokens([...tail, p].join(' ')) <= budget ? tail : [];
      }
      cur.push(p);
    }
    emit();
  }
  return chunks;
}
