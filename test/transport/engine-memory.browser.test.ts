// One GPU memory budget for the engine (issue 23): WebLLM runs on a device of its own but on the
// same GPU, so its model's vram_required_MB is claimed on the engine's context ('generator')
// before WebLLM loads anything, and a WebGPU embedder's weights are claimed there too
// ('embedder'). A model that does not fit is DEVICE_LIMIT naming the holders, before the engine
// factory is called (or onnxruntime creates a session); the claims go back on close and unload.
// WebLLM is the stand-in MLCEngine (stories260K behind MLCEngine's methods), in the page for the
// engine core and in standin-engine.worker.ts for the engine worker.
import { afterAll, describe, expect, test } from 'vitest';
import * as Comlink from 'comlink';
import { createEngineCore } from '../../src/transport/engine-core.js';
import { createRagInWorker } from '../../src/transport/client.js';
import { startEngineWorker } from '../../src/transport/engine.js';
import type { RagWorkerOptions } from '../../src/transport/engine-api.js';
import type { WebLlmEngineFactory } from '../../src/generate/webllm.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { assets, workerOptions } from '../support/rag-runtimes.js';
import { createStandInMLCEngine, deleteStandInFiles, type StandInRecord } from '../support/webllm-stand-in.js';
import type { StandInProbes } from '../support/standin-engine.worker.js';

const MiB = 2 ** 20;
// Its own model URL (the same files, more slashes): WebLLM's caches are keyed by URL and shared
// with the other stand-in tests, which may run at the same time.
const folder = `${assets}/lm-stories260K///`;
const record: StandInRecord = { model: folder, model_id: 'stories260K-memory-MLC', model_lib: `${folder}stand-in.wasm` };
/** The stand-in model, saying it needs `vramRequiredMB` (stories260K itself is far smaller: the stand-in runs it on a device of its own). */
const standIn = (vramRequiredMB?: number) => ({
  webllm: {
    model: { record: { model: record.model, modelLib: record.model_lib, modelId: record.model_id, ...(vramRequiredMB ? { vramRequiredMB } : {}) } },
  },
});
/** A prebuilt WebLLM model (879 MiB): it cannot be downloaded here, so only a refusal can be tested with it. */
const PREBUILT = 'Llama-3.2-1B-Instruct-q4f16_1-MLC';
afterAll(() => deleteStandInFiles(record));

/** The test embedder on WebGPU (the engine's device), the stand-in WebLLM model, and `extra`; with the embedder's model bytes. */
async function options(dbName: string, extra: Partial<RagWorkerOptions>): Promise<{ options: RagWorkerOptions; embedderBytes: number }> {
  const base = await workerOptions(dbName, 'memory');
  const embedderBytes = (base.embedder.model as ArrayBuffer).byteLength;
  return { options: { ...base, embedder: { ...base.embedder, device: 'webgpu' }, generator: standIn(), ...extra }, embedderBytes };
}

