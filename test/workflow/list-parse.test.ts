// Reading sub-questions out of whatever a model wrote (issue 22: bounded counts and lengths, a
// fallback to the question, never a throw).
import { expect, test } from 'vitest';
import { parseList } from '../../src/workflow/list-parse.js';
import { createRng } from '../../src/random.js';

const o = { max: 3, maxChars: 40, fallback: 'the question?' };

test('numbering, bullets, labels, quotes and repeats are dropped; at most max items of at most maxChars', () => {
  expect(parseList('Simpler questions:\n1. What is a volcano?\n2) Where are volcanoes?\n- "What is lava?"\n* What is ash?', o)).toEqual([
    'What is a volcano?',
    'Where are volcanoes?',
    'What is lava?',
  ]);
  expect(parseList('Q1: what is it\nq2. WHAT IS IT\nQuestion 3: why\n\n  \n', o)).toEqual(['what is it', 'why']);
  const long = parseList(`${'word '.repeat(30)}\nshort one`, o);
  expect(long[0]!.length).toBeLessThanOrEqual(40);
  expect(long[0]!.endsWith('word')).toBe(true); // cut at a word boundary
});

test('a text with nothing usable gives the question; nonsense never throws', () => {
  expect(parseList('', o)).toEqual(['the question?']);
  expect(parseList('1.\n-\n:\n?!', o)).toEqual(['the question?']);
  const rng = createRng(22);
  const alphabet = 'ab c\n\n1.-*•:"“\t?';
  for (let i = 0; i < 500; i++) {
    const text = Array.from({ length: Math.floor(rng.next() * 400) }, () => alphabet[Math.floor(rng.next() * alphabet.length)]).join('');
    const items = parseList(text, o);
    expect(items.length).toBeGreaterThanOrEqual(1);
    expect(items.length).toBeLessThanOrEqual(3);
    for (const item of items) expect(item.length).toBeLessThanOrEqual(40);
  }
});
