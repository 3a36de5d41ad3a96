import { createRag } from 'weft-rag/rag';
import { rag, options } from './rag';                                    // the runtime above

await rag.search('error E-4471 on startup', { k: 5 });                  // 'hybrid' (the default)
await rag.search('error E-4471 on startup', { k: 5, mode: 'lexical' }); // BM25 only
await rag.search('why does it not start', { k: 5, mode: 'vector' });    // embeddings only
const rag2 = await createRag({ ...options, mode: 'vector', fusion: { method: 'weighted', weights: { vector: 0.7, lexical: 0.3 } } });
await rag2.close();
