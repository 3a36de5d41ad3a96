// A long PDF read on the page (the main thread, in real Chromium) leaves the page responsive and
// stops soon after an abort: pdf.js's parser runs in this thread (src/ingest/pdf.ts), and before
// it yielded, a timer set to tick every 50 ms waited for the whole parse and an abort was seen
// only when the parse had ended. Many pages, and one page of many lines (yields within a page);
// a page with more text than the budget fails that document, UNPARSABLE_DOCUMENT, saying what to do.
// Bounds are generous (SwiftShader machines are slow and noisy): each parse here takes seconds
// unyielding, the limits are 1 s.
import { beforeAll, expect, test } from 'vitest';
import { parseDocument } from '../../src/ingest/documents.js';
import { pdfSections } from '../../src/ingest/pdf.js';
import { makePdf } from '../support/pdf.js';

const line = 'The quick brown fox jumps over the lazy dog, again and again.';

/** Runs `parse`, aborting its signal after `abortAfterMs` if given: how it ended, the longest gap between 50 ms ticks meanwhile, and the time from the abort to the end. */
async function watch(parse: (signal: AbortSignal) => Promise<unknown>, abortAfterMs?: number) {
  const controller = new AbortController();
  let last = performance.now();
  let gap = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 50);
  let abortedAt: number | undefined;
  const timer =
    abortAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          abortedAt = performance.now();
          controller.abort();
        }, abortAfterMs);
  const started = performance.now();
  const outcome = await parse(controller.signal).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  const ended = performance.now();
  clearInterval(tick);
  clearTimeout(timer);
  gap = Math.max(gap, ended - last);
  return { ...outcome, gap, ms: ended - started, afterAbort: abortedAt === undefined ? undefined : ended - abortedAt };
}

beforeAll(async () => {
  // pdf.js loads on the first PDF, and its parser's code warms up: not part of what is measured.
  await parseDocument({ id: 'warm.pdf', type: 'pdf', bytes: makePdf(Array.from({ length: 300 }, () => [line])) });
}, 60_000);

test('PDF of many pages: the page stays responsive and an abort lands within a second', async () => {
  const bytes = makePdf(Array.from({ length: 5000 }, () => [line, line]));
  const run = await watch((signal) => parseDocument({ id: 'long.pdf', type: 'pdf', bytes }, { signal }), 300);
  console.log(`5000 pages aborted at 300 ms: ended ${run.afterAbort?.toFixed(0)} ms after the abort, longest gap between ticks ${run.gap.toFixed(0)} ms`);
  expect(run).toMatchObject({ error: { code: 'ABORTED', message: expect.stringContaining("'long.pdf'") } });
  expect(run.afterAbort).toBeLessThan(1000);
  expect(run.gap).toBeLessThan(1000);
});

test('PDF page of many lines: it yields within the page, and an abort lands within a second', async () => {
  // 60,000 lines written over one another in a tiny font (all on the page, where pdf.js reads them): 3.7 M characters on one page.
  const bytes = makePdf([Array.from({ length: 60_000 }, () => line)], { fontSize: 0.001, leading: 0.001 });
  const unlimited = { pageChars: Infinity, totalChars: Infinity };
  const run = await watch((signal) => pdfSections(bytes, 'dense.pdf', signal, unlimited), 300);
  console.log(
    `one page of 60,000 lines aborted at 300 ms: ended ${run.afterAbort?.toFixed(0)} ms after the abort, longest gap between ticks ${run.gap.toFixed(0)} ms`,
  );
  expect(run).toMatchObject({ error: { code: 'ABORTED', message: expect.stringContaining("'dense.pdf'") } });
  expect(run.afterAbort).toBeLessThan(1000);
  expect(run.gap).toBeLessThan(1000);
});

test('PDF with more text than the budget: UNPARSABLE_DOCUMENT for that document, saying what to do, without reading it all', async () => {
  // The same page under the default budget (a million characters a page).
  const bytes = makePdf([['A first page.'], Array.from({ length: 60_000 }, () => line)], { fontSize: 0.001, leading: 0.001 });
  const whole = await watch((signal) => pdfSections(bytes, 'whole.pdf', signal, { pageChars: Infinity, totalChars: Infinity }));
  const run = await watch((signal) => parseDocument({ id: 'bomb.pdf', type: 'pdf', bytes }, { signal }));
  console.log(`over the page budget: failed after ${run.ms.toFixed(0)} ms (reading it all: ${whole.ms.toFixed(0)} ms), longest gap ${run.gap.toFixed(0)} ms`);
  expect(run).toMatchObject({
    error: {
      code: 'UNPARSABLE_DOCUMENT',
      details: { name: 'bomb.pdf' },
      message: expect.stringMatching(/'bomb\.pdf'.*more text on page 2.*1,000,000 characters.*convert it to text first/),
    },
  });
  expect(run.ms).toBeLessThan(whole.ms); // it stops at the budget, some 1 M of the 3.7 M characters (timings are noisy here)
  expect(run.gap).toBeLessThan(1000);
  // A budget for the whole document, past it on a later page.
  const pages = makePdf(Array.from({ length: 50 }, () => [line]));
  await expect(pdfSections(pages, 'many.pdf', undefined, { pageChars: 1000, totalChars: 20 * line.length })).rejects.toMatchObject({
    code: 'UNPARSABLE_DOCUMENT',
    message: expect.stringMatching(/'many\.pdf'.*more text in its 50 pages.*split it into smaller PDFs/),
  });
  expect((await pdfSections(pages, 'many.pdf', undefined, { pageChars: 1000, totalChars: 50 * line.length })).length).toBe(50);
});
