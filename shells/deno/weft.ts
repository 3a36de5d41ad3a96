// Weft in a terminal, on Deno's WebGPU: `ingest <folder>`, an interactive `chat` and a one-shot
// `ask "…"`, on the same library code as the page (createRag, the stored index, the models), with
// the index kept in files (src/storage/file-store.ts) instead of IndexedDB; `publish <folder> --out
// FILE` ingests a folder and writes its index as one file for a static host, which pages search
// in place with openRemoteIndex (a site ships a prebuilt index of its docs). `--workflow NAME` (or
// `--workflow-file graph.json`) runs each answer through a workflow, its stages shown before it.
//
//   npx deno run -A --unstable-webgpu --node-modules-dir=manual dist/deno-shell/weft.js ingest ./notes
//   npx deno run -A --unstable-webgpu --node-modules-dir=manual dist/deno-shell/weft.js chat
//   npx deno run -A --unstable-webgpu --node-modules-dir=manual dist/deno-shell/weft.js publish ./docs --out public/docs.weft
//
// (`npx deno`: Deno is a devDependency, so `npm install` puts it in node_modules/.bin; a Deno of
// one's own works the same.) The bundle is built by `npm run build:deno-shell` (WGSL inlined); its
// dependencies stay imports that Deno resolves from node_modules (run it with --node-modules-dir=manual
// inside the checkout). The embedder runs on onnxruntime-web's WASM backend (see embedderFrom).
// Errors are worded for a terminal (describeError): the library's own messages speak to web apps.

import {
  createGpuContext,
  denoFileSystem,
  documentTypeOfName,
  exportIndex,
  INDEX_STORAGE_TYPES,
  mimeTypeOfName,
  openFileStore,
  readableTypes,
  type GpuContext,
  type IndexStorage,
  type WeftStore,
} from '../../src/weft.js';
import type { LoadProgress } from '../../src/entries/client.js';
import {
  BUILTIN_WORKFLOWS,
  checkWorkflow,
  createRag,
  createOnnxEmbedder,
  createWebLlmGenerator,
  loadLlama2c,
  WeftError,
  type Embedder,
  type Generator,
  type LocalRag,
  type Workflow,
} from '../../src/entries/rag.js';
import {
  interrupts,
  lineReader,
  progressBars,
  routeConsole,
  skippedList,
  sourcesList,
  stageLine,
  write,
  type DenoTerminal,
  type ProgressBars,
  type Skipped,
} from './terminal.js';

interface DenoApi extends DenoTerminal {
  args: string[];
  cwd(): string;
  env: { get(name: string): string | undefined };
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  readTextFile(path: string): Promise<string>;
  readDir(path: string): AsyncIterable<{ name: string; isFile: boolean; isDirectory: boolean; isSymlink: boolean }>;
  stat(path: string): Promise<{ isFile: boolean; isDirectory: boolean }>;
  inspect(value: unknown): string;
}
const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

/** ".txt, .md, .html and .pdf": the library's readable types. */
const EXTENSIONS = readableTypes
  .map((t, i, all) => `${i === all.length - 1 ? 'and ' : ''}.${t.extensions[0]}`)
  .join(', ')
  .replace(', and', ' and');

