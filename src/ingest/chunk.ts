// Sections become chunks that fit the embedder's token limit, with overlap between neighbours and
// the headings repeated at the top of every chunk (so a passage retrieved alone still says what it
// is about). Line breaks inside a section survive into the chunk (code, table rows and list items
// stay one per line); a section's page (PDF) goes into its chunks' metadata. Written here rather
// than taken from a library: it must count with the embedder's own tokenizer, never exceed its
// limit, and stay linear on megabytes of text (test/ingest/documents.test.ts holds it to that).
//
// A heading path may be longer than a chunk (FAQs whose headings are whole questions, nested
// three deep, under a small embedder's limit): its repeated copy is then shortened so that it takes
// at most half of every chunk's tokens, never rejected, since one document's headings must not fail
// an ingest of a whole folder. The innermost headings are kept and the outer ones elided with "…"
// ("… › 3.2. But what about Knoppix…"); the chunk's `headings` keep the full path
// (test/ingest/long-headings.test.ts). Nothing about a document's content makes chunking throw: only
// a maxTokens too small for any text, or a countTokens that counts one character over it.
//
// Characters are budgeted too, whatever the tokenizer counts: WordPiece counts a word of more than
// 100 characters as one token ([UNK]), so one unbroken 1 MB "word" (a PDF bomb gave a 2 MB one)
// used to become a 1 MB passage. A word costs the larger of its tokens and its characters (with the
// space or line break before it) over CHARS_PER_TOKEN, a heading line likewise, so no chunk's text
// is longer than maxTokens × CHARS_PER_TOKEN characters; a word over the budget is cut by
// characters like one over it in tokens (test/ingest/long-words.test.ts).

import { WeftError } from '../errors.js';

/**
 * A piece of a parsed document under one heading path (and on one page, for a PDF): what chunkSections
 * cuts into chunks.
 */
export interface Section {
  /** Heading path, outermost first. */
  headings: string[];
  /** The section's text; lines are kept (code, table rows, list items). */
  text: string;
  /** The page it is on, from 1 (PDF: one section per page). */
  page?: number;
}

/**
 * One passage of a document as it is embedded and stored: its document, position, text (heading path
 * on top), headings and metadata.
 */
export interface Chunk {
  docId: string;
  /** Position of the chunk in its document. */
  index: number;
  /** What is embedded and shown: the heading path, then the passage. */
  text: string;
  headings: string[];
  /** The document's metadata, plus `page` (from 1) where the section has one. */
  metadata: Record<string, unknown>;
}

/** How chunkSections cuts: the embedder's token count and limit, and the overlap between neighbouring chunks. */
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

/**
 * A section as words, each counted once: `cost[i]` is word i's tokens without the special
 * tokens (or its characters with its `sep` over CHARS_PER_TOKEN, where more), `glued[i]` means word i is a piece of the word before it (a word too long for any
 * chunk, cut by characters: joined without a space), `ends[i]` means a sentence or line ends
 * after word i, `sep[i]` is what goes before word i when it is not the first of its chunk (a
 * space, nothing for a glued piece, or a line break with the line's indentation). WordPiece-style
 * counts add up over whitespace-separated words, so a run of words costs the sum of its words;
 * each emitted chunk is still checked with one real count.
 */
interface Words {
  text: string[];
  cost: number[];
  glued: boolean[];
  ends: boolean[];
  sep: string[];
}

/**
 * The most characters a token stands for in a chunk: a chunk's text is at most maxTokens times
 * this long. Generous, so that it never decides where ordinary text is cut (English runs 4 to 5
 * characters a token, and a word of 15 letters costs no more than its one token did); it only
 * stops words the tokenizer counts as one token whatever their length.
 */
export const CHARS_PER_TOKEN = 16;

/** Indentation kept at the start of a line (code), at most this many characters. */
const MAX_INDENT = 16;

/** The least room for text a chunk must have besides the tokens every count carries ([CLS], [SEP]). */
const MIN_ROOM = 6;

