// The Electron shell's main process: one window running the built demo app (dist/demo) from the
// privileged `weft://app/` origin, locked down (context isolation, sandbox, no Node, a strict CSP,
// no navigation or windows away from the app, no permissions but persistent storage), and one IPC
// call, 'weft:open-folder': the native folder dialog, then the folder's documents as bytes for the
// renderer to ingest. The index itself lives in the renderer's IndexedDB, under that origin.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { app, BrowserWindow, dialog, ipcMain, protocol, session, type IpcMainInvokeEvent, type WebContents } from 'electron';
import { FolderError, isInside, readDocumentFolder, type FolderFile } from './folder.js';

const SCHEME = 'weft';
const APP_ORIGIN = `${SCHEME}://app`;
/** The one IPC channel; preload.ts names it too (a sandboxed preload cannot import this file). */
const OPEN_FOLDER_CHANNEL = 'weft:open-folder';

/** The built demo app: `npm run build` at the repository's root writes it; WEFT_DEMO_DIR overrides. */
const APP_DIR = resolve(process.env.WEFT_DEMO_DIR ?? resolve(__dirname, '../../../dist/demo'));

/**
 * What the app may load and reach. Scripts only from the app ('wasm-unsafe-eval' for
 * onnxruntime-web's and WebLLM's WebAssembly); connections to the app and to the model hosts
 * (Hugging Face and its CDNs for weights, GitHub for WebLLM's model libraries). Inline styles are
 * allowed (a bound `style` attribute for a progress bar's width): a style cannot run code, and
 * retrieved text is rendered as text, never markup.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self' https://huggingface.co https://*.huggingface.co https://*.hf.co https://raw.githubusercontent.com",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

/** Permissions the app is granted: persistent storage, so that the browser does not evict the index. */
const GRANTED_PERMISSIONS = new Set<string>(['persistent-storage']);

// A standard, secure scheme gives the app a stable origin of its own: IndexedDB and the Cache API
// persist under it, module workers and fetch() work, and WebGPU (a secure-context API) is exposed.
// Must happen before 'ready'.
protocol.registerSchemesAsPrivileged([
  { scheme: SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true, codeCache: true } },
]);

// WebGPU: on by default where Chromium ships it (Windows, macOS, ChromeOS); Linux still needs the
// flag, and Vulkan for a hardware adapter. More Chromium switches can be given on the command line
// (e.g. --use-webgpu-adapter=swiftshader on a machine without a GPU).
if (process.platform === 'linux') {
  app.commandLine.appendSwitch('enable-unsafe-webgpu');
  app.commandLine.appendSwitch('enable-features', 'Vulkan');
}

/** Serves the app's files from APP_DIR under weft://app/, and nothing outside it. */
async function serveApp(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.host !== 'app') return new Response('Not found', { status: 404 });
  if (request.method !== 'GET' && request.method !== 'HEAD') return new Response('Method not allowed', { status: 405 });
  let pathname: string;
  try {
    pathname = decodeURIComponent(url.pathname);
  } catch {
    return new Response('Bad request', { status: 400 });
  }
  if (pathname.endsWith('/')) pathname += 'index.html';
  const file = resolve(APP_DIR, `.${pathname}`);
  if (pathname.includes('\0') || !isInside(APP_DIR, file)) return new Response('Not found', { status: 404 });
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return new Response('Not found', { status: 404 });
  }
  return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
    headers: {
      'content-type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': String(body.byteLength),
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'cross-origin-opener-policy': 'same-origin',
      'cache-control': 'no-cache',
    },
  });
}

function isAppUrl(url: string): boolean {
  try {
    return new URL(url).origin === APP_ORIGIN;
  } catch {
    return false;
  }
}

/** Only the app's own top frame may open folders. */
function fromApp(event: IpcMainInvokeEvent): boolean {
  const frame = event.senderFrame;
  return frame !== null && frame === event.sender.mainFrame && isAppUrl(frame.url);
}

