// Tokenizer regexes that would hang the embedder. A tokenizer.json may carry its own regular
// expressions (the `pattern: { Regex }` of Split and Replace normalizers, pre-tokenizers and
// decoders), which @huggingface/tokenizers compiles into backtracking JavaScript RegExps
// (create_pattern). A pattern such as `(a|aa)+$` takes time exponential in the length of a run
// of a's, and a running RegExp cannot be interrupted: one such text would hang embedding for
// good. So the patterns are checked when the tokenizer loads, twice: statically (an unbounded
// quantifier over a group that holds one itself, or over alternatives that can start alike),
// and by timing each pattern, compiled as the library compiles it, on growing runs of the
// characters it names, stopping at the first slow one.

import { ReplaceNormalizer } from '@huggingface/tokenizers';
import { WeftError } from '../errors.js';

/** A probe slower than this refuses the pattern: linear ones take microseconds on these inputs. */
const PROBE_LIMIT_MS = 100;
/** Run lengths: small steps while exponential growth is still cheap, then doublings. */
const PROBE_LENGTHS = [4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 36, 40, 48, 56, 64, 96, 128, 192, 256, 384, 512];
const PROBE_SUFFIXES = ['', '\u0000', '!'];
const PROBE_CHARS = ['a', 'A', '0', ' ', '\n', '.', ',', "'", 'é', '中'];
/** A bounded quantifier {n,m} with more than this many optional repeats counts as unbounded. */
const WIDE_REPEAT = 16;

interface Alternative {
  first: string | null | undefined;
  firstAtom?: Atom;
} // first: a literal, null: unknown, undefined: empty so far
interface Frame {
  alts: Alternative[];
  unbounded: boolean;
  zeroWidth: boolean;
  start: number;
  last?: Atom | undefined;
}
interface Atom {
  first: string | null;
  group?: Frame;
}

/**
 * Why `source` can backtrack catastrophically, or undefined. Conservative on purpose: a group
 * under an unbounded quantifier must hold no unbounded quantifier itself (star height 1) and its
 * alternatives must start with distinct literal characters.
 */
export function backtrackingRisk(source: string): string | undefined {
  const stack: Frame[] = [{ alts: [{ first: undefined }], unbounded: false, zeroWidth: false, start: 0 }];
  const top = () => stack[stack.length - 1]!;
  const push = (atom: Atom) => {
    const f = top();
    const alt = f.alts[f.alts.length - 1]!;
    if (!alt.firstAtom) {
      alt.first = atom.first;
      alt.firstAtom = atom;
    }
    f.last = atom;
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      const e = source[i + 1] ?? '';
      let end = i + 2;
      if ('pPux'.includes(e) && source[end] === '{') end = source.indexOf('}', end) + 1 || source.length;
      else if (e === 'u') end += 4;
      else if (e === 'x') end += 2;
      else if (e === 'c') end += 1;
      else if (e === 'k' && source[end] === '<') end = source.indexOf('>', end) + 1 || source.length;
      if (e === 'b' || e === 'B') {
        i = end;
        continue;
      } // assertions match no text
      const escaped: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', v: '\v' };
      push({ first: /[dDwWsSpPuxck0-9]/.test(e) ? null : (escaped[e] ?? e) });
      i = end;
      continue;
    }
    if (c === '[') {
      // Oniguruma (and so tokenizer.json) allows classes inside classes.
      let depth = 0,
        j = i;
      for (; j < source.length; j++) {
        if (source[j] === '\\') {
          j++;
          continue;
        }
        if (source[j] === '[') depth++;
        else if (source[j] === ']' && --depth === 0) break;
      }
      push({ first: null });
      i = j + 1;
      continue;
    }
    if (c === '(') {
      let j = i + 1,
        zeroWidth = false;
      if (source[j] === '?') {
        const rest = source.slice(j + 1);
        if (rest.startsWith(':')) j += 2;
        else if (/^<?[=!]/.test(rest)) {
          zeroWidth = true;
          j += rest[0] === '<' ? 3 : 2;
        } else if (rest.startsWith('<')) j = source.indexOf('>', j) + 1 || source.length;
        else {
          const flags = /^[a-zA-Z-]*[:)]/.exec(rest);
          if (flags?.[0].endsWith(')')) {
            i = j + 1 + flags[0].length;
            continue;
          } // (?i): flags only
          j += 1 + (flags?.[0].length ?? 0);
        }
      }
      stack.push({ alts: [{ first: undefined }], unbounded: false, zeroWidth, start: i });
      i = j;
      continue;
    }
    if (c === '|') {
      top().alts.push({ first: undefined });
      top().last = undefined;
      i++;
      continue;
    }
    if (c === ')') {
      i++;
      if (stack.length === 1) continue;
      const g = stack.pop()!;
      if (g.unbounded) top().unbounded = true;
      if (g.zeroWidth) {
        top().last = undefined;
        continue;
      }
      push({ first: g.alts.length === 1 ? (g.alts[0]!.first ?? null) : null, group: g });
      continue;
    }
    const q = /^(?:[*+?]|\{(\d+)(,(\d*))?\})/.exec(source.slice(i));
    if (q) {
      const min = c === '+' ? 1 : c === '{' ? Number(q[1]) : 0;
      const max = c === '?' ? 1 : c === '{' ? (q[2] === undefined ? min : q[3] === '' ? Infinity : Number(q[3])) : Infinity;
      i += q[0].length;
      if (source[i] === '?' || source[i] === '+') i++; // lazy or possessive
      const f = top(),
        atom = f.last;
      if (!atom) continue;
      const alt = f.alts[f.alts.length - 1]!;
      if (min === 0 && alt.firstAtom === atom) alt.first = null; // an optional first atom: what starts the alternative is unknown
      if (max - min <= WIDE_REPEAT) continue;
      const text = atom.group ? source.slice(atom.group.start, i) : '';
      if (atom.group?.unbounded) return `the repeated group ${text} holds a repeated part itself (nested quantifiers)`;
      if (atom.group && overlapping(atom.group.alts)) return `the alternatives of the repeated group ${text} can match the same text`;
      f.unbounded = true;
      continue;
    }
    if (c === '^' || c === '$') {
      i++;
      continue;
    }
    const ch = String.fromCodePoint(source.codePointAt(i)!);
    push({ first: c === '.' ? null : ch });
    i += ch.length;
  }
  return undefined;
}

