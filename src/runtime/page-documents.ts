// Documents are read on the page before they go to the engine worker: the library's HTML reader
// needs DOMParser, which workers lack. The page splits HTML into its sections with the library's
// own parser (parseSections) and hands the worker the same sections written as Markdown, which
// the worker splits back into the same heading paths. createRagInWorker's ingest does this.

import { parseSections, readDocument, type DocumentInput } from '../ingest/documents.js';

const isHtml = (input: Blob | DocumentInput): boolean => (input instanceof Blob
  ? input.type === 'text/html' || /\.html?$/i.test((input as { name?: string }).name ?? '')
  : input.type === 'html');

/** Files and documents as the engine worker can ingest them: HTML ones become Markdown with the same sections; the rest go as they are. */
export async function forWorker(inputs: readonly (Blob | DocumentInput)[]): Promise<(Blob | DocumentInput)[]> {
  return Promise.all(inputs.map(async (input, i) => {
    if (!isHtml(input)) return input;
    const doc = await readDocument(input, i);
    return doc.type === 'html' ? { ...doc, text: sectionsAsMarkdown(doc.text), type: 'markdown' as const } : doc;
  }));
}

function sectionsAsMarkdown(html: string): string {
  const out: string[] = [];
  let path: readonly string[] = [];
  for (const section of parseSections(html, 'html')) {
    // A section whose heading path changed restates the whole path, so the Markdown reader rebuilds it.
    if (section.headings.join('\n') !== path.join('\n')) {
      section.headings.forEach((h, level) => out.push(`${'#'.repeat(Math.min(level + 1, 6))} ${h.replace(/\s+/g, ' ')}`));
      path = section.headings;
    }
    // Text lines that Markdown would read as headings or code fences must stay text: a heading-like
    // line is indented by a space, a fence-like one starts with a zero-width space.
    out.push(section.text.replace(/^(?=#{1,6}\s)/gm, ' ').replace(/^(?=\s*(```|~~~))/gm, '\u200b'), '');
  }
  return out.join('\n');
}
