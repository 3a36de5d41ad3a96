// The Electron shell's renderer side, in Chromium without Electron: the bridge contract
// (demo/shell-bridge.ts) served by a test stand-in for the preload (test/support/electron-bridge.ts),
// a folder it hands over ingested into an index in this page's IndexedDB and answered from with
// citations to its documents (the test embedder and the stories260K reference generator), and the
// demo app's "Open folder…" button, shown only inside the shell.
import { afterEach, describe, expect, inject, test } from 'vitest';
import { shellBridge } from '../../demo/shell-bridge.js';
import { createOnnxEmbedder } from '../../src/embed/onnx-embedder.js';
import type { Embedder } from '../../src/embed/types.js';
import { loadLlama2c } from '../../src/generate/llama2c-gpu.js';
import { createRag } from '../../src/runtime/rag.js';
import type { RagEvent } from '../../src/runtime/types.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
import { createRng } from '../../src/random.js';
import { buildTinyEmbeddingGraph } from '../support/tiny-onnx.js';
import { installTestShell, removeTestShell, shellFolder } from '../support/electron-bridge.js';
import { fromShell } from '../../demo/files.js';
import { gpuTest } from '../support/gpu-harness.js';
import demoHtml from '../../demo/index.html?raw';

const assets = inject('sharedAssets');

/** A folder of notes as the shell's walk returns it: relative paths, three formats, a subfolder. */
const notes = shellFolder('field-notes', {
  'volcanoes.md': '# Volcanoes\nShield volcanoes are broad volcanoes with gentle slopes, built by runny lava flowing far from the vent.',
  'weather/clouds.txt': 'Cumulus clouds are puffy white heaps that form when warm air rises and its water vapour condenses.',
  'kitchen/bread.html': '<html><body><h1>Bread</h1><p>Bread dough rises when yeast ferments the sugars in flour and releases carbon dioxide.</p></body></html>',
  'animals/owls.md': '## Owls\nOwls hunt at night, finding mice by sound alone with ears set at different heights on their heads.',
});
const paths = notes.files.map((f) => f.path);

afterEach(() => removeTestShell(globalThis));

