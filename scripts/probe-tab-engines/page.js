// The probe's page: leader election with Web Locks, the leader's engine worker, the brokers
// (SharedWorker, service worker, BroadcastChannel) and the follower's requests. Driven by
// scripts/probe-tab-engines.mjs through page.evaluate.

const P = (window.P = { engine: null, lockGrantedAt: null, links: {}, closedAt: {}, shared: null, sw: null });
const tag = Math.random().toString(36).slice(2, 8);
let seq = 0;
const pending = new Map();

P.ensureEngine = () => (P.engine ??= new Worker('dedicated.js'));

/** Requests the lock; resolves when granted (a follower does not await it). The lock is held until the page goes. */
P.lead = (name) =>
  new Promise((granted) => {
    navigator.locks.request(name, () => {
      P.lockGrantedAt = Date.now();
      P.ensureEngine();
      granted(P.lockGrantedAt);
      return new Promise(() => {});
    });
  });

P.locks = async () => {
  const q = await navigator.locks.query();
  return { held: q.held.length, pending: q.pending.length };
};

P.sharedPort = () => {
  if (!P.shared) {
    P.shared = new SharedWorker('shared.js');
    P.shared.port.start();
  }
  return P.shared.port;
};

/** Registers the service worker; as leader (lock held), a port it hands over goes into the engine worker. */
P.registerSw = async () => {
  const reg = await navigator.serviceWorker.register('sw.js');
  await navigator.serviceWorker.ready;
  P.sw = reg.active;
  navigator.serviceWorker.addEventListener('message', (ev) => {
    if (ev.data && ev.data.op === 'connect' && P.lockGrantedAt !== null) P.ensureEngine().postMessage({ op: 'serve', port: ev.data.port }, [ev.data.port]);
  });
  navigator.serviceWorker.startMessages();
  return { state: P.sw.state };
};

/** The leader registers with a broker ('shared': the SharedWorker forwards ports on this tab's connection; 'sw': the service worker remembers this client). */
P.serveFrom = (kind) => {
  if (kind === 'shared') {
    P.sharedPort().addEventListener('message', (ev) => {
      if (ev.data && ev.data.op === 'connect') P.ensureEngine().postMessage({ op: 'serve', port: ev.data.port }, [ev.data.port]);
    });
    return ask(P.sharedPort(), { op: 'leader' }, [], 3000);
  }
  return ask(P.sw, { op: 'leader' }, [], 3000);
};

/** Learns of the SharedWorker's end: queue for the lock it holds while it lives (released at once when granted). */
P.waiters = { life: new Set(), broker: new Set() };
P.watchBroker = () => {
  P.brokerGoneAt = null;
  navigator.locks.request('weft-broker', () => {
    P.brokerGoneAt = Date.now();
    for (const f of P.waiters.broker) f();
  });
  P.sharedErrorAt = null;
  P.shared.addEventListener('error', () => {
    P.sharedErrorAt = Date.now();
  });
  return true;
};
/** Counts 20 ms timer ticks on this page's main thread and in its engine worker; notes the page's freeze/resume events. */
P.startTicks = async () => {
  P.ticks = 0;
  setInterval(() => P.ticks++, 20);
  P.lifecycle = [];
  document.addEventListener('freeze', () => P.lifecycle.push('freeze'));
  document.addEventListener('resume', () => P.lifecycle.push('resume'));
  await ask(P.ensureEngine(), { op: 'tick' });
  return true;
};
P.readTicks = async () => ({ page: P.ticks, worker: (await ask(P.ensureEngine(), { op: 'ticks' })).ticks, lifecycle: P.lifecycle });
/** A follower learns of the engine worker's end: a shared-mode request for the lock the worker holds (granted to every follower at once). */
P.watchLife = (name) => {
  P.lifeGoneAt = null;
  navigator.locks.request(name, { mode: 'shared' }, () => {
    P.lifeGoneAt = Date.now();
    for (const f of P.waiters.life) f();
  });
  return true;
};

/**
 * A request the engine answers `slowMs` after it arrives, raced against a lock that is granted
 * when the engine goes ('life': the leader's worker; 'broker': the SharedWorker): it then fails
 * with a code. Its outcome lands in P.inflight[link].
 */
P.inflight = {};
P.startInflight = (link, slowMs, watch = 'life') => {
  P.inflight[link] = { state: 'pending' };
  const lost = new Promise((_, reject) => {
    P.waiters[watch].add(() => reject(Object.assign(new Error('The engine went away'), { code: 'ENGINE_LOST' })));
  });
  Promise.race([rpc(P.links[link], { slow: slowMs }, [], 10000), lost]).then(
    () => (P.inflight[link] = { state: 'answered', at: Date.now() }),
    (e) => (P.inflight[link] = { state: 'failed', code: e.code, at: Date.now() }),
  );
  return true;
};
P.ballast = (mb) => {
  P.ballastBytes = new Uint8Array(mb << 20).fill(1);
  return true;
};

