import type { ChatCompletionMessageParam } from 'weft-rag/rag';
import { rag } from './rag';                                               // the runtime above

const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'How do I reset my password?' }];
let reply = '';
const chunks = await rag.chat.completions.create({ messages, stream: true, max_tokens: 256, temperature: 0.7 });
for await (const chunk of chunks) {
  reply += chunk.choices[0]?.delta.content ?? '';
  if (chunk.weft) console.log(chunk.weft.passages, chunk.weft.citations);  // first and last chunk
}
const signal = AbortSignal.timeout(60_000);
const completion = await rag.chat.completions.create({ messages }, { k: 4, signal }); // chat.completion
console.log(reply, completion.choices[0]?.message.content);
