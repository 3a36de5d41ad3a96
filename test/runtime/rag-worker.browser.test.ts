// The runtime in the real engine worker, and the same body of code run against both the
// main-thread runtime (createRag) and the worker client (createRagInWorker): one interface, the
// same options (signals that abort in the worker, the same declarative filter), the same results.
import { describe, expect, test } from 'vitest';
import { createRagInWorker } from '../../src/transport/client.js';
import type { RagEvent } from '../../src/runtime/types.js';
import type { Rag } from '../../src/runtime/rag-api.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { assets, cranfieldAbstracts, openLocalRag, reference, workerOptions } from '../support/rag-runtimes.js';

async function cranfield(n: number) {
  return (await cranfieldAbstracts()).slice(0, n).map((text, i) => ({ id: `cran-${i + 1}`, text, metadata: { odd: i % 2 === 1 } }));
}

/** The two ways to open the runtime, each giving a Rag and what releases everything it took. */
const runtimes: [string, (dbName: string) => Promise<{ rag: Rag; dispose(): Promise<void> }>][] = [
  ['main thread (createRag)', (dbName) => openLocalRag(dbName)],
  [
    'engine worker (createRagInWorker)',
    async (dbName) => {
      const options = await workerOptions(dbName);
      const model = options.embedder.model as ArrayBuffer;
      const progress: string[] = [];
      const rag = await createRagInWorker(options, { onProgress: (p) => progress.push(p.status) });
      expect(model.byteLength).toBe(0); // the model bytes were moved into the worker, not copied
      expect(progress).toContain('ready');
      return { rag, dispose: () => rag.close() };
    },
  ],
];

/** What each runtime gave, to compare them. */
const results = new Map<string, unknown>();

const collect = async (events: AsyncGenerator<RagEvent>, onToken?: (n: number) => void) => {
  const types: RagEvent['type'][] = [];
  let done: Extract<RagEvent, { type: 'done' }> | undefined;
  let query = '';
  for await (const e of events) {
    types.push(e.type);
    if (e.type === 'token') onToken?.(types.filter((t) => t === 'token').length);
    if (e.type === 'retrieval') query = e.query;
    if (e.type === 'done') done = e;
  }
  return { types, done: done!, query };
};

