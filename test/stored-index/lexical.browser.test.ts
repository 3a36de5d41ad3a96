// Keyword search on a stored index (StoredIndex.lexicalSearch) in real IndexedDB with the real
// GPU writes around it: whatever happens to a write — it lands, it is aborted half-way, its
// transaction fails — the keyword index and the vector index agree (the chunks a word finds are
// exactly the live chunks holding it, and the live chunk ids are the live vector ids), after every
// kind of write (add, delete, deleteDocument, replaceDocuments, compact, rebuild, import), across
// closing and reopening, and between two tabs (two store connections).
import { describe, expect } from 'vitest';
import { createRng, gaussianMixture, type GpuContext } from '../../src/weft.js';
import { openStore } from '../../src/storage/idb-store.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { createStoredIndex, openStoredIndex, type StoredIndex } from '../../src/stored-index/stored-index.js';
import { exportIndex, importIndex } from '../../src/storage/portable.js';
import { lexicalAgreement } from '../support/store-behaviour.js';
import { freshSeed, gpuTest } from '../support/gpu-harness.js';
import { indexCleanup } from '../support/store-fixtures.js';

const dim = 16,
  nlist = 8;
let dbName = '';
const { toClose, body } = indexCleanup(() => dbName);

const WORDS = [
  'shock',
  'waves',
  'boundary',
  'layer',
  'layers',
  'heated',
  'slab',
  'delta',
  'wing',
  'wings',
  'Mach',
  'nozzle',
  'flows',
  'flow',
  'turbulent',
  'vortex',
  'buckling',
  'cylinders',
  'the',
  'of',
  'café',
  'Überschall',
  'supersonic',
  'cone',
  'pressure',
  'laminar',
];

function texts(seed: number, n: number, prefix = 'p'): string[] {
  const rng = createRng(seed).next;
  return Array.from(
    { length: n },
    (_, i) => `${Array.from({ length: 2 + Math.floor(rng() * 6) }, () => WORDS[Math.floor(rng() * WORDS.length)]).join(' ')} ${prefix}${i}`,
  );
}

async function fresh(ctx: GpuContext, n: number, options: { store?: WeftStore; language?: string } = {}) {
  const seed = freshSeed();
  dbName = dbName || `weft-lexical-${crypto.randomUUID()}`;
  const store = options.store ?? (await openStore({ dbName }));
  if (!options.store) toClose.push(store);
  const data = gaussianMixture(n, dim, { centers: 8, seed });
  const index = await createStoredIndex(data, {
    splitLists: 'oversized',
    gpu: ctx,
    store,
    name: 'docs',
    dim,
    nlist,
    storage: 'f32',
    metric: 'l2',
    seed,
    rebuildImbalance: Infinity,
    ...(options.language ? { language: options.language } : {}),
  });
  toClose.push(index);
  return { seed, store, index, data };
}

/** Keyword and vector indexes agree, checked through this open index's lexicalSearch. */
const agree = (store: WeftStore, index: StoredIndex, alsoWords: readonly string[] = []) =>
  lexicalAgreement(store, 'docs', { alsoWords, search: (q, k) => index.lexicalSearch(q, { k }) });

