// A runtime whose index stores PQ codes (issue 24), on the file store and the CPU backend: the
// runtime passes `storage: 'pq'` and `pq` to the index it creates, the codebook and each chunk's
// full vector go through the file tier's records (a centroid file with a codebook, JSON chunk
// shards), and after a reopen its searches find what an f16 index of the same passages finds.
import { afterEach, describe, expect, test } from 'vitest';
import { documents, nodeRag, nodeStores } from '../support/node-rag.js';

const stores = nodeStores();
const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.close();
  await stores.cleanup();
});

describe("a runtime with storage 'pq'", () => {
  test('creates a pq index on its first ingest; reopened from files, it finds what an f16 index finds', async () => {
    const docs = documents(40, 'alpha');
    const dir = await stores.dir();
    const store = await stores.open(dir);
    opened.push(store);
    const rag = await nodeRag(store, { storage: 'pq', pq: { m: 4, bits: 4 } });
    opened.push(rag);
    await rag.ingest(docs);
    const m = await store.manifest('notes');
    expect(m.storage).toBe('pq');
    expect(m.pq).toEqual({ m: 4, bits: 4 });
    await rag.close();
    await store.close();

    const again = await stores.open(dir);
    opened.push(again);
    const reopened = await nodeRag(again);
    opened.push(reopened);
    const flatStore = await stores.open(await stores.dir());
    opened.push(flatStore);
    const flat = await nodeRag(flatStore, { storage: 'f16' });
    opened.push(flat);
    await flat.ingest(docs);
    for (const q of ['alpha note 4 topic 4 weather number 4', 'alpha note 17 topic 2', 'number 31']) {
      const a = await reopened.search(q, { k: 3 });
      const b = await flat.search(q, { k: 3 });
      expect(a.map((h) => h.id)).toEqual(b.map((h) => h.id));
    }
  });

  test("storage 'pq' without pq gets the default codes (4 bits, a sub-quantiser per 4 dimensions), which 16 passages train", async () => {
    const store = await stores.open(await stores.dir());
    opened.push(store);
    const rag = await nodeRag(store, { storage: 'pq' });
    opened.push(rag);
    await rag.ingest(documents(16, 'alpha'));
    const m = await store.manifest('notes');
    expect(m.pq).toEqual({ m: m.dim / 4, bits: 4 });
    expect((await rag.search('alpha note 3', { k: 3 })).length).toBe(3);
  });

  test('a first ingest too small to train the codebook is TOO_FEW_TRAINING_VECTORS and leaves no index', async () => {
    const store = await stores.open(await stores.dir());
    opened.push(store);
    const rag = await nodeRag(store, { storage: 'pq', pq: { m: 4 } });
    opened.push(rag);
    await expect(rag.ingest(documents(10, 'alpha'))).rejects.toMatchObject({ code: 'TOO_FEW_TRAINING_VECTORS' });
    expect(await store.listIndexes()).toEqual([]);
  });
});
