// The few filesystem operations the file store needs, so that one store runs on Node
// (fs-node.ts), Deno (fs-deno.ts) or a test's fault-injecting wrapper. Failures are errors with a
// POSIX `code` ('ENOENT', 'EEXIST', 'ENOSPC', …): the adapters translate their platform's errors
// to it, so the store tells "missing", "taken" and "disk full" apart the same way everywhere.

/** The file operations openFileStore uses; failures carry a POSIX `code` (ENOENT, EEXIST, ENOSPC, …). */
export interface StoreFileSystem {
  /** The whole file (ENOENT when it is not there). */
  readFile(path: string): Promise<Uint8Array>;
  /** Creates or replaces `path` with `data` and flushes it to the disk (fsync) before resolving. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  /**
   * Gives `from`'s file a second name `to`, failing with EEXIST when `to` exists: an atomic
   * create-if-absent of a complete file (the store's compare-and-swap).
   */
  link(from: string, to: string): Promise<void>;
  /** Removes a file (or a directory tree with `recursive`); a missing path is not an error. */
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Creates a directory and its parents; an existing one is not an error. */
  mkdir(path: string): Promise<void>;
  /** The names in a directory ([] when it does not exist). */
  list(path: string): Promise<string[]>;
  /** Flushes a directory's entries (a rename or link) to the disk, where the platform can. */
  syncDir(path: string): Promise<void>;
}

/** An error carrying a POSIX code, as the adapters throw. */
export function fsError(code: string, message: string, cause?: unknown): Error & { code: string } {
  return Object.assign(new Error(`${code}: ${message}`, cause === undefined ? undefined : { cause }), { code });
}

export const errorCode = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

export const joinPath = (...parts: string[]): string => parts.join('/').replace(/\/{2,}/g, '/');
