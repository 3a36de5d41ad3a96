// The probe's SharedWorker: GPU probe, nested-worker probe, an echo engine (to time a SharedWorker
// as the engine itself), and a broker that forwards a follower tab's MessagePort to the tab that
// registered as leader. It holds the Web Lock 'weft-broker' for as long as it lives, so that tabs
// queued for that lock learn of its end.

importScripts('common.js');
const instance = Math.random().toString(36).slice(2, 10);
let connections = 0;
let leader = null;
let _ballast;
navigator.locks.request('weft-broker', () => new Promise(() => {}));

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

self.onconnect = (e) => {
  const port = e.ports[0];
  connections++;
  port.onmessage = async (ev) => {
    const m = ev.data;
    const reply = m.reply;
    if (m.op === 'probe') reply.postMessage(await probeGpu());
    else if (m.op === 'nested') reply.postMessage(await probeNested());
    else if (m.op === 'info') reply.postMessage({ instance, connections });
    else if (m.op === 'serve') {
      serve(m.port);
      reply.postMessage({ ok: true });
    } else if (m.op === 'ballast') {
      _ballast = new Uint8Array(m.mb << 20).fill(1);
      reply.postMessage({ ok: true });
    } else if (m.op === 'leader') {
      leader = port;
      reply.postMessage({ ok: true, instance });
    } else if (m.op === 'connect') {
      if (!leader) reply.postMessage({ ok: false, error: 'no leader' });
      else {
        leader.postMessage({ op: 'connect', port: m.port }, [m.port]);
        reply.postMessage({ ok: true, instance });
      }
    }
  };
};
