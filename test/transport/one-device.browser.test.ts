// One GPUDevice in the engine: the engine host (what runs in the engine worker, run here in the
// page so that the test can watch WebGPU) opens a RAG runtime with the reference generator and a
// WebGPU embedder, ingests, searches and answers; every device requested and every buffer
// made on the way is recorded. Exactly one device may exist, and the
// generator, the index and onnxruntime-web must all have worked on it.
import { afterEach, expect, inject, test } from 'vitest';
import { createEngineHost } from '../../src/transport/engine-host.js';
import { createRagInWorker } from '../../src/transport/client.js';
import type { RagWorkerOptions } from '../../src/transport/engine-api.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { createRng } from '../../src/random.js';
import { buildTinyEmbeddingGraph } from '../support/tiny-onnx.js';

const assets = new URL(inject('sharedAssets'), location.href).href;

/** Records the devices requested, and the buffers made on each (by label: Weft labels every buffer 'weft.…', onnxruntime leaves its own unlabelled). */
function watchWebGpu() {
  const requested: GPUDevice[] = [];
  const buffersOn = new Map<GPUDevice, string[]>();
  const requestDevice = GPUAdapter.prototype.requestDevice;
  const createBuffer = GPUDevice.prototype.createBuffer;
  GPUAdapter.prototype.requestDevice = async function (this: GPUAdapter, desc?: GPUDeviceDescriptor) {
    const d = await requestDevice.call(this, desc);
    requested.push(d);
    return d;
  };
  GPUDevice.prototype.createBuffer = function (this: GPUDevice, desc: GPUBufferDescriptor) {
    buffersOn.set(this, [...(buffersOn.get(this) ?? []), desc.label ?? '']);
    return createBuffer.call(this, desc);
  };
  return {
    requested,
    /** Labels of buffers made since the last call, by device. */
    take() {
      const r = new Map(buffersOn);
      buffersOn.clear();
      return r;
    },
    restore() {
      GPUAdapter.prototype.requestDevice = requestDevice;
      GPUDevice.prototype.createBuffer = createBuffer;
    },
  };
}

let watch: ReturnType<typeof watchWebGpu> | undefined;
afterEach(() => {
  watch?.restore();
  watch = undefined;
});

async function options(dbName: string): Promise<RagWorkerOptions> {
  const rng = createRng(crypto.getRandomValues(new Uint32Array(1))[0]!);
  const V = 30522,
    D = 16;
  const model = buildTinyEmbeddingGraph(
    Float32Array.from({ length: V * D }, () => rng.normal()),
    Float32Array.from({ length: D * D }, () => rng.normal() * 0.3),
    new Float32Array(D),
    V,
    D,
  );
  const tok = async (f: string) => (await fetch(`${assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;
  return {
    dbName,
    indexName: 'one-device',
    embedder: {
      model,
      tokenizer: await tok('tokenizer.json'),
      tokenizerConfig: await tok('tokenizer_config.json'),
      device: 'webgpu',
      maxLength: 64,
      wasmPaths: new URL('/node_modules/onnxruntime-web/dist/', location.href).href,
      modelId: 'tiny',
    },
    generator: { reference: { model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` } },
    nlist: 4,
  };
}

test('the engine host runs the reference generator, the stored index and the WebGPU embedder on one GPUDevice, and gives it back on unload', async () => {
  const dbName = `weft-one-device-${crypto.randomUUID()}`;
  const host = createEngineHost().connect();
  const opts = await options(dbName);
  watch = watchWebGpu();
  try {
    await host.openRag(opts);
    expect(watch.requested.length, 'devices requested while opening').toBe(1);
    const device = watch.requested[0]!;
    let lost = false;
    void device.lost.then(() => {
      lost = true;
    });
    const opened = watch.take();
    expect([...opened.keys()]).toEqual([device]);
    // The generator's weights, and onnxruntime's session (its initialisers: unlabelled buffers).
    expect(opened.get(device)!.some((l) => l.startsWith('weft.llama.'))).toBe(true);

    const raw = (await (await fetch(`${assets}/cranfield/cran.all.1400`)).text()).replace(/\r\n/g, '\n');
    const docs = raw
      .split(/^\.I /m)
      .slice(1, 13)
      .map((r, i) => ({ id: `cran-${i + 1}`, text: /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '' }));
    await host.ingest(docs);
    const ingested = watch.take();
    expect([...ingested.keys()], 'devices that ingest made buffers on').toEqual([device]);
    const labels = ingested.get(device)!;
    // The index (labelled weft.*, not the generator's) and onnxruntime (its own, unlabelled buffers) both worked on it.
    expect(labels.some((l) => l.startsWith('weft.') && !l.startsWith('weft.llama.'))).toBe(true);
    expect(labels.some((l) => !l.startsWith('weft.'))).toBe(true);

    const hits = await host.search(docs[2]!.text.split('.')[0]!, { k: 3 });
    expect(hits.length).toBeGreaterThan(0);
    const searched = watch.take();
    expect([...searched.keys()]).toEqual([device]);
    expect(
      searched.get(device)!.some((l) => !l.startsWith('weft.')),
      'the query was embedded on the shared device',
    ).toBe(true);

    const request = await host.startGenerate('What was measured?', { k: 2, maxTokens: 6 });
    let tokens = 0;
    for (let e = await host.nextEvent(request); e; e = await host.nextEvent(request)) if (e.type === 'token') tokens++;
    expect(tokens).toBeGreaterThan(0);
    const answered = watch.take();
    expect([...answered.keys()]).toEqual([device]);
    expect(watch.requested.length, 'devices requested in all').toBe(1);

    // Closing the RAG runtime keeps the generator's device; unloading gives it back.
    await host.closeRag();
    await new Promise((r) => setTimeout(r, 50));
    expect(lost).toBe(false);
    await host.unload();
    await device.lost;
    expect(lost).toBe(true);
  } finally {
    await host.unload();
    await deleteStore(dbName);
  }
}, 180_000);

test("the same in the real engine worker: a WebGPU embedder on the worker's one device ingests, searches and feeds an answer", async () => {
  const dbName = `weft-one-device-worker-${crypto.randomUUID()}`;
  const rag = await createRagInWorker(await options(dbName));
  try {
    const raw = (await (await fetch(`${assets}/cranfield/cran.all.1400`)).text()).replace(/\r\n/g, '\n');
    const docs = raw
      .split(/^\.I /m)
      .slice(1, 13)
      .map((r, i) => ({ id: `cran-${i + 1}`, text: /\.W\n([\s\S]*)$/.exec(r)?.[1]?.replace(/\s+/g, ' ').trim() ?? '' }));
    expect((await rag.ingest(docs)).documents).toBe(12);
    // A document's own first sentence finds it: the vectors made on the shared device are the index's.
    const hits = await rag.search(docs[4]!.text.split('.')[0]!, { k: 3 });
    expect(hits.map((h) => h.docId)).toContain('cran-5');
    let answer = '';
    for await (const e of rag.generate('What was measured?', { k: 2, maxTokens: 6 })) if (e.type === 'done') answer = e.answer;
    expect(answer.length).toBeGreaterThan(0);
  } finally {
    await rag.close();
    await deleteStore(dbName);
  }
}, 180_000);