/** Between the headings of a path, and where a shortened path leaves words or headings out. */
const SEP = ' › ';
const ELLIPSIS = '…';

/** `weigh(w, n)`: what word `w` costs with the `n` characters before it: its tokens, or its characters over CHARS_PER_TOKEN where that is more. */
type Weigh = (w: string, before?: number) => number;

function sectionWords(text: string, weigh: Weigh, budget: number): Words {
  const out: Words = { text: [], cost: [], glued: [], ends: [], sep: [] };
  for (const line of text.split('\n')) {
    let sep = `\n${/^[ \t]*/.exec(line)![0].slice(0, MAX_INDENT)}`;
    for (const unit of line.split(/(?<=[.!?])\s+/)) {
      const before = out.text.length;
      for (const w of unit.split(/\s+/)) {
        if (!w) continue;
        const c = weigh(w, sep.length);
        if (c <= budget) {
          out.text.push(w);
          out.cost.push(c);
          out.glued.push(false);
          out.ends.push(false);
          out.sep.push(sep);
        } else {
          cutWord(w, weigh(w), weigh, budget).forEach(([piece, pc], i) => {
            out.text.push(piece);
            out.cost.push(i > 0 ? pc : weigh(piece, sep.length));
            out.glued.push(i > 0);
            out.ends.push(false);
            out.sep.push(i > 0 ? '' : sep);
          });
        }
        sep = ' ';
      }
      if (out.text.length > before) out.ends[out.text.length - 1] = true;
    }
  }
  return out;
}

/** `i`, or `i - 1` where `i` would split a surrogate pair: pieces are whole code points. */
const pointAt = (s: string, i: number) => (i > 0 && i < s.length && /[\uDC00-\uDFFF]/.test(s[i]!) && /[\uD800-\uDBFF]/.test(s[i - 1]!) ? i - 1 : i);

/** Where the code point at `i` ends. */
const pointEnd = (s: string, i: number) => i + (s.codePointAt(i)! > 0xffff ? 2 : 1);

/**
 * Cuts a word that alone exceeds the budget into pieces that fit, by characters (whole code
 * points); the first `most` pieces only where that is all the caller uses (a heading's first words).
 */
function cutWord(word: string, cost: number, count: (s: string) => number, budget: number, most = Infinity): [string, number][] {
  const pieces: [string, number][] = [];
  let at = 0;
  // Characters per piece, guessed from the whole word's density and corrected as pieces are counted.
  let guess = Math.max(1, Math.floor((word.length * budget) / cost));
  while (at < word.length && pieces.length < most) {
    const least = pointEnd(word, at); // a piece holds at least one code point
    const piece = (len: number) => word.slice(at, Math.max(least, pointAt(word, Math.min(word.length, at + len))));
    let p = piece(guess);
    let c = count(p);
    while (c > budget && at + p.length > least) {
      p = piece(Math.max(1, Math.min(p.length - 1, Math.floor((p.length * budget) / c))));
      c = count(p);
    }
    pieces.push([p, c]);
    at += p.length;
    guess = p.length;
  }
  return pieces;
}

/**
 * The heading path as repeated at the top of each chunk, estimated (words counted once, added up)
 * at no more than `cap` tokens (`count` weighs a word's characters too): the whole path where it fits; else the innermost headings that fit
 * after "… › " standing for the outer ones; else the first words of the innermost heading, cut with
 * "…" (its first word cut by characters where even that is too long); '' where nothing fits.
 * Blank headings are left out.
 * Each heading's cost is counted once per distinct heading, so a path shared by many sections
 * costs its depth per section, not its length.
 */
