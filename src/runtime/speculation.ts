// HedraRAG's speculation for one answer: after the first search slices, prefill on the partial
// top-k while the remaining slices run; when the search is over, the speculative prefill is kept
// only if the final top-k gives the same prompt, and redone otherwise ('restart' in the trace).
// The answer is always decoded from the final top-k's prompt.

import { WeftError } from '../errors.js';
import type { Generator } from '../generate/types.js';
import { refill } from './answer-context.js';
import type { Holds } from './holds.js';
import type { Trace } from './trace.js';
import type { Passage } from './types.js';

export interface Speculation {
  /** Given the partial top-k: prefills on it if the generator is free (nothing to overlap with otherwise). */
  onPartial(partial: Passage[]): Promise<void>;
  /** Whether the speculative prefill can serve `prompt` (the final one); records a restart when it cannot. */
  reusableFor(prompt: string): Promise<boolean>;
  /** Settles once the speculative prefill, if any, has (never rejects). */
  settled(): Promise<void>;
}

export interface SpeculationDeps {
  generator: Generator;
  holds: Holds;
  trace: Trace;
  signal: AbortSignal | undefined;
  /** The prompt for a set of passages. */
  promptFor(passages: readonly Passage[]): string;
}

export function createSpeculation(d: SpeculationDeps): Speculation {
  let started: { prompt: string; prefill: Promise<void> } | undefined;
  return {
    async onPartial(partial) {
      if (!(await d.holds.takeGeneratorIfFree())) return;
      d.holds.leaveLookahead();
      const prompt = d.promptFor(partial);
      const s0 = performance.now();
      const prefill = refill(d.generator, prompt, d.signal).then(() => {
        d.trace.add('speculate', s0);
      });
      prefill.catch(() => undefined);
      started = { prompt, prefill };
    },
    async reusableFor(prompt) {
      if (!started) return false;
      const ok = await started.prefill.then(
        () => true,
        (e: unknown) => {
          if (e instanceof WeftError && e.code === 'ABORTED') throw e;
          return false;
        },
      );
      const reuse = ok && started.prompt === prompt;
      if (!reuse) d.trace.add('restart', performance.now());
      return reuse;
    },
    async settled() {
      if (started) await started.prefill.catch(() => undefined);
    },
  };
}
