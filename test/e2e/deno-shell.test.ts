// The Deno shell (shells/deno/weft.ts) end to end, as a person runs it: built with Vite, run by
// the deno devDependency on SwiftShader WebGPU, on a folder of documents written here, with the
// reference generator (stories260K) and the tiny test embedder (an ONNX graph written here, the
// real MiniLM tokenizer). `ingest` fills a file store; `ask` in a new process finds that index and
// answers with numbered sources from the folder; `chat` streams answers from stdin.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTinyEmbeddingGraph } from '../../bench/tiny-onnx.js';
import { createRng } from '../../src/random.js';
import { parseIndexFile } from '../../src/store/portable.js';

const root = resolve(import.meta.dirname, '../..');
const assets = resolve(root, '../shared/assets');
const deno = resolve(root, 'node_modules/.bin/deno');
const bundle = resolve(root, 'dist/deno-shell/weft.js');
const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let work = '';
let modelFlags: string[] = [];

interface Run { code: number | null; stdout: string; stderr: string }

const start = (args: string[]) => spawn(deno, ['run', '-A', '--unstable-webgpu', '--node-modules-dir=manual', bundle, ...args, '--store', join(work, 'store'), ...modelFlags], {
  cwd: root, env: { ...process.env, VK_ICD_FILENAMES: ICD, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
});

/** Runs the shell with `args`; `input` is written to its stdin (then closed). */
function weft(args: string[], input = ''): Promise<Run> {
  return new Promise((done, fail) => {
    const child = start(args);
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  const built = spawnSync('npx', ['vite', 'build', '--config', 'shells/deno/vite.config.ts', '--logLevel', 'error'], { cwd: root, encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
  work = await mkdtemp(join(tmpdir(), 'weft-deno-'));
  const rng = createRng(5);
  const V = 30522, D = 32;
  const graph = buildTinyEmbeddingGraph(Float32Array.from({ length: V * D }, () => rng.normal()), Float32Array.from({ length: D * D }, () => rng.normal() * 0.3), new Float32Array(D), V, D);
  await writeFile(join(work, 'tiny.onnx'), new Uint8Array(graph));
  const docs = join(work, 'docs');
  await mkdir(join(docs, 'geology'), { recursive: true });
  await writeFile(join(docs, 'volcanoes.md'), '# Volcanoes\n\nShield volcanoes have gentle slopes built by fluid basalt lava flows.\n\n## Stratovolcanoes\n\nStratovolcanoes are steep cones of alternating ash and lava layers.\n');
  await writeFile(join(docs, 'geology', 'rivers.txt'), 'Rivers carve valleys over millions of years. Meanders form where a river slows on flat ground.\n');
  await writeFile(join(docs, 'garden.html'), '<html><body><h1>Garden</h1><p>Tomatoes need full sun and steady watering.</p><script>alert(1)</script></body></html>');
  await writeFile(join(docs, 'ignored.bin'), new Uint8Array([0, 1, 2]));
  modelFlags = [
    '--reference-model', join(assets, 'lm-stories260K/stories260K.bin'), '--reference-tokenizer', join(assets, 'lm-stories260K/tok512.bin'),
    '--embedder-model', join(work, 'tiny.onnx'), '--embedder-tokenizer', join(assets, 'minilm-tokenizer/tokenizer.json'),
    '--embedder-tokenizer-config', join(assets, 'minilm-tokenizer/tokenizer_config.json'), '--embedder-id', 'tiny',
  ];
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const SOURCES = /Sources[^\n]*:\n(\s+\[\d+\][* ] \S+ — .+\n)+/;

describe('the Deno shell', () => {
  test('ingest a folder, then ask in a new process: the index persists and the answer lists numbered sources from the folder', async () => {
    const ingest = await weft(['ingest', join(work, 'docs'), '--index', 'notes']);
    expect(ingest.stderr + ingest.stdout).not.toMatch(/weft: /);
    expect(ingest.code).toBe(0);
    expect(ingest.stdout).toMatch(/Ingested 3 documents \(\d+ passages\) into 'notes'/);
    // A progress bar for every stage of the ingest.
    for (const stage of ['read', 'embed', 'index', 'persist']) expect(ingest.stderr).toMatch(new RegExp(`^${stage}\\s+\\[#+\\] 100%`, 'm'));
    const indexes = await readdir(join(work, 'store', 'indexes'));
    expect(indexes).toHaveLength(1);

    const ask = await weft(['ask', 'Which volcanoes have gentle slopes?', '--index', 'notes', '--max-tokens', '24']);
    expect(ask.stderr).not.toMatch(/weft: /);
    expect(ask.code).toBe(0);
    const sources = SOURCES.exec(ask.stdout)?.[0] ?? '';
    expect(sources, ask.stdout).not.toBe('');
    expect(sources).toMatch(/\[1\][* ] (volcanoes\.md|geology\/rivers\.txt|garden\.html) — /);
    // The streamed answer comes before its sources.
    expect(ask.stdout.indexOf('Sources')).toBeGreaterThan(0);
    expect(ask.stdout).not.toContain('alert(1)');
  });

  test('publish ingests a folder and writes one index file that imports with every document in it', async () => {
    const out = join(work, 'site.weft');
    const r = await weft(['publish', join(work, 'docs'), '--out', out, '--index', 'site']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Wrote .*site\.weft.*openRemoteIndex/s);
    const whole = parseIndexFile(new Uint8Array(await readFile(out)).slice().buffer);
    expect(whole.manifest).toMatchObject({ name: 'site', modelId: 'tiny' });
    expect(new Set(whole.chunks.map((c) => c.docId))).toEqual(new Set(['volcanoes.md', 'geology/rivers.txt', 'garden.html']));
    expect((await weft(['publish', join(work, 'docs')])).stderr).toMatch(/--out/);
  });

  test('chat reads questions from stdin and answers each; an unknown index is a clear error', async () => {
    const chat = await weft(['chat', '--index', 'notes', '--max-tokens', '8', '--k', '2'], 'How do rivers carve valleys?\nWhat do tomatoes need?\n');
    expect(chat.stderr).not.toMatch(/weft: /);
    expect(chat.code).toBe(0);
    expect(chat.stdout).toMatch(/Index 'notes' in .*: \d+ passages/);
    expect(chat.stdout.match(/Sources/g)).toHaveLength(2);

    const missing = await weft(['ask', 'anything', '--index', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/UNKNOWN_INDEX.*weft ingest/);
  });

  test('Ctrl-C stops the answer, not the program; a second Ctrl-C at the prompt exits', async () => {
    const child = start(['chat', '--index', 'notes', '--max-tokens', '4000']);
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((done) => child.on('close', done));
    const until = async (ok: () => boolean, what: string) => {
      for (let t = 0; !ok(); t++) {
        if (t > 1200) throw new Error(`timed out waiting for ${what}; stdout: ${stdout}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(() => stdout.includes('> '), 'the prompt');
    child.stdin.write('Tell me a long story about volcanoes.\n');
    // Some of the answer has streamed (more than the prompt) before the interrupt.
    await until(() => stdout.split('> ')[1]!.trim().length > 10, 'the answer to stream');
    child.kill('SIGINT');
    await until(() => stdout.includes('[stopped]') && /Sources/.test(stdout), 'the stopped answer and its sources');
    await until(() => stdout.trimEnd().endsWith('>'), 'the next prompt');
    // The program is still there: it answers the next question.
    child.stdin.write('What do tomatoes need?\n');
    await until(() => (stdout.match(/Sources/g) ?? []).length === 2, 'a second answer');
    await until(() => stdout.trimEnd().endsWith('>'), 'the prompt after it');
    child.kill('SIGINT');
    await until(() => stderr.includes('Ctrl-C again'), 'the warning');
    child.kill('SIGINT');
    expect(await exited).toBe(130);
  });
});
