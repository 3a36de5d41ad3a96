// HTML to Markdown for the Deno shell: Deno has no DOMParser, which the library's HTML reader
// needs, so the shell hands HTML over as Markdown with its headings kept (the chunker is
// heading-aware). One linear scan over tags and text: scripts, styles and page chrome are dropped
// with their content, block elements become line breaks, entities are decoded.

const DROPPED = new Set(['script', 'style', 'noscript', 'template', 'nav', 'footer', 'head']);
const BLOCK = new Set(['p', 'div', 'li', 'pre', 'blockquote', 'tr', 'section', 'article', 'ul', 'ol', 'table', 'dd', 'dt', 'figcaption', 'br', 'hr', 'body', 'main', 'header']);
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,8});/gi, (whole, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED[e.toLowerCase()] ?? whole;
  });
}

export function htmlToMarkdown(html: string): string {
  const out: string[] = [];
  let at = 0;
  let skipping: string | undefined;
  while (at < html.length) {
    const lt = html.indexOf('<', at);
    const text = html.slice(at, lt < 0 ? html.length : lt);
    if (!skipping && text) out.push(decodeEntities(text).replace(/\s+/g, ' '));
    if (lt < 0) break;
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      at = end < 0 ? html.length : end + 3;
      continue;
    }
    const gt = html.indexOf('>', lt + 1);
    if (gt < 0) break;
    const tag = html.slice(lt + 1, gt);
    at = gt + 1;
    const closing = tag.startsWith('/');
    const name = (/^\/?\s*([a-zA-Z][a-zA-Z0-9-]*)/.exec(tag)?.[1] ?? '').toLowerCase();
    if (skipping) {
      if (closing && name === skipping) skipping = undefined;
      continue;
    }
    if (DROPPED.has(name) && !closing && !tag.endsWith('/')) { skipping = name; continue; }
    const heading = /^h([1-6])$/.exec(name);
    if (heading) out.push(closing ? '\n\n' : `\n\n${'#'.repeat(Number(heading[1]))} `);
    else if (BLOCK.has(name)) out.push('\n\n');
  }
  return out.join('').split('\n').map((l) => l.trim()).join('\n').replace(/\n{3,}/g, '\n\n').trim();
}
