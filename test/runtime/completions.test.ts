// The OpenAI-style surface over a scripted generate(): the request becomes the generate() call it
// stands for (its workflow included, checked before anything runs), and the events become
// chat.completion.chunk / chat.completion objects (a workflow's stages as their own chunks and in
// `weft.stages`).
import { afterEach, describe, expect, test } from 'vitest';
import { createChatCompletions, generateCallOf, type ChatCompletionChunk, type ChatCompletionRequest } from '../../src/runtime/completions.js';
import type { GenerateInput, GenerateOptions, Passage, RagEvent, WorkflowGraph } from '../../src/runtime/types.js';
import { BUILTIN_WORKFLOWS } from '../../src/workflow/builtins.js';
import { documents, echoGenerator, nodeRag, nodeStores } from '../support/node-rag.js';

const passage: Passage = { citation: 1, id: 4, score: 0.8, scores: { vector: 0.8 }, docId: 'v.md', text: 'Cinder cones are small.', metadata: {} };

/** A generate() that records its calls and streams a fixed answer (after `before`: a workflow's stage events). */
function scripted(pieces: string[], finishReason: 'stop' | 'length' | 'abort' = 'stop', before: RagEvent[] = []) {
  const calls: { input: GenerateInput; options: GenerateOptions | undefined }[] = [];
  async function* generate(input: GenerateInput, options?: GenerateOptions): AsyncGenerator<RagEvent> {
    calls.push({ input, options });
    yield* before;
    yield { type: 'retrieval', passages: [passage], query: 'cinder cones' };
    for (const text of pieces) yield { type: 'token', text };
    yield { type: 'trace', stages: [] };
    yield {
      type: 'done',
      answer: pieces.join(''),
      citations: [1],
      finishReason,
      passages: [passage],
      timings: { totalMs: 1500, firstTokenMs: 500 },
      tokens: { prompt: 40, generated: pieces.length },
    };
  }
  return { calls, completions: createChatCompletions(generate, async () => 'test-model') };
}

const messages = [
  { role: 'developer' as const, content: 'Be brief.' },
  {
    role: 'user' as const,
    content: [
      { type: 'text' as const, text: 'Which is ' },
      { type: 'text' as const, text: 'smallest?' },
    ],
  },
];

