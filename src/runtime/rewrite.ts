// The follow-up rewrite: before retrieval, the generator turns a conversation's last question
// into a standalone search query ("and the second one?" → "cinder cone volcanoes"). It decodes
// greedily, one line at most, and hands its decode gaps to the other requests' sub-stages like
// any decoding; the answer's own lookahead prefetch (TeleRAG) streams lists meanwhile.

import type { Generator } from '../generate/types.js';
import type { GapScheduler } from '../schedule/gaps.js';
import { cleanRewrite, rewriteMessages, type Dialogue } from './conversation.js';
import type { Trace } from './trace.js';
import { writeText } from './write-text.js';

export interface RewritePlan {
  maxTokens: number;
  instruction: string;
  /** Earlier messages shown to the generator (the newest). */
  turns: number;
}

export interface RewriteDeps {
  generator: Generator;
  gaps: GapScheduler;
  woven: boolean;
  trace: Trace;
  signal: AbortSignal | undefined;
}

/** The rewritten query ('' if the generator gave none); the caller holds the generator. */
export async function rewriteQuery(d: Dialogue, plan: RewritePlan, deps: RewriteDeps): Promise<string> {
  const { generator, gaps, woven, trace, signal } = deps;
  const budget = generator.contextLength - plan.maxTokens - 4;
  const messages = rewriteMessages(d, plan.turns, plan.instruction, (m) => generator.countTokens(generator.formatChat(m)) <= budget);
  const r0 = performance.now();
  // A query is one line: done once a whole line says something.
  const text = await writeText({ generator, gaps, woven, signal }, generator.formatChat(messages), {
    maxTokens: plan.maxTokens,
    lineDone: (before) => cleanRewrite(before) !== '',
  });
  trace.add('rewrite', r0);
  return cleanRewrite(text ?? ''); // never recalled: the rewrite holds the generator
}
