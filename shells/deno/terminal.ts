// The terminal side of the Deno shell: progress bars (one line per stage, redrawn in place on a
// terminal, one line per change of a tenth elsewhere so logs stay short), the sources list after
// an answer, and Ctrl-C: it stops the answer in progress; at the prompt, a second one exits.

import type { Passage } from '../../src/entries/rag.js';

export interface DenoTerminal {
  stdout: { writeSync(p: Uint8Array): number; isTerminal(): boolean };
  stderr: { writeSync(p: Uint8Array): number; isTerminal(): boolean };
  stdin: { readable: ReadableStream<Uint8Array> };
  addSignalListener(signal: 'SIGINT', handler: () => void): void;
  exit(code: number): never;
}

const encoder = new TextEncoder();
export const write = (out: { writeSync(p: Uint8Array): number }, text: string) => {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += out.writeSync(bytes.subarray(at));
};

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

/** Progress bars on stderr: `update(label, done, total)`; `end()` finishes the line in progress. */
export function progressBars(term: DenoTerminal) {
  const tty = term.stderr.isTerminal();
  let current = '', lastTenth = -1;
  const end = () => {
    if (current && tty) write(term.stderr, '\n');
    current = '';
  };
  return {
    update(label: string, done: number, total: number | undefined, unit: 'items' | 'bytes' = 'items') {
      if (label !== current) { end(); current = label; lastTenth = -1; }
      const fraction = total ? Math.min(1, done / total) : 0;
      const width = 30, full = Math.round(fraction * width);
      const count = unit === 'bytes' ? `${mb(done)}${total ? ` / ${mb(total)}` : ''}` : `${done}/${total ?? '?'}`;
      const line = `${label.padEnd(10)} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${Math.round(fraction * 100).toString().padStart(3)}% ${count}`;
      if (tty) write(term.stderr, `\r${line}\x1b[K`);
      else if (Math.floor(fraction * 10) !== lastTenth) { lastTenth = Math.floor(fraction * 10); write(term.stderr, `${line}\n`); }
    },
    end,
  };
}

/** The numbered passages an answer was given, the cited ones marked, each with its document and a line of its text. */
export function sourcesList(passages: readonly Passage[], cited: readonly number[]): string {
  if (passages.length === 0) return 'Sources: none (the index returned no passages).\n';
  const lines = passages.map((p) => {
    const text = p.text.replace(/\s+/g, ' ').trim();
    return `  [${p.citation}]${cited.includes(p.citation) ? '*' : ' '} ${p.docId} — ${text.length > 90 ? `${text.slice(0, 89)}…` : text}`;
  });
  const note = cited.length ? ' (* cited in the answer)' : '';
  return `Sources${note}:\n${lines.join('\n')}\n`;
}

/** Lines typed at the terminal, one at a time (undefined at end of input). */
export function lineReader(term: DenoTerminal) {
  const reader = term.stdin.readable.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader();
  let buffered = '';
  return async (): Promise<string | undefined> => {
    for (;;) {
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) {
        if (buffered === '') return undefined;
        const line = buffered;
        buffered = '';
        return line;
      }
      buffered += value;
    }
  };
}

/**
 * Ctrl-C: aborts the answer registered with `during`; with none, the first one warns and the
 * second exits. Returns `during(run)`, which gives `run` an AbortSignal for its answer.
 */
export function interrupts(term: DenoTerminal, onExit: () => void) {
  let answer: AbortController | undefined;
  let armed = false;
  term.addSignalListener('SIGINT', () => {
    if (answer) { answer.abort(); return; }
    if (armed) { onExit(); term.exit(130); }
    armed = true;
    write(term.stderr, '\n(Ctrl-C again to exit, or type a question)\n> ');
  });
  return async <T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    answer = new AbortController();
    armed = false;
    try {
      return await run(answer.signal);
    } finally {
      answer = undefined;
    }
  };
}