describe.each(runtimes)('one interface: %s', (name, open) => {
  test('ingest, search with a filter, a conversation, chat.completions, signals that abort, profile and info — the same code on both', async () => {
    const dbName = `weft-rag-iface-${crypto.randomUUID()}`;
    const { rag, dispose } = await open(dbName);
    try {
      expect(await rag.info()).toMatchObject({ indexName: 'papers', size: 0, nlist: undefined });
      await expect(rag.search('anything')).rejects.toMatchObject({ name: 'WeftError', code: 'EMPTY_INDEX' });
      const docs = await cranfield(20);
      const stages: string[] = [];
      const r = await rag.ingest(docs, {
        onProgress: (p) => {
          if (!stages.includes(p.status)) stages.push(p.status);
        },
      });
      expect(r.documents).toBe(20);
      expect(stages).toEqual(['read', 'embed', 'index', 'persist']);
      const info = await rag.info();
      expect(info).toMatchObject({ size: r.chunks, modelId: 'tiny', dim: 32 });
      const nprobe = info.nlist!;

      // The same declarative filter on both sides.
      const query = docs[3]!.text.split('.')[0]!;
      const odd = await rag.search(query, { k: 5, nprobe, filter: { metadata: { odd: true } } });
      expect(odd.length).toBe(5);
      expect(odd.every((h) => h.metadata.odd === true)).toBe(true);
      const two = await rag.search(query, { k: 5, nprobe, filter: { docId: ['cran-2', 'cran-5'] } });
      expect(two.length).toBeGreaterThan(0);
      expect(two.every((h) => h.docId === 'cran-2' || h.docId === 'cran-5')).toBe(true);
      await expect(rag.search(query, { filter: { metadata: { odd: { not: 1 } } } as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });

      // An aborted signal rejects every long call with ABORTED, and nothing changes.
      const aborted = AbortSignal.abort();
      await expect(rag.search(query, { signal: aborted })).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(rag.ingest(docs.slice(0, 2), { signal: aborted })).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(rag.profile({ signal: aborted })).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(collect(rag.generate('What was measured?', { signal: aborted }))).rejects.toMatchObject({ code: 'ABORTED' });
      expect((await rag.info()).size).toBe(r.chunks);
      // A signal aborted while the call runs aborts it where it runs (in the worker for the client).
      const ctl0 = new AbortController();
      const ingesting = rag.ingest((await cranfield(40)).slice(20), { signal: ctl0.signal });
      ctl0.abort();
      await expect(ingesting).rejects.toMatchObject({ code: 'ABORTED' });
      expect((await rag.info()).size).toBe(r.chunks);

      // A conversation, streamed.
      const messages = [
        { role: 'user' as const, content: 'What was measured in the wind tunnel?' },
        { role: 'assistant' as const, content: 'The pressure on the wing [1].' },
        { role: 'user' as const, content: 'And at which speeds?' },
      ];
      const chat = await collect(
        rag.generate({ messages }, { k: 2, nprobe, maxTokens: 12, system: 'Answer from the passages.', periodic: { interval: 4, nprobe: 2 } }),
      );
      expect(chat.types[0]).toBe('retrieval');
      expect(chat.types.at(-1)).toBe('done');
      expect(chat.query).toContain('And at which speeds?');
      expect(chat.query).toContain('The pressure on the wing');
      expect(chat.done.periodic).toMatchObject({ interval: 4 });
      expect(chat.done.answer.length).toBeGreaterThan(0);

      // The signal aborts the answer where it runs (in the worker for the client): decoding stops early.
      const ctl = new AbortController();
      const cut = await collect(rag.generate('What was measured?', { k: 2, nprobe, maxTokens: 40, signal: ctl.signal }), (n) => {
        if (n === 1) ctl.abort();
      });
      expect(cut.done.finishReason).toBe('abort');
      expect(cut.done.tokens.generated).toBeLessThan(40);
      // A caller that stops reading gives the generator back: the next answer runs.
      for await (const e of rag.generate('What was measured?', { k: 2, nprobe, maxTokens: 40 })) if (e.type === 'token') break;
      const next = await collect(rag.generate('What was measured?', { k: 2, nprobe, maxTokens: 8 }));
      expect(next.done.finishReason).not.toBe('abort');

      // The OpenAI-style surface answers as generate() does.
      const completion = await rag.chat.completions.create({ messages, max_tokens: 8 }, { k: 2, nprobe });
      const same = await collect(rag.generate({ messages }, { k: 2, nprobe, maxTokens: 8 }));
      expect(completion.choices[0]!.message.content).toBe(same.done.answer);

      const line = await rag.profile();
      expect(line.slope).toBeGreaterThanOrEqual(0);
      await expect(rag.ingest([{ id: '', text: 'x' }])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      results.set(name, {
        odd: odd.map((p) => p.id),
        two: two.map((p) => p.id),
        chat: chat.done.answer,
        next: next.done.answer,
        completion: completion.choices[0]!.message.content,
      });
    } finally {
      await dispose();
      await deleteStore(dbName);
    }
  }, 240_000);
});

test('the main-thread runtime and the worker client give the same passages and the same answers', () => {
  const [main, worker] = runtimes.map(([name]) => results.get(name));
  expect(main).toBeDefined();
  expect(worker).toEqual(main);
});

test('aborting while the models load stops the worker and rejects with ABORTED; an index that must exist but does not is UNKNOWN_INDEX', async () => {
  const ctl = new AbortController();
  const started = performance.now();
  const loading = createRagInWorker(
    {
      indexName: 'never',
      embedder: { model: `${assets}/no-such-model.onnx`, tokenizer: {}, device: 'wasm' },
      generator: { reference },
    },
    { signal: ctl.signal, onProgress: () => ctl.abort() },
  );
  await expect(loading).rejects.toMatchObject({ name: 'WeftError', code: 'ABORTED' });
  expect(performance.now() - started).toBeLessThan(30_000);
  // An index that must exist but does not: a clear code, and the worker gives everything back.
  const dbName = `weft-rag-worker-${crypto.randomUUID()}`;
  await expect(createRagInWorker({ ...(await workerOptions(dbName)), indexName: 'missing', create: false })).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
  await deleteStore(dbName);
  const already = new AbortController();
  already.abort();
  await expect(
    createRagInWorker({ indexName: 'x', embedder: {}, generator: { reference: { model: '', tokenizer: '' } } }, { signal: already.signal }),
  ).rejects.toMatchObject({ code: 'ABORTED' });
}, 60_000);