/** Folder pickers open now, by window: a second call while one is open is refused. */
const picking = new Set<number>();

/** 'weft:open-folder': the native dialog, then the folder's documents; undefined if cancelled. */
async function openFolder(event: IpcMainInvokeEvent): Promise<{ folder: string; files: FolderFile[] } | undefined> {
  if (!fromApp(event)) throw new Error('Only the Weft app can open folders.');
  const window = BrowserWindow.fromWebContents(event.sender);
  if (!window) return undefined;
  if (picking.has(event.sender.id)) throw new Error('A folder dialog is already open.');
  picking.add(event.sender.id);
  try {
    const choice = await dialog.showOpenDialog(window, {
      title: 'Open a folder of documents',
      buttonLabel: 'Open',
      properties: ['openDirectory'],
    });
    const path = choice.filePaths[0];
    if (choice.canceled || path === undefined) return undefined;
    const contents = await readDocumentFolder(path).catch((e: unknown) => {
      // The renderer sees only the message (ipcMain passes no error types): make it the whole story.
      throw new Error(e instanceof FolderError ? e.message : `The folder could not be read: ${(e as Error).message}`);
    });
    if (contents.skipped.length > 0) {
      const reasons = { TOO_LARGE: 'too large', TOO_DEEP: 'nested too deep', OUTSIDE_FOLDER: 'a link to outside the folder', UNREADABLE: 'could not be read' };
      const lines = contents.skipped.slice(0, 20).map((s) => `${s.path}: ${reasons[s.reason]}`);
      if (contents.skipped.length > 20) lines.push(`… and ${contents.skipped.length - 20} more`);
      // Not awaited: ingestion starts while the note is shown.
      void dialog.showMessageBox(window, {
        type: 'info',
        message: `${contents.files.length} documents opened; ${contents.skipped.length} left out.`,
        detail: lines.join('\n'),
      });
    }
    // The contract (demo/shell-bridge.ts): the folder's name and its documents, nothing else.
    return { folder: contents.folder, files: contents.files };
  } finally {
    picking.delete(event.sender.id);
  }
}

/** Keeps every web contents on the app: no new windows, no navigation, no webviews elsewhere. */
function lockDown(contents: WebContents): void {
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  const stay = (event: { preventDefault(): void }, url: string) => {
    if (!isAppUrl(url)) event.preventDefault();
  };
  contents.on('will-navigate', (event) => stay(event, event.url));
  contents.on('will-frame-navigate', (event) => stay(event, event.url));
  contents.on('will-redirect', (event) => stay(event, event.url));
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 860,
    title: 'Weft',
    show: false,
    webPreferences: {
      preload: resolve(__dirname, 'preload.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  });
  window.once('ready-to-show', () => window.show());
  void window.loadURL(`${APP_ORIGIN}/`);
  return window;
}

app.on('web-contents-created', (_event, contents) => lockDown(contents));

app.whenReady().then(
  () => {
    if (!existsSync(resolve(APP_DIR, 'index.html'))) {
      dialog.showErrorBox(
        'Weft: the app is not built',
        `${APP_DIR}/index.html is missing. Run \`npm run build\` in Weft's folder first (or set WEFT_DEMO_DIR to a built demo).`,
      );
      app.quit();
      return;
    }
    const ses = session.defaultSession;
    ses.setPermissionRequestHandler((contents, permission, callback) => callback(GRANTED_PERMISSIONS.has(permission) && isAppUrl(contents.getURL())));
    ses.setPermissionCheckHandler((_contents, permission, origin) => GRANTED_PERMISSIONS.has(permission) && isAppUrl(origin));
    protocol.handle(SCHEME, serveApp);
    ipcMain.handle(OPEN_FOLDER_CHANNEL, openFolder);
    createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow();
    });
  },
  (e: unknown) => {
    dialog.showErrorBox('Weft could not start', String(e));
    app.quit();
  },
);

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
