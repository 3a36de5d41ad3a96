// The generator interface the scheduler drives one decode step at a time.

export type { LoadProgress } from '../util/progress.js';

/** One decode step's result: the token, its text, and whether the answer has ended. */
export interface GeneratedToken {
  token: number;
  /** The text this token prints (may be empty, e.g. a partial UTF-8 byte). */
  piece: string;
  /** True when the model ended the text (EOS/BOS) or the context is full; `token` is then not part of the answer. */
  done: boolean;
  /**
   * The model's probability of this token (the softmax of its logits at temperature 1), when the
   * step asked for it (`step({ probability: true })`) and the generator sees the logits: the
   * reference generator, WebLLM with Weft's sampler. FLARE retrieves when a sentence holds a token
   * below its threshold.
   */
  prob?: number;
}

/** How a generator picks tokens: temperature, nucleus cut-off and seed. */
export interface SamplingOptions {
  /** 0 = greedy (default). */
  temperature?: number;
  /** Nucleus sampling cut-off in (0, 1]; 1 disables it. Default 0.9. */
  topP?: number;
  /** Seed of the sampler's RNG (llama2.c's xorshift). */
  seed?: number;
}

/** A generator's measured speed: prefill tokens per second, decode ms per step (median, p99) and the steps measured. */
export interface GeneratorTimings {
  prefillTokensPerSecond: number;
  decodeMsMedian: number;
  decodeMsP99: number;
  steps: number;
}

/** One turn of a conversation. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * What the runtime needs of a generator (WebLLM, the reference generator): prefill a prompt, decode
 * one token per step() with the GPU idle between steps, interrupt, reset, count tokens, format a chat,
 * timings.
 */
export interface Generator {
  readonly contextLength: number;
  /**
   * The GPU device it decodes on, where Weft can know it (the reference generator's; undefined
   * for WebLLM, which keeps its device to itself). The runtime compares it with the index's.
   */
  readonly gpuDevice?: GPUDevice | undefined;
  /** Tokens in the context so far (the KV cache's length). */
  readonly position: number;
  /** Appends a prompt (text, or token ids) to the context. */
  prefill(prompt: string | readonly number[], options?: { bos?: boolean; signal?: AbortSignal }): Promise<void>;
  /**
   * Samples the next token from the current logits and feeds it to the model; the GPU is idle when
   * it returns. `probability`: also report the token's probability (a pass over the vocabulary, so
   * only when asked).
   */
  step(options?: { probability?: boolean }): Promise<GeneratedToken>;
  /** Ends the current answer: the next step() reports done. */
  interrupt(): Promise<void>;
  /** Empties the context. */
  reset(): void;
  /** Tokens `text` takes in this model's context (the model's own tokenizer; no special tokens added). */
  countTokens(text: string): number;
  /**
   * A conversation as this model's prompt text, ending where the assistant's reply begins: chat
   * models use their own conversation template; a plain language model gets the turns' text.
   * Prefilling it and then an answer's text so far continues the same assistant turn.
   */
  formatChat(messages: readonly ChatMessage[]): string;
  /** How the following steps sample (set per answer). */
  setSampling(options: SamplingOptions): void;
  timings(): GeneratorTimings;
  destroy(): void;
}
