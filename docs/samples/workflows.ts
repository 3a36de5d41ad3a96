import { createRagInWorker } from 'weft-rag/client';
import { rag } from './rag';                                             // the runtime of docs/rag.md

const question = 'How do calderas form?';
for await (const e of rag.generate(question, { workflow: 'hyde' })) {
  if (e.type === 'node') console.log(`${e.node}:`, e.text ?? e.items ?? e.queries); // each stage before the answer
  if (e.type === 'retrieval') console.log('the answer reads', e.passages.length, 'passages');
  if (e.type === 'done') console.log(e.answer, e.citations);
}

// The same in the engine worker (a graph crosses into it as it is: plain data).
const client = await createRagInWorker({ indexName: 'notes', embedder: {}, generator: { webllm: { model: { id: 'Llama-3.2-1B-Instruct-q4f16_1-MLC' } } } });
for await (const e of client.generate(question, { workflow: 'multistep', k: 6 })) if (e.type === 'done') console.log(e.answer);

// The OpenAI-style surface: `workflow` in the request (Weft's extension; the options' wins).
const completion = await rag.chat.completions.create({ messages: [{ role: 'user', content: question }], workflow: 'irg' });
console.log(completion.weft.stages, completion.choices[0]?.message.content);   // the stages: node, kind, text / items / queries
await client.close();
