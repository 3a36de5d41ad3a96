// Multi-turn chat on real parts (the test embedder — an ONNX graph whose vectors are a function of
// the tokens — and the stories260K reference generator): how a conversation and its passages
// become the prompt, per-call sampling, follow-up questions retrieved with the conversation in
// mind (and the rewrite path's lookahead), and the OpenAI-style chat.completions surface.
import { afterEach, describe, expect, inject } from 'vitest';
import { createOnnxEmbedder } from '../../src/embed/onnx-embedder.js';
import type { Embedder } from '../../src/embed/types.js';
import { loadLlama2c, type Llama2cGenerator } from '../../src/generate/llama2c-gpu.js';
import type { Generator, SamplingOptions } from '../../src/generate/types.js';
import { defaultPromptTemplate } from '../../src/runtime/answer-context.js';
import { cleanRewrite, DEFAULT_REWRITE_INSTRUCTION } from '../../src/runtime/conversation.js';
import { createRag } from '../../src/runtime/rag.js';
import type { ChatMessage, GenerateInput, GenerateOptions, RagEvent } from '../../src/runtime/types.js';
import type { LocalRag } from '../../src/runtime/rag-api.js';
import type { ChatCompletionChunk } from '../../src/runtime/completions.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
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

/** The reference generator, with a log of what was prefilled, each step's text, and each setSampling. */
function recorded(g: Llama2cGenerator) {
  const log: ({ prefill: string } | { piece: string } | { sampling: SamplingOptions })[] = [];
  const generator: Generator = {
    get contextLength() {
      return g.contextLength;
    },
    get position() {
      return g.position;
    },
    prefill(p, o) {
      log.push({ prefill: String(p) });
      return g.prefill(p, o);
    },
    async step() {
      const t = await g.step();
      if (!t.done) log.push({ piece: t.piece });
      return t;
    },
    interrupt: () => g.interrupt(),
    reset: () => g.reset(),
    countTokens: (t) => g.countTokens(t),
    formatChat: (m) => g.formatChat(m),
    setSampling(s) {
      log.push({ sampling: s });
      g.setSampling(s);
    },
    timings: () => g.timings(),
    destroy: () => g.destroy(),
  };
  const prefills = () => log.flatMap((e) => ('prefill' in e ? [e.prefill] : []));
  return {
    generator,
    log,
    prefills,
    clear() {
      log.length = 0;
    },
  };
}

/**
 * A small corpus: three passages about volcanoes; one that shares the follow-up's words (and is
 * what the follow-up alone finds) but not its subject; and unrelated ones.
 */
const corpus = [
  { id: 'volcano-kinds', text: 'Volcanoes come in three kinds: shield volcanoes, cinder cone volcanoes and stratovolcanoes, each built by its own eruptions.' },
  {
    id: 'volcano-cinder',
    text: 'Cinder cone volcanoes, the second of the three kinds of volcano, are small steep hills of loose cinders piled around one vent.',
  },
  { id: 'volcano-shield', text: 'Shield volcanoes are broad volcanoes with gentle slopes, built by runny lava flowing far from the vent in quiet eruptions.' },
  { id: 'decoy', text: 'What about the second one? Nobody could say which runner came second in the race.' },
  { id: 'tides', text: 'Tides rise and fall twice a day as the moon pulls the oceans; spring tides come at full and new moon.' },
  { id: 'bread', text: 'Bread dough rises when yeast ferments the sugars in flour and releases carbon dioxide bubbles into the gluten.' },
  { id: 'glaciers', text: 'Glaciers are rivers of ice that flow slowly downhill under their own weight, carving valleys into a U shape.' },
  { id: 'bees', text: 'Honey bees dance to tell the hive where flowers are: the angle of the waggle run points toward the food.' },
  { id: 'rust', text: 'Iron rusts when oxygen and water react with it, forming flaky red iron oxide that weakens the metal.' },
  { id: 'chess', text: 'In chess the knight moves in an L shape and is the only piece that can jump over the others on the board.' },
  { id: 'clouds', text: 'Cumulus clouds are puffy white heaps that form when warm air rises and its water vapour condenses.' },
  { id: 'owls', text: 'Owls hunt at night, finding mice by sound alone with ears set at different heights on their heads.' },
];

