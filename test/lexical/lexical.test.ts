// The lexical index's parts: the analyzer (Unicode forms, case, word segmentation in unspaced
// scripts, stopwords, stemming per language), the bucket record format, and BM25 on postings
// persisted through a real store (the file store) after random adds, deletes and overwrites,
// against a brute-force BM25 computed from the live chunks' texts (same ids, same scores).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { loadAnalyzer, checkLanguage, STEMMED_LANGUAGES } from '../../src/lexical/analyzer.js';
import { BM25_DEFAULTS, idf } from '../../src/lexical/bm25.js';
import { bucketOf, decodeBucket, encodeBucket, type TermPostings } from '../../src/lexical/postings.js';
import { openFileStore } from '../../src/storage/file-store.js';
import { nodeFileSystem } from '../../src/storage/fs-node.js';
import type { ChunkRecord } from '../../src/storage/contract.js';
import { lexicalSearch, openLexicalSession } from '../../src/stored-index/lexical-search.js';
import { storeInit } from '../support/store-behaviour.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('analyzer', () => {
  test('English: NFKC, locale-independent lowercase, folded accents, stopwords, possessives, Porter-family stems', async () => {
    const en = await loadAnalyzer('english');
    expect(en.stemming).toBe(true);
    // Full-width letters (NFKC), upper case, composed and decomposed accents: one term each.
    expect(en.terms('ＦＬＯＷ Flow flow')).toEqual(['flow', 'flow', 'flow']);
    expect(en.terms('café')).toEqual(en.terms('cafe\u0301'));
    expect(en.terms('CAFÉ naïve')).toEqual(en.terms('cafe naive'));
    // ﬁ ligature → fi (NFKC); the dotted capital I lowercases the same in every locale.
    expect(en.terms('ﬁeld')).toEqual(en.terms('field'));
    expect(en.terms('İstanbul')).toEqual(en.terms('istanbul'));
    // Stopwords go; stems make inflections meet.
    expect(en.terms('the flow of the boundary layers')).toEqual(['flow', 'boundari', 'layer']);
    for (const [a, b] of [
      ['studies', 'study'],
      ['flowing', 'flowed'],
      ['boundaries', 'boundary'],
      ['aerodynamics', 'aerodynamic'],
      ['wings', 'wing'],
    ]) {
      expect(en.terms(a!), `${a} ~ ${b}`).toEqual(en.terms(b!));
    }
    expect(en.terms("the wing's edge")).toEqual(en.terms('wing edge'));
    expect(en.terms('e-mail 3.5 mach2')).toEqual(['e', 'mail', '3.5', 'mach2']);
    expect(en.terms('')).toEqual([]);
    expect(en.terms('the of and')).toEqual([]);
  });

  test('unspaced scripts are segmented into words (dictionary segmentation), punctuation dropped', async () => {
    const ja = await loadAnalyzer('japanese');
    expect(ja.stemming).toBe(false);
    const zh = ja.terms('我喜欢北京天安门。');
    expect(zh).toContain('北京');
    expect(zh).not.toContain('。');
    expect(zh.join('')).toBe('我喜欢北京天安门');
    expect(ja.terms('東京都に住んでいる')).toContain('東京');
    // Without a stemmer or stopwords, words are kept as segmented (lowercased).
    expect(ja.terms('The Flows')).toEqual(['the', 'flows']);
  });

  test('German and French with the language option: their stemmers, umlauts and accents kept', async () => {
    const de = await loadAnalyzer('german');
    expect(de.terms('Häuser')).toEqual(de.terms('Haus'));
    expect(de.terms('Bücher')).toEqual(de.terms('buch'));
    expect(de.terms('Kinder')).toEqual(de.terms('Kind'));
    const fr = await loadAnalyzer('french');
    expect(fr.terms('chevaux')).toEqual(fr.terms('cheval'));
    expect(fr.terms('nationale')).toEqual(fr.terms('national'));
    // English's stemmer would not join these; its folding would turn ü into u.
    const en = await loadAnalyzer('english');
    expect(en.terms('Häuser')).not.toEqual(en.terms('Haus'));
    expect(STEMMED_LANGUAGES).toEqual(expect.arrayContaining(['english', 'german', 'french', 'spanish', 'russian']));
  });

  test('a language that is not a lowercase name is INVALID_OPTION', () => {
    for (const bad of ['English', '', 'en_US', 3, null]) expect(() => checkLanguage(bad)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(checkLanguage(undefined)).toBe('english');
  });
});

