// Losing a first-ingest race (issue 20, item 5) on IndexedDB: two runtimes in one page, each on
// its own connection to the database (what two tabs are), ingest into a fresh index name at once
// and both end with one index holding both sets of documents; a first ingest whose index was
// created but whose first commit never landed (the connection dropped, as a closed page's) leaves
// no index anyone lists, and the next ingest into that name succeeds. The same checks run on the
// file store in test/runtime/first-ingest-race.test.ts.
import { describe, expect, test } from 'vitest';
import { createRag } from '../../src/runtime/rag.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { firstIngestRace, importOverPending, leftPending } from '../support/first-ingest.js';
import { hashEmbedder, standInGenerator } from '../support/stand-ins.js';
import { storeSession } from '../support/store-fixtures.js';

const db = storeSession('weft-first-ingest');
const runtime = (store: WeftStore) => createRag({ store, indexName: 'notes', embedder: hashEmbedder(), generator: standInGenerator(), gpu: 'cpu' });

describe('first ingest into a fresh index name (IndexedDB, two connections)', () => {
  test('two runtimes at once: both ingests land in one index; each holds and finds both sets of documents', async () => {
    db.rename();
    const tab = async () => {
      const store = await db.open();
      return { store, rag: db.track(await runtime(store)) };
    };
    await firstIngestRace(await tab(), await tab(), expect);
  });

  test('a first ingest cut off before its first commit leaves no index; the next ingest into the name succeeds', async () => {
    db.rename();
    const opened: { close(): unknown }[] = [];
    try {
      await leftPending(() => db.open(), runtime, expect, opened, hashEmbedder().dim);
    } finally {
      for (const x of opened.reverse()) await x.close();
    }
  });

  test('an import into the name a cut-off first ingest left pending replaces the left-over (no INDEX_EXISTS)', async () => {
    db.rename();
    const opened: { close(): unknown }[] = [];
    try {
      await importOverPending(() => db.open(), runtime, expect, opened);
    } finally {
      for (const x of opened.reverse()) await x.close();
    }
  });
});