/** Leader: relay BroadcastChannel requests through the main thread to the engine worker. */
P.bcRelay = (name) => {
  const bc = new BroadcastChannel(name);
  bc.onmessage = async (ev) => {
    const d = ev.data;
    if (!d?.req) return;
    const a = await ask(P.ensureEngine(), { op: 'echo', buf: d.buf }, d.buf ? [d.buf] : []);
    bc.postMessage({ re: d.re, buf: a.buf, from: a.from, res: true });
  };
  P.relay = bc;
  return true;
};
/** Leader: the engine worker itself listens on a BroadcastChannel. */
P.bcDirect = (name) => ask(P.ensureEngine(), { op: 'bc', name });

function rpc(target, msg, transfer = [], ms = 10000) {
  return new Promise((resolve, reject) => {
    const re = `${tag}:${++seq}`;
    if (!target.__rpc) {
      target.__rpc = true;
      target.addEventListener('message', (ev) => {
        const f = ev.data && pending.get(ev.data.re);
        if (f) {
          pending.delete(ev.data.re);
          f(ev.data);
        }
      });
      if (target.start) target.start();
    }
    const t = setTimeout(() => {
      pending.delete(re);
      reject(new Error(`timeout after ${ms} ms`));
    }, ms);
    pending.set(re, (d) => {
      clearTimeout(t);
      resolve(d);
    });
    target.postMessage({ ...msg, re, req: true }, transfer);
  });
}

/** A port to the leader's engine worker: 'self' (the leader's own), 'shared' or 'sw' (through that broker). */
P.connect = async (kind) => {
  const { port1, port2 } = new MessageChannel();
  let r = { ok: true };
  if (kind === 'self') await ask(P.ensureEngine(), { op: 'serve', port: port2 }, [port2]);
  else if (kind === 'sharedEngine') await ask(P.sharedPort(), { op: 'serve', port: port2 }, [port2]);
  else if (kind === 'shared') r = await ask(P.sharedPort(), { op: 'connect', port: port2 }, [port2], 3000);
  else if (kind === 'sw') r = await ask(P.sw, { op: 'connect', port: port2 }, [port2], 3000);
  else r = await ask(P.sw, { op: 'connect-by-lock', lock: 'weft-engine', port: port2 }, [port2], 3000);
  if (!r.ok) throw new Error(`${kind} broker: ${r.error} ${JSON.stringify(r)}`);
  P.links[kind] = port1;
  P.closedAt[kind] = null;
  port1.addEventListener('close', () => {
    P.closedAt[kind] = Date.now();
  });
  const t = performance.now();
  const first = await rpc(port1, {}, [], 3000);
  return {
    broker: r.instance,
    engine: first.from,
    lockClientIdIsRegisteredLeader: r.lockClientIdIsRegisteredLeader,
    firstMs: +(performance.now() - t).toFixed(2),
  };
};
P.bcOpen = (name) => {
  P.links[name] = new BroadcastChannel(name);
  return true;
};

const stats = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const q = (p) => +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(3);
  return { median: q(0.5), p95: q(0.95) };
};

/** Small-message round trips and 4 MiB ArrayBuffer round trips (transferred where the link allows). */
P.bench = async (link, n = 200, mb = 4, reps = 6) => {
  const target = P.links[link];
  const isBc = target instanceof BroadcastChannel;
  for (let i = 0; i < 10; i++) await rpc(target, {});
  const small = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await rpc(target, {});
    small.push(performance.now() - t);
  }
  const big = [];
  for (let i = 0; i < reps; i++) {
    const buf = new ArrayBuffer(mb << 20);
    new Uint8Array(buf)[(mb << 20) - 1] = i;
    const t = performance.now();
    const d = await rpc(target, { buf }, isBc ? [] : [buf], 20000);
    big.push(performance.now() - t);
    if (!d.buf || d.buf.byteLength !== mb << 20 || new Uint8Array(d.buf)[(mb << 20) - 1] !== i) throw new Error('4 MiB echo came back wrong');
  }
  const s = stats(small);
  const b = stats(big);
  const out = {
    smallRoundTripMs: s,
    [`${mb}MiBRoundTripMs`]: b,
    MiBPerSecond: Math.round((2 * mb) / (b.median / 1000)),
  };
  if (!isBc) {
    // One way, answered by a small message: 4 MiB as a transferred ArrayBuffer, and as a Blob the engine reads.
    const oneWay = [];
    const blob = [];
    for (let i = 0; i < reps; i++) {
      const buf = new ArrayBuffer(mb << 20);
      let t = performance.now();
      await rpc(target, { oneWay: buf }, [buf], 20000);
      oneWay.push(performance.now() - t);
      const bl = new Blob([new Uint8Array(mb << 20)]);
      t = performance.now();
      const d = await rpc(target, { blob: bl }, [], 20000);
      blob.push(performance.now() - t);
      if (d.size !== mb << 20) throw new Error('the Blob came back wrong');
    }
    out[`${mb}MiBOneWayMs`] = { arrayBuffer: stats(oneWay), blobReadByEngine: stats(blob) };
  }
  return out;
};

/** After the leader went: does a request on an old link get an answer within `ms`? */
P.tryLink = async (link, ms = 1500) => {
  const t = performance.now();
  try {
    const d = await rpc(P.links[link], {}, [], ms);
    return { answered: true, from: d.from, ms: +(performance.now() - t).toFixed(1) };
  } catch (e) {
    return { answered: false, error: String(e.message), closeEventAt: P.closedAt[link] };
  }
};

P.sharedInfo = () => ask(P.sharedPort(), { op: 'info' }, [], 3000);
