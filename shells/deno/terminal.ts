// The terminal side of the Deno shell: progress bars (one line per stage, redrawn in place on a
// terminal, one line per change of a tenth elsewhere so logs stay short), what libraries print
// to the console kept off the bar's line, a workflow's stages before an answer (one short line
// each), the sources list after an answer (with a PDF passage's page), the files an ingest
// skipped and why, and Ctrl-C: it stops the answer in progress; at the prompt, a second one exits.

import type { Passage, RagEvent } from '../../src/entries/rag.js';
import { sourceLabel } from '../../src/entries/client.js';

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
  for (let at = 0; at < bytes.length; ) at += out.writeSync(bytes.subarray(at));
};

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

/**
 * Progress bars on stderr: `update(label, done, total)`; `end()` finishes the line in progress;
 * `print(text)` writes lines to stderr above the bar (on a terminal the bar's line is cleared
 * first and drawn again after), so that nothing else lands in the middle of a bar.
 */
export function progressBars(term: DenoTerminal) {
  const tty = term.stderr.isTerminal();
  let current = '',
    lastTenth = -1,
    drawn = '';
  const end = () => {
    if (current && tty) write(term.stderr, '\n');
    current = '';
    drawn = '';
  };
  return {
    update(label: string, done: number, total: number | undefined, unit: 'items' | 'bytes' = 'items') {
      if (label !== current) {
        end();
        current = label;
        lastTenth = -1;
      }
      const fraction = total ? Math.min(1, done / total) : 0;
      const width = 30,
        full = Math.round(fraction * width);
      const count = unit === 'bytes' ? `${mb(done)}${total ? ` / ${mb(total)}` : ''}` : `${done}/${total ?? '?'}`;
      const line = `${label.padEnd(10)} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${Math.round(fraction * 100)
        .toString()
        .padStart(3)}% ${count}`;
      if (tty) {
        write(term.stderr, `\r${line}\x1b[K`);
        drawn = line;
      } else if (Math.floor(fraction * 10) !== lastTenth) {
        lastTenth = Math.floor(fraction * 10);
        write(term.stderr, `${line}\n`);
      }
    },
    print(text: string) {
      const lines = text.endsWith('\n') ? text : `${text}\n`;
      if (tty && drawn) write(term.stderr, `\r\x1b[K${lines}${drawn}`);
      else write(term.stderr, lines);
    },
    end,
  };
}
export type ProgressBars = ReturnType<typeof progressBars>;

/** pdf.js's notice when it finds `process` (as in Deno): the build the library loads is the one meant for Deno too, so it is no news to the user. */
const PDFJS_LEGACY_NOTICE = /^Warning: Please use the `legacy` build in Node\.js environments\.$/;

/**
 * Routes what libraries print with console.* (pdf.js's warnings, onnxruntime's) through
 * `bars.print`, on stderr: never into a progress bar's line, never into an answer on stdout.
 * pdf.js's notice about its legacy build is dropped. Returns a function that puts console back.
 */
export function routeConsole(bars: ProgressBars, inspect: (value: unknown) => string = String): () => void {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const console = globalThis.console as unknown as Record<(typeof methods)[number], (...args: unknown[]) => void>;
  const saved = methods.map((m) => console[m]);
  for (const m of methods) {
    console[m] = (...args: unknown[]) => {
      const text = args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' ');
      if (!PDFJS_LEGACY_NOTICE.test(text)) bars.print(text);
    };
  }
  return () =>
    methods.forEach((m, i) => {
      console[m] = saved[i]!;
    });
}

/** The longest a stage's line may be (it is cut with an ellipsis): a glance, not a transcript. */
const STAGE_CHARS = 100;

/**
 * A workflow stage before the answer (a 'node' event) as one line: `· hypothesis: Shield
 * volcanoes are…`, `· split: What is a caldera? | How do they form?`, `· retrieve: searched
 * “…”`; its text on one line and cut to STAGE_CHARS, dimmed with `dim` (a terminal that takes
 * colour).
 */
export function stageLine(e: Extract<RagEvent, { type: 'node' }>, dim = false): string {
  const what =
    e.kind === 'generate'
      ? e.text || '(nothing)'
      : e.kind === 'split'
        ? (e.items ?? []).join(' | ')
        : `searched ${(e.queries ?? []).map((q) => `“${q}”`).join(', ')}`;
  const flat = `· ${e.node}: ${what.replace(/\s+/g, ' ').trim()}`;
  const line = flat.length > STAGE_CHARS ? `${flat.slice(0, STAGE_CHARS - 1)}…` : flat;
  return dim ? `\x1b[2m${line}\x1b[22m\n` : `${line}\n`;
}

/** The numbered passages an answer was given, the cited ones marked, each with its document (and page, in a PDF: `report.pdf, p. 12`) and a line of its text. */
export function sourcesList(passages: readonly Passage[], cited: readonly number[]): string {
  if (passages.length === 0) return 'Sources: none (the index returned no passages).\n';
  const lines = passages.map((p) => {
    const text = p.text.replace(/\s+/g, ' ').trim();
    return `  [${p.citation}]${cited.includes(p.citation) ? '*' : ' '} ${sourceLabel(p)} — ${text.length > 90 ? `${text.slice(0, 89)}…` : text}`;
  });
  const note = cited.length ? ' (* cited in the answer)' : '';
  return `Sources${note}:\n${lines.join('\n')}\n`;
}

/** A file (or folder, its path ending in '/') an ingest did not index, and why. */
export interface Skipped {
  path: string;
  reason: string;
}

/** "Skipped 3 of 12 files:" and one line per file, by path; folders (a hidden one, a link to one) are listed without being counted. */
export function skippedList(skipped: readonly Skipped[], files: number): string {
  if (skipped.length === 0) return '';
  const count = skipped.filter((s) => !s.path.endsWith('/')).length;
  const lines = [...skipped].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((s) => `  ${s.path} — ${s.reason}`);
  const head = count ? `Skipped ${count} of ${files} file${files === 1 ? '' : 's'}` : 'Not read';
  return `${head}:\n${lines.join('\n')}\n`;
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
    if (answer) {
      answer.abort();
      return;
    }
    if (armed) {
      onExit();
      term.exit(130);
    }
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
