// HTML → sections, with hast-util-from-html (parse5, the WHATWG parsing algorithm in plain
// JavaScript): it needs no DOMParser, so HTML reads the same in the engine worker, on the page,
// in Node and in Deno. What a reader of the page would not see is dropped (scripts, styles,
// templates, hidden elements) and so is the page's chrome (navigation, footer); h1–h6 make the
// heading path (text before the first heading goes under the page's <title>); blocks and <br> break lines, list items read "- item", table rows "a | b | c",
// <pre> keeps its lines and indentation.

import { fromHtml } from 'hast-util-from-html';
import type { Element, ElementContent, Root, RootContent } from 'hast';
import { WeftError } from '../errors.js';
import type { Section } from './chunk.js';
import { SectionWriter } from './section-writer.js';

/** Elements dropped with everything in them: not text a reader sees, or the page's chrome. */
const DROPPED = new Set([
  'head',
  'script',
  'style',
  'noscript',
  'template',
  'nav',
  'footer',
  'svg',
  'canvas',
  'iframe',
  'object',
  'embed',
  'audio',
  'video',
  'select',
  'datalist',
]);

/** Elements that start and end a line. */
const BLOCK = new Set([
  'html',
  'body',
  'main',
  'header',
  'section',
  'article',
  'aside',
  'div',
  'p',
  'blockquote',
  'address',
  'ul',
  'ol',
  'dl',
  'dt',
  'dd',
  'table',
  'thead',
  'tbody',
  'tfoot',
  'caption',
  'figure',
  'figcaption',
  'form',
  'fieldset',
  'legend',
  'details',
  'summary',
  'hr',
  'hgroup',
  'center',
  'menu',
  'search',
]);

