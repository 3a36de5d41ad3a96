// The package as an app gets it from npm: the library is built and packed, a fresh Vite app made
// here installs the tarball (from the npm cache, at this repository's locked versions), type-checks
// with skipLibCheck false and no type packages of its own, builds and is served by `vite preview`;
// in Chromium it starts the engine worker from node_modules, searches on the GPU and answers with
// createRagInWorker. A second, search-only build must carry neither onnxruntime-web nor WebLLM.
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { preview, type PreviewServer } from 'vite';
import { chromium, type Browser } from 'playwright';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.mjs';
import { buildTinyEmbeddingGraph } from '../support/tiny-onnx.js';
import { createRng } from '../../src/random.js';
import { makePdf } from '../support/pdf.js';

const repo = resolve(import.meta.dirname, '../..');
const sharedAssets = resolve(repo, '../shared/assets');
const MAX_TARBALL_BYTES = 5 * 1024 * 1024;
/** What the app installs beside the tarball, at this repository's locked versions. */
const APP_TOOLS = ['vite', 'typescript'];

/** Notes the app ingests; the third one's own text must find it first. */
const DOCUMENTS = [
  { id: 'bread', text: 'Sourdough bread rises slowly overnight because wild yeast ferments the flour and water.' },
  { id: 'comet', text: 'A comet grows a bright tail of gas and dust when its orbit brings it close to the sun.' },
  { id: 'lighthouse', text: 'The lighthouse keeper counted seventeen ships passing the rocky northern cape during the storm.' },
  { id: 'violin', text: 'A violin maker carves spruce for the top plate and maple for the back and ribs.' },
  { id: 'glacier', text: 'Glaciers carve deep valleys as packed snow turns into moving ice over many centuries.' },
  { id: 'chess', text: 'In chess the knight moves in an L shape and is the only piece that can jump over others.' },
];

let work: string;
let app: string;
let tarball: { filename: string; size: number; files: string[] };
let server: PreviewServer | undefined;
let browser: Browser | undefined;

/** Runs a command to completion; a failure carries its output. NODE_OPTIONS is this test runner's, not the app's. */
function run(file: string, args: string[], cwd: string, timeout = 150_000): Promise<string> {
  return new Promise((done, fail) => {
    execFile(file, args, { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, NODE_OPTIONS: '' } }, (error, stdout, stderr) => {
      if (error) fail(new Error(`${file} ${args.join(' ')} (in ${cwd}) failed: ${error.message}\n${stdout}\n${stderr}`));
      else done(stdout);
    });
  });
}
const appBin = (pkg: string, bin: string) => join(app, 'node_modules', pkg, bin);

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

/**
 * The app's package-lock.json: the tarball, and for everything else the entries of this
 * repository's lock that the app's dependencies reach. npm then installs exactly the versions
 * tested here, from the cache `npm ci` filled, without resolving anything against the registry.
 */
