// Downloads: progress, and an abort at any point (before the request, during the body) is a
// WeftError ABORTED, never a raw AbortError; a sha256 that does not match is CHECKSUM_MISMATCH and
// nothing is cached.
import { describe, expect, inject, test } from 'vitest';
import { fetchBytes, MODEL_CACHE_NAME, sha256Hex } from '../../src/util/fetch-bytes.js';
import { deleteCachedModel } from '../../src/models/cache.js';
import { WeftError } from '../../src/errors.js';

const url = `${inject('sharedAssets')}/cranfield/cran.all.1400`; // 1.6 MB, served in many pieces

test('progress is monotone and ends at the file size', async () => {
  const seen: number[] = [];
  // A fresh URL (no HTTP cache); how many pieces the body arrives in is up to the browser and the
  // server (usually many, but a loaded machine has delivered it in one), so at least one report.
  const bytes = await fetchBytes(`${url}?progress=${Date.now()}`, 'cran.all.1400', {
    onProgress: (p) => {
      if (p.status === 'download') seen.push(p.loaded);
    },
  });
  expect(seen.length).toBeGreaterThanOrEqual(1);
  expect(seen).toEqual([...seen].sort((a, b) => a - b));
  expect(seen.at(-1)).toBe(bytes.byteLength);
});

test('an abort in the middle of the body is ABORTED', async () => {
  const ac = new AbortController();
  let reports = 0;
  const err = await fetchBytes(url, 'cran.all.1400', {
    signal: ac.signal,
    onProgress: (p) => {
      if (p.status === 'download' && ++reports === 1) ac.abort();
    },
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

describe('sha256 and the model cache', () => {
  const file = `${inject('sharedAssets')}/minilm-tokenizer/tokenizer_config.json`;
  // A URL of its own per test, so that no other test (or earlier run) shares its cache entry.
  const fresh = () => new URL(`${file}?t=${crypto.randomUUID()}`, location.href).href;
  const cached = async (url: string) => (await caches.open(MODEL_CACHE_NAME)).match(url);
  const networkFetches = (url: string) => performance.getEntriesByName(url).length;

  test('the right sha256: the bytes are returned and cached with their hash, and the next load comes from the cache', async () => {
    const url = fresh();
    const want = new Uint8Array(await (await fetch(file)).arrayBuffer());
    const hash = await sha256Hex(want);
    const got = await fetchBytes(url, 'tokenizer_config.json', { cacheName: MODEL_CACHE_NAME, sha256: hash.toUpperCase() });
    expect(new Uint8Array(got)).toEqual(want);
    const entry = await cached(url);
    expect(entry).toBeDefined();
    expect(entry!.headers.get('x-weft-sha256')).toBe(hash);
    const before = networkFetches(url);
    const again = await fetchBytes({ url, sha256: hash }, 'tokenizer_config.json', { cacheName: MODEL_CACHE_NAME });
    expect(new Uint8Array(again)).toEqual(want);
    expect(networkFetches(url)).toBe(before); // served by the cache
    expect(await deleteCachedModel(url)).toBe(1);
  });

  test('a wrong sha256 is CHECKSUM_MISMATCH and leaves nothing in the cache, also where an unchecked copy was cached before', async () => {
    const url = fresh();
    const hash = await sha256Hex(await (await fetch(file)).arrayBuffer());
    const wrong = hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const err = await fetchBytes(url, 'tokenizer_config.json', { cacheName: MODEL_CACHE_NAME, sha256: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeftError);
    expect(err).toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      message: expect.stringContaining('tokenizer_config.json'),
      details: { url, expected: wrong, actual: hash },
    });
    expect(await cached(url)).toBeUndefined();
    // An earlier unchecked download is in the cache; a load that expects another hash deletes it and fails.
    await fetchBytes(url, 'tokenizer_config.json', { cacheName: MODEL_CACHE_NAME });
    expect(await cached(url)).toBeDefined();
    await expect(fetchBytes({ url, sha256: wrong }, 'tokenizer_config.json', { cacheName: MODEL_CACHE_NAME })).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
    });
    expect(await cached(url)).toBeUndefined();
    // Malformed or conflicting hashes are the caller's mistake.
    await expect(fetchBytes(url, 'x', { sha256: 'abc' })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(fetchBytes({ url, sha256: hash }, 'x', { sha256: wrong })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});