const USAGE = `Weft: cited answers from your documents, on this machine's GPU.

usage: weft ingest <folder>        read ${EXTENSIONS} files (recursively) into the index
       weft chat                   ask questions interactively (Ctrl-C stops an answer; twice at the prompt exits)
       weft ask "question"         one answer, then exit
       weft publish <folder> --out FILE
                                   ingest the folder, then write its index as one file to serve from
                                   any static host with range requests (pages open it in place with
                                   openRemoteIndex(url); nothing is re-embedded in the browser)

options:
  --store DIR                 where indexes live (default ./.weft if it exists, else ~/.weft)
  --index NAME                the index (default "notes")
  --model ID                  a WebLLM model (online; default Llama-3.2-1B-Instruct-q4f16_1-MLC)
  --reference-model FILE      the llama2.c reference generator from files (offline), with
  --reference-tokenizer FILE    its tokenizer (tok*.bin)
  --embedder-model FILE.onnx  the embedding model from files (offline), with
  --embedder-tokenizer FILE     its tokenizer.json (and --embedder-tokenizer-config FILE, optional)
  --embedder-id ID            the embedding model's name recorded in the index (default: the file name)
  --embedder-device D         wasm (default) or webgpu
  --out FILE                  where publish writes the index file
  --storage S                 a new index's vectors: f16 (default), f32, int8, or pq (compressed
                                codes re-ranked with full vectors: a far smaller published file
                                to search in place; its first ingest needs 16 passages, 256 with
                                --pq-bits 8)
  --pq-m N                    pq: sub-quantisers, dividing the embedding dimension (default
                                dim / 4 with 4 bits, dim / 8 with 8)
  --pq-bits B                 pq: 4 (default) or 8 bits per code
  --groups N                  publish, pq: the lists in N groups (layout 5), so a page reads
                                the centroids its questions reach rather than all; 0: neither
                                groups nor coarse codes (default: from 256 lists, coarse codes,
                                layout 7, where they pay: a page opens with a 48-byte code a list
                                and reads the exact centroids of the few lists a question ranks)
  --k N                       passages per answer (default 3)
  --max-tokens N              longest answer (default 128)
  --workflow NAME             how ask and chat answer: ${Object.keys(BUILTIN_WORKFLOWS).join(', ')}
                                (default one-shot); each stage before the answer gets a line
  --workflow-file FILE.json   a workflow graph of your own (docs/workflows.md)
Without embedder flags the embedder is all-MiniLM-L6-v2 from the Hugging Face Hub (online).
`;

interface Args {
  command: string;
  positional: string[];
  flags: Map<string, string>;
}

const FLAGS = new Set([
  'out',
  'store',
  'index',
  'model',
  'reference-model',
  'reference-tokenizer',
  'embedder-model',
  'embedder-tokenizer',
  'embedder-tokenizer-config',
  'embedder-id',
  'embedder-device',
  'k',
  'max-tokens',
  'workflow',
  'workflow-file',
  'storage',
  'pq-m',
  'pq-bits',
  'groups',
]);

function parseArgs(argv: readonly string[]): Args {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { command: 'help', positional: [], flags };
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [key, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!FLAGS.has(key)) throw new WeftError('INVALID_OPTION', `Unknown option --${key}. Run with --help for the options.`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new WeftError('INVALID_OPTION', `--${key} needs a value.`);
    flags.set(key, value);
  }
  return { command: positional.shift() ?? 'help', positional, flags };
}

const isDir = (path: string) =>
  Deno.stat(path).then(
    (s) => s.isDirectory,
    () => false,
  );
const baseName = (path: string) => path.split(/[\\/]/).pop()!;

async function storeDir(flags: Map<string, string>): Promise<string> {
  const given = flags.get('store');
  if (given) return given;
  if (await isDir('.weft')) return `${Deno.cwd()}/.weft`;
  const home = Deno.env.get('HOME') ?? Deno.env.get('USERPROFILE');
  if (!home) throw new WeftError('INVALID_OPTION', 'No home directory to keep the index in: pass --store DIR.');
  return `${home}/.weft`;
}

function positiveInt(flags: Map<string, string>, key: string, fallback: number): number {
  const v = flags.get(key);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new WeftError('INVALID_OPTION', `--${key} takes a positive integer; got '${v}'.`);
  return n;
}