function headingPrefix(path: readonly string[], cap: number, count: (s: string) => number, headingCost: (h: string) => number): string {
  const headings = path.some((h) => !h.trim()) ? path.filter((h) => h.trim()) : path;
  const k = headings.length;
  if (k === 0 || cap <= 0) return '';
  const sep = count('›'),
    ell = count(ELLIPSIS);
  const costs = headings.map(headingCost);
  if (costs.reduce((a, c) => a + c, 0) + (k - 1) * sep <= cap) return `${headings.join(SEP)}\n`;
  // From the innermost heading outwards, while the headings kept and "… › " before them fit.
  let from = k,
    used = 0;
  while (from > 0) {
    const c = costs[from - 1]! + (from < k ? sep : 0) + (from > 1 ? ell + sep : 0);
    if (used + c > cap) break;
    used += costs[from - 1]! + (from < k ? sep : 0);
    from--;
  }
  if (from === 0) return `${headings.join(SEP)}\n`; // only where counts do not add up; the caller checks the real count
  if (from < k) return `${ELLIPSIS}${SEP}${headings.slice(from).join(SEP)}\n`;
  // The innermost heading alone is too long: its first words, then "…" (after "… › " where outer
  // headings are left out and there is room for it).
  let outer = k > 1 ? `${ELLIPSIS}${SEP}` : '';
  let room = cap - (outer ? ell + sep : 0) - ell;
  if (room <= 0 && outer) {
    outer = '';
    room = cap - ell;
  }
  if (room <= 0) return '';
  let kept = '',
    left = room;
  for (const w of headings[k - 1]!.split(/\s+/)) {
    if (!w) continue;
    const c = count(w);
    if (c <= left) {
      kept += (kept ? ' ' : '') + w;
      left -= c;
      continue;
    }
    if (!kept) {
      const [piece, pc] = cutWord(w, c, count, left, 1)[0]!;
      if (pc <= left) kept = piece;
    }
    break;
  }
  return kept ? `${outer}${kept}${ELLIPSIS}\n` : '';
}

