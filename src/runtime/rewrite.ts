// The follow-up rewrite: before retrieval, the generator turns a conversation's last question
// into a standalone search query ("and the second one?" → "cinder cone volcanoes"). It decodes
// greedily, one line at most, and hands its decode gaps to the other requests' sub-stages like
// any decoding; the answer's own lookahead prefetch (TeleRAG) streams lists meanwhile.

import { WeftError, checkAborted } from '../errors.js';
import type { Generator } from '../generate/types.js';
import type { GapScheduler } from '../schedule/gaps.js';
import { refill } from './answer-context.js';
import { cleanRewrite, rewriteMessages, type Dialogue } from './conversation.js';
import type { Trace } from './trace.js';

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
  await refill(generator, generator.formatChat(messages), signal);
  // The query must not depend on how the answer samples: greedy, where the generator lets Weft
  // sample (an app's own WebLLM engine without Weft's sampler samples by its chat config, and
  // refuses settings with INVALID_OPTION; its rewrite samples that way too).
  try {
    generator.setSampling({ temperature: 0 });
  } catch (e) {
    if (!(e instanceof WeftError && e.code === 'INVALID_OPTION')) throw e;
  }
  let text = '';
  if (woven) gaps.decoding(true);
  try {
    for (let i = 0; i < plan.maxTokens; i++) {
      checkAborted(signal, 'The answer');
      const st = performance.now();
      const t = await generator.step();
      if (t.done) break;
      text += t.piece;
      // A query is one line: done once a whole line says something.
      if (t.piece.includes('\n') && cleanRewrite(text.slice(0, text.lastIndexOf('\n'))) !== '') break;
      if (woven) await gaps.gap(performance.now() - st);
    }
  } finally {
    if (woven) gaps.decoding(false);
  }
  trace.add('rewrite', r0);
  return cleanRewrite(text);
}