describe('term buckets', () => {
  test('a bucket record round-trips; every term is filed in the bucket bucketOf names', () => {
    const terms = new Map<string, TermPostings>([
      ['flow', { ids: Uint32Array.from([1, 5, 300000, 4294967294]), tfs: Uint32Array.from([1, 2, 70000, 1]), lens: Uint32Array.from([3, 9, 200000, 1]) }],
      ['北京', { ids: Uint32Array.from([7]), tfs: Uint32Array.from([1]), lens: Uint32Array.from([1]) }],
    ]);
    const bytes = encodeBucket({ bucket: 3, terms });
    expect(decodeBucket(3, bytes)).toEqual({ bucket: 3, terms });
    expect(() => decodeBucket(3, bytes.subarray(0, bytes.length - 1))).toThrow();
    for (const b of [1, 7, 1024]) for (const t of ['flow', '北京', 'x']) expect(bucketOf(t, b)).toBe(bucketOf(t, b));
    expect(new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((t) => bucketOf(t, 1024))).size).toBeGreaterThan(4);
  });
});

/** Seeded PRNG so a failure can be replayed (the seed is in the test name's output). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const VOCAB = [
  'flow',
  'flows',
  'flowing',
  'wing',
  'wings',
  'boundary',
  'layer',
  'layers',
  'shock',
  'mach',
  'heat',
  'heated',
  'the',
  'of',
  'pressure',
  'Pressure',
  'café',
  'naïve',
  'turbulent',
  'turbulence',
  'slab',
  'jet',
  'cone',
  'cones',
  'panel',
  'buckling',
  'delta',
  'vortex',
  'nozzle',
  'zeta',
];

/** BM25 as bm25.ts documents it, straight from the live chunks' texts. */
async function bruteForce(chunks: ChunkRecord[], query: string, k: number, allow?: (id: number) => boolean) {
  const en = await loadAnalyzer('english');
  const docs = chunks.map((c) => ({ id: c.id, terms: en.terms(c.text) })).filter((d) => d.terms.length > 0);
  const N = docs.length,
    avgdl = docs.reduce((a, d) => a + d.terms.length, 0) / N;
  const q = new Map<string, number>();
  for (const t of en.terms(query)) q.set(t, (q.get(t) ?? 0) + 1);
  const scores = new Map<number, number>();
  for (const [t, qtf] of q) {
    const n = docs.filter((d) => d.terms.includes(t)).length;
    for (const d of docs) {
      const tf = d.terms.filter((x) => x === t).length;
      if (tf === 0) continue;
      const { k1, b } = BM25_DEFAULTS;
      scores.set(d.id, (scores.get(d.id) ?? 0) + (qtf * idf(N, n) * tf) / (tf + k1 * (1 - b + (b * d.terms.length) / avgdl)));
    }
  }
  const ranked = [...scores]
    .filter(([id]) => !allow || allow(id))
    .sort((x, y) => y[1] - x[1] || x[0] - y[0])
    .slice(0, k);
  return { ids: ranked.map(([id]) => id), scores: ranked.map(([, s]) => s) };
}

