// Losing a first-ingest race (issue 20, item 5), on the file store (two store objects on one
// directory are two tabs): a runtime whose first ingest finds the name taken (INDEX_EXISTS) adds
// to the index that won, and both runtimes then hold and find both sets of documents; a first
// ingest cut off between creating its index and its first commit (a page closed: no cleanup runs)
// leaves no index anyone lists, and the next ingest into that name succeeds.
// test/runtime/first-ingest-race.browser.test.ts runs the same on IndexedDB.
import { afterEach, describe, expect, test } from 'vitest';
import { documents, hashEmbedder, nodeRag, nodeStores } from '../support/node-rag.js';
import { firstIngestRace, importOverPending, leftPending } from '../support/first-ingest.js';

const stores = nodeStores();
const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.close();
  await stores.cleanup();
});

async function twoTabs() {
  const dir = await stores.dir();
  const tab = async () => {
    const store = await stores.open(dir);
    opened.push(store);
    const rag = await nodeRag(store);
    opened.push(rag);
    return { store, rag };
  };
  return { dir, a: await tab(), b: await tab() };
}

describe('first ingest into a fresh index name from two tabs', () => {
  test('at once: both ingests land in one index; each runtime holds and finds both sets of documents', async () => {
    const { a, b } = await twoTabs();
    await firstIngestRace(a, b, expect);
  });

  test('one after the other, the second runtime opened before the first ingest: it adds to the index the first made', async () => {
    const { a, b } = await twoTabs();
    await a.rag.ingest(documents(10, 'alpha'));
    await b.rag.ingest(documents(10, 'beta'));
    expect((await a.store.listIndexes()).map((m) => [m.name, m.count])).toEqual([['notes', 20]]);
    expect((await b.rag.info()).size).toBe(20);
    expect((await b.rag.search('alpha note 4 topic 4 weather number 4', { k: 1 }))[0]!.docId).toBe('alpha-4');
  });
});

describe('an index another tab creates after this runtime opened', () => {
  test('is searched at once, without an ingest here (it was EMPTY_INDEX until a reload)', async () => {
    const { a, b } = await twoTabs();
    await a.rag.ingest(documents(10, 'alpha'));
    expect((await b.rag.search('alpha note 4 topic 4 weather number 4', { k: 1 }))[0]!.docId).toBe('alpha-4');
    expect((await b.rag.info()).size).toBe(10);
  });
});

describe('a first ingest cut off before its first commit', () => {
  test('leaves no index listed or opened; the next ingest into the name succeeds (a left-over of another embedder is replaced)', async () => {
    const dir = await stores.dir();
    await leftPending(
      () => stores.open(dir),
      (store) => nodeRag(store),
      expect,
      opened,
      hashEmbedder().dim,
    );
  });
});

describe('an import into the name of a first ingest cut off before its first commit', () => {
  test('replaces the left-over instead of refusing with INDEX_EXISTS (no index is listed there)', async () => {
    const dir = await stores.dir();
    await importOverPending(
      () => stores.open(dir),
      (store) => nodeRag(store),
      expect,
      opened,
    );
  });
});