/** Chunks the sections of document `doc.id`; every chunk carries `doc.metadata` (and its section's page). */
export function chunkSections(doc: { id: string; metadata?: Record<string, unknown> | undefined }, sections: readonly Section[], opts: ChunkOptions): Chunk[] {
  const chunks: Chunk[] = [];
  const overlap = opts.overlapTokens ?? Math.floor(opts.maxTokens / 8);
  // The tokens every count carries whatever the text ([CLS] and [SEP] for BERT): counted once per chunk.
  const special = Math.max(0, 2 * opts.countTokens('a') - opts.countTokens('a a'));
  // Room for the headings and the text of a chunk.
  const space = opts.maxTokens - special;
  if (!Number.isInteger(opts.maxTokens)) {
    throw new WeftError(
      'INVALID_OPTION',
      `maxTokens (${String(opts.maxTokens)}) must be a whole number of tokens: pass the embedder's own token limit (its maxLength).`,
      { details: { maxTokens: opts.maxTokens } },
    );
  }
  if (space < MIN_ROOM) {
    throw new WeftError(
      'INVALID_OPTION',
      `maxTokens (${opts.maxTokens}) is too small to cut documents into chunks: a chunk needs room for at least ${MIN_ROOM} tokens of text${special ? ` besides the ${special} that countTokens adds to every text` : ''}. Pass the embedder's own token limit (its maxLength), a whole number of at least ${MIN_ROOM + special}.`,
      { details: { maxTokens: opts.maxTokens } },
    );
  }
  // The repeated heading path takes at most half of the room, so text always has the other half.
  const headingCap = Math.floor(space / 2);
  const memo = new Map<string, number>();
  const count = (w: string) => {
    let c = memo.get(w);
    if (c === undefined) {
      c = Math.max(0, opts.countTokens(w) - special);
      memo.set(w, c);
    }
    return c;
  };
  const weigh: Weigh = (w, before = 0) => Math.max(count(w), (w.length + before) / CHARS_PER_TOKEN);
  // In a heading line every word comes after a space or a separator.
  const headingWord = (w: string) => weigh(w, 1);
  const headingCosts = new Map<string, number>();
  const headingCost = (h: string) => {
    let c = headingCosts.get(h);
    if (c === undefined) {
      c = 0;
      for (const w of h.split(/\s+/)) if (w) c += headingWord(w);
      headingCosts.set(h, c);
    }
    return c;
  };
  // A heading line's real cost: its tokens, or its characters over CHARS_PER_TOKEN where that is more.
  const lineCost = (line: string) => (line ? Math.max(opts.countTokens(line) - special, line.length / CHARS_PER_TOKEN, 0) : 0);
  for (const section of sections) {
    const metadata = { ...(doc.metadata ?? {}), ...(section.page !== undefined ? { page: section.page } : {}) };
    // Estimated by words, then counted for real; where a tokenizer does not add up over words and
    // the real count is over the cap, shortened again by what it is over (at most a few times).
    let prefix = headingPrefix(section.headings, headingCap, headingWord, headingCost);
    let prefixCost = lineCost(prefix);
    for (let cap = headingCap, tries = 0; prefixCost > headingCap; tries++) {
      cap -= prefixCost - headingCap;
      prefix = tries < 3 ? headingPrefix(section.headings, cap, headingWord, headingCost) : '';
      prefixCost = lineCost(prefix);
    }
    const budget = space - prefixCost;
    const words = sectionWords(section.text, weigh, budget);
    const n = words.text.length;
    const join = (from: number, to: number) => {
      let s = '';
      for (let i = from; i < to; i++) s += (i > from ? words.sep[i]! : '') + words.text[i]!;
      return s;
    };
    let start = 0,
      fresh = 0; // fresh: the first word the previous chunk did not hold
    while (start < n) {
      let end = start,
        cost = 0;
      while (end < n && cost + words.cost[end]! <= budget) cost += words.cost[end++]!;
      // A piece counted over the budget alone (one character that countTokens counts as more) still moves on.
      if (end === start) end++;
      // Prefer to end at a sentence end past the overlap; a sentence longer than what is left is cut at a word.
      if (end < n) {
        let b = end;
        while (b > fresh + 1 && !words.ends[b - 1]) b--;
        if (b > fresh && words.ends[b - 1]) end = b;
      }
      // One real count: tokenizers that do not add up exactly over words lose words from the end
      // until it fits; a single word that still does not fit under its headings goes without them
      // (alone, it fits: its own count is within the budget).
      let head = prefix;
      let text = head + join(start, end);
      for (let real = opts.countTokens(text); real > opts.maxTokens; real = opts.countTokens(text)) {
        if (end - start <= 1) {
          if (head) {
            head = '';
            text = join(start, end);
            continue;
          }
          throw new WeftError(
            'INVALID_OPTION',
            `countTokens counts the single character '${words.text[start]!}' (in '${doc.id}') as ${real} tokens, more than maxTokens (${opts.maxTokens}): they do not belong together. Pass the embedder's own countTokens and its own token limit (maxLength) together.`,
            { details: { name: doc.id, maxTokens: opts.maxTokens } },
          );
        }
        let drop = real - opts.maxTokens;
        while (drop > 0 && end - start > 1) drop -= Math.max(1, words.cost[--end]!);
        text = head + join(start, end);
      }
      chunks.push({ docId: doc.id, index: chunks.length, text, headings: section.headings, metadata: { ...metadata } });
      if (end >= n) break;
      // Carry the tail into the next chunk: at most `overlap` tokens, leaving room for the next
      // sentence (or at least the next word), starting at a sentence start where the tail holds one.
      let next = 0;
      for (let i = end; i < n && next <= budget; i++) {
        next += words.cost[i]!;
        if (words.ends[i]) break;
      }
      const room = Math.min(overlap, budget - (next <= budget ? next : words.cost[end]!));
      let s = end,
        tail = 0;
      while (s > start + 1 && tail + words.cost[s - 1]! <= room) tail += words.cost[--s]!;
      for (let i = s; i < end; i++)
        if (i > 0 && words.ends[i - 1]) {
          s = i;
          break;
        }
      fresh = end;
      start = s;
    }
  }
  return chunks;
}
