import { openRemoteIndex, openRemoteStore } from 'weft-rag';
import { createRag, createOnnxEmbedder, createWebLlmGenerator } from 'weft-rag/rag';
import { createRagInWorker } from 'weft-rag/client';

const embedder = await createOnnxEmbedder();                     // the model the index was published with
const query = await embedder.embed(['How do I reset my password?']);

const docs = await openRemoteIndex('/docs.weft', { localBytes: 64 << 20 }); // header + centroids only
const hits = await docs.search(query, { k: 10, nprobe: Math.min(16, docs.nlist) }); // nprobe: 1 to nlist; fetches the probed lists, once
const texts = await docs.chunks(Array.from(hits.ids));           // a directory page, then the records
console.log(texts, docs.remote.stats());                         // { requests, bytesFetched, localHits, … }

// or the whole runtime over it (read-only: ingest is READ_ONLY), on the page or in the engine worker:
const model = { id: 'Llama-3.2-1B-Instruct-q4f16_1-MLC' };
const store = await openRemoteStore('/docs.weft');
const generator = await createWebLlmGenerator({ model });
const rag = await createRag({ store, indexName: store.indexName, embedder, generator, create: false });
const inWorker = await createRagInWorker({ remote: { url: '/docs.weft' }, indexName: 'docs', embedder: {}, generator: { webllm: { model } } });
console.log(await rag.search('password reset'), await inWorker.search('password reset'));
