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
  /**
   * Token count as the embedder counts it, special tokens included and nothing truncated (the
   * embedder's countTokens): a count capped at the limit would let chunks grow past it. Called
   * once per distinct word and once per chunk.
   */
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
    throw new WeftError('UNPARSABLE_DOCUMENT', 'HTML documents need DOMParser, which this environment (a worker, or Deno) lacks: parse the HTML where DOMParser exists (the page) or convert it to text or Markdown first.');
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

/**
 * A section as words, each counted once: `cost[i]` is word i's tokens without the special
 * tokens, `glued[i]` means word i is a piece of the word before it (a word too long for any
 * chunk, cut by characters: joined without a space), `ends[i]` means a sentence or line ends
 * after word i. WordPiece-style counts add up over whitespace-separated words, so a run of
 * words costs the sum of its words; each emitted chunk is still checked with one real count.
 */
interface Words {
  text: string[];
  cost: number[];
  glued: boolean[];
  ends: boolean[];
}

function sectionWords(text: string, count: (s: string) => number, budget: number): Words {
  const out: Words = { text: [], cost: [], glued: [], ends: [] };
  for (const unit of text.split(/(?<=[.!?])\s+|\n+/)) {
    const before = out.text.length;
    for (const w of unit.split(/\s+/)) {
      if (!w) continue;
      const c = count(w);
      if (c <= budget) {
        out.text.push(w); out.cost.push(c); out.glued.push(false); out.ends.push(false);
        continue;
      }
      cutWord(w, c, count, budget).forEach(([piece, pc], i) => {
        out.text.push(piece); out.cost.push(pc); out.glued.push(i > 0); out.ends.push(false);
      });
    }
    if (out.text.length > before) out.ends[out.text.length - 1] = true;
  }
  return out;
}

/** Cuts a word that alone exceeds the budget into pieces that fit, by characters (whole code points). */
function cutWord(word: string, cost: number, count: (s: string) => number, budget: number): [string, number][] {
  const chars = Array.from(word);
  const pieces: [string, number][] = [];
  let at = 0;
  // Characters per piece, guessed from the whole word's density and corrected as pieces are counted.
  let guess = Math.max(1, Math.floor((chars.length * budget) / cost));
  while (at < chars.length) {
    let len = Math.min(guess, chars.length - at);
    let piece = chars.slice(at, at + len).join('');
    let c = count(piece);
    while (c > budget && len > 1) {
      len = Math.max(1, Math.min(len - 1, Math.floor((len * budget) / c)));
      piece = chars.slice(at, at + len).join('');
      c = count(piece);
    }
    pieces.push([piece, c]);
    at += len;
    guess = len;
  }
  return pieces;
}

export function chunkDocument(doc: DocumentInput, opts: ChunkOptions): Chunk[] {
  const sections = parseSections(doc.text, doc.type ?? 'text');
  const chunks: Chunk[] = [];
  const overlap = opts.overlapTokens ?? Math.floor(opts.maxTokens / 8);
  // The tokens every count carries whatever the text ([CLS] and [SEP] for BERT): counted once per chunk.
  const special = Math.max(0, 2 * opts.countTokens('a') - opts.countTokens('a a'));
  const memo = new Map<string, number>();
  const count = (w: string) => {
    let c = memo.get(w);
    if (c === undefined) { c = Math.max(0, opts.countTokens(w) - special); memo.set(w, c); }
    return c;
  };
  for (const section of sections) {
    const prefix = section.headings.length ? `${section.headings.join(' › ')}\n` : '';
    const budget = opts.maxTokens - special - (prefix ? Math.max(0, opts.countTokens(prefix) - special) : 0);
    if (budget + special < 8) throw new WeftError('INVALID_OPTION', `maxTokens (${opts.maxTokens}) leaves no room for text under the headings of '${doc.id}'.`);
    const words = sectionWords(section.text, count, budget);
    const n = words.text.length;
    const join = (from: number, to: number) => {
      let s = '';
      for (let i = from; i < to; i++) s += (i > from && !words.glued[i] ? ' ' : '') + words.text[i];
      return s;
    };
    let start = 0, fresh = 0; // fresh: the first word the previous chunk did not hold
    while (start < n) {
      let end = start, cost = 0;
      while (end < n && cost + words.cost[end]! <= budget) cost += words.cost[end++]!;
      // Prefer to end at a sentence end past the overlap; a sentence longer than what is left is cut at a word.
      if (end < n) {
        let b = end;
        while (b > fresh + 1 && !words.ends[b - 1]) b--;
        if (b > fresh && words.ends[b - 1]) end = b;
      }
      // One real count: tokenizers that do not add up exactly over words lose words from the end until it fits.
      let text = prefix + join(start, end);
      for (let real = opts.countTokens(text); real > opts.maxTokens; real = opts.countTokens(text)) {
        if (end - start <= 1) {
          throw new WeftError('INVALID_OPTION', `countTokens counts '${words.text[start]!.slice(0, 40)}' in '${doc.id}' as ${real} tokens with its headings, over maxTokens (${opts.maxTokens}), though it fits alone; pass a countTokens that adds up over words (the embedder's countTokens does).`);
        }
        let drop = real - opts.maxTokens;
        while (drop > 0 && end - start > 1) drop -= Math.max(1, words.cost[--end]!);
        text = prefix + join(start, end);
      }
      chunks.push({ docId: doc.id, index: chunks.length, text, headings: section.headings, metadata: { ...(doc.metadata ?? {}) } });
      if (end >= n) break;
      // Carry the tail into the next chunk: at most `overlap` tokens, leaving room for the next
      // sentence (or at least the next word), starting at a sentence start where the tail holds one.
      let next = 0;
      for (let i = end; i < n && next <= budget; i++) { next += words.cost[i]!; if (words.ends[i]) break; }
      const room = Math.min(overlap, budget - (next <= budget ? next : words.cost[end]!));
      let s = end, tail = 0;
      while (s > start + 1 && tail + words.cost[s - 1]! <= room) tail += words.cost[--s]!;
      for (let i = s; i < end; i++) if (i > 0 && words.ends[i - 1]) { s = i; break; }
      fresh = end;
      start = s;
    }
  }
  return chunks;
}