/** The storage of a new index (--storage, --pq-m, --pq-bits), checked before anything loads. */
function storageFrom(flags: Map<string, string>): { storage?: IndexStorage; pq?: { m?: number; bits: 4 | 8 } } {
  const storage = flags.get('storage');
  const pqFlags = ['pq-m', 'pq-bits'].filter((f) => flags.has(f));
  if (storage === undefined && pqFlags.length === 0) return {};
  if (storage !== undefined && !(INDEX_STORAGE_TYPES as readonly string[]).includes(storage))
    throw new WeftError('INVALID_OPTION', `--storage takes one of ${INDEX_STORAGE_TYPES.join(', ')}; got '${storage}'.`);
  if (storage !== 'pq' && pqFlags.length > 0) throw new WeftError('INVALID_OPTION', `--${pqFlags[0]} is for --storage pq.`);
  if (storage !== 'pq') return { storage: storage as IndexStorage };
  const bits = flags.get('pq-bits') ?? '4';
  if (bits !== '4' && bits !== '8') throw new WeftError('INVALID_OPTION', `--pq-bits takes 4 or 8; got '${bits}'.`);
  // Without --pq-m the index picks m from the embedder's dimension, known at its first ingest.
  return { storage: 'pq', pq: { ...(flags.has('pq-m') ? { m: positiveInt(flags, 'pq-m', 1) } : {}), bits: Number(bits) as 4 | 8 } };
}

/**
 * The workflow --workflow names or --workflow-file holds, checked before anything loads (an
 * unknown name, a file that is not JSON or a graph that could not run is a clear error); undefined
 * for neither (the runtime's default, one-shot).
 */
async function workflowFrom(flags: Map<string, string>): Promise<Workflow | undefined> {
  const name = flags.get('workflow'),
    file = flags.get('workflow-file');
  if (name !== undefined && file !== undefined) throw new ShellError('INVALID_OPTION', 'Give --workflow or --workflow-file, not both.');
  if (name !== undefined) {
    const names = Object.keys(BUILTIN_WORKFLOWS);
    if (!names.includes(name))
      throw new ShellError(
        'INVALID_WORKFLOW',
        `There is no built-in workflow '${name}'. --workflow takes one of ${names.join(', ')}; for a graph of your own, --workflow-file graph.json.`,
      );
    return name as Workflow;
  }
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ShellError('INVALID_OPTION', `--workflow-file: could not read '${file}' (${(e as Error)?.message ?? String(e)}).`);
  }
  let graph: unknown;
  try {
    graph = JSON.parse(text);
  } catch (e) {
    throw new ShellError(
      'INVALID_WORKFLOW',
      `--workflow-file: '${file}' is not JSON (${(e as Error).message}). It holds one graph: { "start", "nodes", "edges" } (docs/workflows.md).`,
    );
  }
  try {
    checkWorkflow(graph);
  } catch (e) {
    if (e instanceof WeftError && e.code === 'INVALID_WORKFLOW') throw new ShellError('INVALID_WORKFLOW', `--workflow-file ${file}: ${e.message}`);
    throw e;
  }
  return graph as Workflow;
}

/** Download and load progress of a model, as bars. */
function loadProgress(bars: ProgressBars, what: string) {
  return (p: LoadProgress) => {
    if (p.status === 'download') bars.update(`${what}: ${baseName(p.file)}`.slice(0, 40), p.loaded, p.total, 'bytes');
    else if (p.status === 'init') bars.update(`${what}: load`, p.done, p.total);
    else bars.end();
  };
}

/**
 * The embedder on onnxruntime-web's WASM backend by default: it runs wherever Deno runs (no GPU
 * needed for the small encoders this is for), and onnxruntime finds its .wasm beside its own
 * module in node_modules through a file: URL, which Deno's fetch reads. `--embedder-device webgpu`
 * runs onnxruntime's WebGPU provider on the shell's own device instead.
 */
