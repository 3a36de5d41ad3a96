// Managing downloaded models: the files in Weft's cache listed by model (with the hash each was
// cached with) and deleted by URL, model or revision; the site's storage estimate and persistence;
// WebLLM's own cache through its functions.
import { expect, inject, test } from 'vitest';
import { fetchBytes, MODEL_CACHE_NAME, sha256Hex } from '../../src/util/fetch-bytes.js';
import { deleteCachedModel, listCachedModels } from '../../src/models/cache.js';
import { persistStorage, storageEstimate } from '../../src/models/storage.js';
import { deleteWebLlmModelFromCache, hasWebLlmModelInCache } from '../../src/models/webllm-cache.js';

const folder = new URL(`${inject('sharedAssets')}/minilm-tokenizer/`, location.href).href;

test('a downloaded file is listed under its model with its size and hash, and deleting it removes it', async () => {
  const tag = crypto.randomUUID();
  const urls = ['tokenizer_config.json', 'special_tokens_map.json'].map((f) => `${folder}${f}?t=${tag}`);
  const bytes = await Promise.all(urls.map((u) => fetchBytes(u, 'file', { cacheName: MODEL_CACHE_NAME })));
  const model = (await listCachedModels()).find((m) => m.files.some((f) => f.url === urls[0]));
  expect(model).toBeDefined();
  expect(model!.id).toBe(folder); // not a Hub URL: the folder is the model
  expect(model!.revision).toBeUndefined();
  for (const [i, url] of urls.entries()) {
    const f = model!.files.find((x) => x.url === url)!;
    expect(f).toMatchObject({ bytes: bytes[i]!.byteLength, sha256: await sha256Hex(bytes[i]!) });
    expect(f.cachedAt).toBeGreaterThan(Date.now() - 60_000);
  }
  expect(await deleteCachedModel(urls[0]!)).toBe(1);
  const after = (await listCachedModels()).flatMap((m) => m.files.map((f) => f.url));
  expect(after).not.toContain(urls[0]);
  expect(after).toContain(urls[1]);
  expect(await deleteCachedModel(urls[1]!)).toBe(1);
  expect(await deleteCachedModel(urls[1]!)).toBe(0); // nothing left to delete
});

test('Hub files are grouped by repository and revision; a revision or the whole model can be deleted', async () => {
  const id = `weft-test-${crypto.randomUUID()}/tiny-model`;
  const hub = (rev: string, path: string) => `https://huggingface.co/${id}/resolve/${rev}/${path}`;
  const cache = await caches.open(MODEL_CACHE_NAME);
  // Entries as an older version cached them (no headers): their size is read from the body.
  await cache.put(hub('a1', 'onnx/model.onnx'), new Response(new Uint8Array(100)));
  await cache.put(hub('a1', 'tokenizer.json'), new Response(new Uint8Array(7)));
  await cache.put(hub('b2', 'onnx/model.onnx'), new Response(new Uint8Array(50)));
  const mine = (await listCachedModels()).filter((m) => m.id === id);
  expect(mine.map((m) => [m.revision, m.bytes, m.files.length])).toEqual([
    ['a1', 107, 2],
    ['b2', 50, 1],
  ]);
  expect(await deleteCachedModel(`${id}@a1`)).toBe(2);
  expect((await listCachedModels()).filter((m) => m.id === id).map((m) => m.revision)).toEqual(['b2']);
  expect(await deleteCachedModel(id)).toBe(1);
  expect((await listCachedModels()).some((m) => m.id === id)).toBe(false);
});

test('storage estimate and persistence', async () => {
  const e = await storageEstimate();
  for (const v of [e.usage, e.quota, e.available]) expect(Number.isFinite(v) && v >= 0).toBe(true);
  expect(e.quota).toBeGreaterThan(0);
  expect(e.available).toBe(Math.max(0, e.quota - e.usage));
  expect(typeof e.persisted).toBe('boolean');
  expect(typeof (await persistStorage())).toBe('boolean');
});

test("WebLLM's cache through its own functions: prebuilt and custom models, unknown ids refused", async () => {
  expect(await hasWebLlmModelInCache({ id: 'Llama-3.2-1B-Instruct-q4f16_1-MLC' })).toBe(false);
  await expect(hasWebLlmModelInCache({ id: 'no-such-model' })).rejects.toMatchObject({ code: 'UNKNOWN_MODEL' });
  // A custom model whose (one) weight shard is in WebLLM's cache, laid out as WebLLM stores it.
  const base = `https://example.com/weft-test-${crypto.randomUUID()}/resolve/main/`;
  const record = { model: base, modelLib: `${base}lib.wasm` };
  const cache = await caches.open('webllm/model');
  await cache.put(`${base}tensor-cache.json`, Response.json({ records: [{ dataPath: 'params_shard_0.bin' }] }));
  expect(await hasWebLlmModelInCache({ record })).toBe(false); // the shard is missing
  await cache.put(`${base}params_shard_0.bin`, new Response(new Uint8Array(8)));
  expect(await hasWebLlmModelInCache({ record })).toBe(true);
  await deleteWebLlmModelFromCache({ record });
  expect(await hasWebLlmModelInCache({ record })).toBe(false);
  expect(await cache.match(`${base}params_shard_0.bin`)).toBeUndefined();
});
