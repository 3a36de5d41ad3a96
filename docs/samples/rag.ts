import { openStore, createGpuContext } from 'weft-rag';
import { createRag, createOnnxEmbedder, createWebLlmGenerator, type RagOptions } from 'weft-rag/rag';

const gpu = await createGpuContext();                                // one device for the index and the embedder
const embedder = await createOnnxEmbedder({ device: 'webgpu', gpu }); // all-MiniLM-L6-v2 from the Hub, cached
const generator = await createWebLlmGenerator({ model: { id: 'Llama-3.2-1B-Instruct-q4f16_1-MLC' } }); // or loadLlama2c({ model, tokenizer, gpu })
export const options = { store: await openStore(), indexName: 'notes', embedder, generator, gpu } satisfies RagOptions;
export const rag = await createRag(options);

const files = [...document.querySelector<HTMLInputElement>('input[type=file]')?.files ?? []];
await rag.ingest([...files, { id: 'faq', text: '# FAQ\n…', type: 'markdown', metadata: { lang: 'en' } }]);
const passages = await rag.search('how do I reset?', { k: 5, filter: { metadata: { lang: 'en' } } });
console.log(passages.map((p) => `[${p.citation}] ${p.docId}: ${p.text}`));
const output = document.body.appendChild(document.createElement('p'));
for await (const e of rag.generate('How do I reset my password?')) {
  if (e.type === 'token') output.append(e.text);  // also 'retrieval', 'trace', 'done' (answer, citations)
}
