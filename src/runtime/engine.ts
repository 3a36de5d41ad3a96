// Starts the engine worker and returns its typed RPC handle.
import * as Comlink from 'comlink';
import type { EngineApi } from './engine-api.js';
import { installErrorTransfer } from './error-transfer.js';

export interface EngineHandle {
  readonly api: Comlink.Remote<EngineApi>;
  /** Wraps a callback so it can be passed to the worker (progress reports). */
  callback<T extends (...args: never[]) => unknown>(fn: T): T;
  /** Marks buffers to be moved, not copied, into the worker (e.g. model bytes). */
  transfer<T>(value: T, buffers: Transferable[]): T;
  terminate(): void;
}

export function startEngineWorker(): EngineHandle {
  installErrorTransfer();
  const worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'weft-engine' });
  const api = Comlink.wrap<EngineApi>(worker);
  return {
    api,
    callback: (fn) => Comlink.proxy(fn),
    transfer: (value, buffers) => Comlink.transfer(value, buffers),
    terminate() { api[Comlink.releaseProxy](); worker.terminate(); },
  };
}
