// The whole runtime in the engine worker: `weft-rag/client` on the page, the package's own worker
// found and bundled by Vite from node_modules.
import { isWeftError } from 'weft-rag';
import { createRagInWorker, startEngineWorker, type RagEvent, type RagWorkerOptions } from 'weft-rag/client';
import { search } from './search.js';

async function ping(): Promise<string> {
  const engine = startEngineWorker();
  try {
    await engine.ready;
    return await engine.api.ping();
  } finally {
    engine.terminate();
  }
}

/** Ingests `docs`, searches with the third one's text, and answers a question with the reference model. */
async function answer(assets: string, docs: readonly { id: string; text: string }[]) {
  const options: RagWorkerOptions = {
    dbName: 'weft-package-app', indexName: 'notes', nlist: 2,
    embedder: { model: `${assets}/tiny.onnx`, tokenizer: `${assets}/tokenizer.json`, tokenizerConfig: `${assets}/tokenizer_config.json`, device: 'wasm', maxLength: 64, modelId: 'tiny' },
    generator: { reference: { model: `${assets}/stories260K.bin`, tokenizer: `${assets}/tok512.bin` } },
  };
  try {
    const rag = await createRagInWorker(options);
    try {
      await rag.ingest(docs.map((d) => ({ ...d })));
      const hits = await rag.search(docs[2]!.text, { k: 3, nprobe: 2 });
      const events: RagEvent['type'][] = [];
      let text = '';
      for await (const e of rag.generate('What did the lighthouse keeper count?', { k: 2, maxTokens: 8 })) {
        events.push(e.type);
        if (e.type === 'done') text = e.answer;
      }
      return { top: hits.map((h) => h.docId), events, text };
    } finally {
      await rag.close();
    }
  } catch (e) {
    // Page errors reach the test as messages: keep the code.
    throw new Error(isWeftError(e) ? `${e.code}: ${e.message}` : String(e));
  }
}

Object.assign(window, { weftApp: { search, ping, answer } });
