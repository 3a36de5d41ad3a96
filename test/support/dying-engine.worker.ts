// A stand-in engine worker for test/transport/engine-worker.browser.test.ts: it answers ping() as the engine does and
// holds the page's lifeline as serveEngine() does, then closes itself in the middle of step(),
// as a worker that dies while a call is waiting.
import * as Comlink from 'comlink';
import { holdLifeline } from '../../src/transport/lifeline.js';

holdLifeline();
Comlink.expose({
  ping: () => 'weft-engine',
  step: () => {
    setTimeout(() => self.close(), 50);
    return new Promise<never>(() => {});
  },
});
