// Starts the engine worker — a dedicated one for this page, or the app's SharedWorker that every
// tab shares (joined if another tab started it) — and returns its typed RPC handle. A worker that
// fails to load, never answers, or dies must not leave calls hanging: the handle talks to the
// worker through an endpoint that knows which calls are waiting and, once the worker is gone,
// answers them (and every later call) itself with WORKER_FAILED.
import * as Comlink from 'comlink';
import { WeftError } from '../errors.js';
import type { EngineApi, EngineRpc, GeneratorRpc } from './engine-api.js';
import { installErrorTransfer } from './error-transfer.js';

/** Options of startEngineWorker: a worker the app started itself, and how long the worker has to answer. */
export interface EngineWorkerOptions {
  /**
   * A worker the app started itself, on a script that calls `serveEngine()` from
   * `weft-rag/worker`. Default: the package's own engine worker, which the app's bundler finds
   * next to this file.
   */
  worker?: Worker;
  /**
   * Joins (or starts) the SharedWorker engine of this name instead of a dedicated worker: every
   * page of the origin that passes the same name uses one engine (createRagInWorker names it
   * after its options, see `engine` there). Ignored with `worker`.
   */
  shared?: string;
  /**
   * Milliseconds the worker has to answer its first call before it counts as failed. Default 60 000:
   * the first answer waits for the worker's whole script (WebLLM and onnxruntime-web included) to
   * download, so a slow network needs time; a script that fails to load fails at once anyway.
   */
  startTimeout?: number;
}

/** The page's handle on the engine worker: its typed RPC api, readiness, callbacks and transfers, terminate(). */
export interface EngineHandle {
  readonly api: Comlink.Remote<EngineApi>;
  /** Resolves once the worker has answered its first call; rejects with WORKER_FAILED if it never does. */
  readonly ready: Promise<void>;
  /** Wraps a callback so it can be passed to the worker (progress reports). */
  callback<T extends (...args: never[]) => unknown>(fn: T): T;
  /** Marks buffers to be moved, not copied, into the worker (e.g. model bytes). */
  transfer<T>(value: T, buffers: Transferable[]): T;
  /**
   * Stops the worker (a shared engine: this page's connection to it, which the other tabs keep);
   * calls still waiting and every later call reject with WORKER_FAILED.
   */
  terminate(): void;
  /** True once the worker has gone by itself (crashed, closed by the browser, never answered), not by terminate(). */
  readonly lost: boolean;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;

/**
 * Starts the engine worker (the package's own, or `worker`) and returns its handle; a worker that
 * fails to load, never answers or stops fails every call with WORKER_FAILED.
 */
export function startEngineWorker(options: EngineWorkerOptions = {}): EngineHandle {
  installErrorTransfer();
  const startTimeout = options.startTimeout ?? DEFAULT_START_TIMEOUT_MS;
  if (!(startTimeout > 0)) throw new WeftError('INVALID_OPTION', `startTimeout must be a positive number of milliseconds, not ${startTimeout}.`);
  // The library build (vite.config.ts) rewrites this URL to its built engine.worker.js, relative
  // to the built file, so that the app's bundler finds and bundles the worker.
  const target = engineTarget(options);
  const worker = target.port;
  const link = watchedEndpoint(worker);
  const rpc = Comlink.wrap<EngineRpc>(link.endpoint);
  const api: Comlink.Remote<EngineApi> = rpc;
  let answered = false;
  let terminated = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const fail = (message: string) => {
    if (link.failed) return;
    clearTimeout(timer);
    link.fail(new WeftError('WORKER_FAILED', message));
    target.stop();
  };

  // Before the first answer an error event means the script or one of its imports did not load
  // or threw; afterwards it is an uncaught exception the worker survives, so it is left alone.
  target.events.addEventListener('error', (ev) => {
    if (answered) return;
    ev.preventDefault(); // reported as WORKER_FAILED to every call, not also as an uncaught error
    const where = ev instanceof ErrorEvent && ev.message ? `: ${ev.message}${ev.filename ? ` (${ev.filename}:${ev.lineno})` : ''}` : '';
    fail(
      `The engine worker failed to load${where}. Its script or one of its imports could not be fetched or threw; ` +
        'check that the app serves the engine worker its bundler built from weft-rag (see the README, "Install").',
    );
  });
  worker.addEventListener('messageerror', () => {
    fail("A message from the engine worker could not be deserialized, so a call's answer was lost; the worker was stopped. Start a new one.");
  });

  // The lifeline (see lifeline.ts): once the worker holds the lock,
  // being granted it means the worker is gone.
  const lifeline = `weft-engine:${randomId()}`;
  onMessage<{ weftLifelineHeld?: unknown }>(worker, (data) => {
    if (data?.weftLifelineHeld !== lifeline) return;
    void navigator.locks?.request(lifeline, () => {
      fail(
        "The engine worker stopped (it was closed or crashed). Retry: createRagInWorker's runtime starts it again on its next call (a handle of startEngineWorker's needs a new one).",
      );
    });
  });
  worker.postMessage({ weftLifeline: lifeline });
  // A shared engine learns that this page is done with it (closed, crashed, terminate()) when the
  // connection's lock, held until then, is granted to it (watchConnection in lifeline.ts).
  if (target.shared) {
    const connection = `weft-connection:${randomId()}`;
    void navigator.locks?.request(connection, () => {
      worker.postMessage({ weftConnection: connection });
      return target.released;
    });
  }

  timer = setTimeout(() => {
    fail(
      `The engine worker did not answer within ${startTimeout} ms: its script never finished loading, or it does not run serveEngine() from 'weft-rag/worker'.`,
    );
  }, startTimeout);
  const ready = api.ping().then((answer) => {
    answered = true;
    clearTimeout(timer);
    if (answer !== 'weft-engine') {
      fail(`The worker answered ${JSON.stringify(answer)} to ping(): it does not run serveEngine() from 'weft-rag/worker'.`);
      throw link.failure;
    }
  });
  ready.catch(() => undefined); // the failure reaches every call; awaiting `ready` is optional

  const handle: EngineHandle = {
    api,
    ready,
    callback: (fn) => Comlink.proxy(fn),
    transfer: (value, buffers) => Comlink.transfer(value, buffers),
    terminate() {
      terminated = true;
      fail('The engine worker was terminated (terminate() was called). Start a new one.');
    },
    get lost() {
      return link.failed && !terminated;
    },
  };
  internals.set(handle, rpc);
  return handle;
}

/** Where the engine runs: the port to talk to it, what fires its load errors, and how this page lets go of it. */
interface EngineTarget {
  port: Worker | MessagePort;
  events: EventTarget;
  shared: boolean;
  /** Settles when this page lets go (stop()): a shared engine's connection lock is held until then. */
  released: Promise<void>;
  /** Terminates a dedicated worker; closes this page's connection to a shared one (which the other tabs keep). */
  stop(): void;
}

function engineTarget(options: EngineWorkerOptions): EngineTarget {
  let letGo = () => {};
  const released = new Promise<void>((r) => {
    letGo = r;
  });
  if (options.shared !== undefined && !options.worker) {
    // The library build rewrites this URL as it does the Worker's below (vite.config.ts).
    const sw = new SharedWorker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: options.shared });
    sw.port.start();
    return {
      port: sw.port,
      events: sw,
      shared: true,
      released,
      stop() {
        letGo();
        sw.port.close();
      },
    };
  }
  const worker = options.worker ?? new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'weft-engine' });
  return {
    port: worker,
    events: worker,
    shared: false,
    released,
    stop() {
      letGo();
      worker.terminate();
    },
  };
}