async function embedderFrom(flags: Map<string, string>, gpu: GpuContext, bars: ProgressBars): Promise<Embedder> {
  const device = flags.get('embedder-device') ?? 'wasm';
  if (device !== 'wasm' && device !== 'webgpu') throw new WeftError('INVALID_OPTION', `--embedder-device is wasm or webgpu; got '${device}'.`);
  const model = flags.get('embedder-model'),
    tokenizer = flags.get('embedder-tokenizer'),
    config = flags.get('embedder-tokenizer-config');
  if (!model !== !tokenizer)
    throw new WeftError('INVALID_OPTION', 'Give --embedder-model and --embedder-tokenizer together (or neither, for the default model from the Hub).');
  const common = { device, ...(device === 'webgpu' ? { gpu } : {}), onProgress: loadProgress(bars, 'embedder') } as const;
  if (!model || !tokenizer) return createOnnxEmbedder(common);
  return createOnnxEmbedder({
    ...common,
    cache: false,
    model: (await Deno.readFile(model)).slice().buffer,
    tokenizer: JSON.parse(await Deno.readTextFile(tokenizer)) as object,
    ...(config ? { tokenizerConfig: JSON.parse(await Deno.readTextFile(config)) as object } : {}),
    modelId: flags.get('embedder-id') ?? baseName(model),
  });
}

async function generatorFrom(flags: Map<string, string>, gpu: GpuContext, bars: ProgressBars): Promise<Generator> {
  const model = flags.get('reference-model'),
    tokenizer = flags.get('reference-tokenizer');
  if (!model !== !tokenizer) throw new WeftError('INVALID_OPTION', 'Give --reference-model and --reference-tokenizer together.');
  if (model && tokenizer) {
    return loadLlama2c({
      gpu,
      model: (await Deno.readFile(model)).slice().buffer,
      tokenizer: (await Deno.readFile(tokenizer)).slice().buffer,
      onProgress: loadProgress(bars, 'generator'),
    });
  }
  return createWebLlmGenerator({ model: { id: flags.get('model') ?? 'Llama-3.2-1B-Instruct-q4f16_1-MLC' }, onProgress: loadProgress(bars, 'generator') });
}

/** Ingest answers nothing: a generator that is never asked. */
const NO_GENERATOR: Generator = new Proxy({} as Generator, {
  get(_, key) {
    if (key === 'contextLength' || key === 'position') return 0;
    if (key === 'gpuDevice' || key === 'then') return undefined;
    return () => {
      throw new WeftError('INVALID_OPTION', 'This command does not generate answers.');
    };
  },
});

/** An error the shell raises itself, worded for the terminal already (describeError leaves it as it is). */
class ShellError extends WeftError {}

/** Where the command works, for the words of its errors; its bars, to finish a bar's line before an error. */
const where: { dir?: string; bars?: ProgressBars } = {};

const noIndex = (name: string, dir: string, existing: readonly string[]) =>
  new ShellError(
    'UNKNOWN_INDEX',
    `There is no index '${name}' in ${dir}${existing.length ? ` (it holds ${existing.map((n) => `'${n}'`).join(', ')}: choose one with --index)` : ''}. ` +
      `Ingest a folder into it first: weft ingest <folder>${name === 'notes' ? '' : ` --index ${name}`}.`,
    { details: { name } },
  );

/**
 * An error as the shell reports it. The library words its messages for the web apps it runs in
 * ("this site's storage", a browser with WebGPU, IndexedDB); the few that can reach a terminal
 * are said again here in terms of the shell (its store folder, its flags, Deno).
 */
