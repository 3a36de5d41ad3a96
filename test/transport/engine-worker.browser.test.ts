// The real engine worker, through comlink: the reference generator runs in it, progress
// callbacks cross with proxy, errors keep their code, and the real @mlc-ai/web-llm module
// loaded in the worker turns an unreachable model URL into Weft's clear error, not a hang. A
// worker that fails to load, never answers, or dies fails every waiting and later call with
// WORKER_FAILED within seconds.
import { describe, expect, inject, test, vi } from 'vitest';
import { engineInternals, startEngineWorker, type EngineHandle } from '../../src/transport/engine.js';
import type { LoadProgress } from '../../src/generate/types.js';

const base = new URL(`${inject('sharedAssets')}/lm-stories260K`, location.href).href;

describe('engine worker', () => {
  test('runs the reference generator; progress crosses with proxy; errors keep their code', async () => {
    const engine = startEngineWorker();
    try {
      expect(await engine.api.ping()).toBe('weft-engine');
      await expect(engineInternals(engine).step()).rejects.toMatchObject({ name: 'WeftError', code: 'INVALID_INPUT' });
      const progress: LoadProgress[] = [];
      const r = await engineInternals(engine).loadReference(
        { model: `${base}/stories260K.bin`, tokenizer: `${base}/tok512.bin` },
        engine.callback((p: LoadProgress) => {
          progress.push(p);
        }),
      );
      expect(r.contextLength).toBe(512);
      // The callbacks cross on the proxy's own port, the call's answer on the worker's: the last
      // reports may land just after the answer (a CI run saw it), so wait for them.
      await vi.waitFor(() => expect(progress.at(-1)).toEqual({ status: 'ready' }));
      expect(progress.some((p) => p.status === 'download')).toBe(true);
      let text = '';
      for (let i = 0; i < 8; i++) text += (await engineInternals(engine).step()).piece;
      expect(text.startsWith('Once upon a time')).toBe(true);
      expect((await engineInternals(engine).timings()).steps).toBe(8);
    } finally {
      engine.terminate();
    }
  }, 120_000);

  test('real WebLLM in the worker: an unreachable model URL is MODEL_UNREACHABLE, quickly', async () => {
    const engine = startEngineWorker();
    try {
      const t0 = performance.now();
      const err = await engineInternals(engine)
        .loadWebLlm({
          model: { record: { model: 'http://127.0.0.1:9/no-model/resolve/main/', modelLib: 'http://127.0.0.1:9/no-model.wasm', modelId: 'unreachable-model' } },
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toMatchObject({ name: 'WeftError', code: 'MODEL_UNREACHABLE', message: expect.stringContaining('unreachable-model') });
      expect(performance.now() - t0).toBeLessThan(60_000);
      expect(await engine.api.ping()).toBe('weft-engine'); // the worker is still usable
    } finally {
      engine.terminate();
    }
  }, 90_000);
});

/** A module worker running `code` (a blob: URL, so no server is involved). */
function workerFrom(code: string): Worker {
  return new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
}

/** Every call on `engine` (and `ready`) rejects with WORKER_FAILED; returns the first call's message. */
async function expectFailed(engine: EngineHandle): Promise<string> {
  const first = await engine.api.ping().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(first).toMatchObject({ name: 'WeftError', code: 'WORKER_FAILED' });
  await expect(engine.ready).rejects.toMatchObject({ code: 'WORKER_FAILED' });
  await expect(engineInternals(engine).step()).rejects.toMatchObject({ code: 'WORKER_FAILED' });
  await expect(engineInternals(engine).loadReference({ model: '', tokenizer: '' })).rejects.toMatchObject({ code: 'WORKER_FAILED' });
  return (first as Error).message;
}

/** Workers that never become an engine, and how the failure names them. */
const notEngines: { name: string; worker: () => Worker; startTimeout?: number; message: RegExp }[] = [
  {
    name: 'a worker script that is not there',
    worker: () => new Worker(new URL('/no-such-dir/engine.worker.js', location.href), { type: 'module' }),
    message: /failed to load/,
  },
  {
    name: "the app's HTML page in place of the worker script (what a bundler that left the worker behind serves)",
    worker: () => new Worker(new URL('/', location.href), { type: 'module' }),
    message: /failed to load/,
  },
  { name: 'a worker script that throws while loading', worker: () => workerFrom('throw new Error("broken at load");'), message: /broken at load/ },
  {
    name: 'a worker that never answers (startTimeout 1 s)',
    worker: () => workerFrom('self.addEventListener("message", () => {});'),
    startTimeout: 1_000,
    message: /did not answer within 1000 ms/,
  },
];

describe('a worker that fails or dies', () => {
  test.each(notEngines)(
    '$name: every call rejects with WORKER_FAILED within seconds',
    async ({ worker, startTimeout, message }) => {
      const t0 = performance.now();
      const engine = startEngineWorker({ worker: worker(), ...(startTimeout ? { startTimeout } : {}) });
      try {
        expect(await expectFailed(engine)).toMatch(message);
        expect(performance.now() - t0).toBeGreaterThanOrEqual(startTimeout ? startTimeout - 100 : 0);
        expect(performance.now() - t0).toBeLessThan(5_000);
      } finally {
        engine.terminate();
      }
    },
    20_000,
  );

  test('the real worker terminated while a call waits: that call and every later one reject', async () => {
    const engine = startEngineWorker();
    await engine.ready;
    const loading = engineInternals(engine).loadReference({ model: `${base}/stories260K.bin`, tokenizer: `${base}/tok512.bin` });
    engine.terminate();
    await expect(loading).rejects.toMatchObject({ name: 'WeftError', code: 'WORKER_FAILED', message: expect.stringMatching(/terminated/) });
    await expect(engine.api.ping()).rejects.toMatchObject({ code: 'WORKER_FAILED' });
    engine.terminate(); // again: nothing happens
  }, 60_000);

  test('a worker that dies by itself while a call waits: the call rejects, and every later one', async () => {
    const engine = startEngineWorker({ worker: new Worker(new URL('../support/dying-engine.worker.ts', import.meta.url), { type: 'module' }) });
    try {
      await engine.ready;
      const t0 = performance.now();
      await expect(engineInternals(engine).step()).rejects.toMatchObject({
        name: 'WeftError',
        code: 'WORKER_FAILED',
        message: expect.stringMatching(/stopped/),
      });
      expect(performance.now() - t0).toBeLessThan(5_000);
      await expect(engine.api.ping()).rejects.toMatchObject({ code: 'WORKER_FAILED' });
    } finally {
      engine.terminate();
    }
  }, 60_000);
});
