// Markdown → sections, with mdast-util-from-markdown and GitHub-flavoured Markdown
// (micromark-extension-gfm + mdast-util-gfm): CommonMark's own parser, so ATX ("## Title") and
// setext ("Title" over "=====") headings both make the heading path, and a "#" inside a code
// block is code. The tree is written back as readable lines: paragraphs one line each, code blocks
// line by line with their indentation, list items as "- item" / "1. item" (nested ones indented),
// table rows as "a | b | c", links as their text, HTML as its visible text (html.ts).

import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import type { Nodes, RootContent } from 'mdast';
import type { Section } from './chunk.js';
import { htmlFragmentLines } from './html.js';
import { SectionWriter } from './section-writer.js';

/** YAML front matter at the very top ("---", "key: value" lines, "---"): metadata, not text (its title heads the text before the first heading). */
const FRONT_MATTER = /^---[ \t]*\r?\n(?:[\w-]+[ \t]*:.*\r?\n(?:[ \t].*\r?\n)*)*(?:---|\.\.\.)[ \t]*(?:\r?\n|$)/;

/** Inline HTML whose content is not text a reader sees: from its opening tag to its closing one. */
const INLINE_DROPPED = /^<(script|style|noscript|template|textarea|svg)\b[^>]*>$/i;

/**
 * Inline content as text: soft line breaks are spaces, hard ones ("\n") line breaks. Inline HTML
 * comes tag by tag: tags are reduced to their text (none), and what an inline <script> (or style,
 * …) holds is skipped up to its closing tag.
 */
function inlineText(nodes: readonly Nodes[]): string {
  let s = '';
  let skipping: string | undefined;
  for (const n of nodes) {
    if (skipping) {
      if (n.type === 'html' && new RegExp(`^</${skipping}\\s*>$`, 'i').test(n.value.trim())) skipping = undefined;
      continue;
    }
    if (n.type === 'html') {
      const open = INLINE_DROPPED.exec(n.value.trim());
      if (open && !new RegExp(`</${open[1]}\\s*>$`, 'i').test(n.value.trim())) {
        skipping = open[1]!;
        continue;
      }
    }
    switch (n.type) {
      case 'text':
        s += n.value.replace(/[ \t]*\r?\n[ \t]*/g, ' ');
        break;
      case 'inlineCode':
        s += n.value;
        break;
      case 'break':
        s += '\n';
        break;
      case 'image':
      case 'imageReference':
        s += n.alt ?? '';
        break;
      case 'html':
        s += htmlFragmentLines(n.value).join(' ');
        break;
      case 'footnoteReference':
        break;
      default:
        if ('children' in n) s += inlineText(n.children as Nodes[]);
    }
  }
  return s;
}

const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.replace(/[ \t]+/g, ' ').trim())
    .filter(Boolean);

/** A block (and what it holds) as lines; a heading below the top level is a line too. */
function blockLines(node: RootContent): string[] {
  switch (node.type) {
    case 'heading':
    case 'paragraph':
      return lines(inlineText(node.children));
    case 'code':
      return node.value.replace(/\r\n?/g, '\n').split('\n');
    case 'html':
      return htmlFragmentLines(node.value);
    case 'blockquote':
    case 'footnoteDefinition':
      return node.children.flatMap(blockLines);
    case 'list': {
      let number = node.start ?? 1;
      return node.children.flatMap((item) => {
        const marker = `${node.ordered ? `${number++}.` : '-'}${item.checked === true ? ' [x]' : item.checked === false ? ' [ ]' : ''} `;
        const inner = item.children.flatMap(blockLines);
        return inner.length ? inner.map((l, i) => (i === 0 ? marker : '  ') + l) : [marker.trimEnd()];
      });
    }
    case 'table':
      return node.children.map((row) => row.children.map((cell) => inlineText(cell.children).replace(/\s+/g, ' ').trim()).join(' | '));
    default:
      return []; // thematic breaks, link definitions, front matter
  }
}

/** Splits a Markdown document into sections with their heading paths. */
export function markdownSections(markdown: string): Section[] {
  const front = FRONT_MATTER.exec(markdown)?.[0] ?? '';
  const tree = fromMarkdown(markdown.slice(front.length), { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const writer = new SectionWriter();
  for (const node of tree.children) {
    if (node.type === 'heading') writer.heading(node.depth, inlineText(node.children));
    else for (const line of blockLines(node)) writer.line(line);
  }
  // Text before any heading is under the front matter's title, where it has one.
  const title = /^title[ \t]*:[ \t]*(['"]?)(.*?)\1[ \t]*\r?$/m.exec(front)?.[2]?.trim();
  return writer.finish().map((s) => (s.headings.length === 0 && title ? { ...s, headings: [title] } : s));
}
