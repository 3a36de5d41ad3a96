// The OpenAI-style surface: rag.chat.completions.create({ messages, stream }) in the shape of
// OpenAI's (and WebLLM's) chat-completions API, so that an app written against
// engine.chat.completions.create switches over by changing the object it calls. Built on
// generate(), so the main-thread runtime and the worker client share it; what OpenAI's shape has
// no place for (the query, the passages, the citations, a workflow's stages) rides in an extra
// `weft` field, and a request may name its workflow in a `workflow` field of its own.

import { WeftError } from '../errors.js';
import type { ChatMessage } from '../generate/types.js';
import { workflowGraph } from '../workflow/builtins.js';
import { checkWorkflow } from '../workflow/check-graph.js';
import type { FinishReason, GenerateInput, GenerateOptions, Passage, RagEvent, Workflow } from './types.js';

/** A text part of a message's content (OpenAI's array form). */
export interface ChatCompletionContentPart {
  type: 'text';
  text: string;
}

/** A message of a chat completion request, as OpenAI's. */
export interface ChatCompletionMessageParam {
  /** 'developer' is OpenAI's newer name for 'system' and is treated as one. */
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string | readonly ChatCompletionContentPart[];
  name?: string;
}

/**
 * A chat completion request in OpenAI's shape: the messages and the parameters Weft honours (others
 * are refused with INVALID_OPTION).
 */
export interface ChatCompletionRequest {
  /** The conversation, ending with the user's question. */
  messages: readonly ChatCompletionMessageParam[];
  /** true: create() resolves to an async iterable of chunks. Default false: to one chat.completion. */
  stream?: boolean | null;
  /** include_usage: one more chunk after the last, with `choices: []` and the usage (OpenAI's convention). */
  stream_options?: { include_usage?: boolean | null } | null;
  /** Longest answer in tokens (max_completion_tokens wins if both are given). Default: generate()'s, 64. */
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  /** 0 = greedy. */
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  /** Echoed in the response; the runtime's own generator answers. */
  model?: string | null;
  /** Only 1 choice is supported. */
  n?: number | null;
  /**
   * Weft's extension, not OpenAI's: the request's workflow, a built-in's name ('hyde',
   * 'multistep', …) or a graph as plain data (GenerateOptions.workflow, docs/workflows.md), so
   * that a request body forwarded as JSON can carry it. The options' `workflow` wins where both
   * are given. An unknown name or a graph that could not run is INVALID_WORKFLOW when create() is
   * called.
   */
  workflow?: Workflow | null;
}

/** Weft's own options, beside the request as the OpenAI SDK's request options are (`signal` among them). */
export type ChatCompletionOptions = Omit<GenerateOptions, 'maxTokens' | 'sampling' | 'system'>;

/**
 * A workflow stage that ran before the answer (a 'node' event without its passages: the answer's
 * are in `passages`): what a generate node wrote, a split's items, a retrieve node's queries.
 */
export interface WeftStageInfo {
  /** The workflow node's name ('hypothesis', 'decompose', …). */
  node: string;
  kind: 'retrieve' | 'generate' | 'split';
  /** A generate node's text. */
  text?: string;
  /** A split node's items. */
  items?: string[];
  /** A retrieve node's queries (one per item with `each`). */
  queries?: string[];
}

/** What the OpenAI shape has no field for. */
export interface WeftCompletionInfo {
  /** The query the passages were retrieved with (the question plus recent turns, or its rewrite). */
  query: string;
  /** The passages in the context, by citation number. */
  passages: Passage[];
  /** The citation numbers the answer makes (on the last chunk and the completion). */
  citations?: number[];
  /**
   * The workflow's stages before the answer, in the order they ran (absent where there were
   * none, as with the default one-shot workflow).
   */
  stages?: WeftStageInfo[];
}

/** Token counts and timings of a completion, as OpenAI and WebLLM report them. */
export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Timings, as WebLLM reports them. */
  extra: { e2e_latency_s: number; time_to_first_token_s: number };
}

/**
 * One streamed piece of an answer, as OpenAI's `chat.completion.chunk`, with Weft's query, passages
 * and citations in `weft`. A workflow's stages before the answer each stream as a chunk with
 * `choices: []` (as OpenAI's usage chunk) and the stage in `weft_stage`, before the first chunk
 * with a choice.
 */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: 'assistant'; content?: string };
    /** 'abort': the request's signal ended it (WebLLM's value). */
    finish_reason: FinishReason | null;
    logprobs: null;
  }[];
  /** On the last chunk (and the include_usage chunk). */
  usage?: CompletionUsage;
  /** On the first chunk (query, passages, stages) and the last (passages, citations, stages). */
  weft?: WeftCompletionInfo;
  /** On a stage's chunk (`choices: []`): a workflow stage that has just finished, before the answer. */
  weft_stage?: WeftStageInfo;
}