function describeError(e: unknown): string {
  if (!(e instanceof WeftError)) return (e as Error)?.stack ?? String(e);
  if (e instanceof ShellError) return `${e.message} (${e.code})`;
  const store = where.dir ?? 'the store folder';
  let message = e.message;
  if (e.code === 'UNKNOWN_INDEX') {
    const name = String(e.details?.name ?? '');
    message = noIndex(name, store, []).message;
  } else if (e.code === 'WEBGPU_UNAVAILABLE') {
    message = "This Deno offers no WebGPU (navigator.gpu). Run the shell with Deno 2 and --unstable-webgpu, as README.md's alias does.";
  } else if (e.code === 'NO_ADAPTER') {
    message =
      "Deno found no GPU adapter. Install or update the GPU driver (Vulkan on Linux, Metal on macOS, Direct3D 12 on Windows); without a GPU, a software Vulkan driver (Mesa's lavapipe, or SwiftShader named by VK_ICD_FILENAMES) works, slowly.";
  } else if (e.code === 'DEVICE_LOST' && message.includes('. Create a new index')) {
    message = `${message.slice(0, message.indexOf('. Create a new index'))}. Run the command again; the indexes in ${store} are safe.`;
  }
  // Whatever browser wording is left: the store is a folder here, and the shell creates indexes by ingesting.
  message = message.replace(/\bthis site's storage( quota)?/g, store).replace(/ ?\(create: true\)/g, '');
  return `${message} (${e.code})`;
}

/** The readable files under `folder`, and every other file or folder there with why it is not read. */
async function documentsIn(folder: string): Promise<{ paths: string[]; skipped: Skipped[]; files: number }> {
  const root = folder.replace(/\/+$/, '');
  const paths: string[] = [],
    skipped: Skipped[] = [];
  let files = 0;
  const skip = (path: string, reason: string) => skipped.push({ path: path.slice(root.length + 1), reason });
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      let { isFile, isDirectory } = e;
      if (e.isSymlink) {
        // A link to a file is read; a link to a folder is not followed (it could lead in circles).
        const target = await Deno.stat(path).catch(() => undefined);
        if (!target) {
          files++;
          skip(path, 'a broken link');
          continue;
        }
        if (target.isDirectory) {
          skip(`${path}/`, 'a link to a folder, not followed');
          continue;
        }
        isFile = target.isFile;
      }
      if (isDirectory) {
        if (e.name.startsWith('.')) skip(`${path}/`, 'a hidden folder, not read');
        else await walk(path);
        continue;
      }
      if (!isFile) continue;
      files++;
      if (e.name.startsWith('.')) skip(path, 'a hidden file');
      else if (!documentTypeOfName(e.name)) skip(path, `not a type weft reads (${EXTENSIONS})`);
      else paths.push(path);
    }
  };
  await walk(root);
  return { paths: paths.sort(), skipped, files };
}

/** A library message about one document, without the document's name it starts with. */
const aboutFile = (name: string, message: string) => (message.startsWith(`'${name}' `) ? message.slice(name.length + 3) : message);

async function ingest(rag: LocalRag, store: WeftStore, indexName: string, folder: string, bars: ProgressBars) {
  if (!(await isDir(folder))) throw new ShellError('INVALID_OPTION', `'${folder}' is not a folder. Give the folder of documents to ingest.`);
  const { paths, skipped, files } = await documentsIn(folder);
  const root = folder.replace(/\/+$/, '');
  const docs: File[] = [];
  for (const [i, path] of paths.entries()) {
    // Files, named by their path in the folder: the library reads each by its type (HTML and PDF
    // parsed by the library itself, no DOMParser needed).
    const name = path.slice(root.length + 1);
    const bytes = await Deno.readFile(path).catch((e: unknown) => {
      skipped.push({ path: name, reason: `could not be opened (${(e as Error)?.message ?? String(e)})` });
      return undefined;
    });
    if (bytes) docs.push(new File([bytes as Uint8Array<ArrayBuffer>], name, { type: mimeTypeOfName(name) ?? '' }));
    bars.update('read', i + 1, paths.length);
  }
  const report = () => {
    bars.end();
    write(Deno.stdout, skippedList(skipped, files));
  };
  if (docs.length === 0) {
    report();
    throw new ShellError('INVALID_INPUT', `'${folder}' holds no ${EXTENSIONS} files that could be read${files ? '' : ' (it holds no files at all)'}.`);
  }
  let r: { documents: number; chunks: number };
  try {
    r = await rag.ingest(docs, {
      onProgress: (p) => {
        if (p.status !== 'read') bars.update(p.status, p.done, p.total);
      },
    });
  } catch (e) {
    // Files that could not be read (a damaged or password-protected PDF, a binary file) are
    // listed with the others skipped; the rest went in.
    if (!(e instanceof WeftError) || (e.code !== 'UNPARSABLE_DOCUMENT' && !(e.code === 'INVALID_INPUT' && e.message.includes('no text')))) throw e;
    const unreadable = (e.details?.unreadable ?? []) as { name: string; message: string }[];
    for (const u of unreadable) skipped.push({ path: u.name, reason: aboutFile(u.name, u.message) });
    const indexed = e.details?.indexed as typeof r | undefined;
    if (!indexed?.documents) {
      const unread = new Set(unreadable.map((u) => u.name));
      for (const d of docs) if (!unread.has(d.name)) skipped.push({ path: d.name, reason: 'no text to index' });
      report();
      throw new ShellError(
        'UNPARSABLE_DOCUMENT',
        `Nothing was indexed: none of the ${docs.length} ${EXTENSIONS} file${docs.length === 1 ? '' : 's'} in '${folder}' held text that could be read.`,
      );
    }
    r = indexed;
  }
  // A document that was read but held no text (an empty file) added no passage.
  const inIndex = new Set((await store.readCatalog(indexName)).chunks.map((c) => c.docId));
  const unread = new Set(skipped.map((s) => s.path));
  const empty = docs.filter((d) => !unread.has(d.name) && !inIndex.has(d.name));
  for (const d of empty) skipped.push({ path: d.name, reason: 'no text to index' });
  const info = await rag.info();
  bars.end();
  const documents = r.documents - empty.length;
  write(
    Deno.stdout,
    `Ingested ${documents} document${documents === 1 ? '' : 's'} (${r.chunks} passage${r.chunks === 1 ? '' : 's'}) into '${info.indexName}': ${info.size} passages in all.\n`,
  );
  write(Deno.stdout, skippedList(skipped, files));
}

