// Downloads: progress, and an abort at any point (before the request, during the body) is a
// WeftError ABORTED, never a raw AbortError.
import { expect, inject, test } from 'vitest';
import { fetchBytes } from '../../src/util/fetch-bytes.js';
import { WeftError } from '../../src/errors.js';

declare module 'vitest' { export interface ProvidedContext { sharedAssets: string } }

const url = `${inject('sharedAssets')}/cranfield/cran.all.1400`; // 1.6 MB, served in many pieces

test('progress is monotone and ends at the file size', async () => {
  const seen: number[] = [];
  const bytes = await fetchBytes(url, 'cran.all.1400', { onProgress: (p) => { if (p.status === 'download') seen.push(p.loaded); } });
  expect(seen.length).toBeGreaterThan(1);
  expect(seen).toEqual([...seen].sort((a, b) => a - b));
  expect(seen.at(-1)).toBe(bytes.byteLength);
});

test('an abort in the middle of the body is ABORTED', async () => {
  const ac = new AbortController();
  let reports = 0;
  const err = await fetchBytes(url, 'cran.all.1400', {
    signal: ac.signal,
    onProgress: (p) => { if (p.status === 'download' && ++reports === 1) ac.abort(); },
  }).catch((e: unknown) => e);
  expect(reports).toBe(1); // the body was being read when the abort came
  expect(err).toBeInstanceOf(WeftError);
  expect(err).toMatchObject({ code: 'ABORTED', message: expect.stringContaining('cran.all.1400') });
});

test('an abort before the request is ABORTED', async () => {
  const ac = new AbortController();
  ac.abort();
  await expect(fetchBytes(url, 'cran.all.1400', { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
});