/** A whole answer, as OpenAI's `chat.completion`, with Weft's query, passages and citations in `weft`. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: number; message: { role: 'assistant'; content: string }; finish_reason: FinishReason; logprobs: null }[];
  usage: CompletionUsage;
  weft: WeftCompletionInfo & { citations: number[] };
}

/**
 * `rag.chat.completions`: the runtime's answers in the shape of OpenAI's (and WebLLM's)
 * `chat.completions.create`; Weft's own options (k, nprobe, filter, signal, …) go in the second
 * argument.
 */
export interface ChatCompletions {
  create(request: ChatCompletionRequest & { stream: true }, options?: ChatCompletionOptions): Promise<AsyncGenerator<ChatCompletionChunk, void>>;
  create(request: ChatCompletionRequest & { stream?: false | null }, options?: ChatCompletionOptions): Promise<ChatCompletion>;
  create(request: ChatCompletionRequest, options?: ChatCompletionOptions): Promise<AsyncGenerator<ChatCompletionChunk, void> | ChatCompletion>;
}

/** Request fields Weft cannot honour, with the value that means "not used". */
const UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  stop: (v) => v === null || (Array.isArray(v) && v.length === 0),
  tools: (v) => v === null || (Array.isArray(v) && v.length === 0),
  tool_choice: (v) => v === null || v === 'none',
  functions: (v) => v === null,
  function_call: (v) => v === null || v === 'none',
  response_format: (v) => v === null || (typeof v === 'object' && (v as { type?: unknown }).type === 'text'),
  logprobs: (v) => v === null || v === false,
  top_logprobs: (v) => v === null || v === 0,
  logit_bias: (v) => v === null || (typeof v === 'object' && Object.keys(v as object).length === 0),
  frequency_penalty: (v) => v === null || v === 0,
  presence_penalty: (v) => v === null || v === 0,
};

const invalid = (message: string) => new WeftError('INVALID_OPTION', message);

function messageOf(m: ChatCompletionMessageParam, i: number): ChatMessage {
  const given = typeof m === 'object' && m !== null ? m.role : undefined;
  const role = given === 'developer' ? 'system' : given;
  if (role !== 'system' && role !== 'user' && role !== 'assistant') {
    throw new WeftError(
      'INVALID_INPUT',
      `messages[${i}] has role '${String(given)}'; chat.completions takes system, developer, user and assistant messages (no tools).`,
      { details: { index: i } },
    );
  }
  if (typeof m.content === 'string') return { role, content: m.content };
  if (Array.isArray(m.content) && m.content.every((p: ChatCompletionContentPart) => p?.type === 'text' && typeof p.text === 'string')) {
    return { role, content: m.content.map((p: ChatCompletionContentPart) => p.text).join('') };
  }
  throw new WeftError('INVALID_INPUT', `messages[${i}].content must be a string or an array of { type: 'text', text } parts.`, { details: { index: i } });
}

const optionalNumber = (request: ChatCompletionRequest, name: keyof ChatCompletionRequest, ok: (v: number) => boolean, rule: string): number | undefined => {
  const v = request[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !ok(v)) throw invalid(`${name} must be ${rule}; got ${String(v)}.`);
  return v;
};