function appLock(pkg: { name: string; dependencies: Record<string, string>; devDependencies: Record<string, string> }, integrity: string): object {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const weft = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; license: string; dependencies: Record<string, string> };
  const packages: Record<string, LockEntry> = {
    '': { name: pkg.name, dependencies: pkg.dependencies, devDependencies: pkg.devDependencies },
    'node_modules/weft-rag': { version: weft.version, resolved: `file:${tarball.filename}`, integrity, license: weft.license, dependencies: weft.dependencies },
  };
  // Node's lookup: the nearest node_modules/<name> from `from` upwards.
  const locate = (from: string, name: string): string | undefined => {
    for (let at = from; ; ) {
      const path = `${at ? `${at}/` : ''}node_modules/${name}`;
      if (lock.packages[path]) return path;
      if (!at) return undefined;
      const up = at.lastIndexOf('/node_modules/');
      at = up < 0 ? '' : at.slice(0, up);
    }
  };
  const queue = ['node_modules/weft-rag', ...Object.keys(pkg.devDependencies).map((n) => `node_modules/${n}`)];
  const seen = new Set<string>();
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    if (seen.has(path)) continue;
    seen.add(path);
    if (!packages[path]) {
      const locked = lock.packages[path];
      if (!locked) throw new Error(`${path} is not in package-lock.json`);
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = locked; // recomputed by npm for the app
      packages[path] = kept;
    }
    const entry = packages[path]!;
    const optional = entry.optionalDependencies ?? {};
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    const names = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(optional),
      ...Object.keys(entry.peerDependencies ?? {}).filter((n) => !optionalPeers[n]?.optional),
    ];
    for (const name of names) {
      // The tarball sits at the app's top level, so its dependencies are looked up from there.
      const found = locate(path === 'node_modules/weft-rag' ? '' : path, name);
      if (found) queue.push(found);
      else if (!(name in optional)) throw new Error(`${path} needs ${name}, which package-lock.json lacks`);
    }
  }
  return { name: pkg.name, lockfileVersion: 3, requires: true, packages };
}
interface LockEntry {
  name?: string;
  version?: string;
  resolved?: string;
  integrity?: string;
  license?: string;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'weft-package-'));
  app = join(work, 'app');

  // Build and pack as `npm publish` would (prepack is build:lib, run here first so its output stays out of the JSON).
  await run('npm', ['run', '--silent', 'build:lib'], repo);
  const packed = JSON.parse(await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], repo)) as {
    filename: string;
    size: number;
    integrity: string;
    files: { path: string }[];
  }[];
  const p = packed[0]!;
  tarball = { filename: p.filename, size: p.size, files: p.files.map((f) => f.path) };

  // The app (test/support/package-app: pages, sources, a strict tsconfig), its package.json and lock, and the test's assets in public/.
  const versions = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  const pkg = {
    name: 'weft-package-app',
    private: true,
    type: 'module',
    dependencies: { 'weft-rag': `file:${p.filename}` },
    devDependencies: Object.fromEntries(APP_TOOLS.map((n) => [n, versions.packages[`node_modules/${n}`]!.version])),
  };
  cpSync(join(import.meta.dirname, '../support/package-app'), app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify(pkg, null, 2));
  copyFileSync(join(work, p.filename), join(app, p.filename));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(pkg, p.integrity), null, 2));
  const assets = join(app, 'public', 'weft-test');
  mkdirSync(assets, { recursive: true });
  for (const f of [
    'lm-stories260K/stories260K.bin',
    'lm-stories260K/tok512.bin',
    'minilm-tokenizer/tokenizer.json',
    'minilm-tokenizer/tokenizer_config.json',
  ]) {
    copyFileSync(join(sharedAssets, f), join(assets, f.split('/')[1]!));
  }
  const rng = createRng(5);
  const V = 30522,
    D = 32;
  const onnx = buildTinyEmbeddingGraph(
    Float32Array.from({ length: V * D }, () => rng.normal()),
    Float32Array.from({ length: D * D }, () => rng.normal() * 0.3),
    new Float32Array(D),
    V,
    D,
  );
  writeFileSync(join(assets, 'tiny.onnx'), new Uint8Array(onnx));

  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball is small, licensed, and ships no wasm', () => {
  expect(tarball.size).toBeLessThan(MAX_TARBALL_BYTES);
  expect(tarball.files).toContain('LICENSE');
  for (const f of ['dist/lib/weft.js', 'dist/lib/rag.js', 'dist/lib/client.js', 'dist/lib/worker.js', 'dist/lib/chat.js', 'dist/lib/engine.worker.js'])
    expect(tarball.files).toContain(f);
  expect(tarball.files.filter((f) => f.endsWith('.wasm'))).toEqual([]);
  const lib = join(app, 'node_modules/weft-rag/dist/lib');
  for (const f of filesUnder(lib).filter((f) => f.endsWith('.js'))) {
    const code = readFileSync(join(lib, f), 'utf8');
    expect(code, f).not.toContain('AGFzbQ'); // base64 of a wasm module's magic bytes
    expect(code, f).not.toMatch(/from ["'](\.\.?\/)*node_modules\//);
  }
  // The dependencies are imports, not bundled: each is installed beside the package.
  for (const dep of ['@mlc-ai/web-llm', 'onnxruntime-web', 'comlink', 'idb', '@huggingface/tokenizers']) {
    expect(statSync(join(app, 'node_modules', dep, 'package.json')).isFile(), dep).toBe(true);
  }
});

test('the app type-checks with skipLibCheck false and no type packages of its own', async () => {
  await run(process.execPath, [appBin('typescript', 'bin/tsc'), '--noEmit', '-p', '.'], app);
}, 120_000);

test('a search-only app builds without onnxruntime-web, WebLLM or the worker', async () => {
  await run(
    process.execPath,
    [appBin('vite', 'bin/vite.js'), 'build', 'search', '--base', '/search/', '--outDir', '../dist-search', '--emptyOutDir', '--logLevel', 'error'],
    app,
  );
  const out = join(app, 'dist-search');
  const files = filesUnder(out);
  expect(files.some((f) => f.endsWith('.js'))).toBe(true);
  expect(files.filter((f) => /ort-wasm|\.wasm$|worker/.test(f))).toEqual([]);
  for (const f of files) {
    const code = readFileSync(join(out, f), 'utf8');
    expect(code, f).not.toMatch(/MLCEngine|InferenceSession|ort-wasm-simd/);
    expect(code, f).not.toMatch(/LitElement|weft-chat/); // nor Lit and the <weft-chat> entry
  }
}, 120_000);

