// Weft's error type. Every failure carries a stable `code` (codes survive the worker
// boundary and structured cloning; classes do not) and a message that says what to do.

/** The stable codes of WeftError: what went wrong, kept across the worker boundary and structured cloning. */
export type WeftErrorCode =
  | 'WEBGPU_UNAVAILABLE'
  | 'NO_ADAPTER'
  | 'DEVICE_LOST'
  | 'GPU_ERROR'
  | 'DEVICE_LIMIT'
  | 'DESTROYED'
  | 'INVALID_OPTION'
  | 'INVALID_WORKFLOW'
  | 'DIMENSION_MISMATCH'
  | 'INVALID_VECTOR'
  | 'INVALID_ID'
  | 'DUPLICATE_ID'
  | 'NOT_TRAINED'
  | 'ALREADY_TRAINED'
  | 'TOO_FEW_TRAINING_VECTORS'
  | 'EMPTY_INDEX'
  | 'K_OUT_OF_RANGE'
  | 'NPROBE_OUT_OF_RANGE'
  | 'SEARCH_FINISHED'
  | 'INDEX_EXISTS'
  | 'UNKNOWN_INDEX'
  | 'STORAGE_FULL'
  | 'STORAGE_ERROR'
  | 'STORAGE_BLOCKED'
  | 'CORRUPT_RECORD'
  | 'CONFLICT'
  | 'UNSUPPORTED_FORMAT'
  | 'ABORTED'
  | 'INVALID_FILE'
  | 'INVALID_MODEL'
  | 'CONTEXT_FULL'
  | 'INVALID_INPUT'
  | 'INPUT_TOO_LONG'
  | 'MODEL_UNREACHABLE'
  | 'UNKNOWN_MODEL'
  | 'GPU_OUT_OF_MEMORY'
  | 'GENERATION_FAILED'
  | 'UNPARSABLE_DOCUMENT'
  | 'WORKER_FAILED'
  | 'ENGINE_IN_USE'
  | 'CHECKSUM_MISMATCH'
  | 'REMOTE_UNAVAILABLE'
  | 'RANGE_UNSUPPORTED'
  | 'REMOTE_CHANGED'
  | 'READ_ONLY'
  | 'REMOTE_REDIRECTED';

/**
 * Every failure Weft reports: a stable `code` (WeftErrorCode), a message that says what to do, and
 * `details` where there is more to say (e.g. the documents an ingest could not read).
 */
export class WeftError extends Error {
  readonly code: WeftErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: WeftErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeftError';
    this.code = code;
    this.details = options?.details;
  }
}

/** True for any error carrying a Weft code, also after it crossed a worker boundary as a plain object. */
export function isWeftError(e: unknown, code?: WeftErrorCode): e is WeftError {
  if (typeof e !== 'object' || e === null || !('code' in e)) return false;
  return code === undefined || (e as { code: unknown }).code === code;
}

/** Throws ABORTED once `signal` is aborted (checked between a call's stages). */
export function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new WeftError('ABORTED', `${what} was aborted.`);
}