/** Writes the index as one file (exportIndex's layout, which HTTP range requests read in place). */
async function publish(store: Parameters<typeof exportIndex>[0], indexName: string, out: string, groups: number | undefined) {
  const file = await exportIndex(store, indexName, groups !== undefined ? { groups } : {});
  await Deno.writeFile(out, new Uint8Array(await file.arrayBuffer()));
  write(
    Deno.stdout,
    `Wrote ${out} (${(file.size / 2 ** 20).toFixed(1)} MiB). Serve it from any static host with HTTP range requests (CDNs, object stores, GitHub Pages) and open it in a page with openRemoteIndex('<its URL>'); from another origin, the host must send CORS headers (Access-Control-Allow-Origin).\n`,
  );
}

/** Whether stdout takes colour: a terminal, and no NO_COLOR (no-color.org). */
const colour = () => Deno.stdout.isTerminal() && !Deno.env.get('NO_COLOR');

/**
 * Streams one answer to stdout, then its sources; with a workflow, each stage before the answer
 * first, on a line of its own (dimmed on a terminal). Ctrl-C (the signal) stops it.
 */
async function answer(rag: LocalRag, question: string, opts: { k: number; maxTokens: number; workflow: Workflow | undefined; signal?: AbortSignal }) {
  const options = {
    k: opts.k,
    maxTokens: opts.maxTokens,
    ...(opts.workflow !== undefined ? { workflow: opts.workflow } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  try {
    for await (const e of rag.generate(question, options)) {
      if (e.type === 'node') write(Deno.stdout, stageLine(e, colour()));
      else if (e.type === 'token') write(Deno.stdout, e.text);
      else if (e.type === 'done') {
        write(Deno.stdout, `${e.finishReason === 'abort' ? ' [stopped]' : ''}\n\n${sourcesList(e.passages, e.citations)}`);
      }
    }
  } catch (e) {
    if (e instanceof WeftError && e.code === 'ABORTED') {
      write(Deno.stdout, '[stopped]\n');
      return;
    }
    throw e;
  }
}

async function main(): Promise<number> {
  const { command, positional, flags } = parseArgs(Deno.args);
  if (command === 'help') {
    write(Deno.stdout, USAGE);
    return 0;
  }
  if (!['ingest', 'chat', 'ask', 'publish'].includes(command))
    throw new WeftError('INVALID_OPTION', `Unknown command '${command}'. Commands: ingest, chat, ask, publish (--help for more).`);
  if (command === 'ingest' && positional.length !== 1) throw new WeftError('INVALID_OPTION', 'ingest takes one folder: weft ingest <folder>.');
  if (command === 'publish' && (positional.length !== 1 || !flags.get('out')))
    throw new WeftError('INVALID_OPTION', 'publish takes one folder and the file to write: weft publish <folder> --out FILE.weft.');
  const groups = flags.has('groups') ? Number(flags.get('groups')) : undefined;
  if (groups !== undefined && (command !== 'publish' || !Number.isInteger(groups) || groups < 0))
    throw new WeftError(
      'INVALID_OPTION',
      `--groups N (0: none) is for publish; got '${flags.get('groups')}'${command !== 'publish' ? ` with ${command}` : ''}.`,
    );
  const ingests = command === 'ingest' || command === 'publish';
  if (command === 'ask' && positional.length === 0) throw new WeftError('INVALID_OPTION', 'ask takes a question: weft ask "…".');
  const workflow = await workflowFrom(flags);
  const storage = storageFrom(flags);
  const bars = progressBars(Deno);
  where.bars = bars;
  // Libraries' console output (pdf.js's warnings) goes above the bars, on stderr.
  routeConsole(bars, (v) => Deno.inspect(v));
  const dir = await storeDir(flags);
  where.dir = dir;
  const store = await openFileStore({ dir, fs: denoFileSystem() });
  const indexName = flags.get('index') ?? 'notes';
  // What cannot work is said before any model loads.
  if (ingests && !(await isDir(positional[0]!)))
    throw new ShellError('INVALID_OPTION', `'${positional[0]}' is not a folder. Give the folder of documents to ingest.`);
  if (!ingests) {
    const existing = (await store.listIndexes()).map((m) => m.name);
    if (!existing.includes(indexName)) throw noIndex(indexName, dir, existing);
  }
  const gpu = await createGpuContext();
  const embedder = await embedderFrom(flags, gpu, bars);
  const generator = ingests ? NO_GENERATOR : await generatorFrom(flags, gpu, bars);
  bars.end();
  const rag = await createRag({
    store,
    indexName,
    embedder,
    generator,
    gpu,
    create: ingests,
    ...(storage.storage ? { storage: storage.storage } : {}),
    ...(storage.pq ? { pq: storage.pq } : {}),
  });
  const close = async () => {
    await rag.close();
    if (generator !== NO_GENERATOR) generator.destroy();
    await embedder.destroy();
    gpu.destroy();
    store.close();
  };
  const k = positiveInt(flags, 'k', 3),
    maxTokens = positiveInt(flags, 'max-tokens', 128);
  try {
    if (command === 'ingest') await ingest(rag, store, indexName, positional[0]!, bars);
    else if (command === 'publish') {
      await ingest(rag, store, indexName, positional[0]!, bars);
      await publish(store, indexName, flags.get('out')!, groups);
    } else if (command === 'ask') {
      const during = interrupts(Deno, () => undefined);
      await during((signal) => answer(rag, positional.join(' '), { k, maxTokens, workflow, signal }));
    } else {
      const info = await rag.info();
      write(
        Deno.stdout,
        `Index '${info.indexName}' in ${dir}: ${info.size} passages.${workflow === undefined ? '' : ` Workflow '${typeof workflow === 'string' ? workflow : (workflow.name ?? flags.get('workflow-file'))}'.`} Ask a question (Ctrl-C stops an answer; Ctrl-C twice, or Ctrl-D, exits).\n`,
      );
      const during = interrupts(Deno, () => write(Deno.stdout, '\n'));
      const readLine = lineReader(Deno);
      for (;;) {
        write(Deno.stdout, '> ');
        const line = await readLine();
        if (line === undefined) break;
        if (!line.trim()) continue;
        await during((signal) => answer(rag, line.trim(), { k, maxTokens, workflow, signal }));
      }
    }
  } finally {
    await close();
  }
  return 0;
}

try {
  Deno.exit(await main());
} catch (e) {
  where.bars?.end();
  write(Deno.stderr, `weft: ${describeError(e)}\n`);
  Deno.exit(1);
}