test('the app builds: the engine worker is bundled by the app, onnxruntime-web and WebLLM stay in it', async () => {
  await run(process.execPath, [appBin('vite', 'bin/vite.js'), 'build', '--logLevel', 'error'], app);
  const out = join(app, 'dist');
  const files = filesUnder(out);
  const workers = files.filter((f) => /engine\.worker.*\.js$/.test(f));
  expect(workers).toHaveLength(1);
  const worker = readFileSync(join(out, workers[0]!), 'utf8');
  expect(worker).toMatch(/MLCEngine/);
  expect(worker).toMatch(/InferenceSession/);
  expect(files.filter((f) => f.endsWith('.wasm')).length).toBeGreaterThan(0); // onnxruntime's, as a file
  for (const f of files.filter((f) => f.endsWith('.js') && f !== workers[0])) {
    expect(readFileSync(join(out, f), 'utf8'), f).not.toMatch(/MLCEngine|InferenceSession|ort-wasm-simd/);
  }
  // The search-only build is served beside it, under /search/.
  const searchOut = join(app, 'dist-search');
  for (const f of filesUnder(searchOut)) {
    mkdirSync(join(out, 'search', f, '..'), { recursive: true });
    copyFileSync(join(searchOut, f), join(out, 'search', f));
  }
  server = await preview({ root: app, configFile: false, logLevel: 'error', preview: { port: 0, host: '127.0.0.1', strictPort: false } });
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}, 180_000);

test('in Chromium: the engine worker starts from node_modules, searches on the GPU, answers with the reference model', async () => {
  const base = server!.resolvedUrls!.local[0]!;
  const context = await browser!.newContext();
  try {
    const errors: string[] = [];
    const searchPage = await context.newPage();
    searchPage.on('pageerror', (e) => errors.push(e.message));
    await searchPage.goto(new URL('search/', base).href);
    await searchPage.waitForFunction(() => 'weftApp' in window);
    const searched = await searchPage.evaluate(() => (window as unknown as AppWindow).weftApp.search());
    expect(searched.got).toEqual(searched.want); // nprobe = nlist: exactly the CPU reference's top-k

    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base);
    await page.waitForFunction(() => 'weftApp' in window);
    expect(await page.evaluate(() => (window as unknown as AppWindow).weftApp.ping())).toBe('weft-engine');
    const again = await page.evaluate(() => (window as unknown as AppWindow).weftApp.search());
    expect(again.got).toEqual(again.want);
    const files = [
      {
        name: 'guide.md',
        type: 'text/markdown',
        bytes: [...new TextEncoder().encode('Harbour guide\n=============\n\nThe tidewater pilots board ships at dawn.\n\n```\n# not a heading\n```\n')],
      },
      {
        name: 'manual.pdf',
        type: 'application/pdf',
        bytes: [
          ...makePdf([
            ['Heater manual', 'Turn the red dial.'],
            ['Maintenance', 'Rinse the filter in soapy water.'],
          ]),
        ],
      },
    ];
    const answer = await page.evaluate(([assets, docs, f]) => (window as unknown as AppWindow).weftApp.answer(assets, docs, f), [
      new URL('weft-test', base).href,
      DOCUMENTS,
      files,
    ] as const);
    // Markdown and PDF were parsed in the packed engine worker: a setext heading is a heading, a PDF passage has its page.
    expect(answer.found.markdown).toMatchObject({ docId: 'guide.md', text: expect.stringMatching(/^Harbour guide\n/) });
    expect(answer.found.markdown!.text).not.toContain('=====');
    expect(answer.found.pdf).toMatchObject({ docId: 'manual.pdf', page: 2 });
    expect(answer.top[0]).toBe(DOCUMENTS[2]!.id); // a document's own text finds it first
    expect(answer.events[0]).toBe('retrieval');
    expect(answer.events.at(-1)).toBe('done');
    expect(answer.events.filter((e) => e === 'token').length).toBeGreaterThan(0);
    expect(answer.text.length).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}, 180_000);

interface AppWindow {
  weftApp: {
    search(): Promise<{ got: number[]; want: number[] }>;
    ping(): Promise<string>;
    answer(
      assets: string,
      docs: readonly { id: string; text: string }[],
      files: readonly { name: string; type: string; bytes: number[] }[],
    ): Promise<{
      top: string[];
      events: string[];
      text: string;
      found: Record<'markdown' | 'pdf', { docId: string; text: string; page: unknown } | undefined>;
    }>;
  };
}
