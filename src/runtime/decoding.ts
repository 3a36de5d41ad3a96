// Decoding an answer, token by token: the plain loop (each token streamed as it comes, each gap
// handed to other requests' sub-stages and to this answer's periodic retrieval) and FLARE's
// (Jiang et al. 2023, "active retrieval"): each sentence is first written tentatively; if the
// model was unsure of one of its tokens (probability below the threshold), the sentence — its
// unsure tokens masked — is searched with the question, the passages found replace those in the
// context, and the sentence is written again from there; then it streams. Either way the stages
// recorded since the last token go out while the next step runs on the GPU, so that streaming
// them never delays a step (through the engine worker each event is a round trip).

import type { GeneratedToken, Generator } from '../generate/types.js';
import type { GapScheduler } from '../schedule/gaps.js';
import type { FlareOptions } from '../workflow/types.js';
import { refill, type AnswerContext } from './answer-context.js';
import type { Periodic } from './periodic.js';
import type { Trace } from './trace.js';
import type { FinishReason, FlareReport, Passage, RagEvent } from './types.js';

/** What a decode loop produced. */
export interface Decoded {
  pieces: string[];
  text: string;
  /** When the first token was asked for (performance.now()). */
  start: number;
  firstTokenMs: number;
  finishReason: FinishReason;
}

export interface DecodeDeps {
  generator: Generator;
  gaps: GapScheduler;
  woven: boolean;
  trace: Trace;
  signal: AbortSignal | undefined;
  maxTokens: number;
}

/** The live 'stage' events of the stages `trace` recorded since the last call. */
export function* stagesOf(trace: Trace): Iterable<RagEvent> {
  for (const stage of trace.take()) yield { type: 'stage', stage };
}

interface Step {
  token: GeneratedToken;
  /** When it was asked for and when it ended (performance.now()). */
  start: number;
  ended: number;
}

/** One decode step (with its token's probability if asked), the stages recorded so far streaming while it runs. */
async function* step(d: DecodeDeps, probability = false): AsyncGenerator<RagEvent, Step> {
  const start = performance.now();
  let ended = start;
  const stepping = d.generator.step(probability ? { probability } : undefined).then((token) => {
    ended = performance.now();
    return token;
  });
  stepping.catch(() => undefined); // awaited below; a failure while the stages stream is not unhandled
  let token: GeneratedToken;
  try {
    yield* stagesOf(d.trace);
  } finally {
    // Also when the caller stops reading here: nothing else may use the generator mid-step.
    token = await stepping;
  }
  return { token, start, ended };
}

/** Streams an accepted token: its 'step' stage, the token event, and the first token's timing. */
function* accept(d: DecodeDeps, out: Decoded, s: Step): Iterable<RagEvent> {
  d.trace.add('step', s.start, {}, s.ended);
  if (out.pieces.length === 0) {
    // When the token goes out (FLARE holds a sentence back until it is accepted).
    out.firstTokenMs = Math.max(s.ended, performance.now()) - d.trace.t0;
    out.start = s.start;
  }
  out.pieces.push(s.token.piece);
  out.text += s.token.piece;
  yield { type: 'token', text: s.token.piece };
}

/** Decodes up to maxTokens, streaming each token; each gap goes to background sub-stages. */
export async function* decodeAnswer(d: DecodeDeps, periodic: Periodic | undefined): AsyncGenerator<RagEvent, Decoded> {
  const out: Decoded = { pieces: [], text: '', start: performance.now(), firstTokenMs: 0, finishReason: 'length' };
  while (out.pieces.length < d.maxTokens) {
    if (d.signal?.aborted) {
      await d.generator.interrupt();
      out.finishReason = 'abort';
      break;
    }
    const s = yield* step(d);
    if (s.token.done) {
      out.finishReason = 'stop';
      break;
    }
    yield* accept(d, out, s);
    const stepMs = s.ended - s.start;
    await periodic?.afterToken(out.pieces, out.text);
    if (d.woven) await d.gaps.gap(stepMs); // other requests' sub-stages, within budget
    await periodic?.gap(stepMs); // this answer's own periodic search, within its budget
  }
  return out;
}

/** FLARE's threshold and bound by default: FLARE's paper retrieves below 0.4-0.8; a small model is unsure often, so the low end. */
export const FLARE_THRESHOLD = 0.4;
export const FLARE_MAX_RETRIEVALS = 3;

export interface FlareDeps extends DecodeDeps {
  options: FlareOptions;
  question: string;
  context: AnswerContext;
  /** Searches `query` now (decoding waits for it: the next sentence depends on it). */
  retrieve(query: string): Promise<Passage[]>;
}

/** Whether a piece ends a sentence. */
const endsSentence = (piece: string) => /[.!?]["')\]]*\s*$|\n/.test(piece);

/** FLARE's decoding: see the header. Returns what was decoded and what FLARE did. */
export async function* decodeFlare(d: FlareDeps): AsyncGenerator<RagEvent, Decoded & { flare: FlareReport }> {
  const out: Decoded = { pieces: [], text: '', start: performance.now(), firstTokenMs: 0, finishReason: 'length' };
  const threshold = d.options.threshold ?? FLARE_THRESHOLD;
  const maxRetrievals = d.options.maxRetrievals ?? FLARE_MAX_RETRIEVALS;
  const report: FlareReport = { threshold, sentences: 0, retrievals: 0, refreshes: 0 };
  /** Writes one sentence (or what is left of the answer), without streaming it. */
  async function* sentence(): AsyncGenerator<RagEvent, { steps: Step[]; done: boolean; aborted: boolean }> {
    const steps: Step[] = [];
    while (out.pieces.length + steps.length < d.maxTokens) {
      if (d.signal?.aborted) return { steps, done: false, aborted: true };
      const s = yield* step(d, true);
      if (s.token.done) return { steps, done: true, aborted: false };
      steps.push(s);
      if (d.woven) await d.gaps.gap(s.ended - s.start);
      if (endsSentence(s.token.piece)) break;
    }
    return { steps, done: false, aborted: false };
  }
  while (out.pieces.length < d.maxTokens) {
    let next = yield* sentence();
    const unsure = next.steps.some((s) => (s.token.prob ?? 1) < threshold);
    if (!next.aborted && unsure && report.retrievals < maxRetrievals && next.steps.length > 0) {
      report.retrievals++;
      // The tentative sentence without the tokens the model was unsure of, after the question.
      const masked = next.steps
        .filter((s) => (s.token.prob ?? 1) >= threshold)
        .map((s) => s.token.piece)
        .join('')
        .trim();
      const found = await d.retrieve(masked ? `${d.question}\n${masked}` : d.question);
      const passages = d.context.candidate(found);
      const text = passages && d.context.promptOf(passages) + out.text;
      if (passages && text && d.generator.countTokens(text) + (d.maxTokens - out.pieces.length) + 1 <= d.generator.contextLength) {
        // The context changes: the tentative sentence is dropped and written again from the new passages.
        const r0 = performance.now();
        await refill(d.generator, text, d.signal);
        d.trace.add('refresh', r0);
        d.context.replace(passages);
        report.refreshes++;
        next = yield* sentence();
      }
    }
    report.sentences += next.steps.length > 0 ? 1 : 0;
    for (const s of next.steps) yield* accept(d, out, s);
    if (next.aborted) {
      await d.generator.interrupt();
      out.finishReason = 'abort';
      break;
    }
    if (next.done) {
      out.finishReason = 'stop';
      break;
    }
  }
  return { ...out, flare: report };
}
