// The probe's "engine": a dedicated worker that answers GPU probes, holds GPU memory on request,
// and serves echo requests on MessagePorts handed to it (as Weft's engine worker would serve RPC)
// or directly on a BroadcastChannel.

importScripts('common.js');
const instance = Math.random().toString(36).slice(2, 10);
const held = [];
let heldDevice;

function serve(port) {
  port.onmessage = async (ev) => {
    const d = ev.data;
    if (d?.blob) port.postMessage({ re: d.re, size: (await d.blob.arrayBuffer()).byteLength });
    else if (d?.oneWay) port.postMessage({ re: d.re, size: d.oneWay.byteLength });
    else if (d?.buf) port.postMessage({ re: d.re, buf: d.buf }, [d.buf]);
    else if (d?.slow) setTimeout(() => port.postMessage({ re: d.re, from: instance }), d.slow);
    else port.postMessage({ re: d?.re, from: instance });
  };
}

self.onmessage = async (ev) => {
  const m = ev.data;
  const reply = m.reply;
  if (m.op === 'probe') reply.postMessage(await probeGpu());
  else if (m.op === 'nested') reply.postMessage(await probeNested());
  else if (m.op === 'serve') {
    serve(m.port);
    if (reply) reply.postMessage({ ok: true });
  } else if (m.op === 'bc') {
    const bc = new BroadcastChannel(m.name);
    bc.onmessage = (e) => {
      if (e.data?.req) bc.postMessage({ re: e.data.re, buf: e.data.buf, from: instance, res: true });
    };
    reply.postMessage({ ok: true });
  } else if (m.op === 'hold') {
    // Allocate and fill m.mb MiB of GPU buffers (16 MiB each) and keep them.
    try {
      const adapter = await navigator.gpu.requestAdapter();
      heldDevice = await adapter.requestDevice();
      const chunk = new Uint8Array(16 << 20).fill(7);
      for (let i = 0; i < m.mb / 16; i++) {
        const b = heldDevice.createBuffer({ size: chunk.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
        heldDevice.queue.writeBuffer(b, 0, chunk);
        held.push(b);
      }
      await heldDevice.queue.onSubmittedWorkDone();
      reply.postMessage({ ok: true, buffers: held.length });
    } catch (e) {
      reply.postMessage({ ok: false, error: String(e?.message) });
    }
  } else if (m.op === 'info') reply.postMessage({ instance });
  else if (m.op === 'life') {
    // Hold the lock `m.name` for as long as this worker lives (what Weft's lifeline.ts does).
    navigator.locks.request(m.name, () => {
      reply.postMessage({ ok: true });
      return new Promise(() => {});
    });
  } else if (m.op === 'tick') {
    self.ticks = 0;
    setInterval(() => self.ticks++, 20);
    reply.postMessage({ ok: true });
  } else if (m.op === 'ticks') reply.postMessage({ ticks: self.ticks });
  else if (m.op === 'echo') {
    if (m.buf) reply.postMessage({ buf: m.buf }, [m.buf]);
    else reply.postMessage({ from: instance });
  }
};
