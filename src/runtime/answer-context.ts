// What goes into the generator's context for one answer: the conversation, with the passages
// that fit beside it and the answer in the last user turn (the prompt template), formatted by the
// generator's own conversation format; their citation numbers — fixed for the whole answer, so
// that a passage a periodic retrieval brings in later gets the next free number and "[2]" means
// the same passage before and after a refresh — and the citations the answer makes. A passage
// with a page (PDF) is listed with it, "[3] (p. 12) …", so that the answer can cite the page.

import type { Generator } from '../generate/types.js';
import { answerMessages, type Dialogue } from './conversation.js';
import type { Passage, PromptTemplate } from './types.js';

/** The page a passage is on (metadata.page, from 1: PDF passages), or undefined. */
export function passagePage(p: Pick<Passage, 'metadata'>): number | undefined {
  const page = p.metadata?.page;
  return typeof page === 'number' && Number.isInteger(page) && page > 0 ? page : undefined;
}

/** A passage as the default template lists it: "[3] text", or "[3] (p. 12) text" for a passage with a page. */
export function passageLine(p: Pick<Passage, 'citation' | 'text' | 'metadata'>): string {
  const page = passagePage(p);
  return `[${p.citation}] ${page === undefined ? '' : `(p. ${page}) `}${p.text}`;
}

/**
 * The default prompt's last user turn: the numbered passages (`[1] …`, with their page where they have
 * one), an instruction to cite them like [1], then the question.
 */
export function defaultPromptTemplate(passages: readonly Passage[], question: string): string {
  const context = passages.map(passageLine).join('\n');
  return `Passages:\n${context}\n\nAnswer the question using the passages above and cite them like [1].\nQuestion: ${question}\nAnswer:`;
}

/** The conversation, the answer's length and the template a prompt is made of. */
export interface PromptSpec {
  generator: Generator;
  template: PromptTemplate;
  dialogue: Dialogue;
  maxTokens: number;
}

/** The prompt text for exactly these passages: the conversation in the generator's format, ending where the answer begins. */
export function promptText(spec: PromptSpec, passages: readonly Passage[]): string {
  return spec.generator.formatChat(answerMessages(spec.dialogue, spec.template, passages));
}

/** The passages that fit into the generator's context, leaving room for the conversation and the answer. */
export function fitPassages(spec: PromptSpec, passages: readonly Passage[]): Passage[] {
  const { generator, maxTokens } = spec;
  const room = generator.contextLength - maxTokens - generator.countTokens(promptText(spec, [])) - 4;
  const fitted: Passage[] = [];
  let used = 0;
  for (const p of passages) {
    const cost = generator.countTokens(`${passageLine(p)}\n`);
    if (used + cost <= room) {
      fitted.push(p);
      used += cost;
      continue;
    }
    const keep = Math.max(0, Math.floor((p.text.length * (room - used)) / cost) - 8);
    if (keep > 20) {
      fitted.push({ ...p, text: p.text.slice(0, keep) });
      used = room;
    }
    break;
  }
  return fitted;
}

/** The prompt for the passages that fit. */
export function promptFor(spec: PromptSpec, passages: readonly Passage[]): string {
  return promptText(spec, fitPassages(spec, passages));
}

/** Empties the generator's context and fills it with `text`. */
export async function refill(generator: Generator, text: string, signal: AbortSignal | undefined): Promise<void> {
  generator.reset();
  await generator.prefill(text, signal ? { signal } : {});
}

export interface AnswerContext {
  /** The passages in the context now. */
  readonly passages: readonly Passage[];
  /** The prompt the answer started from. */
  readonly prompt: string;
  /**
   * The passages a periodic retrieval's `found` would put in the context, numbered for this
   * answer (a new passage takes the next free number, kept even if it is not used) and fitted;
   * undefined when none fits or they are the ones already there.
   */
  candidate(found: readonly Passage[]): Passage[] | undefined;
  /** The prompt for `passages` (as candidate() gave them). */
  promptOf(passages: readonly Passage[]): string;
  /** Makes `passages` the ones in the context (after the generator was refilled with them). */
  replace(passages: Passage[]): void;
  /** Every passage that was in the context, by citation number. */
  all(): Passage[];
  /** The citation numbers `answer` makes that name a passage that was in the context, in order of first use. */
  cited(answer: string): number[];
}

export function createAnswerContext(spec: PromptSpec, retrieved: readonly Passage[]): AnswerContext {
  let fitted = fitPassages(spec, retrieved);
  const prompt = promptText(spec, fitted);
  const citationOf = new Map(fitted.map((p) => [p.id, p.citation]));
  const used = new Map(fitted.map((p) => [p.id, p]));
  const renumber = (ps: readonly Passage[]) =>
    ps.map((p) => {
      let c = citationOf.get(p.id);
      if (c === undefined) {
        c = citationOf.size + 1;
        citationOf.set(p.id, c);
      }
      return { ...p, citation: c };
    });
  const all = () => [...used.values()].sort((a, b) => a.citation - b.citation);
  return {
    get passages() {
      return fitted;
    },
    prompt,
    candidate(found) {
      const next = fitPassages(spec, renumber(found));
      if (next.length === 0 || next.map((p) => p.id).join() === fitted.map((p) => p.id).join()) return undefined;
      return next;
    },
    promptOf: (passages) => promptText(spec, passages),
    replace(passages) {
      fitted = passages;
      for (const p of passages) used.set(p.id, p);
    },
    all,
    cited(answer) {
      const passages = all();
      const cited = [...new Set(Array.from(answer.matchAll(/\[(\d+)\]/g), (m) => Number(m[1])))];
      return cited.filter((c) => passages.some((p) => p.citation === c));
    },
  };
}
