// Documents from wherever the person gives them: a drop (files and whole folders, read through
// webkitGetAsEntry), the folder or file pickers, or a desktop shell's native folder dialog.
// Each becomes a File named by its path in the folder (the passage's document in citations),
// with its MIME type from the extension (the library's table of readable types); anything that is
// not text, Markdown, HTML or PDF is skipped. <weft-chat>'s ingest() hands them to the engine
// worker, which reads and parses every type.

import { mimeTypeOfName } from '../src/entries/client.js';
import type { ShellFile } from './shell-bridge.js';

export interface Picked {
  files: File[];
  skipped: string[];
}

const typeOf = (path: string): string | undefined => mimeTypeOfName(path);
const hidden = (path: string) => path.split('/').some((p) => p.startsWith('.'));

function pick(entries: { path: string; blob: Blob }[]): Picked {
  const files: File[] = [],
    skipped: string[] = [];
  for (const { path, blob } of entries) {
    if (hidden(path)) continue;
    const type = typeOf(path);
    if (type) files.push(new File([blob], path, { type }));
    else skipped.push(path);
  }
  return { files, skipped };
}

/** Files from a file input (a folder picker gives webkitRelativePath). */
export function fromInput(list: FileList): Picked {
  return pick(Array.from(list, (f) => ({ path: f.webkitRelativePath || f.name, blob: f })));
}

/** Files from the native folder dialog of a desktop shell. */
export function fromShell(files: readonly ShellFile[]): Picked {
  return pick(files.map((f) => ({ path: f.path, blob: new Blob([f.bytes], { type: f.type }) })));
}

/** Files and folders dropped on the page, folders read recursively. */
export async function fromDrop(data: DataTransfer): Promise<Picked> {
  const entries = Array.from(data.items, (i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (entries.length === 0) return fromInput(data.files);
  const out: { path: string; blob: Blob }[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ path: entry.fullPath.replace(/^\//, ''), blob: file });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      // readEntries returns the folder in batches; an empty batch means the end.
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return pick(out);
}
