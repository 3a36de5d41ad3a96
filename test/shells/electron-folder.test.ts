// The Electron shell's folder walk (shells/electron/src/folder.ts), on real folders in the
// temporary directory: what is read, in which order and under which relative paths; links that
// stay inside the folder are read once and links that leave it never; every limit; and the
// result is the bridge contract's shape (demo/shell-bridge.ts), structured-clonable for IPC.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DEFAULT_FOLDER_LIMITS, DOCUMENT_TYPES, documentType, isInside, readDocumentFolder, type FolderContents } from '../../shells/electron/src/folder.js';
import { readableTypes } from '../../src/ingest/file-types.js';
import type { WeftShellBridge } from '../../demo/shell-bridge.js';

let base = '';
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'weft-electron-folder-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

/** Writes files (path → content) under `dir`, creating folders on the way. */
function tree(dir: string, files: Record<string, string | Uint8Array>) {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(resolve(dir, path, '..'), { recursive: true });
    writeFileSync(resolve(dir, path), content);
  }
}

const text = (b: ArrayBuffer) => new TextDecoder().decode(b);
const listing = (c: FolderContents) => c.files.map((f) => [f.path, f.type, text(f.bytes)]);

describe('the Electron shell reads a folder of documents', () => {
  test('text, Markdown and HTML files, in name order, with /-separated relative paths, their bytes exact; hidden entries and other files left out', async () => {
    const notes = join(base, 'My notes');
    const utf8 = 'Ünïcödé — 雪 ☃\n';
    tree(notes, {
      'b.txt': 'plain text',
      'a.md': '# A\nMarkdown',
      'Upper.MD': 'upper-case extension',
      'page.html': '<p>html</p>',
      'old.htm': '<p>htm</p>',
      'long.markdown': utf8,
      'notes.text': 'text too',
      'sub/deeper/c.md': 'nested',
      'sub/z.txt': 'sub z',
      'image.png': new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
      'data.json': '{}',
      'no-extension': 'ignored',
      '.hidden.md': 'hidden',
      '.git/HEAD.md': "a tool's data",
      '.obsidian/workspace.md': "a tool's data",
    });
    const c = await readDocumentFolder(notes);
    expect(c.folder).toBe('My notes');
    expect(listing(c)).toEqual([
      ['Upper.MD', 'text/markdown', 'upper-case extension'],
      ['a.md', 'text/markdown', '# A\nMarkdown'],
      ['b.txt', 'text/plain', 'plain text'],
      ['long.markdown', 'text/markdown', utf8],
      ['notes.text', 'text/plain', 'text too'],
      ['old.htm', 'text/html', '<p>htm</p>'],
      ['page.html', 'text/html', '<p>html</p>'],
      ['sub/deeper/c.md', 'text/markdown', 'nested'],
      ['sub/z.txt', 'text/plain', 'sub z'],
    ]);
    expect(c.skipped).toEqual([]);
    for (const f of c.files) {
      expect(f.bytes).toBeInstanceOf(ArrayBuffer);
      expect(new Uint8Array(f.bytes)).toEqual(new Uint8Array(readFileSync(join(notes, f.path))));
    }
    // What crosses IPC: structured-clonable as it is, and exactly the contract's shape.
    const sent: Awaited<ReturnType<WeftShellBridge['openFolder']>> = { folder: c.folder, files: c.files };
    const received = structuredClone(sent)!;
    expect(received.files.map((f) => [f.path, f.type, text(f.bytes)])).toEqual(listing(c));
    expect(Object.keys(received).sort()).toEqual(['files', 'folder']);
    expect(received.files.every((f) => Object.keys(f).sort().join() === 'bytes,path,type')).toBe(true);
  });

  test('a link inside the folder is read once, under its real path; a link out of it, a dangling one and a loop are not followed', async () => {
    const root = join(base, 'root');
    tree(root, { 'docs/a.md': 'inside', 'docs/b.txt': 'also inside' });
    tree(join(base, 'outside'), { 'secret.md': 'SECRET', 'more/secret.txt': 'SECRET' });
    writeFileSync(join(base, 'outside.md'), 'SECRET');
    symlinkSync(join(root, 'docs/a.md'), join(root, 'alias.md')); // file link, inside (seen first, named by its target)
    symlinkSync(join(root, 'docs'), join(root, 'again')); // folder link, inside: 'again' sorts first, its files are named docs/…
    symlinkSync(join(base, 'outside.md'), join(root, 'leak.md')); // file link out
    symlinkSync(join(base, 'outside'), join(root, 'leak-dir')); // folder link out
    symlinkSync('../../outside/secret.md', join(root, 'docs/relative.md')); // relative link out
    symlinkSync(join(root, 'missing.md'), join(root, 'dangling.md')); // dangling
    symlinkSync(root, join(root, 'docs/loop')); // a loop back to the root
    const c = await readDocumentFolder(root);
    expect(listing(c)).toEqual([
      ['docs/a.md', 'text/markdown', 'inside'],
      ['docs/b.txt', 'text/plain', 'also inside'],
    ]);
    expect(c.files.some((f) => text(f.bytes).includes('SECRET'))).toBe(false);
    // In walk order: 'again' (the docs folder, read through the link first), then the root's others.
    expect(c.skipped).toEqual([
      { path: 'docs/relative.md', reason: 'OUTSIDE_FOLDER' },
      { path: 'dangling.md', reason: 'UNREADABLE' },
      { path: 'leak-dir', reason: 'OUTSIDE_FOLDER' },
      { path: 'leak.md', reason: 'OUTSIDE_FOLDER' },
    ]);
    // The picked folder itself may be a link: it is read where it points, under the name picked.
    symlinkSync(root, join(base, 'picked'));
    const viaLink = await readDocumentFolder(join(base, 'picked'));
    expect(viaLink.folder).toBe('picked');
    expect(listing(viaLink)).toEqual(listing(c));
  });

  test('a file over maxFileBytes is skipped and reported; folders deeper than maxDepth are not entered', async () => {
    const root = join(base, 'limits');
    tree(root, {
      'small.md': 'x'.repeat(100),
      'exact.md': 'y'.repeat(128),
      'big.md': 'z'.repeat(129),
      'big.png': 'p'.repeat(1000),
      'l1/l2/deep.md': 'deep',
      'l1/shallow.md': 'ok',
    });
    const c = await readDocumentFolder(root, { limits: { maxFileBytes: 128, maxDepth: 1 } });
    expect(c.files.map((f) => [f.path, f.bytes.byteLength])).toEqual([
      ['exact.md', 128],
      ['l1/shallow.md', 2],
      ['small.md', 100],
    ]);
    expect(c.skipped).toEqual([
      { path: 'big.md', reason: 'TOO_LARGE' },
      { path: 'l1/l2', reason: 'TOO_DEEP' },
    ]);
  });

  test('too many documents, too many bytes or too many entries refuse the whole folder with a message that says what to do', async () => {
    const root = join(base, 'many');
    tree(root, Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`n${i}.md`, 'a'.repeat(10)])));
    tree(root, Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`img${i}.png`, 'p'])));
    await expect(readDocumentFolder(root, { limits: { maxFiles: 6 } })).resolves.toMatchObject({ files: { length: 6 } });
    await expect(readDocumentFolder(root, { limits: { maxFiles: 5 } })).rejects.toMatchObject({
      name: 'FolderError',
      code: 'TOO_MANY_FILES',
      message: expect.stringMatching(/more than 5 documents\. Pick a smaller folder/),
    });
    await expect(readDocumentFolder(root, { limits: { maxTotalBytes: 60 } })).resolves.toMatchObject({ files: { length: 6 } });
    await expect(readDocumentFolder(root, { limits: { maxTotalBytes: 59 } })).rejects.toMatchObject({ code: 'TOO_MUCH_DATA' });
    // Entries count whether or not they are documents (12 here): a huge folder is refused early.
    await expect(readDocumentFolder(root, { limits: { maxEntries: 12 } })).resolves.toMatchObject({ files: { length: 6 } });
    await expect(readDocumentFolder(root, { limits: { maxEntries: 11 } })).rejects.toMatchObject({ code: 'TOO_MANY_ENTRIES' });
  });

  test('a path that is not a readable folder is NOT_A_FOLDER; an empty folder has no files', async () => {
    writeFileSync(join(base, 'file.md'), 'a file');
    await expect(readDocumentFolder(join(base, 'file.md'))).rejects.toMatchObject({ code: 'NOT_A_FOLDER' });
    await expect(readDocumentFolder(join(base, 'missing'))).rejects.toMatchObject({
      code: 'NOT_A_FOLDER',
      message: expect.stringContaining('Pick a folder you can open'),
    });
    mkdirSync(join(base, 'empty'));
    await expect(readDocumentFolder(join(base, 'empty'))).resolves.toEqual({ folder: 'empty', files: [], skipped: [] });
  });

  test('helpers: document types by extension, containment by path component (not by prefix), and sane defaults', () => {
    expect(['a.md', 'b.MARKDOWN', 'c.txt', 'd.text', 'e.html', 'f.HTM', 'g.pdf', 'h', 'i.md.png'].map(documentType)).toEqual([
      'text/markdown',
      'text/markdown',
      'text/plain',
      'text/plain',
      'text/html',
      'text/html',
      'application/pdf',
      undefined,
      undefined,
    ]);
    expect(isInside('/a/b', '/a/b')).toBe(true);
    expect(isInside('/a/b', '/a/b/c/d.md')).toBe(true);
    expect(isInside('/a/b', '/a/b/..c.md')).toBe(true);
    expect(isInside('/a/b', '/a/bc/d.md')).toBe(false);
    expect(isInside('/a/b', '/a')).toBe(false);
    expect(isInside('/a/b', '/x/y')).toBe(false);
    expect(DEFAULT_FOLDER_LIMITS.maxTotalBytes).toBeLessThanOrEqual(128 << 20); // one IPC message carries them all
  });

  test('the preload exposes only window.weftShell and invokes the channel main handles', () => {
    const src = (f: string) => readFileSync(resolve(import.meta.dirname, '../../shells/electron/src', f), 'utf8');
    const main = src('main.ts'),
      preload = src('preload.ts');
    const channel = /const OPEN_FOLDER_CHANNEL = '([^']+)'/.exec(main)?.[1];
    expect(channel).toBe('weft:open-folder');
    expect(main).toContain('ipcMain.handle(OPEN_FOLDER_CHANNEL, openFolder)');
    expect(preload).toContain(`ipcRenderer.invoke('${channel}')`);
    expect(preload.match(/exposeInMainWorld\(/g)).toHaveLength(1);
    expect(preload).toContain("exposeInMainWorld('weftShell'");
    // A sandboxed preload can require only 'electron'.
    expect([...preload.matchAll(/from '([^']+)'/g)].map((m) => m[1])).toEqual(['electron']);
  });
});

test("the shell reads exactly the library's readable types, each under its usual MIME type", () => {
  const library = Object.fromEntries(readableTypes.flatMap((t) => t.extensions.map((e) => [`.${e}`, t.mimeTypes[0]!])));
  expect(DOCUMENT_TYPES).toEqual(library);
});
