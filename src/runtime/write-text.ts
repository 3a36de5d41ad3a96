// A generation stage that is not the answer: the generator writes a text greedily — a follow-up's
// standalone query, a workflow's hypothetical passage, sub-questions, draft or summary — and, in
// the woven schedule, hands each decode gap to the other requests' sub-stages like any decoding.
// The caller holds the generator, or has borrowed it (schedule/loans.ts): then the text stops
// when the loan is recalled, and the stage is written again later.

import { WeftError, checkAborted } from '../errors.js';
import type { Generator } from '../generate/types.js';
import type { GapScheduler } from '../schedule/gaps.js';
import { refill } from './answer-context.js';

export interface WriteTextDeps {
  generator: Generator;
  gaps: GapScheduler;
  woven: boolean;
  signal: AbortSignal | undefined;
}

export interface WriteTextOptions {
  maxTokens: number;
  /** Asked each time a line ends, with the text before the line break: true ends the text there. */
  lineDone?: (text: string) => boolean;
  /** Told the text so far and its tokens after each token (speculative retrieval watches it). */
  onText?: (text: string, tokens: number) => void;
  /** Asked after the prefill and each step: true stops the text unfinished (a borrowed generator's holder wants it back). */
  recalled?: () => boolean;
}

/** The text the generator writes after `prompt` (a formatted chat), greedily, up to maxTokens; undefined when it was recalled before the end. */
export async function writeText(deps: WriteTextDeps, prompt: string, o: WriteTextOptions): Promise<string | undefined> {
  const { generator, gaps, woven, signal } = deps;
  if (o.recalled?.()) return undefined;
  await refill(generator, prompt, signal);
  // The text must not depend on how the answer samples: greedy, where the generator lets Weft
  // sample (an app's own WebLLM engine without Weft's sampler samples by its chat config, and
  // refuses settings with INVALID_OPTION; its stages sample that way too).
  try {
    generator.setSampling({ temperature: 0 });
  } catch (e) {
    if (!(e instanceof WeftError && e.code === 'INVALID_OPTION')) throw e;
  }
  let text = '';
  if (woven) gaps.decoding(true);
  try {
    for (let i = 0; i < o.maxTokens; i++) {
      checkAborted(signal, 'The answer');
      if (o.recalled?.()) return undefined;
      const st = performance.now();
      const t = await generator.step();
      if (t.done) break;
      text += t.piece;
      o.onText?.(text, i + 1);
      if (o.lineDone && t.piece.includes('\n') && o.lineDone(text.slice(0, text.lastIndexOf('\n')))) break;
      if (woven) await gaps.gap(performance.now() - st);
    }
  } finally {
    if (woven) gaps.decoding(false);
  }
  return text;
}
