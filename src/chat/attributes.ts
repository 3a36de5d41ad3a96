// How <weft-chat>'s attributes become the engine worker's RagWorkerOptions: the element's
// plain-string configuration (model="reference", embedder="default", URLs) mapped onto the
// runtime's options object, with the `options` property laid over it for full control; and its
// `workflow` (a built-in's name, or a graph by property) checked as the element takes it.

import { isWeftError, WeftError } from '../errors.js';
import type { RagWorkerOptions } from '../transport/engine-api.js';
import type { Workflow } from '../runtime/types.js';
import { BUILTIN_WORKFLOWS } from '../workflow/builtins.js';
import { checkWorkflow } from '../workflow/check-graph.js';

/** WebLLM's prebuilt model the element loads when `model` is not set (about 0.9 GB, cached after the first visit). */
export const DEFAULT_CHAT_MODEL = 'Llama-3.2-1B-Instruct-q4f16_1-MLC';

/** The element's configuration as its attributes give it (all strings, all optional). */
export interface ChatConfig {
  index?: string | undefined;
  /** The URL of a published index to search in place (RagWorkerOptions.remote). */
  remote?: string | undefined;
  model?: string | undefined;
  embedder?: string | undefined;
  referenceModel?: string | undefined;
  referenceTokenizer?: string | undefined;
  embedderTokenizer?: string | undefined;
  embedderTokenizerConfig?: string | undefined;
  dbName?: string | undefined;
}

/**
 * The worker options for a configuration. `overrides` (the element's `options` property) is laid
 * over what the attributes give, field by field; where it names the embedder or the generator,
 * the attributes for that part are not read at all (so they need not be valid).
 */
export function workerOptions(config: ChatConfig, overrides: Partial<RagWorkerOptions> = {}): RagWorkerOptions {
  const embedder = overrides.embedder ?? embedderOptions(config);
  const generator = overrides.generator ?? generatorOptions(config);
  const base: RagWorkerOptions = { indexName: config.index || 'notes', embedder, generator };
  if (config.dbName) base.dbName = config.dbName;
  if (config.remote) base.remote = { url: new URL(config.remote, globalThis.location?.href).href };
  return { ...base, ...overrides, embedder, generator };
}

function embedderOptions(config: ChatConfig): RagWorkerOptions['embedder'] {
  const model = config.embedder?.trim();
  if (!model || model === 'default') return {}; // all-MiniLM-L6-v2 from the Hub, pinned and cached
  // Without tokenizer URLs the embedder uses MiniLM's tokenizer (right for MiniLM's fine-tunes).
  const out: RagWorkerOptions['embedder'] = { model };
  if (config.embedderTokenizer) out.tokenizer = config.embedderTokenizer;
  if (config.embedderTokenizerConfig) out.tokenizerConfig = config.embedderTokenizerConfig;
  return out;
}

function generatorOptions(config: ChatConfig): RagWorkerOptions['generator'] {
  const model = config.model?.trim() || DEFAULT_CHAT_MODEL;
  if (model !== 'reference') return { webllm: { model: { id: model } } };
  if (!config.referenceModel || !config.referenceTokenizer) {
    throw new WeftError(
      'INVALID_OPTION',
      'model="reference" needs reference-model and reference-tokenizer: the URLs of a llama2.c checkpoint (.bin) and its tokenizer (tok*.bin).',
    );
  }
  return { reference: { model: config.referenceModel, tokenizer: config.referenceTokenizer } };
}

/**
 * The element's `workflow` as generate() takes it: undefined for none (an empty attribute: the
 * runtime's default, one-shot), a built-in's name, or a graph (by property) that checkWorkflow
 * passes. INVALID_WORKFLOW otherwise, worded for the element: an unknown name lists the built-ins.
 */
export function chatWorkflow(value: unknown): Workflow | undefined {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return undefined;
  const names = Object.keys(BUILTIN_WORKFLOWS);
  if (typeof value === 'string') {
    const name = value.trim();
    if (!names.includes(name)) {
      throw new WeftError(
        'INVALID_WORKFLOW',
        `<weft-chat workflow="${name}">: there is no built-in workflow '${name}'. Use one of ${names.join(', ')}, or set the workflow property to a graph.`,
        { details: { workflow: name } },
      );
    }
    return name as Workflow;
  }
  try {
    checkWorkflow(value);
  } catch (e) {
    if (isWeftError(e, 'INVALID_WORKFLOW'))
      throw new WeftError('INVALID_WORKFLOW', `<weft-chat>'s workflow property: ${e.message}`, { details: e.details ?? {} });
    throw e;
  }
  return value as Workflow;
}
