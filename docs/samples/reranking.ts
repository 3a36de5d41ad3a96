import { createRag, createCrossEncoder } from 'weft-rag/rag';
import { options } from './rag';                                          // the runtime above

const reranker = await createCrossEncoder({ model: '/models/ms-marco-MiniLM-L-6-v2.onnx', tokenizer: '/models/tokenizer.json' });
const rag = await createRag({ ...options, reranker });
for await (const e of rag.generate('How do I reset my password?', { k: 3, rerank: { candidates: 20 } })) {
  if (e.type === 'done') console.log(e.answer, e.passages.map((p) => p.scores));
}
// In the worker: createRagInWorker({ …, reranker: { crossEncoder: { model, tokenizer } } })
//   or { decoder: { model: '/models/stories260K.bin', tokenizer: '/models/tok512.bin' } }
// (createLlama2cReranker and createOnnxDecoderReranker make the decoder kind on the page.)