const conversation: ChatMessage[] = [
  { role: 'user', content: 'Tell me about the kinds of volcano.' },
  { role: 'assistant', content: 'There are three kinds: shield volcanoes, cinder cone volcanoes and stratovolcanoes [1].' },
  { role: 'user', content: 'and what about the second one?' },
];

async function setUp(ctx: GpuContext, o: { schedule?: 'woven' | 'sequential'; cacheBytes?: number } = {}) {
  dbName = `weft-chat-${crypto.randomUUID()}`;
  const store = await openStore({ dbName });
  const embedder = await tinyEmbedder();
  const reference = await loadLlama2c({ gpu: ctx, model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` });
  const rec = recorded(reference);
  // Vector retrieval: what these tests reason about is which passages the query's embedding finds.
  const open = (schedule = o.schedule) =>
    createRag({
      store,
      indexName: 'notes',
      embedder,
      generator: rec.generator,
      gpu: ctx,
      mode: 'vector',
      ...(schedule ? { schedule } : {}),
      ...(o.cacheBytes ? { cacheBytes: o.cacheBytes } : {}),
    });
  const rag = await open();
  await rag.ingest(corpus);
  return {
    rag,
    rec,
    reference,
    open,
    async dispose() {
      await rag.close();
      reference.destroy();
      await embedder.destroy();
      store.close();
    },
  };
}

async function run(rag: LocalRag, input: GenerateInput, o: GenerateOptions) {
  const events: RagEvent[] = [];
  for await (const e of rag.generate(input, o)) events.push(e);
  const retrieval = events.find((e) => e.type === 'retrieval') as Extract<RagEvent, { type: 'retrieval' }>;
  const done = events.at(-1) as Extract<RagEvent, { type: 'done' }>;
  const trace = events.find((e) => e.type === 'trace') as Extract<RagEvent, { type: 'trace' }>;
  return { retrieval, done, stages: trace.stages, tokens: events.flatMap((e) => (e.type === 'token' ? [e.text] : [])) };
}

describe('chat', () => {
  gpuTest(
    'a conversation is prompted through formatChat with the passages in the last user turn and the system prompt first; sampling is per call',
    async (ctx) => {
      const { rag, rec, reference, dispose } = await setUp(ctx);
      const nprobe = rag.index!.nlist;
      try {
        const system = 'You answer questions about the earth.';
        const a = await run(rag, { messages: conversation }, { k: 2, nprobe, maxTokens: 12, system });
        expect(a.done.passages.length).toBe(2);
        const expected = reference.formatChat([
          { role: 'system', content: system },
          conversation[0]!,
          conversation[1]!,
          { role: 'user', content: defaultPromptTemplate(a.done.passages, conversation[2]!.content) },
        ]);
        expect(rec.prefills()).toEqual([expected]);
        expect(a.done.answer).toBe(a.tokens.join(''));
        expect(a.done.tokens.prompt).toBe(reference.countTokens(expected) + 1); // + BOS
        // A single question is still one user turn: the prompt is the template's text.
        rec.clear();
        const q = await run(rag, 'What are shield volcanoes?', { k: 2, nprobe, maxTokens: 6 });
        expect(rec.prefills()).toEqual([defaultPromptTemplate(q.done.passages, 'What are shield volcanoes?')]);

        // Sampling per call: a seed gives the same answer twice; the next call without sampling is greedy again.
        const sampled = { temperature: 1, topP: 0.95, seed: 7 };
        const s1 = await run(rag, { messages: conversation }, { k: 2, nprobe, maxTokens: 12, system, sampling: sampled });
        const s2 = await run(rag, { messages: conversation }, { k: 2, nprobe, maxTokens: 12, system, sampling: sampled });
        const again = await run(rag, { messages: conversation }, { k: 2, nprobe, maxTokens: 12, system });
        expect(s1.done.answer).toBe(s2.done.answer);
        expect(s1.done.answer).not.toBe(a.done.answer);
        expect(again.done.answer).toBe(a.done.answer);
        expect(rec.log.flatMap((e) => ('sampling' in e ? [e.sampling] : []))).toEqual([{}, sampled, sampled, {}]);
        // A conversation must end with the user's question.
        await expect(run(rag, { messages: conversation.slice(0, 2) }, {})).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      } finally {
        await dispose();
      }
    },
  );

  gpuTest(
    'a follow-up ("and what about the second one?") retrieves passages about the conversation\'s subject, which the question alone does not',
    async (ctx) => {
      const { rag, open, dispose } = await setUp(ctx);
      const nprobe = rag.index!.nlist;
      try {
        const question = conversation[2]!.content;
        // The question alone finds the passage that shares its words, and nothing about volcanoes.
        const alone = await rag.search(question, { k: 2, nprobe });
        expect(alone[0]!.docId).toBe('decoy');
        expect(alone.some((p) => p.docId.startsWith('volcano-'))).toBe(false);
        const lone = await run(rag, { messages: conversation }, { k: 2, nprobe, maxTokens: 4, queryTurns: 0 });
        expect(lone.retrieval.query).toBe(question);
        expect(lone.retrieval.passages.map((p) => p.id)).toEqual(alone.map((p) => p.id));
        // With the recent turns in the query (the default), every passage is about volcanoes.
        const follow = await run(rag, { messages: conversation }, { k: 2, nprobe, maxTokens: 4 });
        expect(follow.retrieval.query.startsWith(question)).toBe(true);
        expect(follow.retrieval.query).toContain('cinder cone volcanoes');
        expect(follow.retrieval.passages.map((p) => p.docId).sort()).toEqual(['volcano-cinder', 'volcano-kinds']);
        expect(follow.done.passages.map((p) => p.id)).toEqual(follow.retrieval.passages.map((p) => p.id));
        // The sequential schedule searches with the same query.
        const seq = await open('sequential');
        const s = await run(seq, { messages: conversation }, { k: 2, nprobe, maxTokens: 4 });
        await seq.close();
        expect(s.retrieval.query).toBe(follow.retrieval.query);
        expect(s.retrieval.passages.map((p) => p.id)).toEqual(follow.retrieval.passages.map((p) => p.id));
      } finally {
        await dispose();
      }
    },
  );

  gpuTest("rewrite: the plain query's lists are prefetched before the rewrite has decoded, and the rewritten text is what gets searched", async (ctx) => {
    const { rag, rec, open, dispose } = await setUp(ctx, { cacheBytes: 4 * 1024 });
    const nprobe = rag.index!.nlist;
    try {
      rec.clear();
      const r = await run(rag, { messages: conversation }, { k: 2, nprobe, maxTokens: 4, rewrite: true });
      // The rewrite prompt came first, then the answer's prompt; what was decoded between them is the rewrite.
      const firstAnswerPrefill = rec.log.findIndex((e, i) => i > 0 && 'prefill' in e);
      const rewritePrompt = rec.prefills()[0]!;
      expect(rewritePrompt).toContain(DEFAULT_REWRITE_INSTRUCTION);
      expect(rewritePrompt).toContain(`Last question: ${conversation[2]!.content}`);
      const rewriteText = rec.log
        .slice(1, firstAnswerPrefill)
        .flatMap((e) => ('piece' in e ? [e.piece] : []))
        .join('');
      const rewritten = cleanRewrite(rewriteText);
      expect(rewritten).not.toBe('');
      expect(r.retrieval.query).toBe(rewritten);
      // The passages are the rewritten query's.
      expect(r.retrieval.passages.map((p) => p.id)).toEqual((await rag.search(rewritten, { k: 2, nprobe })).map((p) => p.id));
      // TeleRAG's lookahead: the plain query was embedded and its prefetch issued before the rewrite ended.
      const stage = (kind: string) => r.stages.filter((s) => s.kind === kind);
      const [rewrite] = stage('rewrite');
      expect(rewrite).toBeDefined();
      const [rawEmbed, finalEmbed] = stage('embed');
      expect(rawEmbed!.end).toBeLessThanOrEqual(rewrite!.start + 1);
      expect(stage('prefetch').some((p) => p.start < rewrite!.end)).toBe(true);
      expect(finalEmbed!.start).toBeGreaterThanOrEqual(rewrite!.end - 1);
      expect(stage('search').every((s) => s.start >= rewrite!.end - 1)).toBe(true);

      // The sequential schedule rewrites the same way (greedy) and finds the same passages.
      const seq = await open('sequential');
      const s = await run(seq, { messages: conversation }, { k: 2, nprobe, maxTokens: 4, rewrite: true });
      await seq.close();
      expect(s.retrieval.query).toBe(rewritten);
      expect(s.retrieval.passages.map((p) => p.id)).toEqual(r.retrieval.passages.map((p) => p.id));
      expect(s.done.answer).toBe(r.done.answer);
      // A single question has nothing to rewrite.
      rec.clear();
      const single = await run(rag, 'What are shield volcanoes?', { k: 2, nprobe, maxTokens: 2, rewrite: true });
      expect(single.retrieval.query).toBe('What are shield volcanoes?');
      expect(single.stages.map((x) => x.kind)).not.toContain('rewrite');
    } finally {
      await dispose();
    }
  });

  gpuTest(
    'chat.completions.create: the non-stream completion and the streamed chunks carry the answer generate() gives, with usage and passages',
    async (ctx) => {
      const { rag, dispose } = await setUp(ctx);
      const nprobe = rag.index!.nlist;
      try {
        const messages = [{ role: 'system' as const, content: 'Be brief.' }, ...conversation];
        const plain = await run(rag, { messages }, { k: 2, nprobe, maxTokens: 10 });
        const completion = await rag.chat.completions.create({ messages, max_tokens: 10 }, { k: 2, nprobe });
        expect(completion.object).toBe('chat.completion');
        expect(completion.choices).toHaveLength(1);
        expect(completion.choices[0]!.message).toEqual({ role: 'assistant', content: plain.done.answer });
        expect(completion.choices[0]!.finish_reason).toBe(plain.done.finishReason);
        expect(completion.usage).toMatchObject({
          prompt_tokens: plain.done.tokens.prompt,
          completion_tokens: plain.done.tokens.generated,
          total_tokens: plain.done.tokens.prompt + plain.done.tokens.generated,
        });
        expect(completion.weft.passages.map((p) => p.id)).toEqual(plain.done.passages.map((p) => p.id));
        expect(completion.weft.citations).toEqual(plain.done.citations);

        const stream = await rag.chat.completions.create({ messages, max_tokens: 10, stream: true, stream_options: { include_usage: true } }, { k: 2, nprobe });
        const chunks: ChatCompletionChunk[] = [];
        for await (const c of stream) chunks.push(c);
        expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
        expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
        expect(chunks[0]!.weft!.passages.map((p) => p.id)).toEqual(plain.retrieval.passages.map((p) => p.id));
        expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(plain.done.answer);
        const last = chunks.at(-2)!;
        expect(last.choices[0]!.finish_reason).toBe(plain.done.finishReason);
        expect(last.usage).toMatchObject({ completion_tokens: plain.done.tokens.generated });
        expect(chunks.at(-1)).toMatchObject({ choices: [], usage: last.usage });
        expect(chunks.slice(0, -2).every((c) => c.choices[0]!.finish_reason === null)).toBe(true);

        // temperature, top_p and seed are the answer's sampling.
        const seeded = await rag.chat.completions.create({ messages, max_tokens: 10, temperature: 1, top_p: 0.95, seed: 7 }, { k: 2, nprobe });
        const viaGenerate = await run(rag, { messages }, { k: 2, nprobe, maxTokens: 10, sampling: { temperature: 1, topP: 0.95, seed: 7 } });
        expect(seeded.choices[0]!.message.content).toBe(viaGenerate.done.answer);
      } finally {
        await dispose();
      }
    },
  );
});
