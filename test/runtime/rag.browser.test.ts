// The RAG runtime end to end on real parts: documents → chunks → onnxruntime-web embeddings →
// IVF lists in IndexedDB → search → the WebGPU reference generator answering with the passages.
import { afterEach, describe, expect, inject } from 'vitest';
import { createOnnxEmbedder } from '../../src/embed/onnx-embedder.js';
import type { Embedder } from '../../src/embed/types.js';
import { loadLlama2c } from '../../src/generate/llama2c-gpu.js';
import { createRag } from '../../src/runtime/rag.js';
import type { GenerateOptions, RagEvent } from '../../src/runtime/types.js';
import type { Rag } from '../../src/runtime/rag-api.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { WeftError } from '../../src/errors.js';
import { createRng } from '../../src/random.js';
import { buildTinyEmbeddingGraph } from '../support/tiny-onnx.js';
import { gpuTest } from '../support/gpu-harness.js';
import type { GpuContext } from '../../src/gpu/context.js';

const assets = inject('sharedAssets');
const json = async (f: string) => (await fetch(`${assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;
let dbName = '';
afterEach(async () => {
  if (dbName) await deleteStore(dbName);
});

async function cranfield(n: number) {
  const raw = (await (await fetch(`${assets}/cranfield/cran.all.1400`)).text()).replace(/\r\n/g, '\n');
  return raw
    .split(/^\.I /m)
    .slice(1, n + 1)
    .map((r) => {
      const id = `cran-${r.split('\n')[0]!.trim()}`;
      const title = /\.T\n([\s\S]*?)\n\.A/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? id;
      const body = /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '';
      return { id, text: `# ${title}\n${body}`, type: 'markdown' as const, metadata: { year: 1950 + (Number(id.slice(5)) % 10) } };
    });
}

async function tinyEmbedder(dim = 32): Promise<Embedder> {
  const rng = createRng(11);
  const V = 30522;
  const model = buildTinyEmbeddingGraph(
    Float32Array.from({ length: V * dim }, () => rng.normal()),
    Float32Array.from({ length: dim * dim }, () => rng.normal() * 0.3),
    new Float32Array(dim),
    V,
    dim,
  );
  return createOnnxEmbedder({
    model,
    tokenizer: await json('tokenizer.json'),
    tokenizerConfig: await json('tokenizer_config.json'),
    device: 'wasm',
    wasmPaths: '/node_modules/onnxruntime-web/dist/',
    maxLength: 64,
    cache: false,
    modelId: 'tiny-test-graph',
  });
}

