import { createRag } from 'weft-rag/rag';
import { rag, options } from './rag';                                    // the runtime of docs/rag.md

const question = 'How do I reset my password?';
// Speculation (HedraRAG): prefill on the partial top-k after the first slice; if the final top-k
// differs, the prefill is redone ('restart' in the trace). The answer is always the final top-k's.
for await (const e of rag.generate(question, { speculate: true })) if (e.type === 'trace') console.log(e.stages);
// Periodic retrieval (PipeRAG): every 16 tokens the last window's text is the query; its search
// runs while the next window decodes (one window stale) and the new passages replace the old ones
// in the context (keeping their citation numbers). nprobe 'auto' (default) takes the largest that
// fits the window by a latency-vs-nprobe line fitted on this device (rag.profile(), done on first
// need) and corrected by every search; `staleness: 0` searches the freshest window, blocking;
// `pipeline: false` runs the same retrievals blocking. Pipelined, the next window's search starts
// before the boundary's refresh, so its lists download while the refresh prefills.
for await (const e of rag.generate(question, { maxTokens: 256, periodic: { interval: 16, maxSlowdown: 0.5 } })) if (e.type === 'done') console.log(e.periodic);

// profile() times searches up to nprobe 64 (reading those lists: over the network for a remote
// index). Keep its line and give it to the next runtime on this device to skip that:
localStorage.setItem('weft-line', JSON.stringify(await rag.profile()));
const next = await createRag({ ...options, performanceModel: JSON.parse(localStorage.getItem('weft-line')!) });
await next.close();