describe('chat.completions', () => {
  test('the request becomes a generate() call: messages, max_tokens, sampling; Weft options beside it', () => {
    const { input, options } = generateCallOf({ messages, max_tokens: 20, max_completion_tokens: 30, temperature: 0.7, top_p: 0.9, seed: 3 }, { k: 2 });
    expect(input).toEqual({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Which is smallest?' },
      ],
    });
    expect(options).toEqual({ k: 2, maxTokens: 30, sampling: { temperature: 0.7, topP: 0.9, seed: 3 } });
    expect(generateCallOf({ messages: [{ role: 'user', content: 'x' }], temperature: null }).options).toEqual({});
  });

  test('what Weft cannot honour is refused, not ignored', () => {
    const user = [{ role: 'user' as const, content: 'x' }];
    for (const extra of [
      { n: 2 },
      { stop: ['\n'] },
      { tools: [{}] },
      { response_format: { type: 'json_object' } },
      { logprobs: true },
      { frequency_penalty: 0.5 },
      { max_tokens: 0 },
      { temperature: 3 },
      { top_p: 0 },
    ]) {
      expect(() => generateCallOf({ messages: user, ...extra } as never), JSON.stringify(extra)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    }
    expect(() => generateCallOf({ messages: [{ role: 'tool', content: 'x' }] } as never)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(() => generateCallOf({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
    // Defaults that mean "not used" pass.
    expect(() => generateCallOf({ messages: user, n: 1, stop: null, tools: [], logprobs: false, frequency_penalty: 0 } as never)).not.toThrow();
  });

  test('stream: a role chunk with the passages, one chunk per piece, a last chunk with finish_reason, usage and citations; include_usage adds the usage chunk', async () => {
    const { completions, calls } = scripted(['Cinder', '', ' cones [1].']);
    const stream = await completions.create({ messages, stream: true, stream_options: { include_usage: true }, max_tokens: 8 }, { k: 1 });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(calls[0]!.options).toEqual({ k: 1, maxTokens: 8 });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'test-model' && Number.isInteger(c.created))).toBe(true);
    expect(chunks[0]!.choices[0]).toEqual({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null });
    expect(chunks[0]!.weft).toEqual({ query: 'cinder cones', passages: [passage] });
    expect(chunks.slice(1, 3).map((c) => c.choices[0]!.delta.content)).toEqual(['Cinder', ' cones [1].']); // no empty pieces
    const last = chunks[3]!;
    expect(last.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(last.usage).toEqual({ prompt_tokens: 40, completion_tokens: 3, total_tokens: 43, extra: { e2e_latency_s: 1.5, time_to_first_token_s: 0.5 } });
    expect(last.weft).toEqual({ query: 'cinder cones', passages: [passage], citations: [1] });
    expect(chunks[4]).toMatchObject({ choices: [], usage: last.usage });
    expect(chunks).toHaveLength(5);
    // WebLLM apps read the content like this:
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Cinder cones [1].');
  });

  test('non-stream: one chat.completion with the message, finish_reason, usage and the weft field', async () => {
    const { completions } = scripted(['Small', ' ones'], 'length');
    const done = await completions.create({ messages: [{ role: 'user', content: 'Which?' }], model: 'my-name' });
    expect(done).toMatchObject({
      object: 'chat.completion',
      model: 'my-name',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Small ones' }, finish_reason: 'length', logprobs: null }],
      usage: { prompt_tokens: 40, completion_tokens: 2, total_tokens: 42 },
      weft: { query: 'cinder cones', passages: [passage], citations: [1] },
    });
    expect(done.id).toMatch(/^chatcmpl-/);
    await expect(completions.create({ messages: [], n: 3 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  // A multistep request's stages, as generate() streams them (a stage's trace stages among them).
  const stageEvents: RagEvent[] = [
    { type: 'node', node: 'decompose', kind: 'generate', text: 'What are cinder cones?\nHow big are they?' },
    { type: 'stage', stage: { kind: 'generate', node: 'decompose', start: 0, end: 5, at: 0 } },
    { type: 'node', node: 'split', kind: 'split', items: ['What are cinder cones?', 'How big are they?'] },
  ];
  const stages = [
    { node: 'decompose', kind: 'generate', text: 'What are cinder cones?\nHow big are they?' },
    { node: 'split', kind: 'split', items: ['What are cinder cones?', 'How big are they?'] },
  ];

  test('workflow: from the request (Weft’s extension) or the options, which win; checked before anything runs', async () => {
    const user = [{ role: 'user' as const, content: 'x' }];
    expect(generateCallOf({ messages: user, workflow: 'hyde' }).options).toEqual({ workflow: 'hyde' });
    expect(generateCallOf({ messages: user, workflow: 'hyde' }, { workflow: 'irg', k: 2 }).options).toEqual({ workflow: 'irg', k: 2 });
    expect(generateCallOf({ messages: user, workflow: null }).options).toEqual({});
    // A graph as plain data, as a JSON request body carries it.
    const graph = JSON.parse(JSON.stringify(BUILTIN_WORKFLOWS.recomp)) as WorkflowGraph;
    expect(generateCallOf(JSON.parse(JSON.stringify({ messages: user, workflow: graph })) as ChatCompletionRequest).options.workflow).toEqual(graph);
    // An unknown name or a graph that could not run is INVALID_WORKFLOW from create(), stream or not, before generate() is called.
    const { completions, calls } = scripted(['x']);
    await expect(completions.create({ messages: user, workflow: 'hide' as never, stream: true })).rejects.toMatchObject({
      code: 'INVALID_WORKFLOW',
      message: expect.stringMatching(/no built-in workflow 'hide'.*one-shot, hyde, multistep, irg, recomp, flare, periodic/),
    });
    await expect(completions.create({ messages: user }, { workflow: { ...graph, edges: [] } })).rejects.toMatchObject({ code: 'INVALID_WORKFLOW' });
    // The options' workflow is the one checked where both are given.
    await expect(completions.create({ messages: user, workflow: 'hyde' }, { workflow: 'hide' as never })).rejects.toMatchObject({ code: 'INVALID_WORKFLOW' });
    expect(calls).toHaveLength(0);
  });

  test('stream with a workflow: each stage a chunk of its own (no choices, the stage in weft_stage) before the answer; the stages again in weft', async () => {
    const { completions, calls } = scripted(['Cinder', ' cones.'], 'stop', stageEvents);
    const stream = await completions.create({ messages, stream: true, workflow: 'multistep' });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(calls[0]!.options).toEqual({ workflow: 'multistep' });
    expect(chunks.slice(0, 2).map((c) => [c.choices, c.weft_stage, c.weft])).toEqual([
      [[], stages[0], undefined],
      [[], stages[1], undefined],
    ]);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    const role = chunks[2]!;
    expect(role.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(role.weft).toEqual({ query: 'cinder cones', passages: [passage], stages });
    expect(chunks.at(-1)!.weft).toEqual({ query: 'cinder cones', passages: [passage], citations: [1], stages });
    expect(chunks.filter((c) => c.weft_stage)).toHaveLength(2);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Cinder cones.');
  });

  test('non-stream with a workflow: the stages in weft.stages; without one, no stages', async () => {
    const { completions } = scripted(['Small'], 'stop', stageEvents);
    const done = await completions.create({ messages }, { workflow: 'multistep' });
    expect(done.weft).toEqual({ query: 'cinder cones', passages: [passage], citations: [1], stages });
    expect(done.choices[0]!.message.content).toBe('Small');
    expect('stages' in (await scripted(['Small']).completions.create({ messages })).weft).toBe(false);
  });

  describe('on a runtime (Node, the file store, a generator whose text follows its prompt)', () => {
    const stores = nodeStores();
    afterEach(() => stores.cleanup());

    test('a request body with a workflow, as JSON, runs it: its stages stream before the answer and are in weft', async () => {
      const store = await stores.open(await stores.dir());
      const rag = await nodeRag(store, { generator: echoGenerator() });
      try {
        await rag.ingest(documents(20));
        const body = JSON.parse(
          JSON.stringify({ messages: [{ role: 'user', content: 'what is topic 3 about?' }], stream: true, max_tokens: 8, workflow: 'hyde' }),
        );
        const chunks: ChatCompletionChunk[] = [];
        for await (const c of await rag.chat.completions.create(body as ChatCompletionRequest & { stream: true })) chunks.push(c);
        expect(chunks[0]!.choices).toEqual([]);
        expect(chunks[0]!.weft_stage).toMatchObject({ node: 'hypothesis', kind: 'generate', text: expect.any(String) });
        expect(chunks[1]!.choices[0]!.delta.role).toBe('assistant');
        expect(chunks.at(-1)!.weft!.stages!.map((s) => s.node)).toEqual(['hypothesis']);
        const irg = await rag.chat.completions.create({ messages: [{ role: 'user', content: 'what is topic 3 about?' }], max_tokens: 8 }, { workflow: 'irg' });
        expect(irg.weft.stages!.map((s) => `${s.node}:${s.kind}`)).toEqual(['retrieve:retrieve', 'draft:generate', 'retrieve:retrieve', 'draft:generate']);
        expect(irg.weft.stages![0]!.queries).toHaveLength(1);
        expect(irg.choices[0]!.message.content).not.toBe('');
      } finally {
        await rag.close();
        store.close();
      }
    });
  });
});
