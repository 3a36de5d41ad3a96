// One engine per app (issue 23): clients that open the runtime with the same options share one
// SharedWorker engine — the models load once, both answer while the other asks (their requests
// in one scheduler), an ingest through one is searchable through the other at once, and one
// closing (or terminated, or its page gone: the connection's lock) leaves the other answering
// on the same models. Different options get engines of their own; `engine: 'tab'` keeps one per
// client; a connection that asks the shared engine for other options is ENGINE_IN_USE.
// test/transport/shared-engine.e2e.test.ts does the same across real tabs.
import { describe, expect, test, vi } from 'vitest';
import { createRagInWorker, type RagClient } from '../../src/transport/client.js';
import { startEngineWorker } from '../../src/transport/engine.js';
import type { RagEvent } from '../../src/runtime/types.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { cranfieldAbstracts, workerOptions } from '../support/rag-runtimes.js';

async function answer(rag: RagClient, q: string): Promise<Extract<RagEvent, { type: 'done' }>> {
  let done: Extract<RagEvent, { type: 'done' }> | undefined;
  for await (const e of rag.generate(q, { k: 2, maxTokens: 8 })) if (e.type === 'done') done = e;
  return done!;
}

const docs = async (n: number) => (await cranfieldAbstracts()).slice(0, n).map((text, i) => ({ id: `cran-${i + 1}`, text }));

describe('one engine per app', () => {
  test('two clients with the same options share one engine: one load, both answer, writes seen at once, one leaving keeps the other', async () => {
    const dbName = `weft-shared-${crypto.randomUUID()}`;
    const a = await createRagInWorker(await workerOptions(dbName));
    const b = await createRagInWorker(await workerOptions(dbName));
    try {
      expect((await b.engine.api.info()).engine).toEqual({ connections: 2, users: 2, loads: 1 });
      // One GPU memory account for the engine: no budget by default, the generator's share reported.
      const { memory } = await b.engine.api.info();
      expect(memory?.budget).toBe(Number.POSITIVE_INFINITY);
      expect(memory?.holders.generator).toBeGreaterThan(0);
      // Written through a, searched through b at once.
      await a.ingest(await docs(12));
      const query = (await docs(4))[3]!.text.split('.')[0]!;
      expect((await b.info()).size).toBe((await a.info()).size);
      expect((await b.search(query, { k: 3 })).map((p) => p.id)).toEqual((await a.search(query, { k: 3 })).map((p) => p.id));
      // Both ask at once: one scheduler, both answered, each as it is alone.
      const alone = await answer(b, 'What was measured?');
      const [x, y] = await Promise.all([answer(a, 'How was the wing tested?'), answer(b, 'What was measured?')]);
      expect(x.answer.length).toBeGreaterThan(0);
      expect(y.answer).toBe(alone.answer);
      // a leaves; b answers on the same models (no second load).
      await a.close();
      await vi.waitFor(async () => expect((await b.engine.api.info()).engine).toMatchObject({ connections: 1, users: 1, loads: 1 }));
      expect((await answer(b, 'What was measured?')).answer).toBe(alone.answer);
    } finally {
      await a.close().catch(() => undefined);
      await b.close();
      await deleteStore(dbName);
    }
  }, 180_000);

  test("a client terminated (as its page closing would) gives its share back: the other's engine has one user", async () => {
    const dbName = `weft-shared-${crypto.randomUUID()}`;
    const a = await createRagInWorker(await workerOptions(dbName));
    const b = await createRagInWorker(await workerOptions(dbName));
    try {
      a.engine.terminate();
      await expect(a.info()).rejects.toMatchObject({ code: 'WORKER_FAILED' });
      await vi.waitFor(async () => expect((await b.engine.api.info()).engine).toMatchObject({ connections: 1, users: 1, loads: 1 }));
      await b.ingest(await docs(6));
      expect((await answer(b, 'What was measured?')).answer.length).toBeGreaterThan(0);
    } finally {
      await b.close();
      await deleteStore(dbName);
    }
  }, 180_000);

  test("other options get an engine of their own; engine: 'tab' one per client; the shared engine refuses other options with ENGINE_IN_USE", async () => {
    const dbName = `weft-shared-${crypto.randomUUID()}`;
    const a = await createRagInWorker(await workerOptions(dbName, 'one'));
    const b = await createRagInWorker(await workerOptions(dbName, 'two'));
    const c = await createRagInWorker(await workerOptions(dbName, 'one'), { engine: 'tab' });
    try {
      for (const r of [a, b, c]) expect((await r.engine.api.info()).engine).toEqual({ connections: 1, users: 1, loads: 1 });
      await expect(createRagInWorker(await workerOptions(dbName), { engine: 'both' as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
      // Two connections to one shared engine that disagree on the options.
      const name = `weft-engine:test-${crypto.randomUUID()}`;
      const x = startEngineWorker({ shared: name });
      const y = startEngineWorker({ shared: name });
      try {
        await x.api.openRag(await workerOptions(dbName, 'three'));
        await expect(y.api.openRag(await workerOptions(dbName, 'four'))).rejects.toMatchObject({ code: 'ENGINE_IN_USE' });
        expect((await y.api.info().catch(() => undefined))?.indexName).toBe('three');
      } finally {
        x.terminate();
        y.terminate();
      }
    } finally {
      for (const r of [a, b, c]) await r.close();
      await deleteStore(dbName);
    }
  }, 180_000);

  test('gpuBudgetBytes: a generator that does not fit is DEVICE_LIMIT naming the budget, before it is allocated', async () => {
    const dbName = `weft-shared-${crypto.randomUUID()}`;
    try {
      await expect(createRagInWorker({ ...(await workerOptions(dbName)), gpuBudgetBytes: 64 * 1024 })).rejects.toMatchObject({
        code: 'DEVICE_LIMIT',
        message: expect.stringMatching(/reference generator.*gpuBudgetBytes/s),
      });
    } finally {
      await deleteStore(dbName);
    }
  }, 120_000);
});
