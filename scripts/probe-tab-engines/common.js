// Shared by every scope of the tab-engine probe (page, dedicated/shared/service worker): a WebGPU
// check that runs a trivial compute shader and reads it back, and ask(), a request over a fresh
// MessageChannel whose port2 travels with the message as `reply`. Classic script (importScripts).

self.scopeName = function scopeName() {
  for (const n of ['ServiceWorkerGlobalScope', 'SharedWorkerGlobalScope', 'DedicatedWorkerGlobalScope', 'Window']) {
    if (typeof self[n] === 'function' && self instanceof self[n]) return n;
  }
  return String(self.constructor?.name);
};

self.probeGpu = async function probeGpu() {
  const r = { scope: scopeName(), navigatorGpu: false, adapter: false, device: false, compute: false };
  const t0 = performance.now();
  try {
    r.navigatorGpu = typeof navigator !== 'undefined' && !!navigator.gpu;
    if (!r.navigatorGpu) return r;
    const adapter = await navigator.gpu.requestAdapter();
    r.adapter = !!adapter;
    if (!adapter) return r;
    if (adapter.info) r.adapterInfo = `${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`.trim();
    const device = await adapter.requestDevice();
    r.device = true;
    const n = 256;
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read_write> a: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) { a[id.x] = a[id.x] * 2u + 1u; }`,
    });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const buf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const read = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(
      buf,
      0,
      Uint32Array.from({ length: n }, (_, i) => i),
    );
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(n / 64);
    pass.end();
    enc.copyBufferToBuffer(buf, 0, read, 0, n * 4);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const out = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    r.compute = out.every((v, i) => v === i * 2 + 1);
    device.destroy();
  } catch (e) {
    r.error = String(e?.message || e);
  }
  r.ms = Math.round(performance.now() - t0);
  return r;
};

/** Posts `msg` (plus a reply port) to `target` and resolves with the first answer, or rejects after `ms`. */
self.ask = function ask(target, msg, transfer = [], ms = 15000) {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      port1.close();
      reject(new Error(`no answer to ${msg.op} within ${ms} ms`));
    }, ms);
    port1.onmessage = (ev) => {
      clearTimeout(timer);
      port1.close();
      resolve(ev.data);
    };
    target.postMessage({ ...msg, reply: port2 }, [port2, ...transfer]);
  });
};

/** A nested dedicated worker's GPU probe, from this scope (if it has Worker). */
self.probeNested = async function probeNested() {
  if (typeof Worker === 'undefined') return { scope: 'nested DedicatedWorker', workerConstructor: false, error: `no Worker in ${scopeName()}` };
  const w = new Worker('dedicated.js');
  try {
    return { workerConstructor: true, ...(await ask(w, { op: 'probe' })) };
  } catch (e) {
    return { workerConstructor: true, error: String(e?.message || e) };
  } finally {
    w.terminate();
  }
};
