// Declaration entry points for TypeScript 5 and older (package.json "exports", condition
// "types@<6"). Their "dom" library has no WebGPU types, so these entries add @webgpu/types (a
// dependency of the package) and re-export the real declarations. TypeScript 6 and later declare
// WebGPU in "dom" themselves, and loading @webgpu/types beside it is an error under
// skipLibCheck: false, so the main declarations reference nothing. Run by `npm run build:lib`
// after tsc has written dist/types/src.
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const entries = { weft: 'weft', rag: 'entries/rag', client: 'entries/client', worker: 'entries/worker', chat: 'entries/chat' };
const dir = resolve(import.meta.dirname, '../dist/types/ts5');
mkdirSync(dir, { recursive: true });
for (const [name, path] of Object.entries(entries)) {
  writeFileSync(resolve(dir, `${name}.d.ts`), `/// <reference types="@webgpu/types" />\nexport * from '../src/${path}.js';\n`);
}
