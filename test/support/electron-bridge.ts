// A test stand-in for the Electron shell's preload (shells/electron/src/preload.ts): defines
// `window.weftShell` on a page with the contract's exact semantics (demo/shell-bridge.ts) —
// platform 'electron', openFolder() with no arguments, answers that arrive as structured clones
// made in the page's own realm (what contextBridge hands the page: copies, never the shell's
// objects), a cancelled dialog as undefined, a failed one as the rejection ipcRenderer.invoke
// gives (its message prefixed by Electron) — serving a folder given as text.

import type { ShellFile, WeftShellBridge } from '../../demo/shell-bridge.js';

export interface ShellFolder {
  folder: string;
  files: ShellFile[];
}

/** What a test makes the native dialog do: pick a folder, cancel, or fail with a message. */
export type DialogOutcome = ShellFolder | 'cancel' | { error: string };

export interface TestShell {
  readonly bridge: WeftShellBridge;
  /** openFolder() calls so far. */
  readonly calls: number;
  /** What the next openFolder() calls do. */
  next(outcome: DialogOutcome): void;
}

const TYPES: Record<string, string> = { md: 'text/markdown', markdown: 'text/markdown', txt: 'text/plain', html: 'text/html', htm: 'text/html' };

/** A folder as the shell's walk returns it (shells/electron/src/folder.ts), from path → text. */
export function shellFolder(folder: string, files: Record<string, string>): ShellFolder {
  return {
    folder,
    files: Object.entries(files).map(([path, text]) => ({
      path,
      type: TYPES[path.split('.').pop()!.toLowerCase()] ?? 'application/octet-stream',
      bytes: new TextEncoder().encode(text).buffer as ArrayBuffer,
    })),
  };
}

/**
 * Defines `weftShell` on `target` (this page's globalThis, or an iframe's window before its
 * scripts run), frozen and non-writable as contextBridge exposes it.
 */
export function installTestShell(target: typeof globalThis, first: DialogOutcome): TestShell {
  let outcome = first,
    calls = 0;
  const bridge: WeftShellBridge = Object.freeze({
    platform: 'electron' as const,
    openFolder(...args: unknown[]) {
      calls++;
      // ipcRenderer.invoke is asynchronous whatever happens: so is this, on the page's realm.
      return new target.Promise<ShellFolder | undefined>((resolve, reject) => {
        if (args.length > 0) reject(new target.Error('weftShell.openFolder() takes no arguments.'));
        else if (outcome === 'cancel') resolve(undefined);
        else if ('error' in outcome) reject(new target.Error(`Error invoking remote method 'weft:open-folder': Error: ${outcome.error}`));
        else resolve(target.structuredClone(outcome));
      });
    },
  });
  Object.defineProperty(target, 'weftShell', { value: bridge, enumerable: true, configurable: true, writable: false });
  return {
    bridge,
    get calls() {
      return calls;
    },
    next(o) {
      outcome = o;
    },
  };
}

/** Removes the stand-in (a plain browser again). */
export function removeTestShell(target: typeof globalThis): void {
  delete (target as { weftShell?: unknown }).weftShell;
}
