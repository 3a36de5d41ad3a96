// The import rules of src/ (checked by test/project/architecture.test.ts, so by `npm test`): no
// import circle, type-only imports included, and no import that points up the layer order —
// each folder of src/ imports only from the folders listed below it. The order, bottom first:
//
//   errors.ts, random.ts, util/   what every layer may use
//   gpu/                          the WebGPU device and its kernels' plumbing
//   ivf/, lexical/                IVF search and BM25 as pure algorithms (GPU and CPU)
//   storage/                      the storage contract, its backends, record formats, the index file
//   stored-index/                 the disk-backed index: search sessions, writes, caches, prefetch
//   ingest/, embed/, generate/, rerank/, models/, schedule/   documents and models, beside the index
//   runtime/                      the RAG core: retrieval, answers, scheduling of both
//   transport/                    the worker boundary: RPC contract, host, client
//   chat/                         <weft-chat>
//   entries/, weft.ts             the package's public entries
//
// Parsing uses swc (TypeScript 7's package has no JavaScript API for dependency-cruiser's default parser).
const layers = [
  ['src/(errors|random)\\.ts$', 'src/util/'],
  ['src/gpu/'],
  ['src/ivf/', 'src/lexical/'],
  ['src/storage/'],
  ['src/stored-index/'],
  ['src/ingest/', 'src/embed/', 'src/generate/', 'src/rerank/', 'src/models/', 'src/schedule/', 'src/workflow/'],
  ['src/runtime/'],
  ['src/transport/'],
  ['src/chat/'],
  ['src/entries/', 'src/weft\\.ts$'],
];
const pathOf = (layer) => `^(${layer.join('|')})`;
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'An import circle (type-only imports count).', from: { path: '^src/' }, to: { circular: true } },
    ...layers.slice(0, -1).map((layer, i) => ({
      name: `layer-${i}-imports-up`,
      severity: 'error',
      comment: `${layer.join(', ')} may import only from the layers below it.`,
      from: { path: pathOf(layer) },
      to: { path: pathOf(layers.slice(i + 1).flat()) },
    })),
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
  },
};