const HIDDEN_STYLE = /(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\s*(?:!\s*important\s*)?(?:;|$)/i;

/** Hidden from readers: the `hidden` attribute, aria-hidden="true", or an inline style that hides it. */
function isHidden(el: Element): boolean {
  const { hidden, ariaHidden, style } = el.properties as Record<string, unknown>;
  if (hidden !== undefined && hidden !== null && hidden !== false) return true;
  if (ariaHidden === true || String(ariaHidden).toLowerCase() === 'true') return true;
  return typeof style === 'string' && HIDDEN_STYLE.test(style);
}

const skipped = (el: Element) => DROPPED.has(el.tagName) || isHidden(el);

/** Where the walk writes: a section writer, or (HTML inside Markdown) lines with headings as text. */
interface Sink {
  heading(level: number, text: string): void;
  line(text: string): void;
}

/** The visible text of `nodes` on one line (<br> and blocks become spaces). */
function flatText(nodes: readonly (RootContent | ElementContent)[]): string {
  let s = '';
  for (const n of nodes) {
    if (n.type === 'text') s += n.value;
    else if (n.type === 'element' && !skipped(n)) s += n.tagName === 'br' || BLOCK.has(n.tagName) ? ` ${flatText(n.children)} ` : flatText(n.children);
  }
  return s;
}

/** The visible text of `nodes` as written (<pre>): line breaks kept, <br> a line break. */
function rawText(nodes: readonly ElementContent[]): string {
  let s = '';
  for (const n of nodes) {
    if (n.type === 'text') s += n.value;
    else if (n.type === 'element' && !skipped(n)) s += n.tagName === 'br' ? '\n' : rawText(n.children);
  }
  return s;
}

/** A walk of the tree, writing lines to `sink`. */
class Walk {
  private inline = '';
  /** Put before the next line written ("- " for a list item's first line). */
  private prefix = '';

  constructor(private readonly sink: Sink) {}

  /** Ends the line being built. */
  endLine(): void {
    const text = this.inline.replace(/\s+/g, ' ').trim();
    this.inline = '';
    if (!text) return;
    this.sink.line(this.prefix + text);
    this.prefix = '';
  }

  private lineAsIs(text: string): void {
    this.endLine();
    this.sink.line(this.prefix + text);
    this.prefix = '';
  }

  walk(nodes: readonly (RootContent | ElementContent)[], depth = 0): void {
    for (const n of nodes) {
      if (n.type === 'text') {
        this.inline += n.value;
        continue;
      }
      if (n.type !== 'element' || skipped(n)) continue;
      const tag = n.tagName;
      const heading = /^h([1-6])$/.exec(tag);
      if (heading) {
        this.endLine();
        const text = flatText(n.children).replace(/\s+/g, ' ').trim();
        if (text) this.sink.heading(Number(heading[1]), text);
        continue;
      }
      if (tag === 'br') {
        this.endLine();
        continue;
      }
      if (tag === 'pre') {
        this.endLine();
        for (const line of rawText(n.children)
          .replace(/\r\n?/g, '\n')
          .replace(/^\n|\n+$/g, '')
          .split('\n'))
          this.lineAsIs(line.trimEnd());
        continue;
      }
      if (tag === 'ul' || tag === 'ol' || tag === 'menu') {
        this.endLine();
        const start = typeof n.properties.start === 'number' ? n.properties.start : 1;
        let number = start;
        for (const item of n.children) {
          if (item.type === 'element' && item.tagName === 'li' && !skipped(item)) {
            this.endLine();
            const value = typeof item.properties.value === 'number' ? item.properties.value : number;
            this.prefix = `${'  '.repeat(depth)}${tag === 'ol' ? `${value}.` : '-'} `;
            number = value + 1;
            this.walk(item.children, depth + 1);
            this.endLine();
            this.prefix = '';
          } else {
            this.walk([item], depth);
          }
        }
        this.endLine();
        continue;
      }
      if (tag === 'tr') {
        this.endLine();
        const cells = n.children.filter((c): c is Element => c.type === 'element' && (c.tagName === 'td' || c.tagName === 'th') && !skipped(c));
        const row = cells.map((c) => flatText(c.children).replace(/\s+/g, ' ').trim());
        if (row.some(Boolean)) this.lineAsIs(row.join(' | '));
        continue;
      }
      const block = BLOCK.has(tag) || tag === 'li';
      if (block) this.endLine();
      this.walk(n.children, depth);
      if (block) this.endLine();
    }
  }
}

/** The text of the document's <title> (in <head>), or ''. */
function titleOf(tree: Root): string {
  const find = (nodes: readonly (RootContent | ElementContent)[]): Element | undefined => {
    for (const n of nodes) {
      if (n.type !== 'element') continue;
      if (n.tagName === 'title') return n;
      if (n.tagName === 'html' || n.tagName === 'head') {
        const t = find(n.children);
        if (t) return t;
      }
    }
    return undefined;
  };
  const el = find(tree.children);
  return el
    ? el.children
        .map((c) => (c.type === 'text' ? c.value : ''))
        .join('')
        .replace(/\s+/g, ' ')
        .trim()
    : '';
}

/** Splits an HTML document into sections with their heading paths (text before the first heading: under the <title>). */
export function htmlSections(html: string, name?: string): Section[] {
  const tree: Root = fromHtml(html);
  const writer = new SectionWriter();
  const walk = new Walk(writer);
  walk.walk(tree.children);
  walk.endLine();
  // Text before any heading is under the page's <title>, where it has one.
  const title = titleOf(tree);
  const sections = writer.finish().map((s) => (s.headings.length === 0 && title ? { ...s, headings: [title] } : s));
  if (sections.length === 0 && html.trim()) {
    throw new WeftError(
      'UNPARSABLE_DOCUMENT',
      `${name === undefined ? 'The HTML document' : `'${name}'`} has no readable text (a page built by scripts shows none until they run). Save the page as it is displayed, or convert it to text first.`,
      { details: { name } },
    );
  }
  return sections;
}

/** The visible text of an HTML fragment as lines (HTML inside Markdown): headings are lines too. */
export function htmlFragmentLines(html: string): string[] {
  const lines: string[] = [];
  const walk = new Walk({ heading: (_, text) => lines.push(text), line: (text) => lines.push(text) });
  walk.walk(fromHtml(html, { fragment: true }).children);
  walk.endLine();
  return lines;
}