describe("the engine's GPU memory budget counts WebLLM's model and the embedder", () => {
  test('a WebLLM model over the budget is DEVICE_LIMIT before the engine factory is called; one that fits is the generator, the WebGPU embedder the embedder, until close and unload', async () => {
    const dbName = `weft-engine-memory-${crypto.randomUUID()}`;
    let reloads = 0;
    const factory: WebLlmEngineFactory = (id, config, chatOptions) => {
      reloads++;
      return createStandInMLCEngine(id, config, chatOptions);
    };
    const core = createEngineCore({ webllmEngineFactory: factory });
    try {
      // 879 MiB of a prebuilt model against a 256 MiB budget: refused, naming it and what to do, before anything loads.
      const { options: tooBig } = await options(dbName, { generator: { webllm: { model: { id: PREBUILT } } }, gpuBudgetBytes: 256 * MiB });
      await expect(core.open(tooBig)).rejects.toMatchObject({
        code: 'DEVICE_LIMIT',
        message: expect.stringMatching(
          new RegExp(`The model '${PREBUILT.replace(/\./g, '\\.')}' needs 879\\.0 MiB.*256\\.0 MiB budget.*held: nothing.*gpuBudgetBytes`, 's'),
        ),
      });
      expect(reloads, 'engine factory calls').toBe(0);
      expect(core.memory()?.holders.generator).toBeUndefined();
      expect(core.memory()?.used).toBe(0);

      // One that fits: the generator's share is its vram_required_MB, the embedder's its weights.
      const { options: fits, embedderBytes } = await options(dbName, { generator: standIn(40), gpuBudgetBytes: 256 * MiB });
      await core.open(fits);
      expect(reloads).toBe(1);
      const opened = core.memory()!;
      expect(opened.budget).toBe(256 * MiB);
      expect(opened.holders.generator).toBe(40 * MiB);
      expect(opened.holders.embedder).toBe(embedderBytes);
      // Closing the runtime gives the embedder's back; the generator stays loaded, and counted.
      await core.close();
      expect(core.memory()?.holders.embedder).toBeUndefined();
      expect(core.memory()?.holders.generator).toBe(40 * MiB);
      // Loading another generator gives WebLLM's share back: the reference generator's buffers alone are the generator's.
      await core.loadReference({ model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` });
      const reference = core.memory()!.holders.generator!;
      expect(reference).toBeGreaterThan(0);
      expect(reference).toBeLessThan(40 * MiB);
      // A model without vram_required_MB claims nothing (and loads).
      await core.loadWebLlm({ model: standIn().webllm.model });
      expect(reloads).toBe(2);
      expect(core.memory()?.holders.generator).toBeUndefined();
      await core.loadWebLlm({ model: standIn(40).webllm.model });
      expect(core.memory()?.holders.generator).toBe(40 * MiB);
      await core.unload();
      expect(core.memory()).toBeUndefined();
    } finally {
      await core.unload();
      await deleteStore(dbName);
    }
  }, 180_000);

  test('an embedder that does not fit beside the model is DEVICE_LIMIT naming the generator; nothing stays held; a load that fails gives its claim back', async () => {
    const dbName = `weft-engine-memory-${crypto.randomUUID()}`;
    let reloads = 0;
    const core = createEngineCore({
      webllmEngineFactory: (id, config, chatOptions) => {
        reloads++;
        return reloads === 1 ? Promise.reject(new Error('the stand-in refuses this load')) : createStandInMLCEngine(id, config, chatOptions);
      },
    });
    try {
      // A load that fails in WebLLM leaves no claim behind.
      const { options: first } = await options(dbName, { generator: standIn(40), gpuBudgetBytes: 41 * MiB });
      await expect(core.open(first)).rejects.toBeDefined();
      expect(reloads).toBe(1);
      expect(core.memory()?.holders.generator).toBeUndefined();
      // 40 MiB of model and a ~3.9 MB embedder under 41 MiB: the embedder is refused, naming the generator.
      const { options: second, embedderBytes } = await options(dbName, { generator: standIn(40), gpuBudgetBytes: 41 * MiB });
      expect(embedderBytes).toBeGreaterThan(1 * MiB);
      await expect(core.open(second)).rejects.toMatchObject({
        code: 'DEVICE_LIMIT',
        message: expect.stringMatching(/The embedding model needs .* MiB.*held: generator 40\.0 MiB.*gpuBudgetBytes/s),
      });
      // The failed open unloaded the generator and its device.
      expect(core.memory()).toBeUndefined();
    } finally {
      await core.unload();
      await deleteStore(dbName);
    }
  }, 180_000);

  test("in the engine worker: info().memory has WebLLM's model as the generator and the WebGPU embedder as the embedder; a model over the budget never reaches the engine factory", async () => {
    const dbName = `weft-engine-memory-${crypto.randomUUID()}`;
    const worker = () => {
      const w = new Worker(new URL('../support/standin-engine.worker.ts', import.meta.url), { type: 'module' });
      const { port1, port2 } = new MessageChannel();
      w.postMessage({ weftStandInProbes: port2 }, [port2]);
      return { worker: w, probes: Comlink.wrap<StandInProbes>(port1) };
    };
    const refused = worker();
    try {
      const { options: tooBig } = await options(dbName, { generator: { webllm: { model: { id: PREBUILT } } }, gpuBudgetBytes: 256 * MiB });
      // On the engine's API (createRagInWorker would terminate the worker it failed to open, and its probes with it).
      const engine = startEngineWorker({ worker: refused.worker });
      await expect(engine.api.openRag(tooBig)).rejects.toMatchObject({
        code: 'DEVICE_LIMIT',
        message: expect.stringMatching(/needs 879\.0 MiB.*gpuBudgetBytes/s),
      });
      expect(await refused.probes.engines(), 'engine factory calls').toBe(0);
    } finally {
      refused.worker.terminate();
    }
    const { worker: w, probes } = worker();
    const { options: fits, embedderBytes } = await options(dbName, { generator: standIn(40), gpuBudgetBytes: 256 * MiB });
    const rag = await createRagInWorker(fits, { worker: w });
    try {
      expect(await probes.engines()).toBe(1);
      const { memory } = await rag.engine.api.info();
      expect(memory?.budget).toBe(256 * MiB);
      expect(memory?.holders.generator).toBe(40 * MiB);
      expect(memory?.holders.embedder).toBe(embedderBytes);
    } finally {
      await rag.close();
      await deleteStore(dbName);
    }
  }, 180_000);
});
