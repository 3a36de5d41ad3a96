// The Electron shell's preload: gives the demo app `window.weftShell` (demo/shell-bridge.ts) and
// nothing else. It runs sandboxed, where require() reaches only 'electron': hence no imports of
// the shell's own files, and the channel's name written out (main.ts's OPEN_FOLDER_CHANNEL).

import { contextBridge, ipcRenderer } from 'electron';

contextBridge.exposeInMainWorld('weftShell', {
  platform: 'electron',
  // No arguments cross: the page cannot choose what is read, only ask the user to pick.
  openFolder: () => ipcRenderer.invoke('weft:open-folder'),
});
