// The file store's filesystem on Deno (Deno.* APIs; needs --allow-read and --allow-write for the
// store's directory). Deno's error classes become the POSIX codes the store expects.

import { errorCode, fsError, type StoreFileSystem } from './file-system.js';

interface DenoFile {
  write(p: Uint8Array): Promise<number>;
  sync(): Promise<void>;
  close(): void;
}
interface DenoApi {
  readFile(path: string): Promise<Uint8Array>;
  open(path: string, options: { read?: boolean; write?: boolean; create?: boolean; truncate?: boolean }): Promise<DenoFile>;
  rename(from: string, to: string): Promise<void>;
  link(from: string, to: string): Promise<void>;
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  readDir(path: string): AsyncIterable<{ name: string }>;
  errors: Record<string, new (...args: never[]) => Error>;
}

const CODES: [string, string][] = [
  ['NotFound', 'ENOENT'],
  ['AlreadyExists', 'EEXIST'],
  ['PermissionDenied', 'EACCES'],
  ['IsADirectory', 'EISDIR'],
  ['NotADirectory', 'ENOTDIR'],
];

/** The file system openFileStore needs, on Deno's own file APIs (`Deno` by default). */
export function denoFileSystem(deno: DenoApi = (globalThis as unknown as { Deno: DenoApi }).Deno): StoreFileSystem {
  /** Runs `op`, giving a Deno error the POSIX code it stands for (disk full: os error 28). */
  const posix = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (e) {
      if (errorCode(e)) throw e;
      const known = CODES.find(([cls]) => deno.errors[cls] && e instanceof deno.errors[cls]!);
      const message = (e as Error)?.message ?? String(e);
      const code = known?.[1] ?? (/os error 28\b|no space left/i.test(message) ? 'ENOSPC' : /os error 122\b|quota/i.test(message) ? 'EDQUOT' : 'EIO');
      throw fsError(code, message, e);
    }
  };
  const remove = async (path: string, recursive: boolean) => {
    try {
      await posix(() => deno.remove(path, { recursive }));
    } catch (e) {
      if (errorCode(e) !== 'ENOENT') throw e;
    }
  };
  return {
    readFile: (path) => posix(() => deno.readFile(path)),
    writeFile: (path, data) =>
      posix(async () => {
        const f = await deno.open(path, { write: true, create: true, truncate: true });
        try {
          for (let at = 0; at < data.byteLength; ) at += await f.write(data.subarray(at));
          await f.sync();
        } finally {
          f.close();
        }
      }),
    rename: (from, to) => posix(() => deno.rename(from, to)),
    link: (from, to) => posix(() => deno.link(from, to)),
    remove: (path, options) => remove(path, options?.recursive ?? false),
    mkdir: (path) => posix(() => deno.mkdir(path, { recursive: true })),
    async list(path) {
      try {
        return await posix(async () => {
          const names: string[] = [];
          for await (const e of deno.readDir(path)) names.push(e.name);
          return names;
        });
      } catch (e) {
        if (errorCode(e) === 'ENOENT') return [];
        throw e;
      }
    },
    async syncDir(path) {
      try {
        const d = await deno.open(path, { read: true });
        try {
          await d.sync();
        } finally {
          d.close();
        }
      } catch {
        /* best effort: not every platform flushes a directory through a handle */
      }
    },
  };
}
