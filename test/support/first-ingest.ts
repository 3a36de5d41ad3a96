// The first-ingest race and the cut-off first ingest (issue 20, item 5), as one body of checks
// for every store (test/runtime/first-ingest-race.test.ts on files, first-ingest-race.browser.test.ts
// on IndexedDB). `expect` is the caller's (vitest's, in either project).
import type { LocalRag } from '../../src/runtime/rag-api.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { documents } from './stand-ins.js';

type Expect = typeof import('vitest').expect;
interface Tab {
  store: WeftStore;
  rag: LocalRag;
}

const ids = (ps: { docId: string }[]) => ps.map((p) => p.docId);

/** Two runtimes, opened on a fresh name, ingest different documents at once; both end with one index holding both. */
export async function firstIngestRace(a: Tab, b: Tab, expect: Expect): Promise<void> {
  const results = await Promise.allSettled([a.rag.ingest(documents(12, 'alpha')), b.rag.ingest(documents(12, 'beta'))]);
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
    { documents: 12, chunks: 12 },
    { documents: 12, chunks: 12 },
  ]);
  for (const { store } of [a, b]) expect((await store.listIndexes()).map((m) => [m.name, m.count, m.pending])).toEqual([['notes', 24, undefined]]);
  for (const { rag } of [a, b]) {
    // Each finds the other's documents (a search adopts the other tab's commits) and reports both.
    expect(ids(await rag.search('alpha note 7 topic 2 weather number 7', { k: 1 }))).toEqual(['alpha-7']);
    expect(ids(await rag.search('beta note 5 topic 0 weather number 5', { k: 1 }))).toEqual(['beta-5']);
    expect((await rag.search('note', { k: 1024 })).length).toBe(24);
    expect((await rag.info()).size).toBe(24);
  }
}

/**
 * A first ingest cut off after its index was created but before the first commit (`open` gives a
 * new connection each time; the first is dropped without a commit, as a closed page's): no index
 * is listed, a runtime opens empty, and its ingest succeeds; a left-over of another dimension is
 * replaced rather than refused.
 */
export async function leftPending(
  open: () => Promise<WeftStore>,
  runtime: (s: WeftStore) => Promise<LocalRag>,
  expect: Expect,
  opened: { close(): unknown }[],
  dim: number,
): Promise<void> {
  for (const leftDim of [dim, dim + 3]) {
    const cut = await open();
    await cut.createIndex({
      name: 'notes',
      dim: leftDim,
      metric: 'cosine',
      storage: 'f16',
      nlist: 2,
      modelId: 'hash',
      centroids: new Float32Array(2 * leftDim).fill(0.5),
      pending: true,
    });
    cut.close(); // the page closed: no commit, no cleanup

    const store = await open();
    opened.push(store);
    expect(await store.listIndexes()).toEqual([]);
    const rag = await runtime(store);
    opened.push(rag);
    expect((await rag.info()).size).toBe(0);
    await expect(rag.search('anything')).rejects.toMatchObject({ code: 'EMPTY_INDEX' });
    expect(await rag.ingest(documents(6, 'gamma'))).toEqual({ documents: 6, chunks: 6 });
    expect((await store.listIndexes()).map((m) => [m.name, m.count, m.dim])).toEqual([['notes', 6, dim]]);
    expect(ids(await rag.search('gamma note 2 topic 2 weather number 2', { k: 1 }))).toEqual(['gamma-2']);
    await rag.close();
    await store.deleteIndex('notes');
  }
}

/**
 * An import (writeWholeIndex) into the name a cut-off first ingest left pending: no index is
 * listed there, so the import must not say INDEX_EXISTS; it replaces the left-over.
 */
export async function importOverPending(
  open: () => Promise<WeftStore>,
  runtime: (s: WeftStore) => Promise<LocalRag>,
  expect: Expect,
  opened: { close(): unknown }[],
): Promise<void> {
  const store = await open();
  opened.push(store);
  const source = await runtime(store);
  opened.push(source);
  await source.ingest(documents(6, 'delta'));
  const whole = await store.readWholeIndex('notes');
  await source.close();
  await store.deleteIndex('notes');
  await store.createIndex({ ...whole.manifest, name: 'notes', modelId: 'other', centroids: whole.centroids.centroids, pending: true });
  expect(await store.listIndexes()).toEqual([]);
  const imported = await store.writeWholeIndex(whole);
  expect([imported.name, imported.count, imported.pending]).toEqual(['notes', 6, undefined]);
  expect((await store.listIndexes()).map((m) => [m.name, m.count])).toEqual([['notes', 6]]);
  // A committed index is still refused without replace.
  await expect(store.writeWholeIndex(whole)).rejects.toMatchObject({ code: 'INDEX_EXISTS' });
}