const internals = new WeakMap<EngineHandle, Comlink.Remote<GeneratorRpc>>();

/**
 * The generator's own calls on a worker started here (load, prefill, step, timings, unload): for
 * the client's close and for tests; no package entry exports it, so they stay off the public API.
 */
export function engineInternals(handle: EngineHandle): Comlink.Remote<GeneratorRpc> {
  const rpc = internals.get(handle);
  if (!rpc) throw new WeftError('INVALID_INPUT', 'engineInternals takes a handle that startEngineWorker returned.');
  return rpc;
}

interface WatchedEndpoint {
  readonly endpoint: Comlink.Endpoint;
  readonly failed: boolean;
  readonly failure: WeftError | undefined;
  /** Answers every waiting call, and from now on every new call, with `error`. */
  fail(error: WeftError): void;
}

/**
 * The worker as comlink's endpoint, keeping the ids of the calls it has not answered. After
 * fail(), calls never reach the worker: they are answered here with comlink's own wire format for
 * a thrown value, serialized by the installed 'throw' handler, so the Remote rejects as if the
 * worker had thrown the error.
 */
function watchedEndpoint(worker: Worker | MessagePort): WatchedEndpoint {
  const listeners = new Set<EventListenerOrEventListenerObject>();
  const waiting = new Set<string>();
  let failure: WeftError | undefined;

  const deliver = (data: unknown) => {
    const ev = new MessageEvent('message', { data });
    for (const l of listeners) {
      if (typeof l === 'function') l(ev);
      else l.handleEvent(ev);
    }
  };
  const answer = (id: string, type: unknown) => {
    if (type === 'RELEASE') {
      deliver({ id, type: 'RAW', value: undefined });
      return;
    } // nothing left to release
    const [value] = Comlink.transferHandlers.get('throw')!.serialize({ value: failure });
    deliver({ id, type: 'HANDLER', name: 'throw', value });
  };

  onMessage<{ id?: unknown }>(worker, (data) => {
    const id = data?.id;
    if (typeof id === 'string') waiting.delete(id);
  });

  const endpoint: Comlink.Endpoint = {
    postMessage(message: { id?: unknown; type?: unknown }, transfer?: Transferable[]) {
      const id = typeof message.id === 'string' ? message.id : undefined;
      if (failure) {
        if (id !== undefined) queueMicrotask(() => answer(id, message.type));
        return;
      }
      if (id !== undefined) waiting.add(id);
      worker.postMessage(message, transfer ?? []);
    },
    addEventListener(type, listener) {
      if (type === 'message') listeners.add(listener);
      worker.addEventListener(type, listener);
    },
    removeEventListener(type, listener) {
      if (type === 'message') listeners.delete(listener);
      worker.removeEventListener(type, listener);
    },
  };

  return {
    endpoint,
    get failed() {
      return failure !== undefined;
    },
    get failure() {
      return failure;
    },
    fail(error) {
      if (failure) return;
      failure = error;
      const ids = [...waiting];
      waiting.clear();
      for (const id of ids) answer(id, 'APPLY');
    },
  };
}

/** Listens to the messages of a worker or a port (whose own typings do not unite). */
function onMessage<T>(from: Worker | MessagePort, listener: (data: T | null | undefined) => void): void {
  (from as EventTarget).addEventListener('message', (ev) => listener((ev as MessageEvent<T | null>).data));
}

function randomId(): string {
  return typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}
