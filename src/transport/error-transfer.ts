// Errors keep their identity across the engine worker's boundary: a WeftError thrown in the
// worker arrives on the main thread as a WeftError, with its code and details (comlink's own
// handler would keep only the message). Both sides must install it — startEngineWorker() does on
// the main thread, the worker at start-up — and installing is an explicit call, not an import
// side effect: only the worker and the chat element's entries are marked as having side effects.

import * as Comlink from 'comlink';
import { WeftError, type WeftErrorCode } from '../errors.js';

interface SerializedThrow {
  isError: boolean;
  value: unknown;
}
interface SerializedError {
  name: string;
  message: string;
  stack?: string | undefined;
  code?: WeftErrorCode | undefined;
  details?: Record<string, unknown> | undefined;
}

/** Marks the handler installed here, so that installing again changes nothing. */
const WEFT = Symbol.for('weft.errorTransfer');
type Handler = Comlink.TransferHandler<unknown, unknown> & { [WEFT]?: true };

const handlerAfter = (builtin: Handler): Handler => ({
  [WEFT]: true,
  canHandle: builtin.canHandle,
  serialize(thrown: unknown) {
    const { value } = thrown as { value: unknown };
    if (value instanceof Error) {
      const e = value as Error & { code?: WeftErrorCode; details?: Record<string, unknown> };
      let details: Record<string, unknown> | undefined;
      try {
        details = e.details ? structuredClone(e.details) : undefined;
      } catch {
        details = undefined;
      }
      const out: SerializedError = { name: e.name, message: e.message, stack: e.stack, code: e.code, details };
      return [{ isError: true, value: out } satisfies SerializedThrow, []];
    }
    return [{ isError: false, value } satisfies SerializedThrow, []];
  },
  deserialize(serialized: unknown) {
    const { isError, value } = serialized as SerializedThrow;
    if (!isError) throw value;
    const v = value as SerializedError;
    const err = v.code
      ? new WeftError(v.code, v.message, v.details ? { details: v.details } : undefined)
      : Object.assign(new Error(v.message), { name: v.name });
    if (v.stack) err.stack = v.stack;
    throw err;
  },
});

/** Replaces comlink's 'throw' transfer handler with one that keeps WeftErrors whole (idempotent). */
export function installErrorTransfer(): void {
  const current = Comlink.transferHandlers.get('throw') as Handler;
  if (current[WEFT]) return;
  Comlink.transferHandlers.set('throw', handlerAfter(current));
}
