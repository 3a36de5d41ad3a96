// The engine host: what runs inside the engine worker. It serves the engine's core (engine-core.ts:
// the models and the RAG runtime) to its connections over comlink, implementing the RPC contract
// in engine-api.ts. A dedicated worker has one connection, the page that started it; a
// SharedWorker has one per tab of the app (issue 23: one engine per app, not one per tab), and
// the tabs share the one runtime: each connection opens it with the same options (the first
// loads the models, the others join), keeps its own calls, answers and aborts, and releases
// its share on close or when its tab goes (the connection's Web Lock, lifeline.ts); the last one
// out closes the runtime. workers/engine.worker.ts only calls serveEngine(); keeping the
// implementation here lets the library's build and tests reach it like any other module.

import * as Comlink from 'comlink';
import type { EngineInfo, EngineRpc } from './engine-api.js';
import { createEngineCore, type EngineHostOptions, type OpenedRag } from './engine-core.js';
import { engineKey } from './engine-key.js';
import { installErrorTransfer } from './error-transfer.js';
import { holdLifeline, watchConnection } from './lifeline.js';
import { WeftError } from '../errors.js';
import type { RagEvent } from '../runtime/types.js';

export type { EngineHostOptions } from './engine-core.js';

/** One connection's view of the engine: the RPC contract, plus what ends it when its tab goes. */
export interface EngineConnection extends EngineRpc {
  /** The connection is gone (its tab closed or crashed): its calls stop and its share is released. */
  disconnect(): Promise<void>;
}

/** An engine every connection shares: connect() once per page or tab. */
export interface EngineHost {
  connect(): EngineConnection;
}

