// The WebLLM adapter end to end through createRagInWorker: the engine worker is the real engine
// host with the stand-in MLCEngine as its WebLLM engine factory (standin-engine.worker.ts:
// stories260K on the llama2.c generator behind MLCEngine's methods, packaged as a chat model with
// a USER/ASSISTANT template). The worker reports the MLCEngine calls the adapter made, so each
// test checks what reached the engine: prefill forwards the prompt's exact ids when it is asked
// to (not at the first step), each token is one decode forward, a refresh re-prefills the new
// prompt plus the answer's own ids in the same assistant turn, nothing decodes after an answer,
// and the prompt is fitted with the tokenizer's exact counts. The oracle is the model's own
// tokenizer.json and conversation template, read from WebLLM's cache on the page.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import * as Comlink from 'comlink';
import { Tokenizer } from '@huggingface/tokenizers';
import { createRagInWorker, type RagClient } from '../../src/transport/client.js';
import type { RagWorkerOptions } from '../../src/transport/engine-api.js';
import type { GenerateOptions, Passage, RagEvent, TraceStage } from '../../src/runtime/types.js';
import { defaultPromptTemplate, fitPassages, promptText, type PromptSpec } from '../../src/runtime/answer-context.js';
import { renderConversation, type WebLlmConvTemplate } from '../../src/generate/webllm-template.js';
import type { Generator } from '../../src/generate/types.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { testEmbeddingGraph } from '../support/tiny-onnx.js';
import { deleteStandInFiles, webllmModelUrl, type StandInRecord } from '../support/webllm-stand-in.js';
import type { StandInCall, StandInProbes } from '../support/standin-engine.worker.js';

const assets = new URL(inject('sharedAssets'), location.href).href;
// Its own model URL (the same files, one more slash): WebLLM's caches are keyed by URL and shared
// with webllm-adapter.browser.test.ts, which may run at the same time and loads the plain-template model.
const folder = `${assets}/lm-stories260K//`;
const record: StandInRecord = { model: folder, model_id: 'stories260K-stand-in-MLC', model_lib: `${folder}stand-in.wasm` };
const BOS = 1;
const CONTEXT = 512; // the stand-in's context_window_size