describe('BM25 on stored postings', () => {
  for (const seed of [1, 2, 3]) {
    test(`random corpus (seed ${seed}): after random puts, deletes and overwrites, lexical search equals brute-force BM25 (ids and scores)`, async () => {
      const random = rng(seed);
      const dir = await mkdtemp(join(tmpdir(), 'weft-lexical-'));
      dirs.push(dir);
      const s = await openFileStore({ dir, fs: nodeFileSystem() });
      // Few buckets, so many terms share one.
      let m = await s.createIndex({ ...storeInit('idx'), termBuckets: 5 });
      const live = new Map<number, ChunkRecord>();
      const text = () => Array.from({ length: 1 + Math.floor(random() * 12) }, () => VOCAB[Math.floor(random() * VOCAB.length)]).join(' ');
      for (let round = 0; round < 12; round++) {
        const puts: ChunkRecord[] = [];
        const dels: number[] = [];
        for (let i = 0; i < 8; i++) {
          // Mostly ids below nextId (summed densely), some far above it (summed in a map).
          const id = random() < 0.85 ? Math.floor(random() * 60) : 2 ** 32 - 2 - Math.floor(random() * 10);
          if (random() < 0.3 && live.has(id)) {
            dels.push(id);
            continue;
          }
          if (dels.includes(id) || puts.some((c) => c.id === id)) continue;
          // Overwriting a stored chunk drops its old postings.
          puts.push({ id, list: 0, docId: `d${id % 7}`, text: random() < 0.1 ? '' : text() });
        }
        m = await s.commit('idx', m.generation, { putChunks: puts, deleteChunks: dels, nextId: 60 });
        for (const id of dels) live.delete(id);
        for (const c of puts) live.set(c.id, c);
        const chunks = [...live.values()];
        for (let qn = 0; qn < 6; qn++) {
          const query = text();
          const k = 1 + Math.floor(random() * 20);
          const allow = qn % 2 ? (id: number) => id % 3 !== 0 : undefined;
          const want = await bruteForce(chunks, query, k, allow);
          const got = await lexicalSearch(s, 'idx', m, query, { k, ...(allow ? { allow } : {}) });
          expect(Array.from(got.ids), `${query} (k ${k})`).toEqual(want.ids);
          got.scores.forEach((x, i) => expect(x).toBeCloseTo(want.scores[i]!, 5));
          // The same search one term per step: the same result, bit for bit.
          const session = await openLexicalSession(s, 'idx', m, query, { k, ...(allow ? { allow } : {}) });
          let steps = 0;
          while (!session.done) {
            await session.step();
            steps++;
          }
          expect(steps).toBe(session.terms);
          expect(session.read()).toEqual(got);
        }
      }
      const en = await loadAnalyzer('english');
      const withTerms = [...live.values()].filter((c) => en.terms(c.text).length > 0);
      expect((await s.manifest('idx')).lexical).toMatchObject({ chunks: withTerms.length, tokens: withTerms.reduce((a, c) => a + en.terms(c.text).length, 0) });
    });
  }

  test('a session whose index changes between steps starts again on the new state: its result is that of the new index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-lexical-'));
    dirs.push(dir);
    const s = await openFileStore({ dir, fs: nodeFileSystem() });
    const m0 = await s.createIndex(storeInit('idx'));
    let m = await s.commit('idx', m0.generation, {
      putChunks: [
        { id: 1, list: 0, docId: 'a', text: 'shock wave drag' },
        { id: 2, list: 0, docId: 'a', text: 'wave drag' },
        { id: 3, list: 0, docId: 'b', text: 'shock' },
      ],
    });
    const session = await openLexicalSession(s, 'idx', m, 'shock wave drag', { k: 5 });
    expect(session.terms).toBe(3);
    await session.step();
    expect(session.scored).toBe(1);
    expect(Array.from(session.read().ids)).toEqual([3, 1]); // 'shock' alone: the shorter chunk first
    m = await s.commit('idx', m.generation, { deleteChunks: [1], putChunks: [{ id: 4, list: 0, docId: 'c', text: 'shock wave drag drag' }] });
    while (!session.done) await session.step(2);
    expect(session.read()).toEqual(await lexicalSearch(s, 'idx', m, 'shock wave drag', { k: 5 }));
    expect(Array.from(session.read().ids)).not.toContain(1);
    await expect(session.step(0)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  test('a query of stopwords only finds nothing; k and the query are checked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-lexical-'));
    dirs.push(dir);
    const s = await openFileStore({ dir, fs: nodeFileSystem() });
    const m0 = await s.createIndex(storeInit('idx'));
    const m = await s.commit('idx', m0.generation, { putChunks: [{ id: 1, list: 0, docId: 'a', text: 'the shock wave' }] });
    expect(Array.from((await lexicalSearch(s, 'idx', m, 'the of', { k: 5 })).ids)).toEqual([]);
    expect(Array.from((await lexicalSearch(s, 'idx', m, 'SHOCKS', { k: 5 })).ids)).toEqual([1]);
    await expect(lexicalSearch(s, 'idx', m, 'shock', { k: 0 })).rejects.toMatchObject({ code: 'K_OUT_OF_RANGE' });
    await expect(lexicalSearch(s, 'idx', m, 3 as never, { k: 1 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const ctl = new AbortController();
    ctl.abort();
    await expect(lexicalSearch(s, 'idx', m, 'shock', { k: 1, signal: ctl.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
