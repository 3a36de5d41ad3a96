// Reading a list out of generated text (a split node: sub-questions). A model may write anything —
// one long line, numbering, bullets, repeats, nothing at all, a story — so the parse is bounded in
// count and length, never throws, and falls back to the question when nothing usable is left.

/** Items shorter than this (after cleaning) are noise ("1.", "-", "a"). */
const MIN_ITEM_CHARS = 3;

/** One line without its list marker ("1.", "2)", "-", "*", "•", "Q1:") and surrounding quotes. */
function cleanItem(line: string): string {
  return line
    .trim()
    .replace(/^(?:[-*•]+|\(?\d{1,2}[.):]|q\d{1,2}[.):]?|(?:sub-?)?question\s*\d*[.:)])\s*/i, '')
    .replace(/^["'“”]+|["'“”]+$/g, '')
    .trim();
}

/**
 * At most `max` distinct items of `text`, one per line, each cut to `maxChars` characters (at a
 * word boundary where there is one); `[fallback]` when none is left.
 */
export function parseList(text: string, o: { max: number; maxChars: number; fallback: string }): string[] {
  const items: string[] = [];
  const seen = new Set<string>();
  for (const line of String(text).split(/\r?\n/)) {
    if (items.length >= o.max) break;
    let item = cleanItem(line);
    if (item.length > o.maxChars) {
      const cut = item.slice(0, o.maxChars);
      const space = cut.lastIndexOf(' ');
      item = (space > o.maxChars / 2 ? cut.slice(0, space) : cut).trim();
    }
    const key = item.toLowerCase();
    // A line ending in a colon is a label ("Simpler questions:"), not an item.
    if (item.length < MIN_ITEM_CHARS || item.endsWith(':') || seen.has(key)) continue;
    seen.add(key);
    items.push(item);
  }
  return items.length > 0 ? items : [o.fallback];
}