const json = async (f: string) => (await fetch(`${assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;

/** The test embedder's ONNX graph (fresh bytes each time: the worker takes them). */
const embeddingGraph = testEmbeddingGraph;

async function workerOptions(dbName: string, extra: Partial<RagWorkerOptions> = {}): Promise<RagWorkerOptions> {
  return {
    dbName,
    indexName: 'papers',
    embedder: {
      model: embeddingGraph(),
      tokenizer: await json('tokenizer.json'),
      tokenizerConfig: await json('tokenizer_config.json'),
      device: 'wasm',
      maxLength: 64,
      wasmPaths: new URL('/node_modules/onnxruntime-web/dist/', location.href).href,
      modelId: 'tiny',
    },
    generator: { webllm: { model: { record: { model: record.model, modelLib: record.model_lib, modelId: record.model_id } } } },
    ...extra,
  };
}

async function cranfield(n: number) {
  const raw = (await (await fetch(`${assets}/cranfield/cran.all.1400`)).text()).replace(/\r\n/g, '\n');
  return raw
    .split(/^\.I /m)
    .slice(1, n + 1)
    .map((r, i) => ({ id: `cran-${i + 1}`, text: /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '' }));
}

interface Opened {
  rag: RagClient;
  probes: Comlink.Remote<StandInProbes>;
}

/** createRagInWorker on the stand-in worker, with its probes wired up. */
async function open(dbName: string, extra: Partial<RagWorkerOptions> = {}): Promise<Opened> {
  const worker = new Worker(new URL('../support/standin-engine.worker.ts', import.meta.url), { type: 'module' });
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ weftStandInProbes: port2 }, [port2]);
  const probes = Comlink.wrap<StandInProbes>(port1);
  const rag = await createRagInWorker(await workerOptions(dbName, extra), { worker });
  expect(await probes.engines()).toBe(1);
  return { rag, probes };
}

/** One context fill as the engine saw it: a resetChat, the prefill forwards, then the decode forwards. */
interface Fill {
  prefill: number[];
  decode: number[];
  decodeCalls: number;
  prefillAfterDecode: boolean;
}

function fillsOf(calls: StandInCall[]): Fill[] {
  const fills: Fill[] = [];
  for (const c of calls) {
    if (c.method === 'resetChat') {
      fills.push({ prefill: [], decode: [], decodeCalls: 0, prefillAfterDecode: false });
      continue;
    }
    if (c.method !== 'forwardTokensAndSample') continue;
    const f = fills.at(-1);
    if (!f) throw new Error('A forward into a KV cache that was not emptied for this answer.');
    if (c.isPrefill) {
      f.prefill.push(...c.inputIds!);
      if (f.decode.length > 0) f.prefillAfterDecode = true;
    } else {
      f.decode.push(...c.inputIds!);
      f.decodeCalls++;
    }
  }
  return fills.filter((f) => f.prefill.length + f.decode.length > 0);
}

interface Answer {
  pieces: string[];
  done: Extract<RagEvent, { type: 'done' }>;
  retrieved: Passage[];
  stages: TraceStage[];
  kinds: string[];
  fills: Fill[];
}

/** Runs one answer and returns what it streamed and the engine calls made meanwhile (none kept for answers that overlap others: `track` false). */
async function answer(o: Opened, question: string, options: GenerateOptions, track = true): Promise<Answer> {
  const from = (await o.probes.state()).calls;
  const pieces: string[] = [];
  let done: Answer['done'] | undefined;
  let retrieved: Passage[] = [];
  let stages: TraceStage[] = [];
  for await (const e of o.rag.generate(question, options)) {
    if (e.type === 'token') pieces.push(e.text);
    if (e.type === 'retrieval') retrieved = e.passages;
    if (e.type === 'trace') stages = e.stages;
    if (e.type === 'done') done = e;
  }
  return { pieces, done: done!, retrieved, stages, kinds: stages.map((s) => s.kind), fills: track ? fillsOf(await o.probes.calls(from)) : [] };
}

// The model's tokenizer and conversation template, as the adapter reads them (WebLLM's caches).
let tokenizer: Tokenizer;
let template: WebLlmConvTemplate;
const encode = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids;
const render = (passages: readonly Passage[], question: string) =>
  renderConversation(template, [{ role: 'user', content: defaultPromptTemplate(passages, question) }]);
/** What prefill() must forward for a prompt text: the template's prefix (BOS), then the text's ids. */
const idsOf = (text: string) => [BOS, ...encode(text)];
/** The runtime's prompt for a question, fitted with the tokenizer's exact counts (the oracle for the adapter's countTokens). */
const oracle = (question: string, maxTokens: number): PromptSpec => ({
  generator: {
    contextLength: CONTEXT,
    countTokens: (t: string) => encode(t).length,
    formatChat: (m: Parameters<Generator['formatChat']>[0]) => renderConversation(template, m),
  } as Generator,
  template: defaultPromptTemplate,
  dialogue: { history: [], question },
  maxTokens,
});

/** Every answer is one fill: the prompt's exact ids prefilled, then one decode forward per streamed token. */
function expectOneFill(a: Answer, question: string) {
  expect(a.fills).toHaveLength(1);
  const [f] = a.fills;
  expect(f!.prefill).toEqual(idsOf(render(a.done.passages, question)));
  expect(f!.prefillAfterDecode).toBe(false);
  expect(f!.decodeCalls).toBe(a.pieces.length);
  expect(f!.decode).toHaveLength(a.pieces.length);
  expect(a.done.tokens.prompt).toBe(f!.prefill.length);
}

const dbName = `weft-webllm-worker-${crypto.randomUUID()}`;
let woven: Opened;

beforeAll(async () => {
  woven = await open(dbName);
  await woven.rag.ingest(await cranfield(30));
  const base = webllmModelUrl(record.model);
  const file = async (bucket: string, name: string) =>
    (await (await caches.open(bucket)).match(new URL(name, base).href))!.json() as Promise<Record<string, unknown>>;
  template = (await file('webllm/config', 'mlc-chat-config.json')).conv_template as WebLlmConvTemplate;
  tokenizer = new Tokenizer(await file('webllm/model', 'tokenizer.json'), { clean_up_tokenization_spaces: false });
  expect(template.roles).toEqual({ user: 'USER', assistant: 'ASSISTANT' });
}, 120_000);

afterAll(async () => {
  await woven?.rag.close();
  await deleteStore(dbName);
  await deleteStandInFiles(record);
});

describe('the WebLLM adapter in the engine worker, over the stand-in MLCEngine', () => {
  // These run in order on one runtime: the speculation test needs the first slice to be one list,
  // which holds until a periodic search has fed the latency line (the periodic test comes later).

  test('woven and sequential schedules retrieve the same passages and give the same answer token for token', async () => {
    const qa = 'boundary layer on a flat plate',
      qb = 'supersonic flow around a cone';
    const o: GenerateOptions = { k: 2, nprobe: 4, maxTokens: 16 };
    const seq = await open(dbName, { schedule: 'sequential', create: false });
    let sa: Answer, sb: Answer;
    try {
      sa = await answer(seq, qa, o);
      sb = await answer(seq, qb, o);
    } finally {
      await seq.rag.close();
    }
    // Woven: B arrives (and retrieves in A's gaps) while A decodes.
    const from = (await woven.probes.state()).calls;
    const pa = answer(woven, qa, o, false);
    await new Promise((r) => setTimeout(r, 200));
    const wb = await answer(woven, qb, o, false);
    const wa = await pa;
    expect(sa.pieces.length).toBe(16);
    expect(wa.pieces).toEqual(sa.pieces);
    expect(wb.pieces).toEqual(sb.pieces);
    expect(wa.done.passages.map((p) => p.id)).toEqual(sa.done.passages.map((p) => p.id));
    expect(wb.done.passages.map((p) => p.id)).toEqual(sb.done.passages.map((p) => p.id));
    // At the token level in both schedules: each answer's prompt prefilled as its exact ids, then
    // one decode forward per token; woven, A's fill then B's (the generator is one answer's at a time).
    for (const [a, q] of [
      [sa, qa],
      [sb, qb],
    ] as const)
      expectOneFill(a, q);
    const both = fillsOf(await woven.probes.calls(from));
    expect(both.map((f) => f.prefill)).toEqual([idsOf(render(wa.done.passages, qa)), idsOf(render(wb.done.passages, qb))]);
    expect(both.map((f) => [f.decodeCalls, f.prefillAfterDecode])).toEqual([
      [16, false],
      [16, false],
    ]);
  });

  test('speculation on a partial top-k that differs from the final one: the speculative prefill really ran, then the prompt is re-prefilled (restart) and the answer is unchanged', async () => {
    const nlist = (await woven.rag.info()).nlist!;
    const nprobe = Math.min(6, nlist);
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
    const ids = (ps: Passage[]) => ps.map((p) => p.id).join();
    let q: string | undefined,
      partial: Passage[] = [];
    for (const candidate of questions) {
      // After one slice (one list), the partial top-k is what a search of the first-ranked list finds.
      const one = await woven.rag.search(candidate, { k: 2, nprobe: 1 });
      if (ids(one) !== ids(await woven.rag.search(candidate, { k: 2, nprobe }))) {
        q = candidate;
        partial = one;
        break;
      }
    }
    expect(q).toBeDefined();
    const o: GenerateOptions = { k: 2, nprobe, maxTokens: 12 };
    const plain = await answer(woven, q!, o);
    const spec = await answer(woven, q!, { ...o, speculate: { afterSlices: 1 } });
    expect(spec.pieces).toEqual(plain.pieces);
    expect(spec.done.passages.map((p) => p.id)).toEqual(plain.done.passages.map((p) => p.id));
    expect(spec.kinds).toContain('speculate');
    expect(spec.kinds).toContain('restart');
    expect(spec.kinds.indexOf('restart')).toBeLessThan(spec.kinds.indexOf('prefill'));
    // The engine saw two fills: the partial top-k's prompt prefilled (and nothing decoded on
    // it), then, after a resetChat, the final prompt, decoded from.
    expect(spec.fills).toHaveLength(2);
    const [speculative, final] = spec.fills;
    expect(speculative!.prefill).toEqual(idsOf(promptText(oracle(q!, 12), fitPassages(oracle(q!, 12), partial))));
    expect(speculative!.decode).toEqual([]);
    expect(final!.prefill).toEqual(idsOf(render(spec.done.passages, q!)));
    expect(final!.prefill).not.toEqual(speculative!.prefill);
    expect(final!.decode).toEqual(plain.fills[0]!.decode);
    expectOneFill(plain, q!);
  });

  test("countTokens is the tokenizer's count: passages are fitted into the context with exact counts, and the prompt prefilled is that many tokens", async () => {
    const q = 'heat transfer at hypersonic speed';
    const maxTokens = 8;
    const a = await answer(woven, q, { k: 6, nprobe: 4, maxTokens });
    const spec = oracle(q, maxTokens);
    const fitted = fitPassages(spec, a.retrieved);
    // The room was tight: the counts decided what went in (a passage was cut or left out).
    const whole = (p: Passage) => a.retrieved.find((r) => r.id === p.id)!.text === p.text;
    expect(fitted.length < a.retrieved.length || !fitted.every(whole)).toBe(true);
    expect(a.done.passages).toEqual(fitted);
    expectOneFill(a, q);
    expect(a.done.tokens.prompt).toBe(1 + encode(promptText(spec, fitted)).length);
    expect(a.done.tokens.prompt + maxTokens).toBeLessThanOrEqual(CONTEXT);
  });

  test('an answer stopped at maxTokens leaves nothing decoding in the engine', async () => {
    const a = await answer(woven, 'lift of a wing at low speed', { k: 2, nprobe: 4, maxTokens: 6 });
    expect(a.done.finishReason).toBe('length');
    expect(a.done.tokens.generated).toBe(6);
    expectOneFill(a, 'lift of a wing at low speed');
    const after = await woven.probes.state();
    expect(after).toMatchObject({ inFlight: 0, generating: false, kvLength: a.done.tokens.prompt + 6 });
    await new Promise((r) => setTimeout(r, 500));
    expect(await woven.probes.state()).toEqual(after); // no call arrived since, and the KV cache did not grow
  });

  test("a periodic refresh re-prefills the new passages' prompt plus the answer's own tokens: the same assistant turn continues", async () => {
    const q = 'boundary layer on a flat plate';
    const a = await answer(woven, q, { k: 1, nprobe: 4, maxTokens: 12, periodic: { interval: 4, nprobe: 4, staleness: 0 } });
    const refreshes = a.done.periodic!.refreshes;
    expect(refreshes).toBeGreaterThan(0);
    expect(a.kinds.filter((k) => k === 'refresh')).toHaveLength(refreshes);
    expect(a.fills).toHaveLength(1 + refreshes);
    expect(a.fills[0]!.prefill).toEqual(
      idsOf(
        render(
          a.done.passages.filter((p) => p.citation === 1),
          q,
        ),
      ),
    );
    let said: number[] = a.fills[0]!.decode;
    for (const f of a.fills.slice(1)) {
      expect(f.prefillAfterDecode).toBe(false);
      // The answer so far, as the token ids it was decoded as, right after the prompt.
      expect(f.prefill.slice(f.prefill.length - said.length)).toEqual(said);
      // Before it, exactly the model's format of the conversation with the refreshed passages,
      // which ends with the assistant's header: nothing in between (no new user turn).
      const prompt = f.prefill.slice(0, f.prefill.length - said.length).join();
      const refreshed = a.done.passages.filter((p) => prompt === idsOf(render([p], q)).join());
      expect(refreshed, "the refreshed prompt is the prompt for one of the answer's passages").toHaveLength(1);
      const text = tokenizer.decode(f.prefill, { skip_special_tokens: true });
      expect(text.split('USER:').length - 1, 'user turns in the refreshed context').toBe(1);
      expect(text.split('ASSISTANT:').length - 1, 'assistant headers in the refreshed context').toBe(1);
      said = [...said, ...f.decode];
    }
    expect(said).toHaveLength(12);
    expect(a.done.tokens.generated).toBe(12);
    expect(a.done.answer).toBe(a.pieces.join(''));
    expect(await woven.probes.state()).toMatchObject({
      inFlight: 0,
      generating: false,
      kvLength: a.fills.at(-1)!.prefill.length + a.fills.at(-1)!.decode.length,
    });
  });

  test("the embedder's sha256 reaches createOnnxEmbedder in the worker: a wrong one is CHECKSUM_MISMATCH", async () => {
    const options = await workerOptions(`${dbName}-sha`);
    const bad = {
      ...options,
      embedder: { ...options.embedder, tokenizer: `${assets}/minilm-tokenizer/tokenizer.json`, sha256: { tokenizer: '0'.repeat(64) } },
    };
    await expect(
      createRagInWorker(bad, { worker: new Worker(new URL('../support/standin-engine.worker.ts', import.meta.url), { type: 'module' }) }),
    ).rejects.toMatchObject({ name: 'WeftError', code: 'CHECKSUM_MISMATCH' });
    await deleteStore(`${dbName}-sha`);
  });
});
