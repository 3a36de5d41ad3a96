// The load-time check of tokenizer.json's regular expressions: catastrophic ones are refused
// (statically or by timed probes), the patterns real tokenizers ship are not.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { backtrackingRisk, checkTokenizerPatterns, tokenizerPatterns } from '../../src/embed/regex-guard.js';

const minilm = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../shared/assets/minilm-tokenizer/tokenizer.json'), 'utf8')) as Record<
  string,
  unknown
>;
const split = (Regex: string) => ({
  ...minilm,
  pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Split', pattern: { Regex }, behavior: 'Isolated', invert: false }] },
});

describe('tokenizer regex guard', () => {
  test('patterns that real tokenizers ship pass the static check', () => {
    const shipped = [
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", // GPT-2
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", // Llama 3
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", // o200k
      ' ?[^(\\s|[.,!?…。，、।۔،])]+', // BLOOM
      '[一-龥\\u3040-ゟ゠-ヿ]+', // DeepSeek
      ' {2,}',
      '\\s+',
      '▁',
      '(a|b)+',
      '(?:ab|cd)*x',
    ];
    for (const p of shipped) expect(backtrackingRisk(p), p).toBeUndefined();
  });

  test('nested quantifiers and overlapping alternatives under a quantifier are flagged', () => {
    for (const p of ['(a|aa)+$', '(a+)+b', '(\\w+\\s?)*!', '(?:a*)*', '(a|a?)+', '(.|a)*x', '(a|)+', '([a-z]|\\d)+$', '(ab|ac){2,}', '((a)+b)+']) {
      expect(backtrackingRisk(p), p).toMatch(/repeated group/);
    }
  });

  test('finds every pattern in a tokenizer.json, and refuses slow ones by timing them', () => {
    expect(tokenizerPatterns(split('x+'))).toEqual([{ path: 'pre_tokenizer.pretokenizers[1].pattern', source: 'x+' }]);
    const t0 = performance.now();
    checkTokenizerPatterns(minilm);
    checkTokenizerPatterns(split("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(() => checkTokenizerPatterns(split('(a|aa)+$'))).toThrow(
      expect.objectContaining({ code: 'INVALID_MODEL', message: expect.stringContaining('/(a|aa)+$/') }),
    );
    // Degree-8 polynomial, no repeated group: only the probes see it.
    const slow = '\\s*\\s*\\s*\\s*\\s*\\s*\\s*\\s*x';
    expect(backtrackingRisk(slow)).toBeUndefined();
    const t1 = performance.now();
    expect(() => checkTokenizerPatterns(split(slow))).toThrow(expect.objectContaining({ code: 'INVALID_MODEL', message: expect.stringContaining(slow) }));
    expect(performance.now() - t1).toBeLessThan(2000);
    new Tokenizer(split(slow), {}); // the library itself builds it (and would hang on a run of spaces)
  });
});
