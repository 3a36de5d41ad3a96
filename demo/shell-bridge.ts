// The narrow API a desktop shell gives the demo app (the renderer): the Electron shell's preload
// exposes it as `window.weftShell` through contextBridge; in a plain browser it is absent and the
// app uses the file picker and drag-and-drop instead. Everything crosses as structured-clonable
// data: no Node objects, no paths the page could turn into file access.

export interface ShellFile {
  /** Path relative to the folder the user picked (for citations), e.g. 'notes/a.md'. */
  path: string;
  /** MIME type guessed from the extension ('text/markdown', 'text/html', 'text/plain', …). */
  type: string;
  bytes: ArrayBuffer;
}

export interface WeftShellBridge {
  readonly platform: 'electron';
  /** Opens the native folder dialog; resolves with the folder's documents, or undefined if cancelled. */
  openFolder(): Promise<{ folder: string; files: ShellFile[] } | undefined>;
}

/** The shell's bridge when the app runs inside one. */
export function shellBridge(): WeftShellBridge | undefined {
  return (globalThis as { weftShell?: WeftShellBridge }).weftShell;
}