function overlapping(alts: Alternative[]): boolean {
  if (alts.length < 2) return false;
  const firsts = new Set<string>();
  for (const a of alts) {
    if (a.first === null || a.first === undefined || firsts.has(a.first)) return true;
    firsts.add(a.first);
  }
  return false;
}

/** Every `pattern: { Regex }` in a tokenizer.json, with where it is. */
export function tokenizerPatterns(json: unknown): { path: string; source: string }[] {
  const out: { path: string; source: string }[] = [];
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`));
      return;
    }
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      const regex = (x as { Regex?: unknown } | null)?.Regex;
      if (k === 'pattern' && typeof regex === 'string') out.push({ path: path ? `${path}.pattern` : 'pattern', source: regex });
      else walk(x, path ? `${path}.${k}` : k);
    }
  };
  walk(json, '');
  return out;
}

/**
 * The RegExp @huggingface/tokenizers makes of a pattern (its create_pattern rewrites Oniguruma
 * syntax), taken from a Replace normalizer built on it; undefined where it does not compile.
 */
function compiled(source: string): RegExp | undefined {
  try {
    const re = (new ReplaceNormalizer({ type: 'Replace', pattern: { Regex: source }, content: '' }) as unknown as { pattern?: unknown }).pattern;
    return re instanceof RegExp ? re : new RegExp(source, 'gu');
  } catch {
    return undefined;
  }
}

/** Milliseconds the slowest probe took, stopping at the first over the limit. */
function slowestProbe(re: RegExp): { ms: number; input: string } {
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
  const named = [...new Set(Array.from(re.source))].filter((ch) => ch !== '\\').slice(0, 32);
  const chars = [...new Set([...named, ...PROBE_CHARS])];
  let worst = { ms: 0, input: '' };
  for (const n of PROBE_LENGTHS) {
    for (const ch of chars) {
      for (const suffix of PROBE_SUFFIXES) {
        const input = ch.repeat(n) + suffix;
        const t0 = performance.now();
        for (const _ of input.matchAll(g)) {
          /* run it to the end */
        }
        const ms = performance.now() - t0;
        if (ms > worst.ms) worst = { ms, input };
        if (ms > PROBE_LIMIT_MS) return worst;
      }
    }
  }
  return worst;
}

const show = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s);

/**
 * Refuses (INVALID_MODEL, naming the pattern) a tokenizer.json whose regular expressions can take
 * exponential (or high-polynomial) time on some text.
 */
export function checkTokenizerPatterns(json: unknown): void {
  for (const { path, source } of tokenizerPatterns(json)) {
    const risk = backtrackingRisk(source);
    if (risk) {
      throw new WeftError(
        'INVALID_MODEL',
        `tokenizer.json's ${path} /${show(source)}/ can take exponential time on some texts (${risk}), which would hang embedding. Rewrite the pattern so that no text matches it in more than one way, or use another tokenizer.`,
        { details: { path, pattern: source } },
      );
    }
    const re = compiled(source);
    if (!re) continue;
    const { ms, input } = slowestProbe(re);
    if (ms > PROBE_LIMIT_MS) {
      throw new WeftError(
        'INVALID_MODEL',
        `tokenizer.json's ${path} /${show(source)}/ took ${Math.round(ms)} ms on a ${input.length}-character text (a run of ${JSON.stringify(input[0])}): it backtracks catastrophically and would hang embedding. Rewrite the pattern, or use another tokenizer.`,
        { details: { path, pattern: source } },
      );
    }
  }
}
