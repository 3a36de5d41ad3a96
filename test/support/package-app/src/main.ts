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

/** A file the test hands over as bytes (a Markdown note, a PDF). */
interface FileBytes { name: string; type: string; bytes: number[] }

/**
 * Ingests `docs` and `files` (parsed in the worker: Markdown, PDF), searches with the third
 * document's text and by keywords, and answers a question with the reference model.
 */
async function answer(assets: string, docs: readonly { id: string; text: string }[], files: readonly FileBytes[]) {
  const options: RagWorkerOptions = {
    dbName: 'weft-package-app', indexName: 'notes', nlist: 2,
    embedder: { model: `${assets}/tiny.onnx`, tokenizer: `${assets}/tokenizer.json`, tokenizerConfig: `${assets}/tokenizer_config.json`, device: 'wasm', maxLength: 64, modelId: 'tiny' },
    generator: { reference: { model: `${assets}/stories260K.bin`, tokenizer: `${assets}/tok512.bin` } },
  };
  try {
    const rag = await createRagInWorker(options);
    try {
      await rag.ingest([...docs.map((d) => ({ ...d })), ...files.map((f) => new File([new Uint8Array(f.bytes)], f.name, { type: f.type }))]);
      const hits = await rag.search(docs[2]!.text, { k: 3, nprobe: 2 });
      const keywords = async (q: string) => (await rag.search(q, { k: 1, mode: 'lexical' })).map((p) => ({ docId: p.docId, text: p.text, page: p.metadata.page }))[0];
      const found = { markdown: await keywords('tidewater'), pdf: await keywords('soapy filter') };
      const events: RagEvent['type'][] = [];
      let text = '';
      for await (const e of rag.generate('What did the lighthouse keeper count?', { k: 2, maxTokens: 8 })) {
        events.push(e.type);
        if (e.type === 'done') text = e.answer;
      }
      return { top: hits.map((h) => h.docId), events, text, found };
    } finally {
      await rag.close();
    }
  } catch (e) {
    // Page errors reach the test as messages: keep the code.
    throw new Error(isWeftError(e) ? `${e.code}: ${e.message}` : String(e));
  }
}

Object.assign(window, { weftApp: { search, ping, answer } });
