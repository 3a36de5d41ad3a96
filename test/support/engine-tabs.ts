// Pages of one app as tabs of the e2e tests (test/transport/*.e2e.test.ts): the fixture that
// serves the tests' embedder beside ../shared/assets, a runtime opened in a page with
// createRagInWorker (the models by URL, so a restarted engine can load them again), an answer
// asked there, and the notes the tabs ingest.
import type { Page } from 'playwright';
import { SHARED_ASSETS_PATH, startFixture, type Fixture } from './fixture-server.js';
import { testEmbeddingGraph } from './tiny-onnx.js';

interface Tab {
  rag: import('../../src/transport/client.js').RagClient;
}
declare const window: Tab & Window;

/** The fixture server with the tests' ONNX embedder at /__e2e/tiny-embedder.onnx. */
export function engineFixture(): Promise<Fixture> {
  return startFixture({ files: { '/__e2e/tiny-embedder.onnx': new Uint8Array(testEmbeddingGraph()) } });
}

/** Opens the runtime in `page` as `window.rag` (with createRagInWorker's `engine`, default shared); returns the ms it took. */
export function openInTab(page: Page, dbName: string, engine?: 'shared' | 'tab'): Promise<number> {
  return page.evaluate(
    async ({ dbName, shared, engine }) => {
      // The page's own import(), which the test's transform would rewrite if written out here.
      const load = new Function('p', 'return import(p)') as (p: string) => Promise<typeof import('../../src/transport/client.js')>;
      const { createRagInWorker } = await load('/src/transport/client.ts');
      const at = (p: string) => new URL(p, location.origin).href;
      const t0 = performance.now();
      window.rag = await createRagInWorker(
        {
          dbName,
          indexName: 'notes',
          embedder: {
            model: at('/__e2e/tiny-embedder.onnx'),
            tokenizer: at(`${shared}/minilm-tokenizer/tokenizer.json`),
            tokenizerConfig: at(`${shared}/minilm-tokenizer/tokenizer_config.json`),
            device: 'wasm',
            maxLength: 64,
            wasmPaths: at('/node_modules/onnxruntime-web/dist/'),
            modelId: 'tiny',
          },
          generator: { reference: { model: at(`${shared}/lm-stories260K/stories260K.bin`), tokenizer: at(`${shared}/lm-stories260K/tok512.bin`) } },
        },
        engine ? { engine } : {},
      );
      return performance.now() - t0;
    },
    { dbName, shared: SHARED_ASSETS_PATH, engine },
  );
}

/** The answer to `q` in `page`'s runtime (k 2, 12 tokens). */
export const answerInTab = (page: Page, q: string): Promise<string | undefined> =>
  page.evaluate(async (q) => {
    let text: string | undefined;
    for await (const e of window.rag.generate(q, { k: 2, maxTokens: 12 })) if (e.type === 'done') text = e.answer;
    return text;
  }, q);

/** `n` short notes about wing tests, one per id. */
export const wingNotes = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `n${i}`, text: `Note ${i}: the wing of model ${i} was tested at speed ${i * 10} in the tunnel.` }));
