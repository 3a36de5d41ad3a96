// Stand-ins for the RAG runtime's models, for tests of the runtime's own logic (option checks,
// ingest races) in Node or a browser without downloading anything: a hashing embedder (words to
// buckets, so that a query finds the passages that share its words) and a generator that answers
// with a fixed text, one word a step.
import type { Embedder } from '../../src/embed/types.js';
import type { GeneratedToken, Generator } from '../../src/generate/types.js';

/** Words hashed into `dim` buckets (plus a constant, so that no text embeds to zero). */
export function hashEmbedder(dim = 16): Embedder {
  const vec = (t: string) => {
    const v = new Float32Array(dim);
    v[0] = 0.01;
    for (const w of t.toLowerCase().split(/\W+/)) {
      if (!w) continue;
      let h = 7;
      for (const c of w) h = (h * 31 + c.charCodeAt(0)) >>> 0;
      v[h % dim]! += 1;
      v[(h >>> 8) % dim]! += 0.5;
    }
    return v;
  };
  return {
    modelId: 'hash',
    dim,
    maxLength: 256,
    device: 'wasm',
    tokenize: (t) => t.split(/\s+/).map((_, i) => i),
    countTokens: (t) => t.split(/\s+/).length + 2,
    embed: async (ts) => {
      const out = new Float32Array(ts.length * dim);
      ts.forEach((t, i) => out.set(vec(t), i * dim));
      return out;
    },
    destroy: async () => undefined,
  };
}

/**
 * A generator that writes, after each prefill, the pieces `script` gives for the prompt, one a
 * step (with their probabilities where given), until maxTokens or the pieces run out.
 */
function scriptedGenerator(script: (prompt: string) => { piece: string; prob?: number }[]): Generator {
  let pieces: { piece: string; prob?: number }[] = [];
  let position = 0,
    at = 0,
    stopped = false;
  return {
    contextLength: 4096,
    get position() {
      return position;
    },
    async prefill(p) {
      const text = typeof p === 'string' ? p : p.join(' ');
      position += text.split(/\s+/).length;
      pieces = script(text);
      at = 0;
      stopped = false;
    },
    async step(): Promise<GeneratedToken> {
      if (stopped || at >= pieces.length) return { token: 0, piece: '', done: true };
      position++;
      const { piece, prob } = pieces[at]!;
      return { token: at++, piece, done: false, ...(prob !== undefined ? { prob } : {}) };
    },
    async interrupt() {
      stopped = true;
    },
    reset() {
      position = 0;
    },
    countTokens: (t) => t.split(/\s+/).length,
    formatChat: (ms) => ms.map((m) => `${m.role}: ${m.content}`).join('\n'),
    setSampling() {
      /* greedy either way */
    },
    timings: () => ({ prefillTokensPerSecond: 0, decodeMsMedian: 0, decodeMsP99: 0, steps: 0 }),
    destroy() {
      /* nothing held */
    },
  };
}

/** A generator that answers "a b c …" one word a step, until maxTokens or its words run out. */
export function standInGenerator(words = 'the answer is in passage [1] .'.split(' ')): Generator {
  return scriptedGenerator(() => words.map((w) => ({ piece: `${w} ` })));
}

/** `n` small documents, `prefix`-named, about topics 0..4. */
export function documents(n: number, prefix = 'doc') {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    text: `${prefix} note ${i} is about topic ${i % 5} and weather number ${i}. `.repeat(3),
  }));
}

/**
 * A generator whose text depends on its prompt, so that a workflow's stages feed each other for
 * real: it writes back the first words of the prompt's last lines, newest first, one line each —
 * a different hypothetical passage, sub-question list or draft for each question and passages. It
 * is unsure (probability 0.2) of tokens with digits, sure (0.9) of the rest.
 */
export function echoGenerator(): Generator {
  return scriptedGenerator((text) =>
    text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-4)
      .reverse()
      .flatMap((l) => [
        ...l
          .trim()
          .split(/\s+/)
          .slice(0, 5)
          .map((w) => `${w} `),
        '\n',
      ])
      .map((piece) => ({ piece, prob: /\d/.test(piece) ? 0.2 : 0.9 })),
  );
}