const referenceGenerator = (ctx: GpuContext) =>
  loadLlama2c({ gpu: ctx, model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` });

/** A fresh database, the test embedder and the reference generator; `dispose` releases them. */
async function parts(ctx: GpuContext) {
  dbName = `weft-rag-${crypto.randomUUID()}`;
  const store = await openStore({ dbName });
  const embedder = await tinyEmbedder();
  const generator = await referenceGenerator(ctx);
  return {
    store,
    embedder,
    generator,
    async dispose() {
      generator.destroy();
      await embedder.destroy();
      store.close();
    },
  };
}

describe('RAG runtime', () => {
  gpuTest('ingest, search (with a metadata filter), and a streamed, cited answer', async (ctx) => {
    const { store, embedder, generator, dispose } = await parts(ctx);
    const rag = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx });
    try {
      const docs = await cranfield(40);
      const progress: string[] = [];
      const r = await rag.ingest(docs, { onProgress: (p) => progress.push(p.status) });
      expect(r.documents).toBe(40);
      expect(r.chunks).toBeGreaterThan(40);
      expect(new Set(progress)).toEqual(new Set(['read', 'embed', 'index', 'persist']));
      expect(rag.index!.manifest.modelId).toBe('tiny-test-graph');
      // A chunk's own text finds that chunk first.
      const some = (await rag.index!.chunks([5]))[0]!;
      const hits = await rag.search(some.text, { k: 4, nprobe: rag.index!.nlist });
      expect(hits[0]).toMatchObject({ id: 5, docId: some.docId, citation: 1 });
      expect(hits[0]!.scores.vector).toBeGreaterThan(0.99); // cosine similarity; hybrid (the default) ranks it first by both sides
      expect(hits[0]!.scores.lexical).toBeGreaterThan(0);
      const even = await rag.search(some.text, { k: 4, nprobe: rag.index!.nlist, filter: { metadata: { year: [1950, 1952, 1954, 1956, 1958] } } });
      expect(even.length).toBe(4);
      expect(even.every((p) => (p.metadata.year as number) % 2 === 0)).toBe(true);
      const oneDoc = await rag.search(some.text, { k: 4, nprobe: rag.index!.nlist, filter: { docId: 'cran-7' } });
      expect(oneDoc.length).toBeGreaterThan(0);
      expect(oneDoc.every((p) => p.docId === 'cran-7')).toBe(true);
      await expect(rag.search(some.text, { filter: (() => true) as never })).rejects.toMatchObject({ code: 'INVALID_OPTION' });

      const events: RagEvent[] = [];
      for await (const e of rag.generate('What is a slipstream?', { k: 3, maxTokens: 24 })) events.push(e);
      expect(events[0]!.type).toBe('retrieval');
      const tokens = events.filter((e) => e.type === 'token');
      expect(tokens.length).toBeGreaterThan(0);
      const done = events.at(-1)!;
      expect(done.type).toBe('done');
      if (done.type === 'done') {
        expect(done.answer).toBe(tokens.map((t) => (t as { text: string }).text).join(''));
        expect(done.passages.length).toBeGreaterThan(0);
        expect(done.tokens.prompt).toBeLessThanOrEqual(generator.contextLength);
      }
      const trace = events.find((e) => e.type === 'trace');
      const kinds = trace && trace.type === 'trace' ? trace.stages.map((s) => s.kind) : [];
      expect(kinds).toEqual(expect.arrayContaining(['embed', 'search', 'prefill', 'decode']));
      expect(kinds.indexOf('prefill')).toBeLessThan(kinds.indexOf('decode'));

      // Re-ingesting a document replaces its chunks; bad input changes nothing.
      const one = docs[0]!;
      const oldIds = await store.chunkIdsOfDocument('papers', one.id);
      await rag.ingest([{ ...one, text: `${one.text}\nAn added closing sentence about wings.` }]);
      const newIds = await store.chunkIdsOfDocument('papers', one.id);
      expect(newIds.some((id) => oldIds.includes(id))).toBe(false);
      const texts = (await rag.index!.chunks(newIds)).map((c) => c!.text).join(' ');
      expect(texts).toContain('added closing sentence about wings');
      await expect(rag.search('   ')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      const size = rag.index!.size;
      await expect(rag.ingest([new Blob(['%PDF-1.7 binary'], { type: 'application/pdf' })])).rejects.toMatchObject({ code: 'UNPARSABLE_DOCUMENT' });
      const ctl = new AbortController();
      ctl.abort();
      await expect(rag.ingest(await cranfield(45), { signal: ctl.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      expect(rag.index!.size).toBe(size);
    } finally {
      await rag.close();
      await dispose();
    }
  });

  gpuTest("stages stream live as 'stage' events before done, one 'step' per generated token, on a clock shared by every request", async (ctx) => {
    const { store, embedder, generator, dispose } = await parts(ctx);
    const rag = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx });
    try {
      await rag.ingest(await cranfield(20));
      const events: RagEvent[] = [];
      const t0 = performance.now();
      for await (const e of rag.generate('What is a slipstream?', { k: 2, nprobe: 4, maxTokens: 20 })) events.push(e);
      const types = events.map((e) => e.type);
      expect(types[0]).toBe('retrieval');
      expect(types.slice(-2)).toEqual(['trace', 'done']);
      const live = events.flatMap((e) => (e.type === 'stage' ? [e.stage] : []));
      const done = events.at(-1) as Extract<RagEvent, { type: 'done' }>;
      const trace = events.at(-2) as Extract<RagEvent, { type: 'trace' }>;
      // Every stage of the trace was streamed once, before the trace and done.
      expect(live).toEqual(trace.stages);
      const steps = live.filter((s) => s.kind === 'step');
      expect(done.tokens.generated).toBeGreaterThan(1);
      expect(steps.length).toBe(done.tokens.generated);
      expect(live.map((s) => s.kind)).toEqual(expect.arrayContaining(['embed', 'search', 'prefill', 'decode']));
      // Live: step i's stage comes before token i + 2 (it streams while step i + 1 runs).
      const tokenAt = types.flatMap((t, i) => (t === 'token' ? [i] : []));
      const stepAt = events.flatMap((e, i) => (e.type === 'stage' && e.stage.kind === 'step' ? [i] : []));
      stepAt.forEach((at, i) => {
        expect(at).toBeGreaterThan(tokenAt[i]!);
        if (i + 1 < tokenAt.length) expect(at).toBeLessThan(tokenAt[i + 1]!);
      });
      // Steps are in order, inside the decode stage, and `at` is the start on the shared clock.
      const decode = live.find((s) => s.kind === 'decode')!;
      for (let i = 0; i < steps.length; i++) {
        expect(steps[i]!.end).toBeGreaterThanOrEqual(steps[i]!.start);
        if (i > 0) expect(steps[i]!.start).toBeGreaterThanOrEqual(steps[i - 1]!.end);
        expect(steps[i]!.start).toBeGreaterThanOrEqual(decode.start);
        expect(steps[i]!.end).toBeLessThanOrEqual(decode.end);
      }
      const origin = live[0]!.at - live[0]!.start; // the request's start on the shared clock
      for (const s of live) expect(Math.abs(s.at - s.start - origin)).toBeLessThan(0.01);
      expect(Math.abs(origin - (performance.timeOrigin + t0))).toBeLessThan(50);
    } finally {
      await rag.close();
      await dispose();
    }
  });

  gpuTest(
    're-ingesting a document is one commit: the generation rises by exactly one, and an interruption after a commit never leaves both versions',
    async (ctx) => {
      const { store, embedder, generator, dispose } = await parts(ctx);
      // The store as the runtime sees it; `failAfter` commits succeed, then the page "closes".
      let commits = 0,
        failAfter = Infinity;
      const flaky: WeftStore = {
        ...store,
        commit: (...a: Parameters<WeftStore['commit']>) =>
          ++commits > failAfter ? Promise.reject(new WeftError('ABORTED', 'The page closed.')) : store.commit(...a),
      };
      const rag = await createRag({ store: flaky, indexName: 'papers', embedder, generator, gpu: ctx });
      try {
        const docs = await cranfield(12);
        await rag.ingest(docs);
        const one = docs[0]!;
        const before = (await store.manifest('papers')).generation;
        await rag.ingest([{ ...one, text: `${one.text}\nA second version.` }]);
        expect((await store.manifest('papers')).generation).toBe(before + 1);
        const second = await store.chunkIdsOfDocument('papers', one.id);
        commits = 0;
        failAfter = 1;
        await rag.ingest([{ ...one, text: `${one.text}\nA third version.` }]).catch(() => undefined);
        const after = await store.chunkIdsOfDocument('papers', one.id);
        expect(after.length).toBeGreaterThan(0);
        // Exactly one version: all of the second's chunks, or none of them.
        const kept = after.filter((id) => second.includes(id)).length;
        expect(kept === 0 || (kept === second.length && after.length === second.length)).toBe(true);
      } finally {
        await rag.close();
        await dispose();
      }
    },
  );

  gpuTest('an embedder whose dimension disagrees with the index is refused', async (ctx) => {
    dbName = `weft-rag-${crypto.randomUUID()}`;
    const store = await openStore({ dbName });
    const e32 = await tinyEmbedder(32),
      e48 = await tinyEmbedder(48);
    const generator = await referenceGenerator(ctx);
    try {
      await expect(createRag({ store, indexName: 'docs', embedder: e32, generator, gpu: ctx, create: false })).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });
      expect(await store.listIndexes()).toEqual([]);
      const a = await createRag({ store, indexName: 'docs', embedder: e32, generator, gpu: ctx });
      await a.ingest(await cranfield(12));
      await a.close();
      const b = await createRag({ store, indexName: 'docs', embedder: e48, generator, gpu: ctx });
      await expect(b.search('wing lift')).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
      await expect(b.ingest(await cranfield(3))).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
      expect(b.index!.size).toBeGreaterThan(0);
      await b.close();
    } finally {
      generator.destroy();
      await e32.destroy();
      await e48.destroy();
      store.close();
    }
  });

  gpuTest('given a GPUDevice, the runtime wraps it in one context for its index, which close() destroys, never the device', async (ctx) => {
    dbName = `weft-rag-${crypto.randomUUID()}`;
    const store = await openStore({ dbName });
    const embedder = await tinyEmbedder();
    try {
      // No generator: the runtime's only GPU user is its index, on the caller's device.
      const a = await createRag({ store, indexName: 'docs', embedder, gpu: ctx.device });
      expect((await a.info()).backend).toBe('gpu');
      await a.ingest(await cranfield(12));
      const created = a.index!.gpu!;
      expect(created).not.toBe(ctx);
      expect(created.device).toBe(ctx.device);
      expect(created.ownsDevice).toBe(false);
      expect(a.index!.backend).toBe('gpu');
      expect((await a.search('wing lift', { k: 3 })).length).toBe(3);
      await a.ingest(await cranfield(3)); // adds to the same index, on the same context
      expect(a.index!.gpu).toBe(created);
      await a.close();
      expect(() => created.check()).toThrow(/context was destroyed/);
      expect(created.liveBytes).toBe(0);

      // Over an existing index: opened on a context of its own runtime, on the same device.
      const b = await createRag({ store, indexName: 'docs', embedder, gpu: ctx.device, create: false });
      const opened = b.index!.gpu!;
      expect(opened).not.toBe(created);
      expect(opened.device).toBe(ctx.device);
      expect((await b.search('wing lift', { k: 3 })).length).toBe(3);
      await b.close();
      expect(() => opened.check()).toThrow(/context was destroyed/);
      await expect(createRag({ store, indexName: 'missing', embedder, gpu: ctx.device, create: false })).rejects.toMatchObject({ code: 'UNKNOWN_INDEX' });

      // The device is the caller's: still alive and usable through its own context.
      ctx.check();
      const buffer = ctx.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
      ctx.destroyBuffer(buffer);
    } finally {
      await embedder.destroy();
      store.close();
    }
  });

  gpuTest('two concurrent answers each get their own passages and the answer they get alone; an abort leaves the runtime usable', async (ctx) => {
    const { store, embedder, generator, dispose } = await parts(ctx);
    const rag = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx });
    const run = async (q: string, signal?: AbortSignal) => {
      let done: Extract<RagEvent, { type: 'done' }> | undefined;
      for await (const e of rag.generate(q, { k: 2, maxTokens: 16, ...(signal ? { signal } : {}) })) if (e.type === 'done') done = e;
      return done!;
    };
    try {
      await rag.ingest(await cranfield(30));
      const qa = 'boundary layer on a flat plate',
        qb = 'supersonic flow around a cone';
      const aloneA = await run(qa),
        aloneB = await run(qb);
      const [a, b] = await Promise.all([run(qa), run(qb)]);
      expect(a.answer).toBe(aloneA.answer);
      expect(b.answer).toBe(aloneB.answer);
      expect(a.passages.map((p) => p.id)).toEqual(aloneA.passages.map((p) => p.id));
      expect(b.passages.map((p) => p.id)).toEqual(aloneB.passages.map((p) => p.id));
      // Abort after the first token: the answer stops early, and the next request is unaffected.
      const ctl = new AbortController();
      let tokens = 0;
      for await (const e of rag.generate(qa, { k: 2, maxTokens: 16, signal: ctl.signal })) {
        if (e.type === 'token' && ++tokens === 1) ctl.abort();
      }
      expect(tokens).toBe(1);
      expect((await run(qb)).answer).toBe(aloneB.answer);
    } finally {
      await rag.close();
      await dispose();
    }
  });

  gpuTest(
    'woven and sequential schedules retrieve the same passages and answer token for token; the next question is retrieved while the current answer decodes',
    async (ctx) => {
      const { store, embedder, generator, dispose } = await parts(ctx);
      const build = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx, schedule: 'sequential' });
      await build.ingest(await cranfield(30));
      await build.close();
      const collect = async (rag: Awaited<ReturnType<typeof createRag>>, q: string) => {
        const tokens: string[] = [];
        let done: Extract<RagEvent, { type: 'done' }> | undefined;
        let trace: Extract<RagEvent, { type: 'trace' }> | undefined;
        const start = performance.now();
        for await (const e of rag.generate(q, { k: 2, nprobe: 4, maxTokens: 24 })) {
          if (e.type === 'token') tokens.push(e.text);
          if (e.type === 'done') done = e;
          if (e.type === 'trace') trace = e;
        }
        return { tokens, passages: done!.passages.map((p) => p.id), trace: trace!, start };
      };
      const qa = 'boundary layer on a flat plate',
        qb = 'supersonic flow around a cone';
      try {
        // The cache is smaller than the index in both runtimes.
        const seq = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx, schedule: 'sequential', cacheBytes: 48 * 1024 });
        const sa = await collect(seq, qa),
          sb = await collect(seq, qb);
        await seq.close();
        const wov = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx, schedule: 'woven', cacheBytes: 48 * 1024 });
        const pa = collect(wov, qa);
        await new Promise((r) => setTimeout(r, 300)); // A is decoding when B arrives
        const [wa, wb] = await Promise.all([pa, collect(wov, qb)]);
        await wov.close();
        expect(wa.tokens).toEqual(sa.tokens);
        expect(wb.tokens).toEqual(sb.tokens);
        expect(wa.passages).toEqual(sa.passages);
        expect(wb.passages).toEqual(sb.passages);
        // B's search slices ran inside A's decoding window (in its gaps), before B decoded.
        const aDecode = wa.trace.stages.find((s) => s.kind === 'decode')!;
        const bSlices = wb.trace.stages.filter((s) => s.kind === 'search');
        expect(bSlices.length).toBe(4); // nprobe 4, one list rank per slice
        const aEnd = wa.start + aDecode.end;
        expect(bSlices.some((s) => wb.start + s.end <= aEnd)).toBe(true);
        expect(wb.trace.stages.map((s) => s.kind)).toContain('embed');
      } finally {
        await dispose();
      }
    },
  );

  /** Runs one answer and keeps everything it streamed, with the time each token arrived. */
  const answerOf = async (rag: Rag, q: string, o: GenerateOptions) => {
    const tokens: string[] = [],
      at: number[] = [];
    let done: Extract<RagEvent, { type: 'done' }> | undefined;
    let trace: Extract<RagEvent, { type: 'trace' }> | undefined;
    const start = performance.now();
    for await (const e of rag.generate(q, o)) {
      if (e.type === 'token') {
        tokens.push(e.text);
        at.push(performance.now() - start);
      }
      if (e.type === 'done') done = e;
      if (e.type === 'trace') trace = e;
    }
    return { tokens, at, done: done!, stages: trace!.stages, kinds: trace!.stages.map((s) => s.kind), start };
  };

  gpuTest(
    "with lookahead 1, a question waits to retrieve until the one before it has the generator; the oldest question's retrieval goes first",
    async (ctx) => {
      const { store, embedder, generator, dispose } = await parts(ctx);
      const rag = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx, lookahead: 1 });
      try {
        await rag.ingest(await cranfield(20));
        const qs = ['boundary layer on a flat plate', 'supersonic flow around a cone', 'heat transfer at hypersonic speed'];
        const runs = qs.map(async (q, i) => {
          await new Promise((r) => setTimeout(r, 20 * i));
          return answerOf(rag, q, { k: 2, nprobe: 4, maxTokens: 12 });
        });
        const [a, b, c] = await Promise.all(runs);
        const at = (r: typeof a, kind: string, edge: 'start' | 'end' = 'start') => r!.start + r!.stages.find((s) => s.kind === kind)![edge];
        // B retrieves once A holds the generator, C once B does.
        expect(at(b, 'embed')).toBeGreaterThanOrEqual(at(a, 'prefill') - 5);
        expect(at(c, 'embed')).toBeGreaterThanOrEqual(at(b, 'prefill') - 5);
        expect(at(a, 'decode', 'end')).toBeLessThanOrEqual(at(b, 'decode') + 5);
        for (const r of [a, b, c]) expect(r!.tokens.length).toBeGreaterThan(0);
      } finally {
        await rag.close();
        await dispose();
      }
    },
  );

  gpuTest('speculation never changes the answer; when the partial top-k differs from the final one the prefill restarts', async (ctx) => {
    const { store, embedder, generator, dispose } = await parts(ctx);
    const rag = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx });
    try {
      await rag.ingest(await cranfield(30));
      const nprobe = Math.min(6, rag.index!.nlist);
      // After one slice, the partial top-k is what a search of the first-ranked list alone finds.
      const questions = [
        'boundary layer on a flat plate',
        'supersonic flow around a cone',
        'heat transfer at hypersonic speed',
        'buckling of thin cylindrical shells',
        'lift of a wing at low speed',
        'shock wave and boundary layer interaction',
        'slender body theory',
        'transition to turbulence',
      ];
      const ids = (ps: { id: number }[]) => ps.map((p) => p.id).join();
      let differs: string | undefined, agrees: string | undefined;
      for (const q of questions) {
        const same = ids(await rag.search(q, { k: 2, nprobe: 1 })) === ids(await rag.search(q, { k: 2, nprobe }));
        if (same) agrees ??= q;
        else differs ??= q;
      }
      expect(differs && agrees).toBeTruthy();
      for (const q of [differs!, agrees!]) {
        const plain = await answerOf(rag, q, { k: 2, nprobe, maxTokens: 16 });
        const spec = await answerOf(rag, q, { k: 2, nprobe, maxTokens: 16, speculate: { afterSlices: 1 } });
        expect(spec.tokens).toEqual(plain.tokens);
        expect(spec.done.passages.map((p) => p.id)).toEqual(plain.done.passages.map((p) => p.id));
        expect(spec.kinds).toContain('speculate');
        // The speculative prefill started while the search still had slices to run.
        const specStage = spec.stages.find((s) => s.kind === 'speculate')!;
        const lastSlice = spec.stages.filter((s) => s.kind === 'search').at(-1)!;
        expect(specStage.start).toBeLessThan(lastSlice.end);
        if (q === differs) {
          expect(spec.kinds).toContain('restart');
          expect(spec.kinds.indexOf('restart')).toBeLessThan(spec.kinds.indexOf('prefill'));
        } else {
          expect(spec.kinds).not.toContain('restart');
          expect(spec.kinds).not.toContain('prefill'); // the speculative prefill was the prefill
        }
      }
    } finally {
      await rag.close();
      await dispose();
    }
  });

  gpuTest(
    "periodic retrieval: blocking equals the sequential schedule; pipelined searches run one window stale, inside the next window's decoding, and refresh the context",
    async (ctx) => {
      const { store, embedder, generator, dispose } = await parts(ctx);
      const build = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx });
      await build.ingest(await cranfield(30));
      await build.close();
      const q = 'boundary layer on a flat plate';
      const interval = 8;
      const base: GenerateOptions = { k: 1, nprobe: 4, maxTokens: 32 };
      try {
        const seq = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx, schedule: 'sequential', cacheBytes: 48 * 1024 });
        const s = await answerOf(seq, q, { ...base, periodic: { interval, nprobe: 4 } });
        await seq.close();
        const rag = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx, cacheBytes: 48 * 1024 });
        const blocking = await answerOf(rag, q, { ...base, periodic: { interval, nprobe: 4, staleness: 0 } });
        expect(blocking.tokens).toEqual(s.tokens);
        expect(blocking.done.periodic).toMatchObject({ staleness: 0, refreshes: s.done.periodic!.refreshes });
        expect(s.done.periodic!.staleness).toBe(0);
        expect(s.done.periodic!.windows.map((w) => w.window)).toEqual([1, 2, 3]);
        expect(s.done.periodic!.refreshes).toBeGreaterThan(0);

        // The search may take up to the window's decode time (PipeRAG's budget), so it fits the window.
        const piped = await answerOf(rag, q, { ...base, periodic: { interval, nprobe: 4, maxSlowdown: 1 } });
        const report = piped.done.periodic!;
        expect(report.staleness).toBe(1);
        // Searches start at tokens 8 and 16 (the one at 24 would land after the last token), and
        // each is applied one window later.
        expect(report.windows.map((w) => w.window)).toEqual([1, 2]);
        for (const w of report.windows) {
          const slices = piped.stages.filter((st) => st.kind === 'search' && st.window === w.window);
          expect(slices.length).toBe(4);
          // It ran while the next window decoded: after token 8w was streamed, before token 8(w+1).
          expect(slices[0]!.start).toBeGreaterThanOrEqual(piped.at[w.window * interval - 1]! - 1);
          expect(slices.some((st) => st.end <= piped.at[(w.window + 1) * interval - 1]!)).toBe(true);
          // Its query was that window's text; what it found is in the context from then on.
          const query = piped.tokens
            .slice((w.window - 1) * interval, w.window * interval)
            .join('')
            .trim();
          const found = await rag.search(query, { k: 1, nprobe: 4 });
          expect(piped.done.passages.map((p) => p.id)).toContain(found[0]!.id);
        }
        expect(report.refreshes).toBe(piped.kinds.filter((k) => k === 'refresh').length);
        // The search for window 2 starts before the refresh at its boundary ends (the refresh
        // applying window 1's result): it embeds and reads lists while the refresh prefills.
        const refreshAt2 = piped.stages.find((st) => st.kind === 'refresh' && st.start >= piped.at[2 * interval - 1]! - 1);
        const embed2 = piped.stages.find((st) => st.kind === 'embed' && st.window === 2);
        expect(report.windows[0]!.refreshed).toBe(true);
        expect(embed2!.start).toBeLessThan(refreshAt2!.end);
        // The same retrievals without pipelining (searched at the end of the window, decoding
        // waiting) give the same answer: pipelining changes when a search runs, not what it finds.
        const unpiped = await answerOf(rag, q, { ...base, periodic: { interval, nprobe: 4, maxSlowdown: 1, pipeline: false } });
        expect(unpiped.tokens).toEqual(piped.tokens);
        expect(unpiped.done.periodic).toMatchObject({ staleness: 1, pipelined: false, refreshes: report.refreshes });
        expect(report.pipelined).toBe(true);
        expect(piped.done.passages.map((p) => p.citation)).toEqual(piped.done.passages.map((_, i) => i + 1));

        // nprobe 'auto': the performance model is fitted once, then picks nprobe per window.
        const auto = await answerOf(rag, q, { ...base, periodic: { interval } });
        expect(auto.kinds[0]).toBe('profile');
        for (const w of auto.done.periodic!.windows) expect(w.nprobe).toBeGreaterThanOrEqual(1);
        const line = await rag.profile();
        expect(line.slope).toBeGreaterThanOrEqual(0);
        await rag.close();
        // A runtime given that line (kept from an earlier page, say) picks nprobe from the first answer without profiling.
        const seeded = await createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx, performanceModel: line });
        const first = await answerOf(seeded, q, { ...base, periodic: { interval } });
        expect(first.kinds).not.toContain('profile');
        expect(first.done.periodic!.windows.length).toBe(auto.done.periodic!.windows.length);
        for (const w of first.done.periodic!.windows) expect(w.nprobe).toBeGreaterThanOrEqual(1);
        await seeded.close();
        for (const bad of [{ intercept: -1, slope: 1 }, { intercept: 1, slope: Number.NaN }, null]) {
          await expect(createRag({ store, indexName: 'papers', embedder, generator, gpu: ctx, performanceModel: bad as never })).rejects.toMatchObject({
            code: 'INVALID_OPTION',
          });
        }
      } finally {
        await dispose();
      }
    },
  );
});
