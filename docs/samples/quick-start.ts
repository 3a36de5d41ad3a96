import { createRagInWorker } from 'weft-rag/client';

// The embedder, the generator and the index run in the engine worker; the page gets a Rag.
const rag = await createRagInWorker({
  indexName: 'notes',                                              // an IndexedDB index, created on the first ingest
  embedder: {},                                                    // all-MiniLM-L6-v2 from the Hub, cached
  generator: { webllm: { model: { id: 'Llama-3.2-1B-Instruct-q4f16_1-MLC' } } },
});
await rag.ingest([{ id: 'faq.md', text: '# FAQ\nReset your password from Settings, then Account.', type: 'markdown' }]);
for await (const e of rag.generate('How do I reset my password?')) {
  if (e.type === 'token') console.log(e.text);                     // also 'retrieval', 'trace', 'done' (answer, citations)
}
