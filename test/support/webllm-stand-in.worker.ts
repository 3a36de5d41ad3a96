// An app's own WebLLM worker, as WebLLM documents it (a WebWorkerMLCEngineHandler answering a
// WebWorkerMLCEngine), with the stand-in engine behind the handler in place of MLCEngine: the
// messages, their serialisation and the handler's dispatch are WebLLM's own.
import { WebWorkerMLCEngineHandler } from '@mlc-ai/web-llm';
import { createStandInEngine } from './webllm-stand-in.js';

const handler = new WebWorkerMLCEngineHandler();
// What the handler's constructor does for its own MLCEngine.
handler.engine = createStandInEngine({
  initProgressCallback: (report) => handler.postMessage({ kind: 'initProgressCallback', uuid: '', content: report }),
}) as unknown as WebWorkerMLCEngineHandler['engine'];
self.onmessage = (e: MessageEvent) => handler.onmessage(e);
