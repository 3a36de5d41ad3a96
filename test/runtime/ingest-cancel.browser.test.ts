// Cancel at every stage of an ingest, on the main thread and in the engine worker (where the abort
// reaches the job as a message, so the job must give the event loop a turn to see it): the call
// rejects with ABORTED soon after the click — no later stage starts, the stage itself never
// reaches its total — and the index is exactly as before: a cancelled first ingest leaves no
// index behind, a cancelled later one leaves the count, the generation and the answers unchanged.
// The runtime stays usable: the same ingest then succeeds. Progress, meanwhile, is monotone in
// every stage and ends at its total.
import { afterEach, describe, expect, test } from 'vitest';
import type { IngestProgress } from '../../src/runtime/types.js';
import { indexLayout } from '../../src/ivf/pq.js';
import { splitBound } from '../../src/ivf/sizing.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
import { cranfieldAbstracts, ragRuntimes } from '../support/rag-runtimes.js';

let dbName = '';
afterEach(async () => {
  if (dbName) await deleteStore(dbName);
});

const STAGES = ['read', 'embed', 'index', 'persist'] as const;
const ORDER = new Map(STAGES.map((s, i) => [s, i]));

async function docs(from: number, n: number) {
  const texts = await cranfieldAbstracts();
  return texts.slice(from, from + n).map((text, i) => ({ id: `cran-${from + i}`, text }));
}

/** Runs an ingest that aborts on the first progress of `stage`; what was reported after the abort, and the error. */
async function cancelled(ingest: (o: { signal: AbortSignal; onProgress: (p: IngestProgress) => void }) => Promise<unknown>, stage: (typeof STAGES)[number]) {
  const ctl = new AbortController();
  const after: IngestProgress[] = [];
  let abortedAt = 0;
  const error = await ingest({
    signal: ctl.signal,
    onProgress: (p) => {
      if (ctl.signal.aborted) after.push(p);
      else if (p.status === stage) {
        abortedAt = performance.now();
        ctl.abort();
      }
    },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, after, ms: performance.now() - abortedAt, reached: abortedAt > 0 };
}

/**
 * The stage stopped where it was: what it reported after the abort (in the worker, the reports
 * already on their way, a few documents' worth) never reaches its total.
 */
function expectStopped(after: IngestProgress[], stage: (typeof STAGES)[number]) {
  const last = after.filter((p) => p.status === stage).at(-1);
  if (last) expect(last.done, `${stage} went on to its total after the abort`).toBeLessThan(last.total);
}

describe.each(ragRuntimes())('Cancel an ingest: %s', (_label, open) => {
  test.each(STAGES)(
    'during %s, a first ingest leaves no index; a later one leaves the index as it was',
    async (stage) => {
      dbName = `weft-cancel-${crypto.randomUUID()}`;
      const { rag, dispose } = await open(dbName);
      const store = await openStore({ dbName });
      try {
        // A first ingest, cancelled: no index is left behind.
        const first = await docs(0, 60);
        const c1 = await cancelled((o) => rag.ingest(first, o), stage);
        expect(c1.reached, `the ingest reached ${stage}`).toBe(true);
        expect(c1.error).toMatchObject({ code: 'ABORTED' });
        expect(
          c1.after.filter((p) => ORDER.get(p.status)! > ORDER.get(stage)!),
          'no later stage started',
        ).toEqual([]);
        expectStopped(c1.after, stage);
        expect((await store.listIndexes()).map((m) => m.name)).toEqual([]);
        console.log(`${_label}, first ingest, cancel during ${stage}: rejected ${c1.ms.toFixed(0)} ms after the abort`);

        // The same ingest then succeeds, with progress in every stage, monotone, ending at its total.
        const seen = new Map<string, { done: number; total: number }[]>();
        const r = await rag.ingest(first, {
          onProgress: (p) => {
            const l = seen.get(p.status) ?? [];
            l.push(p);
            seen.set(p.status, l);
          },
        });
        expect(r.documents).toBe(60);
        for (const s of STAGES) {
          const l = seen.get(s) ?? [];
          expect(l.length, `${s} reported`).toBeGreaterThan(0);
          l.forEach((p, i) => {
            if (i > 0) expect(p.done, `${s} monotone`).toBeGreaterThanOrEqual(l[i - 1]!.done);
          });
          expect(l.at(-1)!.done, `${s} ends at its total`).toBe(l.at(-1)!.total);
        }
        const before = await store.manifest('papers');
        const answer = await rag.search('boundary layer', { k: 3 });

        // A later, larger ingest (its lists split: an 'index' stage), cancelled: nothing changes.
        const more = await docs(60, 400);
        const c2 = await cancelled((o) => rag.ingest(more, o), stage);
        expect(c2.reached, `the second ingest reached ${stage}`).toBe(true);
        expect(c2.error).toMatchObject({ code: 'ABORTED' });
        expect(c2.after.filter((p) => ORDER.get(p.status)! > ORDER.get(stage)!)).toEqual([]);
        expectStopped(c2.after, stage);
        const after = await store.manifest('papers');
        expect(after.generation).toBe(before.generation);
        expect(after.count).toBe(before.count);
        expect((await rag.search('boundary layer', { k: 3 })).map((p) => p.id)).toEqual(answer.map((p) => p.id));
        console.log(`${_label}, later ingest, cancel during ${stage}: rejected ${c2.ms.toFixed(0)} ms after the abort`);
      } finally {
        store.close();
        await dispose();
      }
    },
    600_000,
  );
});

describe.each(ragRuntimes())('An index that starts small and grows through the runtime: %s', (_label, open) => {
  test('4 notes, then a large document: every list within its bound, nlist grown, answers found', async () => {
    dbName = `weft-grow-${crypto.randomUUID()}`;
    const { rag, dispose } = await open(dbName);
    const store = await openStore({ dbName });
    try {
      await rag.ingest(await docs(0, 4));
      const small = await store.manifest('papers');
      const texts = await cranfieldAbstracts();
      // One long document: 700 abstracts, one after another (thousands of passages).
      const big = { id: 'big.txt', text: texts.slice(10, 710).join('\n\n') };
      const r = await rag.ingest([big]);
      const grown = await store.manifest('papers');
      expect(grown.nlist).toBeGreaterThan(small.nlist);
      const layout = indexLayout(grown);
      expect(Math.max(...grown.listCounts)).toBeLessThanOrEqual(splitBound(grown.count, undefined, layout));
      expect(grown.count).toBe(small.count + r.chunks);
      const found = await rag.search(texts[300]!.slice(0, 200), { k: 3 });
      expect(found.length).toBe(3);
      console.log(`${_label}: ${small.count} passages in ${small.nlist} lists, then ${grown.count} in ${grown.nlist}`);
    } finally {
      store.close();
      await dispose();
    }
  }, 600_000);
});