/** The generate() call a request stands for; INVALID_OPTION / INVALID_INPUT for what Weft cannot do. */
export function generateCallOf(request: ChatCompletionRequest, options: ChatCompletionOptions = {}): { input: GenerateInput; options: GenerateOptions } {
  if (typeof request !== 'object' || request === null || !Array.isArray(request.messages)) {
    throw new WeftError('INVALID_INPUT', 'chat.completions.create takes { messages: [...] }.');
  }
  for (const [name, unused] of Object.entries(UNSUPPORTED)) {
    const v = (request as unknown as Record<string, unknown>)[name];
    if (v !== undefined && !unused(v)) throw invalid(`chat.completions does not support '${name}' in Weft; leave it out.`);
  }
  optionalNumber(request, 'n', (v) => v === 1, '1 (one choice)');
  const maxTokens =
    optionalNumber(request, 'max_completion_tokens', (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1') ??
    optionalNumber(request, 'max_tokens', (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1');
  const temperature = optionalNumber(request, 'temperature', (v) => v >= 0 && v <= 2, 'between 0 and 2');
  const topP = optionalNumber(request, 'top_p', (v) => v > 0 && v <= 1, 'in (0, 1]');
  const seed = optionalNumber(request, 'seed', (v) => Number.isInteger(v), 'a whole number');
  // The workflow (the options' over the request's), checked now: a stream's caller learns of a
  // bad one from create(), not from its first chunk.
  const workflow = options.workflow ?? request.workflow ?? undefined;
  if (workflow !== undefined) checkWorkflow(workflowGraph(workflow));
  const sampling = {
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(seed !== undefined ? { seed } : {}),
  };
  return {
    input: { messages: request.messages.map(messageOf) },
    options: {
      ...options,
      ...(workflow !== undefined ? { workflow } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      ...(Object.keys(sampling).length > 0 ? { sampling } : {}),
    },
  };
}

const usageOf = (done: Extract<RagEvent, { type: 'done' }>): CompletionUsage => ({
  prompt_tokens: done.tokens.prompt,
  completion_tokens: done.tokens.generated,
  total_tokens: done.tokens.prompt + done.tokens.generated,
  extra: { e2e_latency_s: done.timings.totalMs / 1000, time_to_first_token_s: done.timings.firstTokenMs / 1000 },
});

type Generate = (input: GenerateInput, options?: GenerateOptions) => AsyncGenerator<RagEvent>;

/** A 'node' event as a stage of the completion (its passages left out). */
const stageOf = (e: Extract<RagEvent, { type: 'node' }>): WeftStageInfo => ({
  node: e.node,
  kind: e.kind,
  ...(e.text !== undefined ? { text: e.text } : {}),
  ...(e.items !== undefined ? { items: e.items } : {}),
  ...(e.queries !== undefined ? { queries: e.queries } : {}),
});

/** `{ stages }` where the workflow ran any before the answer, else nothing. */
const withStages = (stages: WeftStageInfo[]) => (stages.length > 0 ? { stages: [...stages] } : {});

/** chat.completions over a runtime's generate(); `model` names its generator (for the responses' `model`). */
export function createChatCompletions(generate: Generate, model: () => Promise<string>): ChatCompletions {
  async function create(request: ChatCompletionRequest, options?: ChatCompletionOptions): Promise<AsyncGenerator<ChatCompletionChunk, void> | ChatCompletion> {
    const call = generateCallOf(request, options);
    const head = {
      id: `chatcmpl-${crypto.randomUUID()}`,
      created: Math.floor(Date.now() / 1000),
      model: request.model || (await model()) || 'weft',
    };
    if (request.stream) return chunks(call, head, request.stream_options?.include_usage === true);
    let content = '';
    let query = '';
    const stages: WeftStageInfo[] = [];
    for await (const e of generate(call.input, call.options)) {
      if (e.type === 'node') stages.push(stageOf(e));
      else if (e.type === 'retrieval') query = e.query;
      else if (e.type === 'token') content += e.text;
      else if (e.type === 'done') {
        return {
          ...head,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: e.finishReason, logprobs: null }],
          usage: usageOf(e),
          weft: { query, passages: e.passages, citations: e.citations, ...withStages(stages) },
        };
      }
    }
    throw new WeftError('GENERATION_FAILED', 'The answer ended without its done event.');
  }

  async function* chunks(
    call: ReturnType<typeof generateCallOf>,
    head: { id: string; created: number; model: string },
    includeUsage: boolean,
  ): AsyncGenerator<ChatCompletionChunk, void> {
    const chunk = (choices: ChatCompletionChunk['choices'], extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk => ({
      ...head,
      object: 'chat.completion.chunk',
      choices,
      ...extra,
    });
    let query = '';
    const stages: WeftStageInfo[] = [];
    for await (const e of generate(call.input, call.options)) {
      if (e.type === 'node') {
        const stage = stageOf(e);
        stages.push(stage);
        yield chunk([], { weft_stage: stage });
      } else if (e.type === 'retrieval') {
        query = e.query;
        yield chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }], {
          weft: { query, passages: e.passages, ...withStages(stages) },
        });
      } else if (e.type === 'token' && e.text !== '') {
        yield chunk([{ index: 0, delta: { content: e.text }, finish_reason: null, logprobs: null }]);
      } else if (e.type === 'done') {
        const usage = usageOf(e);
        yield chunk([{ index: 0, delta: {}, finish_reason: e.finishReason, logprobs: null }], {
          usage,
          weft: { query, passages: e.passages, citations: e.citations, ...withStages(stages) },
        });
        if (includeUsage) yield chunk([], { usage });
      }
    }
  }

  return { create: create as ChatCompletions['create'] };
}
