// The real engine worker, through comlink: the reference generator runs in it, progress
// callbacks cross with proxy, errors keep their code, and the real @mlc-ai/web-llm module
// loaded in the worker turns an unreachable model URL into Weft's clear error, not a hang.
import { describe, expect, inject, test } from 'vitest';
import { startEngineWorker } from '../../src/runtime/engine.js';
import type { LoadProgress } from '../../src/generate/types.js';

declare module 'vitest' { export interface ProvidedContext { sharedAssets: string } }
const base = new URL(`${inject('sharedAssets')}/lm-stories260K`, location.href).href;

describe('engine worker', () => {
  test('runs the reference generator; progress crosses with proxy; errors keep their code', async () => {
    const engine = startEngineWorker();
    try {
      expect(await engine.api.ping()).toBe('weft-engine');
      await expect(engine.api.step()).rejects.toMatchObject({ name: 'WeftError', code: 'INVALID_INPUT' });
      const progress: LoadProgress[] = [];
      const r = await engine.api.loadReference({ model: `${base}/stories260K.bin`, tokenizer: `${base}/tok512.bin` }, engine.callback((p: LoadProgress) => { progress.push(p); }));
      expect(r.contextLength).toBe(512);
      expect(progress.some((p) => p.status === 'download')).toBe(true);
      expect(progress.at(-1)).toEqual({ status: 'ready' });
      let text = '';
      for (let i = 0; i < 8; i++) text += (await engine.api.step()).piece;
      expect(text.startsWith('Once upon a time')).toBe(true);
      expect((await engine.api.timings()).steps).toBe(8);
    } finally {
      engine.terminate();
    }
  }, 120_000);

  test('real WebLLM in the worker: an unreachable model URL is MODEL_UNREACHABLE, quickly', async () => {
    const engine = startEngineWorker();
    try {
      const t0 = performance.now();
      const err = await engine.api.loadWebLlm({ model: { record: { model: 'http://127.0.0.1:9/no-model/resolve/main/', modelLib: 'http://127.0.0.1:9/no-model.wasm', modelId: 'unreachable-model' } } })
        .then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ name: 'WeftError', code: 'MODEL_UNREACHABLE', message: expect.stringContaining('unreachable-model') });
      expect(performance.now() - t0).toBeLessThan(60_000);
      expect(await engine.api.ping()).toBe('weft-engine'); // the worker is still usable
    } finally {
      engine.terminate();
    }
  }, 90_000);
});