describe('keyword search on a stored index', () => {
  gpuTest(
    'add, delete, deleteDocument, replaceDocuments, compact, rebuild and import keep keyword and vector search agreeing',
    body(async (ctx) => {
      const { seed, store, index, data } = await fresh(ctx, 300);
      const t = texts(seed, 300);
      const ids = await index.add(data, { chunks: t.map((text, i) => ({ docId: `doc-${i % 10}`, text })) });
      await agree(store, index);
      const hit = await index.lexicalSearch('p17', { k: 3 });
      expect(Array.from(hit.ids)).toEqual([ids[17]]);
      expect(hit.scores[0]).toBeGreaterThan(0);

      await index.delete([ids[0]!, ids[1]!, ids[2]!]);
      await agree(store, index, [t[0]!, t[1]!, t[2]!]);
      await index.deleteDocument('doc-3');
      await agree(
        store,
        index,
        t.filter((_, i) => i % 10 === 3),
      );
      // Re-ingesting a document replaces its chunks (and their postings) in the same commit.
      const again = gaussianMixture(5, dim, { centers: 2, seed: seed + 1 });
      await index.add(again, {
        chunks: Array.from({ length: 5 }, (_, i) => ({ docId: 'doc-4', text: `replacement nozzle text r${i}` })),
        replaceDocuments: ['doc-4'],
      });
      await agree(
        store,
        index,
        t.filter((_, i) => i % 10 === 4),
      );
      expect((await index.lexicalSearch('replacements', { k: 10 })).ids).toHaveLength(5);
      await index.compact();
      await agree(store, index);
      const before = await index.lexicalSearch('turbulent boundary layer', { k: 20 });
      await index.rebuild({ seed: seed + 9 });
      await agree(store, index);
      // A rebuild keeps the ids, so keyword search gives the same answer.
      expect(await index.lexicalSearch('turbulent boundary layer', { k: 20 })).toEqual(before);
      await importIndex(store, await exportIndex(store, 'docs'), { name: 'docs', replace: true });
      await agree(store, index);
      expect(await index.lexicalSearch('turbulent boundary layer', { k: 20 })).toEqual(before);
      const stats = await index.lexicalStats();
      expect(stats).toMatchObject({ language: 'english', stemming: true, buckets: 1024 });
      expect(stats.chunks).toBe(index.size);
    }),
  );

  gpuTest(
    'an add aborted half-way and an add whose transaction fails leave both indexes as they were, also after reopening',
    body(async (ctx) => {
      const { seed, store, index, data } = await fresh(ctx, 200);
      const t = texts(seed, 200);
      await index.add(data, { chunks: t.map((text, i) => ({ docId: `doc-${i % 7}`, text })) });
      const more = gaussianMixture(150, dim, { centers: 8, seed: seed + 2 });
      const moreTexts = texts(seed + 2, 150, 'extra');
      let landed = 0,
        aborted = 0;
      // Abort at several points of the commit (before its transaction, during it, after it).
      for (const delay of [0, 1, 3, 8, 20]) {
        const ctl = new AbortController();
        const real = store.commit.bind(store);
        const racing: WeftStore = {
          ...store,
          commit: (...a) => {
            const p = real(...a);
            setTimeout(() => ctl.abort(), delay);
            return p;
          },
        };
        const racer = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store: racing, name: 'docs', preload: false, rebuildImbalance: Infinity });
        toClose.push(racer);
        const sizeBefore = (await store.manifest('docs')).count;
        const result = await racer.add(more, { chunks: moreTexts.map((text) => ({ docId: `more-${delay}`, text })), signal: ctl.signal }).then(
          () => 'landed',
          (e: { code?: string }) => e.code,
        );
        const m = await store.manifest('docs');
        if (result === 'landed') {
          landed++;
          expect(m.count).toBe(sizeBefore + 150);
        } else {
          aborted++;
          expect(result).toBe('ABORTED');
          expect(m.count).toBe(sizeBefore);
        }
        await agree(store, index, moreTexts);
        await racer.close();
      }
      expect(aborted).toBeGreaterThan(0);
      // A transaction that fails inside IndexedDB (a value it cannot store): nothing of it stays.
      const sizeBefore = index.size;
      await expect(
        index.add(more.subarray(0, 3 * dim), { chunks: [0, 1, 2].map((i) => ({ docId: 'bad', text: `unstorable chunk ${i}`, metadata: { f: () => i } })) }),
      ).rejects.toMatchObject({ name: 'WeftError', code: 'STORAGE_ERROR' });
      expect(index.size).toBe(sizeBefore);
      await agree(store, index, ['unstorable chunk']);
      expect((await index.lexicalSearch('unstorable', { k: 5 })).ids).toHaveLength(0);

      // Reopened (a reload): the same agreement, the same answers.
      const answer = await index.lexicalSearch('heated slab', { k: 15 });
      await index.close();
      await store.close();
      const store2 = await openStore({ dbName });
      toClose.push(store2);
      const reopened = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store: store2, name: 'docs' });
      toClose.push(reopened);
      await agree(store2, reopened, moreTexts);
      expect(await reopened.lexicalSearch('heated slab', { k: 15 })).toEqual(answer);
      void landed;
    }),
    { timeout: 120_000 },
  );

  gpuTest(
    'two tabs: what one adds or deletes, the other finds or no longer finds; both agree',
    body(async (ctx) => {
      const { seed, store, index: a, data } = await fresh(ctx, 120);
      const storeB = await openStore({ dbName });
      toClose.push(storeB);
      const b = await openStoredIndex({ splitLists: 'oversized', gpu: ctx, store: storeB, name: 'docs', preload: false, rebuildImbalance: Infinity });
      toClose.push(b);
      const t = texts(seed, 120);
      const ids = await a.add(data, { chunks: t.map((text, i) => ({ docId: `doc-${i % 6}`, text })) });
      expect(Array.from((await b.lexicalSearch('p42', { k: 2 })).ids)).toEqual([ids[42]]);
      await b.deleteDocument('doc-0');
      expect((await a.lexicalSearch('p42', { k: 2 })).ids).toHaveLength(0); // 42 % 6 = 0
      await a.add(gaussianMixture(4, dim, { centers: 2, seed: seed + 4 }), {
        chunks: [0, 1, 2, 3].map((i) => ({ docId: 'late', text: `late addition q${i}` })),
      });
      expect((await b.lexicalSearch('additions', { k: 10 })).ids).toHaveLength(4);
      await agree(
        store,
        a,
        t.filter((_, i) => i % 6 === 0),
      );
      await agree(
        storeB,
        b,
        t.filter((_, i) => i % 6 === 0),
      );
    }),
  );

  gpuTest(
    'allow: k allowed chunks come back whenever k exist; results are best first, ties by smaller id',
    body(async (ctx) => {
      const { store, index, data } = await fresh(ctx, 400);
      // Every chunk holds 'common'; the same text scores the same, so ties are broken by id.
      const ids = await index.add(data, {
        chunks: Array.from({ length: 400 }, (_, i) => ({ docId: `d${i}`, text: i % 2 ? 'common word' : 'common word rare' })),
      });
      const allowed = new Set([ids[7]!, ids[123]!, ids[250]!, ids[399]!]);
      const r = await index.lexicalSearch('common', { k: 3, allow: (id) => allowed.has(id) });
      expect(Array.from(r.ids)).toEqual([ids[7]!, ids[123]!, ids[399]!]); // odd ids: shorter texts score higher
      expect(r.scores[0]).toBeGreaterThanOrEqual(r.scores[1]!);
      const all = await index.lexicalSearch('common', { k: 10, allow: (id) => allowed.has(id) });
      expect(Array.from(all.ids)).toEqual([ids[7]!, ids[123]!, ids[399]!, ids[250]!]);
      const top = await index.lexicalSearch('common rare', { k: 5 });
      expect(Array.from(top.ids)).toEqual([0, 2, 4, 6, 8].map((i) => ids[i]!));
      await expect(index.lexicalSearch('common', { k: 0 })).rejects.toMatchObject({ code: 'K_OUT_OF_RANGE' });
      void store;
    }),
  );

  gpuTest(
    'a session stepped term by term (as the scheduler weaves it) equals lexicalSearch, also when a write lands between steps',
    body(async (ctx) => {
      const { seed, index, data } = await fresh(ctx, 200);
      const t = texts(seed, 200);
      await index.add(data, { chunks: t.map((text, i) => ({ docId: `doc-${i % 5}`, text })) });
      const query = 'turbulent boundary layer of the heated slab';
      const session = await index.lexicalSession(query, { k: 12 });
      expect(session.terms).toBe(5);
      await session.step();
      await index.deleteDocument('doc-1'); // queued between two steps, as a write from the app would be
      while (!session.done) await session.step();
      const whole = await index.lexicalSearch(query, { k: 12 });
      expect(session.read()).toEqual(whole);
      expect(whole.ids.length).toBe(12);
    }),
  );

  gpuTest(
    'a keyword step waiting for its buckets (a slow tier) holds up no other operation on the index',
    body(async (ctx) => {
      // The store as a slow tier would be: term-bucket reads wait until released.
      dbName = dbName || `weft-lexical-${crypto.randomUUID()}`;
      const idb = await openStore({ dbName });
      toClose.push(idb);
      let release = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let held = 0;
      const slow: WeftStore = Object.create(idb, {
        readTermBuckets: {
          value: async (...a: Parameters<WeftStore['readTermBuckets']>) => {
            held++;
            await gate;
            return idb.readTermBuckets(...a);
          },
        },
      });
      const { seed, index, data } = await fresh(ctx, 200, { store: slow });
      await index.add(data, { chunks: texts(seed, 200).map((text, i) => ({ docId: `doc-${i % 5}`, text })) });
      const session = await index.lexicalSession('turbulent boundary layer', { k: 5 });
      const stepping = session.step();
      while (held === 0) await new Promise((r) => setTimeout(r, 5));
      // Another answer's vector search, and its sliced session, go ahead while the read waits.
      const q = data.subarray(0, dim);
      const other = Promise.all([
        index.search(q, { k: 3, nprobe: 2 }),
        index.searchSession(q, { k: 3, nprobe: 2 }).then(async (s) => {
          await s.step(1);
          await s.step(1);
          return s.read();
        }),
      ]);
      const first = await Promise.race([other.then(() => 'searched'), new Promise((r) => setTimeout(() => r('blocked'), 5000))]);
      release();
      expect(first).toBe('searched');
      await stepping;
      while (!session.done) await session.step();
      expect(session.read()).toEqual(await index.lexicalSearch('turbulent boundary layer', { k: 5 }));
    }),
  );

  gpuTest(
    'the language option: a German index stems German and says so',
    body(async (ctx) => {
      const { index, data } = await fresh(ctx, 40, { language: 'german' });
      const ids = await index.add(data.subarray(0, 3 * dim), {
        chunks: [
          { docId: 'a', text: 'Die Häuser am See' },
          { docId: 'b', text: 'Ein Buch über Kinder' },
          { docId: 'c', text: 'nichts' },
        ],
      });
      expect(Array.from((await index.lexicalSearch('Haus', { k: 3 })).ids)).toEqual([ids[0]]);
      expect(Array.from((await index.lexicalSearch('Bücher Kind', { k: 3 })).ids)).toEqual([ids[1]]);
      expect(await index.lexicalStats()).toMatchObject({ language: 'german', stemming: true, chunks: 3 });
      await expect(
        createStoredIndex(data, {
          splitLists: 'oversized',
          gpu: ctx,
          store: await openStore({ dbName }).then((s) => {
            toClose.push(s);
            return s;
          }),
          name: 'bad',
          dim,
          nlist,
          language: 'German',
        }),
      ).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    }),
  );
});
