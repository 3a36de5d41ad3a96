// The Deno shell (shells/deno/weft.ts) end to end, as a person runs it: built with Vite, run by
// the deno devDependency on SwiftShader WebGPU, on a folder of documents written here, with the
// reference generator (stories260K) and the tiny test embedder (an ONNX graph written here, the
// real MiniLM tokenizer). `ingest` fills a file store and says which files it skipped and why;
// `ask` in a new process finds that index and answers with numbered sources from the folder (a
// PDF's with their page); `chat` streams answers from stdin; `--workflow` / `--workflow-file` show
// a workflow's stages before each answer; errors speak of the shell's store.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTinyEmbeddingGraph } from '../support/tiny-onnx.js';
import { createRng } from '../../src/random.js';
import { parseIndexFile } from '../../src/storage/portable.js';
import { makeBrokenPdf, makePdf } from '../support/pdf.js';
import { denoSwiftShaderEnv } from '../support/deno-swiftshader.js';

const root = resolve(import.meta.dirname, '../..');
const assets = resolve(root, '../shared/assets');
const deno = resolve(root, 'node_modules/.bin/deno');
const bundle = resolve(root, 'dist/deno-shell/weft.js');

let work = '';
let modelFlags: string[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const start = (args: string[]) =>
  spawn(deno, ['run', '-A', '--unstable-webgpu', '--node-modules-dir=manual', bundle, ...args, '--store', join(work, 'store'), ...modelFlags], {
    cwd: root,
    env: denoSwiftShaderEnv,
  });

/** Runs the shell with `args`; `input` is written to its stdin (then closed). */
function weft(args: string[], input = ''): Promise<Run> {
  return new Promise((done, fail) => {
    const child = start(args);
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
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
  const V = 30522,
    D = 32;
  const graph = buildTinyEmbeddingGraph(
    Float32Array.from({ length: V * D }, () => rng.normal()),
    Float32Array.from({ length: D * D }, () => rng.normal() * 0.3),
    new Float32Array(D),
    V,
    D,
  );
  await writeFile(join(work, 'tiny.onnx'), new Uint8Array(graph));
  const docs = join(work, 'docs');
  await mkdir(join(docs, 'geology'), { recursive: true });
  await writeFile(
    join(docs, 'volcanoes.md'),
    '# Volcanoes\n\nShield volcanoes have gentle slopes built by fluid basalt lava flows.\n\n## Stratovolcanoes\n\nStratovolcanoes are steep cones of alternating ash and lava layers.\n',
  );
  await writeFile(join(docs, 'geology', 'rivers.txt'), 'Rivers carve valleys over millions of years. Meanders form where a river slows on flat ground.\n');
  await writeFile(
    join(docs, 'garden.html'),
    '<html><body><h1>Garden</h1><p>Tomatoes need full sun and steady watering.</p><script>alert(1)</script></body></html>',
  );
  await writeFile(join(docs, 'ignored.bin'), new Uint8Array([0, 1, 2]));
  // A PDF (its passages carry their page), and files that are not indexed, each for a reason.
  await writeFile(
    join(docs, 'geology', 'calderas.pdf'),
    makePdf([['Craters and their shapes.'], ['Calderas form when a magma chamber empties and the ground above collapses.']]),
  );
  await writeFile(join(docs, 'broken.pdf'), makeBrokenPdf());
  await writeFile(join(docs, 'empty.md'), '');
  await writeFile(join(docs, '.hidden.md'), '# Not read\n');
  await mkdir(join(work, 'unreadable'));
  await writeFile(join(work, 'unreadable', 'photo.png'), new Uint8Array([137, 80, 78, 71]));
  await writeFile(join(work, 'unreadable', 'scan.pdf'), makeBrokenPdf());
  modelFlags = [
    '--reference-model',
    join(assets, 'lm-stories260K/stories260K.bin'),
    '--reference-tokenizer',
    join(assets, 'lm-stories260K/tok512.bin'),
    '--embedder-model',
    join(work, 'tiny.onnx'),
    '--embedder-tokenizer',
    join(assets, 'minilm-tokenizer/tokenizer.json'),
    '--embedder-tokenizer-config',
    join(assets, 'minilm-tokenizer/tokenizer_config.json'),
    '--embedder-id',
    'tiny',
  ];
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** The sources after an answer: `[n]`, a star if cited, the document (`, p. N` for a PDF's page), a line of the passage. */
const SOURCES = /Sources[^\n]*:\n(\s+\[\d+\][* ] \S+(?:, p\. \d+)? — .+\n)+/;

describe('the Deno shell', () => {
  test('ingest a folder, then ask in a new process: the index persists and the answer lists numbered sources from the folder', async () => {
    const ingest = await weft(['ingest', join(work, 'docs'), '--index', 'notes']);
    expect(ingest.stderr + ingest.stdout).not.toMatch(/weft: /);
    expect(ingest.code).toBe(0);
    expect(ingest.stdout).toMatch(/Ingested 4 documents \(\d+ passages\) into 'notes'/);
    // Every file that went in is counted, and every other one is named with why it was skipped.
    expect(ingest.stdout).toContain(
      ['Skipped 4 of 8 files:', '  .hidden.md — a hidden file', '  broken.pdf — could not be read as a PDF: it is damaged or not a PDF'].join('\n'),
    );
    expect(ingest.stdout).toContain('\n  empty.md — no text to index\n  ignored.bin — not a type weft reads (.txt, .md, .html and .pdf)\n');
    // A progress bar for every stage of the ingest, and nothing else on stderr: pdf.js's notice
    // that it likes its legacy build in Node (which it takes Deno for) is not the user's business.
    for (const stage of ['read', 'embed', 'index', 'persist']) expect(ingest.stderr).toMatch(new RegExp(`^${stage}\\s+\\[#+\\] 100%`, 'm'));
    expect(ingest.stderr.split('\n').filter((l) => l && !/^\w+\s+\[[#.]+\]\s+\d+% /.test(l))).toEqual([]);
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

  test('a PDF passage names its page in the sources', async () => {
    const ask = await weft(['ask', 'How do calderas form?', '--index', 'notes', '--max-tokens', '4', '--k', '10']);
    expect(ask.code, ask.stderr).toBe(0);
    const sources = SOURCES.exec(ask.stdout)?.[0] ?? '';
    expect(sources, ask.stdout).toMatch(/\][* ] geology\/calderas\.pdf, p\. 2 — Calderas form when a magma chamber empties/);
    expect(sources, ask.stdout).toMatch(/\][* ] geology\/calderas\.pdf, p\. 1 — Craters and their shapes\./);
    expect(sources).toMatch(/\][* ] volcanoes\.md — /);
  });

  test('--workflow: each stage before the answer on a line of its own; --workflow-file takes a graph of your own; mistakes are said before anything loads', async () => {
    // A stage's line starts a line (in chat, after the prompt: stdin piped in is not echoed).
    const stages = (stdout: string) => (stdout.match(/^(?:> )?· [\w-]+: /gm) ?? []).map((l) => l.replace(/^> /, ''));
    const hyde = await weft(['ask', 'Which volcanoes have gentle slopes?', '--index', 'notes', '--max-tokens', '8', '--workflow', 'hyde']);
    expect(hyde.code, hyde.stderr).toBe(0);
    expect(hyde.stdout).toMatch(/^· hypothesis: .+\n/); // first, before the answer streams
    expect(stages(hyde.stdout)).toEqual(['· hypothesis: ']);
    expect(hyde.stdout.split('\n')[0]!.length).toBeLessThanOrEqual(100); // a glance, on one line
    expect(hyde.stdout).not.toContain('\x1b['); // NO_COLOR (and not a terminal): not dimmed
    expect(SOURCES.test(hyde.stdout)).toBe(true);

    const irg = await weft(['ask', 'Which volcanoes have gentle slopes?', '--index', 'notes', '--max-tokens', '8', '--workflow', 'irg']);
    expect(irg.code, irg.stderr).toBe(0);
    expect(stages(irg.stdout)).toEqual(['· retrieve: ', '· draft: ', '· retrieve: ', '· draft: ']);
    expect(irg.stdout).toMatch(/^· retrieve: searched “Which volcanoes have gentle slopes\?”\n/);

    // A graph of one's own, as JSON: a title for the question, searched with it; chat names it.
    const graph = {
      name: 'titled',
      start: 'title',
      nodes: {
        title: { kind: 'generate', prompt: 'A short title for this question: {question}\nTitle:', into: 'title', maxTokens: 12, stop: 'line' },
        retrieve: { kind: 'retrieve', query: '{question}\n{title}' },
        answer: { kind: 'answer' },
      },
      edges: [
        { from: 'title', to: 'retrieve' },
        { from: 'retrieve', to: 'answer' },
      ],
    };
    const file = join(work, 'titled.json');
    await writeFile(file, JSON.stringify(graph));
    const chat = await weft(['chat', '--index', 'notes', '--max-tokens', '6', '--workflow-file', file], 'How do rivers carve valleys?\n');
    expect(chat.code, chat.stderr).toBe(0);
    expect(chat.stdout).toMatch(/passages\. Workflow 'titled'\. Ask a question/);
    expect(stages(chat.stdout)).toEqual(['· title: ']);

    // Mistakes: each a line on stderr, before any model loads (no progress bar drawn).
    const refused = async (args: string[]) => {
      const r = await weft(['ask', 'anything', '--index', 'notes', ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      return r.stderr;
    };
    expect(await refused(['--workflow', 'hide'])).toBe(
      "weft: There is no built-in workflow 'hide'. --workflow takes one of one-shot, hyde, multistep, irg, recomp, flare, periodic; for a graph of your own, --workflow-file graph.json. (INVALID_WORKFLOW)\n",
    );
    expect(await refused(['--workflow', 'hyde', '--workflow-file', file])).toContain('Give --workflow or --workflow-file, not both.');
    await writeFile(join(work, 'broken.json'), '{ "start": ');
    expect(await refused(['--workflow-file', join(work, 'broken.json')])).toMatch(
      /--workflow-file: '.*broken\.json' is not JSON \(.*\)\. .*\(INVALID_WORKFLOW\)/,
    );
    await writeFile(
      join(work, 'loop.json'),
      JSON.stringify({
        ...graph,
        edges: [
          { from: 'title', to: 'retrieve' },
          { from: 'retrieve', to: 'title' },
        ],
      }),
    );
    expect(await refused(['--workflow-file', join(work, 'loop.json')])).toMatch(/--workflow-file .*loop\.json: Workflow 'titled': .*\(INVALID_WORKFLOW\)/);
    expect(await refused(['--workflow-file', join(work, 'nowhere.json')])).toMatch(/--workflow-file: could not read '.*nowhere\.json'/);
    expect(await refused(['--storage', 'f8'])).toMatch(/--storage takes one of f32, f16, int8, pq; got 'f8'/);
    expect(await refused(['--pq-m', '8'])).toMatch(/--pq-m is for --storage pq/);
    expect(await refused(['--storage', 'pq', '--pq-bits', '6'])).toMatch(/--pq-bits takes 4 or 8; got '6'/);
    expect(await refused(['--groups', '4'])).toMatch(/--groups N \(0: none\) is for publish; got '4' with ask/);
  });

  test('publish ingests a folder and writes one index file that imports with every document in it', async () => {
    const out = join(work, 'site.weft');
    const r = await weft(['publish', join(work, 'docs'), '--out', out, '--index', 'site']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Wrote .*site\.weft.*openRemoteIndex/s);
    const whole = parseIndexFile(new Uint8Array(await readFile(out)).slice().buffer);
    expect(whole.manifest).toMatchObject({ name: 'site', modelId: 'tiny' });
    expect(new Set(whole.chunks.map((c) => c.docId))).toEqual(new Set(['volcanoes.md', 'geology/rivers.txt', 'garden.html', 'geology/calderas.pdf']));
    expect((await weft(['publish', join(work, 'docs')])).stderr).toMatch(/--out/);

    // --storage pq alone: 4-bit codes, a sub-quantiser per 4 dimensions, which 20 passages train.
    const notes = join(work, 'notes20');
    await mkdir(notes, { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(notes, `note${i}.txt`), `Note ${i} is about topic ${i % 5}, season ${i % 4} and river ${i}.\n`);
    const pqOut = join(work, 'pq.weft');
    const pq = await weft(['publish', notes, '--out', pqOut, '--index', 'pqsite', '--storage', 'pq']);
    expect(pq.code, pq.stderr).toBe(0);
    const pqWhole = parseIndexFile(new Uint8Array(await readFile(pqOut)).slice().buffer);
    expect(pqWhole.manifest).toMatchObject({ name: 'pqsite', storage: 'pq', pq: { m: pqWhole.manifest.dim / 4, bits: 4 } });
    expect(pqWhole.chunks).toHaveLength(20);
  });

  test("chat reads questions from stdin and answers each; an unknown index and a folder with nothing readable are clear errors in the shell's terms", async () => {
    const chat = await weft(['chat', '--index', 'notes', '--max-tokens', '8', '--k', '2'], 'How do rivers carve valleys?\nWhat do tomatoes need?\n');
    expect(chat.stderr).not.toMatch(/weft: /);
    expect(chat.code).toBe(0);
    expect(chat.stdout).toMatch(/Index 'notes' in .*: \d+ passages/);
    expect(chat.stdout.match(/Sources/g)).toHaveLength(2);

    const missing = await weft(['ask', 'anything', '--index', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `weft: There is no index 'nope' in ${join(work, 'store')} (it holds 'notes', 'pqsite', 'site': choose one with --index). Ingest a folder into it first: weft ingest <folder> --index nope. (UNKNOWN_INDEX)`,
    );
    // Not the library's words for a web app.
    expect(missing.stderr).not.toMatch(/site's storage|create: true/);

    const nothing = await weft(['ingest', join(work, 'unreadable'), '--index', 'other']);
    expect(nothing.code).toBe(1);
    expect(nothing.stdout).toMatch(/^Skipped 2 of 2 files:\n {2}photo\.png — not a type weft reads .*\n {2}scan\.pdf — could not be read as a PDF: /);
    expect(nothing.stderr).toMatch(
      /weft: Nothing was indexed: none of the 1 \.txt, \.md, \.html and \.pdf file in '.*unreadable' held text that could be read\. \(UNPARSABLE_DOCUMENT\)/,
    );
  });

  test("on a terminal, what libraries print goes above the progress bar, which is drawn again; pdf.js's legacy-build notice is dropped", async () => {
    const script = join(work, 'tty.ts');
    await writeFile(
      script,
      `
      import { progressBars, routeConsole } from ${JSON.stringify(join(root, 'shells/deno/terminal.ts'))};
      let out = '';
      const sink = { writeSync: (p: Uint8Array) => { out += new TextDecoder().decode(p); return p.length; }, isTerminal: () => true };
      const bars = progressBars({ stdout: sink, stderr: sink } as never);
      routeConsole(bars, (v) => Deno.inspect(v));
      bars.update('read', 1, 4);
      console.warn('Warning: Please use the \`legacy\` build in Node.js environments.');
      console.warn('Warning: TT: undefined function: 32');
      console.log({ page: 2 });
      bars.update('read', 2, 4);
      bars.end();
      Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(out)));
    `,
    );
    const r = spawnSync(deno, ['run', '-A', '--sloppy-imports', '--node-modules-dir=manual', script], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    const one = 'read       [########......................]  25% 1/4',
      two = 'read       [###############...............]  50% 2/4';
    expect(JSON.parse(r.stdout)).toBe(
      `\r${one}\x1b[K` + `\r\x1b[KWarning: TT: undefined function: 32\n${one}` + `\r\x1b[K{ page: 2 }\n${one}` + `\r${two}\x1b[K\n`,
    );
  });

  test('Ctrl-C stops the answer, not the program; a second Ctrl-C at the prompt exits', async () => {
    const child = start(['chat', '--index', 'notes', '--max-tokens', '4000']);
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
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
