import { openStore, createStoredIndex, openStoredIndex, exportIndex, importIndex, gaussianMixture } from 'weft-rag';

// Stand-ins for your passages and their embeddings (n x 384, e.g. from createOnnxEmbedder):
const vectors = gaussianMixture(20_000, 384);
const passages = Array.from({ length: 20_000 }, (_, i) => ({ doc: `doc-${i % 500}.md`, text: `Passage ${i}: part XQ${i}, the bracket.` }));
const query = vectors.slice(0, 384);

const store = await openStore();                                  // IndexedDB database 'weft'
const docs = await createStoredIndex(vectors, { store, name: 'docs', dim: 384, nlist: 256, storage: 'f16', modelId: 'all-MiniLM-L6-v2' }); // trained on its first argument
await docs.add(vectors, { chunks: passages.map((p) => ({ docId: p.doc, text: p.text, metadata: { lang: 'en' } })) });
const hits = await docs.search(query, { k: 10, nprobe: 16 });     // { ids, distances }
const words = await docs.lexicalSearch('XQ7731 bracket', { k: 10 }); // BM25: { ids, scores }
const mine = await docs.search(query, { k: 10, filter: { metadata: { lang: 'en' } } }); // k matching
const texts = await docs.chunks(Array.from(hits.ids));
console.log(texts.map((c) => c?.text), words, mine);
docs.prefetch(query, { byteBudget: 8 << 20 });                    // stream the lists it will probe
await docs.deleteDocument('doc-1.md'); await docs.compact();
await docs.close();
// later, after a reload:
const again = await openStoredIndex({ store, name: 'docs' });     // preloads its hottest lists
const file = await exportIndex(store, 'docs');                    // one Blob, checksummed
await importIndex(store, file, { name: 'docs-copy' });
await again.close();
