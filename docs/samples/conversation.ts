import type { ChatMessage } from 'weft-rag/rag';
import { rag } from './rag';                                               // the runtime above

const messages: ChatMessage[] = [                                          // typed: roles are 'system' | 'user' | 'assistant'
  { role: 'user', content: 'Which kinds of volcano are there?' },
  { role: 'assistant', content: 'Shield volcanoes, cinder cones and stratovolcanoes [1].' },
  { role: 'user', content: 'And what about the second one?' },
];
for await (const e of rag.generate({ messages }, { system: 'Answer from the passages.', sampling: { temperature: 0.7, topP: 0.9, seed: 1 } })) {
  if (e.type === 'retrieval') console.log('searched for', e.query);
  if (e.type === 'done') messages.push({ role: 'assistant', content: e.answer });
}
