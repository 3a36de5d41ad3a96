// Every built-in workflow on the real parts (issue 22): WebGPU in Chromium, IndexedDB, the
// stories260K reference generator at temperature 0, the test embedder. Run by the woven schedule
// as one mixed stream — concurrent, batched, reordered — each request gives token for token the
// answer, passages and citations the sequential schedule gives it (each stage after the last, one
// request at a time); a workflow graph of one's own crosses into the engine worker as data and
// runs there the same. (test/runtime/workflows.test.ts runs the same checks under Node.)
import { afterEach, expect, test } from 'vitest';
import type { GenerateOptions, RagEvent, WorkflowGraph } from '../../src/runtime/types.js';
import type { Rag } from '../../src/runtime/rag-api.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { BUILTIN_WORKFLOWS } from '../../src/workflow/builtins.js';
import { cranfieldAbstracts, openLocalRag, openWorkerRag, type OpenedRag } from '../support/rag-runtimes.js';

const opened: OpenedRag[] = [];
let dbName = '';
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.dispose();
  if (dbName) await deleteStore(dbName);
});

interface Outcome {
  stages: string[];
  answer: string;
  passages: number[];
  citations: number[];
}

async function collect(events: AsyncGenerator<RagEvent>): Promise<Outcome> {
  const o: Outcome = { stages: [], answer: '', passages: [], citations: [] };
  for await (const e of events) {
    if (e.type === 'node') o.stages.push(`${e.node}: ${e.text ?? JSON.stringify(e.items ?? e.passages?.map((p) => p.id))}`);
    if (e.type === 'retrieval') o.stages.push(`retrieval: ${JSON.stringify(e.passages.map((p) => p.id))}`);
    if (e.type === 'done') Object.assign(o, { answer: e.answer, passages: e.passages.map((p) => p.id), citations: e.citations });
  }
  return o;
}

async function corpus(rag: Rag) {
  const texts = (await cranfieldAbstracts()).slice(0, 60);
  await rag.ingest(texts.map((text, i) => ({ id: `cran-${i + 1}`, text })));
}

const names = Object.keys(BUILTIN_WORKFLOWS) as (keyof typeof BUILTIN_WORKFLOWS)[];

test('each built-in, run by the woven schedule in a mixed stream, answers token for token as the sequential schedule does', { timeout: 600_000 }, async () => {
  dbName = `weft-workflows-${crypto.randomUUID()}`;
  const sequential = await openLocalRag(dbName, { options: { schedule: 'sequential' } });
  opened.push(sequential);
  await corpus(sequential.rag);
  const woven = await openLocalRag(dbName, { options: { schedule: 'woven', lookahead: 4 } });
  opened.push(woven);
  const questions = ['What is the boundary layer of a wing?', 'How does heat transfer at high speed?', 'What happens in supersonic flow?'];
  const requests: [string, GenerateOptions][] = names.flatMap((workflow, i) => [[questions[i % questions.length]!, { workflow, k: 3, maxTokens: 16 }]]);
  const expected: Outcome[] = [];
  for (const [q, o] of requests) expected.push(await collect(sequential.rag.generate(q, o)));
  const together = await Promise.all(requests.map(([q, o]) => collect(woven.rag.generate(q, o))));
  for (const [i, [, o]] of requests.entries()) {
    expect(together[i], `${String(o.workflow)}: woven as sequential`).toEqual(expected[i]);
    expect(expected[i]!.answer.length, `${String(o.workflow)} answers`).toBeGreaterThan(0);
  }
  // The stages each built-in runs before its answer.
  expect(expected.map((x) => x.stages.map((s) => s.split(':')[0]).join(' → '))).toEqual([
    'retrieval',
    'hypothesis → retrieval',
    'decompose → split → retrieval',
    'retrieve → draft → retrieve → draft → retrieval',
    'retrieve → summarize → retrieval',
    'retrieval',
    'retrieval',
  ]);
});

test('a graph of your own crosses into the engine worker as data and answers there as on the page', { timeout: 300_000 }, async () => {
  dbName = `weft-workflows-${crypto.randomUUID()}`;
  const page = await openLocalRag(dbName, { options: { schedule: 'sequential' } });
  opened.push(page);
  await corpus(page.rag);
  const worker = await openWorkerRag(dbName);
  opened.push(worker);
  const graph: WorkflowGraph = {
    name: 'title-first',
    start: 'title',
    nodes: {
      title: { kind: 'generate', prompt: 'Give this question a short title.\n{question}', into: 'title', stop: 'line', maxTokens: 12 },
      retrieve: { kind: 'retrieve', query: '{title}\n{query}', k: 2 },
      answer: { kind: 'answer', prompt: 'Title: {title}\n{passages}\nQ: {question}\nA:' },
    },
    edges: [
      { from: 'title', to: 'retrieve' },
      { from: 'retrieve', to: 'answer' },
    ],
  };
  const q = 'What is the boundary layer of a wing?';
  const onPage = await collect(page.rag.generate(q, { workflow: graph, maxTokens: 12 }));
  const inWorker = await collect(worker.rag.generate(q, { workflow: graph, maxTokens: 12 }));
  expect(inWorker).toEqual(onPage);
  expect(onPage.stages[0]).toMatch(/^title: /);
  expect(onPage.passages.length).toBe(2);
  // A graph that could not run is refused in the worker as on the page, before anything runs.
  const bad = { ...graph, edges: [...graph.edges, { from: 'answer', to: 'title' }] };
  await expect(collect(worker.rag.generate(q, { workflow: bad }))).rejects.toMatchObject({
    code: 'INVALID_WORKFLOW',
    message: expect.stringMatching(/leaves the answer node/),
  });
});
