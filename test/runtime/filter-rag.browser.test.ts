// Filters through the runtime, on the main thread (createRag) and in the engine worker
// (createRagInWorker) with the same plain-data filter: a filter matching ~1% of the chunks
// returns exactly k matching passages, the same ones an unfiltered exhaustive search ranks first
// among the matching chunks; ranges and sets likewise; generate() (and its periodic retrieval)
// uses only matching passages.
import { describe, expect, test } from 'vitest';
import type { Passage, PassageFilter, RagEvent } from '../../src/runtime/types.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { cranfieldAbstracts, ragRuntimes } from '../support/rag-runtimes.js';

/** Cranfield abstracts; group = position % 100, so one group is about 1% of 150 documents' chunks. */
async function cranfield(n: number) {
  return (await cranfieldAbstracts()).slice(0, n).map((text, i) => ({
    id: `cran-${i}`,
    text,
    metadata: { group: i % 100, year: 1950 + (i % 20), date: `19${50 + (i % 20)}-0${1 + (i % 9)}-15` },
  }));
}

const runtimes = ragRuntimes();

const results = new Map<string, unknown>();

describe.each(runtimes)('filters through the runtime: %s', (name, open) => {
  test('a filter matching 1% of the chunks, a range and a set each give exactly k matching passages, the best matching ones; generate uses only matching passages', async () => {
    const dbName = `weft-filter-rag-${crypto.randomUUID()}`;
    const { rag, dispose } = await open(dbName);
    try {
      const docs = await cranfield(150);
      const { chunks } = await rag.ingest(docs);
      const info = await rag.info();
      const nlist = info.nlist!;
      expect(chunks).toBeLessThanOrEqual(1024); // the reference below ranks every chunk in one search
      const query = docs[0]!.text.split('.')[0]!; // from group 0: the filters below exclude its document
      // Every chunk, ranked by an exhaustive unfiltered search: the reference for any filter.
      const everything = await rag.search(query, { k: chunks, nprobe: nlist, mode: 'vector' });
      expect(everything.length).toBe(chunks);
      const k = 3;
      const cases: [PassageFilter, (p: Passage) => boolean][] = [
        [{ metadata: { group: 42 } }, (p) => p.metadata.group === 42],
        [
          { metadata: { year: { gte: 1955, lt: 1956 }, date: { lte: '1955-05-31' } } },
          (p) => p.metadata.year === 1955 && (p.metadata.date as string) <= '1955-05-31',
        ],
        [{ metadata: { group: [7, 93] } }, (p) => p.metadata.group === 7 || p.metadata.group === 93],
        [{ docId: ['cran-11', 'cran-123', 'cran-140'] }, (p) => ['cran-11', 'cran-123', 'cran-140'].includes(p.docId)],
      ];
      const got: Record<string, number[]> = {};
      for (const [filter, keep] of cases) {
        const matching = everything.filter(keep);
        expect(matching.length, JSON.stringify(filter)).toBeGreaterThanOrEqual(k);
        expect(matching.length).toBeLessThan(chunks / 10);
        const exact = await rag.search(query, { k, nprobe: nlist, filter, mode: 'vector' });
        expect(
          exact.map((p) => p.id),
          JSON.stringify(filter),
        ).toEqual(matching.slice(0, k).map((p) => p.id));
        expect(exact.map((p) => p.citation)).toEqual([1, 2, 3]);
        // The default nprobe: the search probes on until it has k matching passages.
        const narrow = await rag.search(query, { k, nprobe: 1, filter, mode: 'vector' });
        expect(narrow.length).toBe(k);
        expect(narrow.every(keep)).toBe(true);
        got[JSON.stringify(filter)] = [...exact, ...narrow].map((p) => p.id);
      }
      expect(await rag.search(query, { k, filter: { metadata: { group: 1000 } }, mode: 'vector' })).toEqual([]);
      await expect(rag.search(query, { k, filter: { metadata: { year: { after: 1955 } } } as never })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
        message: expect.stringContaining('A filter looks like'),
      });

      // generate: the answer's passages, and periodic retrieval's, all pass the filter.
      const onlyGroup = (p: Passage) => p.metadata.group === 42;
      for (const woven of [undefined, { periodic: { interval: 2, nprobe: 1 } }]) {
        const events: RagEvent[] = [];
        for await (const e of rag.generate(query, { k, nprobe: 1, maxTokens: 6, mode: 'vector', filter: { metadata: { group: 42 } }, ...woven }))
          events.push(e);
        const retrieval = events.find((e): e is Extract<RagEvent, { type: 'retrieval' }> => e.type === 'retrieval')!;
        expect(retrieval.passages.length).toBe(k);
        expect(retrieval.passages.every(onlyGroup)).toBe(true);
        const done = events.at(-1) as Extract<RagEvent, { type: 'done' }>;
        expect(done.type).toBe('done');
        expect(done.passages.every(onlyGroup)).toBe(true);
      }
      results.set(name, got);
    } finally {
      await dispose();
      await deleteStore(dbName);
    }
  }, 300_000);
});

test('the main thread and the worker find the same passages for the same filters', () => {
  const [main, worker] = runtimes.map(([n]) => results.get(n));
  expect(main).toBeDefined();
  expect(worker).toEqual(main);
});
