// Text → index terms for the lexical (BM25) index: the same function for chunks and queries, so a
// query word finds the passages that hold it whatever its Unicode form, case or inflection.
//   1. NFKC (full-width letters, ligatures, composed and decomposed accents become one form), then
//      lowercase with toLowerCase() — the locale-independent mapping, so an index written in a
//      Turkish-locale browser reads the same everywhere.
//   2. Words by Intl.Segmenter (granularity 'word', only isWordLike segments): ICU's word rules,
//      with dictionary segmentation for Chinese, Japanese, Thai … where words are not spaced.
//   3. English only: diacritics folded (café = cafe, naïve = naive), possessive 's dropped, and
//      the English stopwords below removed (the list lunr.js uses, so the Cranfield comparison
//      with lunr in bench/quality.ts weighs the same words).
//   4. Stemming with @orama/stemmers (Snowball/Porter family) for the index's `language`; a
//      language it has no stemmer for (Chinese, Japanese, Korean, Thai, …) is indexed unstemmed
//      and without stopwords. English's stemmer comes with this module; the others load on demand
//      (one small module each), so a page only downloads the one its index uses.
// Nothing here is hand-written linguistics: segmentation is ICU's, stemming the library's.

import { stemmer as englishStemmer } from '@orama/stemmers/english';
import { WeftError } from '../errors.js';

/** Languages with a stemmer in @orama/stemmers (the names its modules are exported under). */
const STEMMERS: Record<string, () => Promise<{ stemmer: (w: string) => string }>> = {
  arabic: () => import('@orama/stemmers/arabic'),
  armenian: () => import('@orama/stemmers/armenian'),
  bulgarian: () => import('@orama/stemmers/bulgarian'),
  danish: () => import('@orama/stemmers/danish'),
  dutch: () => import('@orama/stemmers/dutch'),
  // The default language: loaded with this module (every index needs it unless told otherwise).
  english: async () => ({ stemmer: englishStemmer }),
  finnish: () => import('@orama/stemmers/finnish'),
  french: () => import('@orama/stemmers/french'),
  german: () => import('@orama/stemmers/german'),
  greek: () => import('@orama/stemmers/greek'),
  hungarian: () => import('@orama/stemmers/hungarian'),
  indian: () => import('@orama/stemmers/indian'),
  indonesian: () => import('@orama/stemmers/indonesian'),
  irish: () => import('@orama/stemmers/irish'),
  italian: () => import('@orama/stemmers/italian'),
  lithuanian: () => import('@orama/stemmers/lithuanian'),
  nepali: () => import('@orama/stemmers/nepali'),
  norwegian: () => import('@orama/stemmers/norwegian'),
  portuguese: () => import('@orama/stemmers/portuguese'),
  romanian: () => import('@orama/stemmers/romanian'),
  russian: () => import('@orama/stemmers/russian'),
  serbian: () => import('@orama/stemmers/serbian'),
  spanish: () => import('@orama/stemmers/spanish'),
  swedish: () => import('@orama/stemmers/swedish'),
  tamil: () => import('@orama/stemmers/tamil'),
  turkish: () => import('@orama/stemmers/turkish'),
  ukrainian: () => import('@orama/stemmers/ukrainian'),
  sanskrit: () => import('@orama/stemmers/sanskrit'),
};

/** The languages stemmed (any other `language` name is indexed without stemming). */
export const STEMMED_LANGUAGES: readonly string[] = Object.keys(STEMMERS);

/** The default language of a new index. */
export const DEFAULT_LANGUAGE = 'english';

/** English stopwords: lunr.js's list (its stopWordFilter), so Weft and lunr drop the same words. */
export const ENGLISH_STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a able about across after all almost also am among an and any are as at be because been but by can cannot could dear did do does ' +
    'either else ever every for from get got had has have he her hers him his how however i if in into is it its just least let like ' +
    'likely may me might most must my neither no nor not of off often on only or other our own rather said say says she should since so ' +
    'some than that the their them then there these they this tis to too twas us wants was we were what when where which while who whom ' +
    'why will with would yet you your'
  ).split(' '),
);

/** Words longer than this (UTF-16 units) are not indexed: hashes, base64 and the like. */
const MAX_TERM = 64;

export interface Analyzer {
  readonly language: string;
  /** Whether this language has a stemmer (false: words are indexed as segmented). */
  readonly stemming: boolean;
  /** The index terms of `text`, in order, repeats kept (their count is the term frequency). */
  terms(text: string): string[];
}

/** A `language` option, checked: a lowercase name such as 'english', 'german' or 'japanese'. */
export function checkLanguage(language: unknown): string {
  if (language === undefined) return DEFAULT_LANGUAGE;
  if (typeof language !== 'string' || !/^[a-z][a-z-]{1,31}$/.test(language)) {
    throw new WeftError(
      'INVALID_OPTION',
      `language must be a lowercase language name such as 'english' or 'german' (stemmed: ${STEMMED_LANGUAGES.join(', ')}; any other name is indexed without stemming); got ${JSON.stringify(language)}.`,
    );
  }
  return language;
}

const loaded = new Map<string, Analyzer>();

/** The analyzer of `language` (its stemmer loaded once per page). */
export async function loadAnalyzer(language: string = DEFAULT_LANGUAGE): Promise<Analyzer> {
  const have = loaded.get(language);
  if (have) return have;
  const lang = checkLanguage(language);
  const load = STEMMERS[lang];
  const stem = load ? (await load()).stemmer : undefined;
  const analyzer = makeAnalyzer(lang, stem);
  loaded.set(lang, analyzer);
  return analyzer;
}

const DIACRITICS = /\p{M}+/gu;
const APOSTROPHES = /[\u2019\u02bc\uff07]/g;

function makeAnalyzer(language: string, stem: ((w: string) => string) | undefined): Analyzer {
  const english = language === 'english';
  // 'und' (no locale): ICU's root word rules, the same on every machine whatever its locale.
  const segmenter = new Intl.Segmenter('und', { granularity: 'word' });
  return {
    language,
    stemming: stem !== undefined,
    terms(text) {
      if (typeof text !== 'string' || text === '') return [];
      let norm = text.normalize('NFKC').toLowerCase();
      if (english) norm = norm.normalize('NFD').replace(DIACRITICS, '').normalize('NFC');
      const out: string[] = [];
      for (const s of segmenter.segment(norm)) {
        if (!s.isWordLike) continue;
        let w = s.segment;
        if (english) {
          w = w.replace(APOSTROPHES, "'");
          if (w.endsWith("'s")) w = w.slice(0, -2);
          if (w === '' || ENGLISH_STOPWORDS.has(w)) continue;
        }
        if (w.length > MAX_TERM) continue;
        out.push(stem ? stem(w) : w);
      }
      return out;
    },
  };
}
