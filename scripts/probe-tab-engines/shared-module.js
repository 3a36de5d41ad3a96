// A module SharedWorker (Weft's engine worker is a module worker): the same GPU probe.
import './common.js';

self.onconnect = (e) => {
  const port = e.ports[0];
  port.onmessage = async (ev) => {
    if (ev.data.op === 'probe') ev.data.reply.postMessage(await self.probeGpu());
  };
};
