// The file store's filesystem on Node (node:fs/promises). Node's errors already carry POSIX codes.

import { link, mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { errorCode, type StoreFileSystem } from './file-system.js';

export function nodeFileSystem(): StoreFileSystem {
  return {
    async readFile(path) {
      const b = await readFile(path);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    async writeFile(path, data) {
      const f = await open(path, 'w');
      try {
        await f.writeFile(data);
        await f.sync();
      } finally {
        await f.close();
      }
    },
    rename: (from, to) => rename(from, to),
    link: (from, to) => link(from, to),
    remove: (path, options) => rm(path, { force: true, recursive: options?.recursive ?? false }),
    async mkdir(path) {
      await mkdir(path, { recursive: true });
    },
    async list(path) {
      try {
        return await readdir(path);
      } catch (e) {
        if (errorCode(e) === 'ENOENT') return [];
        throw e;
      }
    },
    async syncDir(path) {
      // Linux and macOS flush a directory's entries through an fd opened read-only; Windows cannot open one.
      try {
        const d = await open(path, 'r');
        try {
          await d.sync();
        } finally {
          await d.close();
        }
      } catch {
        /* best effort */
      }
    },
  };
}
