// Reads the documents of a folder the user picked in the native dialog, for the renderer to
// ingest: text, Markdown, HTML and PDF files, found by walking the folder in name order. Plain Node
// (no electron import) so the unit tier tests it. The walk never leaves the folder: a symbolic
// link is followed only when its target lies inside the folder, each file or folder is read once
// (no loops through links), and limits on files, bytes, entries and depth keep a mistaken pick
// (a home folder, `/`) from reading half the disk into the renderer.

import { constants } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * The MIME type of each document extension the renderer's readDocument reads: the library's table
 * (src/ingest/file-types.ts) written out, since this CommonJS build cannot import it;
 * test/shells/electron-folder.test.ts checks that the two agree.
 */
export const DOCUMENT_TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain',
  '.text': 'text/plain',
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.mdown': 'text/markdown',
  '.mkd': 'text/markdown',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.xhtml': 'text/html',
  '.pdf': 'application/pdf',
};

export interface FolderLimits {
  /** Documents read; a folder with more is refused (TOO_MANY_FILES). Default 5000. */
  maxFiles: number;
  /** A larger document is skipped and reported (TOO_LARGE). Default 8 MiB. */
  maxFileBytes: number;
  /** All documents together; more is refused (TOO_MUCH_DATA). Default 64 MiB (one IPC message carries them). */
  maxTotalBytes: number;
  /** Directory entries looked at, documents or not; more is refused (TOO_MANY_ENTRIES). Default 100 000. */
  maxEntries: number;
  /** Folders deeper than this below the picked one are not entered (skipped, TOO_DEEP). Default 32. */
  maxDepth: number;
}

export const DEFAULT_FOLDER_LIMITS: Readonly<FolderLimits> = {
  maxFiles: 5000,
  maxFileBytes: 8 << 20,
  maxTotalBytes: 64 << 20,
  maxEntries: 100_000,
  maxDepth: 32,
};

/** One document: its path relative to the folder, '/'-separated on every platform. */
export interface FolderFile {
  path: string;
  type: string;
  bytes: ArrayBuffer;
}

export type SkipReason = 'TOO_LARGE' | 'TOO_DEEP' | 'OUTSIDE_FOLDER' | 'UNREADABLE';

export interface SkippedEntry {
  path: string;
  reason: SkipReason;
}

export interface FolderContents {
  /** The folder's own name (not its absolute path: the renderer has no use for where it is). */
  folder: string;
  files: FolderFile[];
  /** Documents (or folders) left out, and why; non-documents and hidden entries are not listed. */
  skipped: SkippedEntry[];
}

export type FolderErrorCode = 'NOT_A_FOLDER' | 'TOO_MANY_FILES' | 'TOO_MUCH_DATA' | 'TOO_MANY_ENTRIES';

/** A folder that cannot be read as a whole: nothing of it is returned. */
export class FolderError extends Error {
  override name = 'FolderError';
  constructor(
    readonly code: FolderErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ReadFolderOptions {
  limits?: Partial<FolderLimits>;
}

// O_NOFOLLOW is undefined on Windows.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

/** The MIME type of a document file name, or undefined for anything else. */
export function documentType(name: string): string | undefined {
  return DOCUMENT_TYPES[extname(name).toLowerCase()];
}

/** Whether `target` is `root` or lies inside it (both real, absolute paths). */
export function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Reads every document under `folder` (see the file's header for what is read and what is refused). */
export async function readDocumentFolder(folder: string, options: ReadFolderOptions = {}): Promise<FolderContents> {
  const limits = { ...DEFAULT_FOLDER_LIMITS, ...options.limits };
  let root: string;
  try {
    root = await realpath(folder);
    await readdir(root);
  } catch (e) {
    throw new FolderError('NOT_A_FOLDER', `'${folder}' cannot be read as a folder (${(e as Error).message}). Pick a folder you can open.`);
  }
  const files: FolderFile[] = [];
  const skipped: SkippedEntry[] = [];
  const seen = new Set<string>([root]);
  let entries = 0,
    total = 0;

  const walk = async (dir: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    } catch {
      skipped.push({ path: display(root, dir), reason: 'UNREADABLE' });
      return;
    }
    for (const name of names) {
      if (++entries > limits.maxEntries) {
        throw new FolderError('TOO_MANY_ENTRIES', `The folder holds more than ${limits.maxEntries} files and folders. Pick a smaller folder of documents.`);
      }
      // Hidden entries (.git, .obsidian, .DS_Store) are tools' data, not the user's documents.
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      let real: string;
      try {
        real = await realpath(path);
      } catch {
        // A dangling link, or an entry removed while walking: report it only if it looked like a document.
        if (documentType(name)) skipped.push({ path: display(root, path), reason: 'UNREADABLE' });
        continue;
      }
      if (!isInside(root, real)) {
        skipped.push({ path: display(root, path), reason: 'OUTSIDE_FOLDER' });
        continue;
      }
      if (seen.has(real)) continue;
      const shown = display(root, real);
      const info = await stat(real).catch(() => undefined);
      if (info?.isDirectory()) {
        seen.add(real);
        if (depth >= limits.maxDepth) skipped.push({ path: shown, reason: 'TOO_DEEP' });
        else await walk(real, depth + 1);
        continue;
      }
      // By the real name, as shown: a link 'notes.md' to 'notes.txt' is the text file it points to.
      const type = documentType(real);
      if (!type) continue;
      seen.add(real);
      if (!info?.isFile()) {
        skipped.push({ path: shown, reason: 'UNREADABLE' });
        continue;
      }
      if (info.size > limits.maxFileBytes) {
        skipped.push({ path: shown, reason: 'TOO_LARGE' });
        continue;
      }
      if (files.length >= limits.maxFiles) {
        throw new FolderError('TOO_MANY_FILES', `The folder holds more than ${limits.maxFiles} documents. Pick a smaller folder, or split it.`);
      }
      const bytes = await readAtMost(real, limits.maxFileBytes).catch(() => undefined);
      if (bytes === undefined) {
        skipped.push({ path: shown, reason: 'UNREADABLE' });
        continue;
      }
      if (bytes.byteLength > limits.maxFileBytes) {
        skipped.push({ path: shown, reason: 'TOO_LARGE' });
        continue;
      }
      total += bytes.byteLength;
      if (total > limits.maxTotalBytes) {
        throw new FolderError(
          'TOO_MUCH_DATA',
          `The folder's documents add up to more than ${limits.maxTotalBytes >> 20} MiB. Pick a smaller folder, or split it.`,
        );
      }
      files.push({ path: shown, type, bytes });
    }
  };

  await walk(root, 0);
  // The name the user picked (a link keeps its own name); '/' has none.
  return { folder: basename(resolve(folder)) || root, files, skipped };
}

/**
 * The file's bytes, or max + 1 of them if it is larger (it may have grown since it was checked).
 * O_NOFOLLOW: `path` is already resolved, so a link here means it was swapped in since.
 */
async function readAtMost(path: string, max: number): Promise<ArrayBuffer> {
  const handle = await open(path, OPEN_FLAGS);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`${path} is no longer a file`);
    let buffer = new Uint8Array(Math.min(info.size, max) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length < buffer.length) continue;
      if (buffer.length > max) break;
      // It grew since stat(): keep reading, up to max + 1.
      const grown = new Uint8Array(Math.min(buffer.length * 2, max + 1));
      grown.set(buffer);
      buffer = grown;
    }
    return buffer.buffer.slice(0, length);
  } finally {
    await handle.close();
  }
}

/** A path under the folder as the renderer sees it: relative, '/'-separated. */
function display(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}