/** A fresh engine (its state lives in this closure, one per worker); connect() serves a page. */
export function createEngineHost(options: EngineHostOptions = {}): EngineHost {
  const core = createEngineCore(options);
  // The runtime's options (their engine key) and the connections that opened it: the first one
  // opens it, later ones with the same options join, and the last one to leave closes it.
  let opened: { key: string; ready: Promise<OpenedRag> } | undefined;
  const users = new Set<object>();
  const connections = new Set<object>();

  const connect = (): EngineConnection => {
    const me = {};
    connections.add(me);
    // This connection's calls in flight, by its own call numbers: abort(call) aborts their signal.
    const calls = new Map<number, AbortController>();
    const answers = new Map<number, AsyncGenerator<RagEvent>>();
    // Numbers for calls whose caller picked none: negative, apart from the callers' positive ones.
    let unnumbered = 0;
    const tracked = <T>(call: number | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
      const id = call ?? --unnumbered;
      const ctl = new AbortController();
      calls.set(id, ctl);
      return new Promise<T>((resolve) => {
        resolve(run(ctl.signal));
      }).finally(() => {
        if (calls.get(id) === ctl) calls.delete(id);
      });
    };
    const forget = (call: number) => {
      answers.delete(call);
      calls.delete(call);
    };
    /** Another connection uses the engine: what only one may do (load another model) is refused. */
    const alone = (what: string) => {
      if ([...users].some((u) => u !== me)) {
        throw new WeftError(
          'ENGINE_IN_USE',
          `Another tab of this app uses the shared engine, so it cannot ${what}. Open the runtime with the same options as the other tabs, or with engine: 'tab' for an engine of this tab's own.`,
        );
      }
    };
    /** Stops this connection's calls and gives up its share of the runtime (closed when nobody else has one). */
    const leave = async () => {
      for (const ctl of calls.values()) ctl.abort();
      const mine = [...answers.values()];
      answers.clear();
      calls.clear();
      for (const events of mine) await events.return(undefined);
      users.delete(me);
      if (users.size === 0 && opened) {
        opened = undefined;
        await core.close();
      }
    };

    const api: EngineConnection = {
      ping: () => 'weft-engine',

      async loadWebLlm(o, onProgress) {
        alone('load another model');
        await leave();
        return core.loadWebLlm(o, onProgress);
      },
      async loadReference(source, onProgress) {
        alone('load another model');
        await leave();
        return core.loadReference(source, onProgress);
      },

      async openRag(o, onProgress, given) {
        const key = given ?? (await engineKey(o));
        if (opened?.key === key) {
          // Join: the runtime is open (or opening) with these options.
          users.add(me);
          try {
            const r = await opened.ready;
            return { ...r, size: core.rag().index?.size ?? 0 };
          } catch (e) {
            users.delete(me);
            throw e;
          }
        }
        alone('open the runtime with other options');
        await leave();
        users.add(me);
        const ready = core.open(o, onProgress);
        opened = { key, ready };
        let r: OpenedRag;
        try {
          r = await ready;
        } catch (e) {
          if (opened?.ready === ready) opened = undefined;
          users.clear();
          throw e;
        }
        if (!users.has(me) && users.size === 0 && opened?.ready === ready) {
          // The connection went (its page closed, or terminate()) while the models loaded: nobody wants them.
          opened = undefined;
          await core.unload();
          throw new WeftError('ABORTED', 'The connection to the engine closed while the runtime opened.');
        }
        return r;
      },

      ingest(documents, onProgress, call) {
        return tracked(call, (signal) =>
          core.rag().ingest(documents, {
            signal,
            ...(onProgress
              ? {
                  onProgress: (p) => {
                    void onProgress(p);
                  },
                }
              : {}),
          }),
        );
      },

      search(query, o = {}, call) {
        return tracked(call, (signal) => core.rag().search(query, { ...o, signal }));
      },

      async startGenerate(input, o = {}, call = --unnumbered) {
        const runtime = core.rag();
        const ctl = new AbortController();
        calls.set(call, ctl);
        answers.set(call, runtime.generate(input, { ...o, signal: ctl.signal }));
        return call;
      },

      async nextEvent(call) {
        const events = answers.get(call);
        if (!events) return undefined;
        try {
          const r = await events.next();
          if (r.done) {
            forget(call);
            return undefined;
          }
          return r.value;
        } catch (e) {
          forget(call);
          throw e;
        }
      },

      async endGenerate(call) {
        const events = answers.get(call);
        forget(call);
        await events?.return(undefined);
      },

      profile(call) {
        return tracked(call, (signal) => core.rag().profile({ signal }));
      },

      async info(): Promise<EngineInfo> {
        return {
          ...(await core.rag().info()),
          engine: { connections: connections.size, users: users.size, loads: core.loads },
          memory: core.memory(),
        };
      },

      abort(call) {
        calls.get(call)?.abort();
      },

      closeRag: leave,

      async prefill(prompt) {
        await core.generator().prefill(prompt);
      },
      async step() {
        return core.generator().step();
      },
      async interrupt() {
        await core.generator().interrupt();
      },
      timings() {
        return core.generator().timings();
      },
      async unload() {
        await leave();
        // The models stay while another connection uses them.
        if (users.size === 0) await core.unload();
      },
      async disconnect() {
        connections.delete(me);
        await api.unload();
      },
    };
    return api;
  };
  return { connect };
}

/**
 * Serves an engine over comlink (call it once, in the worker), with the lifeline each page
 * watches to learn that the worker is gone. In a dedicated worker the page is its one
 * connection; in a SharedWorker (started by createRagInWorker's default `engine: 'shared'`) each
 * tab that connects is one, all on the same engine. `endpoint` defaults to the worker's global
 * scope; `options` as for createEngineHost, e.g. `serveEngine(self, { webllmEngineFactory })` to
 * load WebLLM models your own way.
 */
export function serveEngine(endpoint: Comlink.Endpoint | typeof globalThis = self, options: EngineHostOptions = {}): void {
  installErrorTransfer();
  const host = createEngineHost(options);
  if (endpoint === globalThis && 'onconnect' in globalThis) {
    // A SharedWorker's global scope: every tab's port is a connection.
    globalThis.addEventListener('connect', (ev) => {
      const port = (ev as MessageEvent).ports[0];
      if (port) serveConnection(host, port);
    });
    return;
  }
  serveConnection(host, endpoint as Comlink.Endpoint);
}

function serveConnection(host: EngineHost, ep: Comlink.Endpoint): void {
  holdLifeline(ep);
  const connection = host.connect();
  watchConnection(ep, () => {
    void connection.disconnect();
  });
  Comlink.expose(connection, ep);
}
