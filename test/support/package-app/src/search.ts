// Search only: the root entry, `weft-rag`. Its build must not carry onnxruntime-web or WebLLM.
import { createIvfIndex, gaussianMixture, referenceSearch } from 'weft-rag';

/** An IVF search on the GPU with every list probed, and the CPU reference's exact top-k. */
export async function search(): Promise<{ got: number[]; want: number[] }> {
  const dim = 16, nlist = 16, k = 10;
  const vectors = gaussianMixture(2000, dim, { seed: 7 });
  const queries = gaussianMixture(8, dim, { seed: 8 });
  const index = await createIvfIndex({ dim, nlist, metric: 'l2', storage: 'f32' });
  try {
    await index.train(vectors);
    const ids = await index.add(vectors);
    const got = await index.search(queries, { k, nprobe: nlist });
    const want = referenceSearch([{ ids, vectors }], queries, dim, 'l2', k);
    return { got: Array.from(got.ids), want: Array.from(want.ids) };
  } finally {
    index.destroy();
  }
}

Object.assign(window, { weftApp: { search } });
