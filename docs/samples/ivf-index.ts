import { createIvfIndex, createFlatIndex, gaussianMixture } from 'weft-rag';

const vectors = gaussianMixture(20_000, 384);  // stand-ins for your embeddings: Float32Array, n x 384
const queries = vectors.slice(0, 4 * 384);    // 4 queries, 4 x 384

const index = await createIvfIndex({ dim: 384, nlist: 256, metric: 'cosine', storage: 'f16' });
await index.train(vectors);                   // k-means on the GPU (at least nlist vectors)
const ids = await index.add(vectors);         // or add(vectors, myIds)
const { ids: hits, distances } = await index.search(queries, { k: 10, nprobe: 16 }); // nprobe: 1 to nlist
console.log(ids.length, hits, distances);     // hits[q * 10 + i]: query q's i-th nearest
index.destroy();                              // releases its buffers (and the device it created)

const exact = await createFlatIndex({ dim: 384, metric: 'cosine' }); // brute force, for small sets or recall checks
exact.destroy();