async function tinyEmbedder(dim = 32): Promise<Embedder> {
  const rng = createRng(5);
  const V = 30522;
  const json = async (f: string) => (await fetch(`${assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;
  const model = buildTinyEmbeddingGraph(
    Float32Array.from({ length: V * dim }, () => rng.normal()),
    Float32Array.from({ length: dim * dim }, () => rng.normal() * 0.3),
    new Float32Array(dim),
    V,
    dim,
  );
  return createOnnxEmbedder({
    model,
    tokenizer: await json('tokenizer.json'),
    tokenizerConfig: await json('tokenizer_config.json'),
    device: 'wasm',
    wasmPaths: '/node_modules/onnxruntime-web/dist/',
    maxLength: 64,
    cache: false,
    modelId: 'tiny-test-graph',
  });
}

describe('the Electron renderer through window.weftShell', () => {
  test("shellBridge() is the preload's object inside the shell and undefined outside it; answers are copies, a cancel is undefined, a failure rejects with its message", async () => {
    expect(shellBridge()).toBeUndefined();
    const shell = installTestShell(globalThis, notes);
    const bridge = shellBridge()!;
    expect(bridge).toBe(shell.bridge);
    expect(bridge.platform).toBe('electron');
    expect(Object.isFrozen(bridge)).toBe(true);

    const a = await bridge.openFolder(),
      b = await bridge.openFolder();
    expect(shell.calls).toBe(2);
    expect(a!.folder).toBe('field-notes');
    expect(a!.files.map((f) => [f.path, f.type])).toEqual(notes.files.map((f) => [f.path, f.type]));
    for (const [i, f] of a!.files.entries()) {
      expect(f.bytes).toBeInstanceOf(ArrayBuffer);
      expect(new Uint8Array(f.bytes)).toEqual(new Uint8Array(notes.files[i]!.bytes));
      // Copied on every crossing: the page can neither reach the shell's buffers nor share them between calls.
      expect(f.bytes).not.toBe(notes.files[i]!.bytes);
      expect(f.bytes).not.toBe(b!.files[i]!.bytes);
    }
    new Uint8Array(a!.files[0]!.bytes).fill(0);
    expect(new Uint8Array((await bridge.openFolder())!.files[0]!.bytes)[0]).toBe('#'.charCodeAt(0));

    shell.next('cancel');
    await expect(bridge.openFolder()).resolves.toBeUndefined();
    shell.next({ error: 'The folder holds more than 5000 documents. Pick a smaller folder, or split it.' });
    await expect(bridge.openFolder()).rejects.toThrow(/more than 5000 documents/);
    removeTestShell(globalThis);
    expect(shellBridge()).toBeUndefined();
  });

  gpuTest(
    "a folder opened through the bridge is ingested into this page's IndexedDB, kept across a reopen, and answered from with citations to its documents",
    async (ctx) => {
      installTestShell(globalThis, notes);
      const opened = await shellBridge()!.openFolder();
      // The demo's own conversion (demo/files.ts): Files named by their path in the folder.
      const { files, skipped } = fromShell(opened!.files);
      expect(skipped).toEqual([]);
      expect(files.map((f) => [f.name, f.type])).toEqual(notes.files.map((f) => [f.path, f.type]));

      const dbName = `weft-electron-${crypto.randomUUID()}`;
      const store = await openStore({ dbName });
      const embedder = await tinyEmbedder();
      const reference = await loadLlama2c({ gpu: ctx, model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` });
      try {
        const rag = await createRag({ store, indexName: opened!.folder, embedder, generator: reference, gpu: ctx });
        const ingested = await rag.ingest(files);
        expect(ingested.documents).toBe(paths.length);
        expect(ingested.chunks).toBeGreaterThanOrEqual(paths.length);
        const nprobe = rag.index!.nlist;
        const hits = await rag.search('Why does bread dough rise with yeast?', { k: 2, nprobe });
        expect(hits[0]!.docId).toBe('kitchen/bread.html');
        expect(hits[0]!.text).toContain('yeast ferments the sugars');
        expect(hits[0]!.text).not.toContain('<p>'); // HTML was read as HTML, not as text
        await rag.close();

        // The index lives in IndexedDB: a new runtime (a reload, a restart of the shell) finds it.
        const again = await createRag({ store, indexName: 'field-notes', embedder, generator: reference, gpu: ctx });
        expect((await again.info()).size).toBe(ingested.chunks);
        const events: RagEvent[] = [];
        for await (const e of again.generate('How do owls find mice at night?', { k: 2, nprobe, maxTokens: 8 })) events.push(e);
        const done = events.at(-1) as Extract<RagEvent, { type: 'done' }>;
        expect(done.type).toBe('done');
        expect(done.answer.length).toBeGreaterThan(0);
        expect(done.passages.map((p) => p.citation)).toEqual([1, 2]);
        expect(done.passages[0]!.docId).toBe('animals/owls.md');
        expect(done.passages.every((p) => paths.includes(p.docId))).toBe(true);
        await again.close();
      } finally {
        reference.destroy();
        await embedder.destroy();
        store.close();
        await deleteStore(dbName);
      }
    },
  );

  test('the demo shows "Open folder…" only inside the shell; a click asks the shell once, a cancel does nothing, a failure is shown', async () => {
    const plain = await mountDemo(undefined);
    await expect.poll(() => plain.doc.querySelector('#model')!.childElementCount, { timeout: 20_000 }).toBeGreaterThan(0); // the app has started
    expect(plain.doc.querySelector<HTMLButtonElement>('#open-folder')!.checkVisibility()).toBe(false);
    expect(plain.doc.querySelector<HTMLButtonElement>('#pick-folder')!.checkVisibility()).toBe(true);
    plain.frame.remove();

    const inShell = await mountDemo((w) => installTestShell(w, 'cancel'));
    const doc = inShell.doc,
      shell = inShell.shell!;
    await expect.poll(() => doc.querySelector('#model')!.childElementCount, { timeout: 20_000 }).toBeGreaterThan(0);
    const button = doc.querySelector<HTMLButtonElement>('#open-folder')!;
    expect(button.checkVisibility()).toBe(true);
    expect(button.textContent).toBe('Open folder…');
    // No model can load in this frame; should the demo wait for one before taking documents, enable it by hand.
    button.disabled = false;
    // A click asks once; a cancelled dialog leaves the page as it was.
    button.click();
    expect(shell.calls).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(doc.querySelector<HTMLElement>('#ingest-status')!.textContent).toBe('');
    // A folder the shell refuses: its message is shown where ingestion reports.
    shell.next({ error: 'The folder holds more than 5000 documents. Pick a smaller folder, or split it.' });
    button.click();
    expect(shell.calls).toBe(2);
    await expect.poll(() => doc.querySelector<HTMLElement>('#ingest-status')!.textContent, { timeout: 5_000 }).toContain('more than 5000 documents');
    // A folder: its documents go to ingestion, as a drop's do — held until a runtime is ready, or
    // added at once once the page's keyword search runs (no model can load in this frame; when
    // it starts depends on the machine's load).
    shell.next(notes);
    button.click();
    expect(shell.calls).toBe(3);
    await expect
      .poll(() => doc.querySelector<HTMLElement>('#ingest-status')!.textContent, { timeout: 20_000 })
      .toMatch(new RegExp(`^(${paths.length} documents will be added|Added ${paths.length} documents)`));
    expect(doc.querySelector<HTMLElement>('#ingest')!.checkVisibility()).toBe(true);
    inShell.frame.remove();
  });
});

/** Vitest instruments dynamic import() in the modules it serves; a frame needs the hook it calls (as Vitest's own workers get). */
const VITEST_SHIM = 'window.__vitest_browser_runner__ ??= { wrapDynamicImport: (f) => f() };';

/**
 * The demo page in an iframe of this origin (its index.html, with its own URLs resolved against
 * demo/), the stand-in bridge installed before the app's module script runs.
 */
async function mountDemo<S>(install: ((w: typeof globalThis) => S) | undefined): Promise<{ frame: HTMLIFrameElement; doc: Document; shell: S | undefined }> {
  // Built from parts: Vite rewrites a literal new URL('…', import.meta.url) into an asset URL.
  const base = new URL(['..', '..', 'demo', ''].join('/'), import.meta.url).href;
  let shell: S | undefined;
  const hook = `__weftInstall${crypto.randomUUID().replaceAll('-', '')}`;
  (globalThis as Record<string, unknown>)[hook] = (w: typeof globalThis) => {
    shell = install?.(w);
  };
  const html = demoHtml.replace('<head>', `<head><base href="${base}"><script>${VITEST_SHIM}parent.${hook}(window)</script>`);
  const frame = document.createElement('iframe');
  frame.style.width = '1280px';
  frame.style.height = '900px';
  const loaded = new Promise((r) => frame.addEventListener('load', r, { once: true }));
  frame.srcdoc = html;
  document.body.append(frame);
  await loaded;
  delete (globalThis as Record<string, unknown>)[hook];
  return { frame, doc: frame.contentDocument!, shell };
}
