// Words and vectors stay one index through the runtime, on the main thread and in the engine
// worker: an ingest aborted half-way stores neither its vectors nor its words, and after the
// runtime is closed and opened again (a reload) the chunks the keyword search finds are exactly
// the chunks the vector search finds.
import { describe, expect, test } from 'vitest';
import { deleteStore } from '../../src/storage/idb-store.js';
import type { Rag } from '../../src/runtime/rag-api.js';
import { cranfieldAbstracts, ragRuntimes } from '../support/rag-runtimes.js';

/** The first words of Cranfield abstracts (one chunk each), each led by the marker words every chunk of this test carries. */
async function abstracts(from: number, n: number, marker: string) {
  return (await cranfieldAbstracts()).slice(from, from + n).map((text, i) => ({
    id: `cran-${from + i}`,
    text: `${marker}. ${text.split(' ').slice(0, 24).join(' ')}`,
  }));
}

/** Every chunk id, as the vector search ranks them (all lists, k = size) and as the keyword search finds `word`. */
async function bothSides(rag: Rag, word: string) {
  const { size, nlist } = await rag.info();
  const vector = await rag.search(word, { k: size, nprobe: nlist!, mode: 'vector' });
  const lexical = await rag.search(word, { k: size, mode: 'lexical' });
  return { size, vector: vector.map((p) => p.id).sort((a, b) => a - b), lexical: lexical.map((p) => p.id).sort((a, b) => a - b) };
}

describe.each(ragRuntimes())('words and vectors agree through the runtime: %s', (_, open) => {
  test('an ingest aborted half-way leaves neither its words nor its vectors, also after a reopen', async () => {
    const dbName = `weft-lexical-runtime-${crypto.randomUUID()}`;
    let opened = await open(dbName);
    try {
      await opened.rag.ingest(await abstracts(0, 30, 'zephyrine'));
      const before = await bothSides(opened.rag, 'zephyrine');
      expect(before.lexical).toEqual(before.vector);
      expect(before.lexical.length).toBe(before.size);

      // Abort once the second batch is being embedded: nothing of it lands, on either side.
      const ctl = new AbortController();
      const ingesting = opened.rag.ingest(await abstracts(30, 40, 'zephyrine quillback'), {
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.status === 'embed' && p.done > 0) ctl.abort();
        },
      });
      await expect(ingesting).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await opened.rag.search('quillback', { k: 5, mode: 'lexical' })).toEqual([]);
      expect(await bothSides(opened.rag, 'zephyrine')).toEqual(before);

      // A reload: the runtime closed and opened again on the same database.
      await opened.dispose();
      opened = await open(dbName);
      expect(await bothSides(opened.rag, 'zephyrine')).toEqual(before);
      await opened.rag.ingest(await abstracts(30, 5, 'zephyrine quillback'));
      const after = await bothSides(opened.rag, 'zephyrine');
      expect(after.lexical).toEqual(after.vector);
      expect(after.size).toBeGreaterThan(before.size);
      expect((await opened.rag.search('quillback', { k: 50, mode: 'lexical' })).length).toBe(after.size - before.size);
    } finally {
      await opened.dispose();
      await deleteStore(dbName);
    }
  }, 300_000);
});
