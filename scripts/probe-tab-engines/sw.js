// The probe's service worker: GPU probe, and a broker that forwards a follower tab's MessagePort
// to the leader tab's window client (Client.postMessage with transfer). 'connect' uses the client
// that registered as leader (state the worker loses when it is stopped); 'connect-by-lock' finds
// the leader without any state, if navigator.locks.query()'s clientId were the Clients API id
// (the probe checks; in Chromium 156 it is not).

importScripts('common.js');
const instance = Math.random().toString(36).slice(2, 10);
const startedAt = Date.now();
let leaderId = null;
let _ballast;
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('message', (ev) => {
  const m = ev.data;
  const reply = m.reply;
  ev.waitUntil(
    (async () => {
      if (m.op === 'probe') reply.postMessage(await probeGpu());
      else if (m.op === 'nested') reply.postMessage(await probeNested());
      else if (m.op === 'info') reply.postMessage({ instance, startedAt });
      else if (m.op === 'ballast') {
        _ballast = new Uint8Array(m.mb << 20).fill(1);
        reply.postMessage({ ok: true });
      } else if (m.op === 'leader') {
        leaderId = ev.source?.id;
        reply.postMessage({ ok: !!leaderId, instance });
      } else if (m.op === 'connect' || m.op === 'connect-by-lock') {
        let id = leaderId;
        let lockClientId;
        if (m.op === 'connect-by-lock') {
          const held = (await navigator.locks.query()).held.find((l) => l.name === m.lock);
          id = lockClientId = held?.clientId;
        }
        const c = id && (await self.clients.get(id));
        if (!c) {
          const all = await self.clients.matchAll({ includeUncontrolled: true, type: 'window' });
          reply.postMessage({ ok: false, error: `no leader client (${m.op})`, instance, lockClientId, clientIds: all.map((x) => x.id), leaderId });
        } else {
          c.postMessage({ op: 'connect', port: m.port }, [m.port]);
          reply.postMessage({ ok: true, instance, lockClientIdIsRegisteredLeader: lockClientId ? lockClientId === leaderId : undefined });
        }
      }
    })(),
  );
});
