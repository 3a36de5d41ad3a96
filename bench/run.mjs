#!/usr/bin/env node
// `npm run bench -- <name> [options]`: serves the benchmark page with Vite, runs it in headless
// Chromium (WebGPU on whatever adapter the browser finds; SwiftShader on a machine without a
// GPU), prints a table and, with --json, one JSON object as the last line of stdout.
import { createServer } from 'vite';
import { chromium } from 'playwright';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CHROMIUM_BASE_ARGS, CHROMIUM_PATH } from '../scripts/chromium.mjs';
import { rangeHostPlugin } from '../scripts/range-server.mjs';
import { PEER_SYSTEMS, formatPeers } from './peers-table.mjs';

const root = resolve(import.meta.dirname, '..');
const [name, ...rest] = process.argv.slice(2);
const usage = `usage: npm run bench -- search [--data FILE] [--queries FILE] [--metric cosine|ip|l2] [--dim D] [--n N]
                               [--nlist L] [--nprobe 1,2,4,...] [--k 10] [--storage f32|f16|int8|pq]
                               [--pq-m M] [--pq-bits 4|8] [--pq-tables both|workgroup|storage] [--rerank R] [--remote [--groups N] [--simulate-rerank R] [--simulate-groups G]] [--nq Q] [--seed S] [--niter I] [--wg 32|64|128] [--json] [--gpu]
       npm run bench -- tiers [--n N] [--dim D] [--nlist L] [--cache-fraction F] [--zipf S]
                              [--storage f32|f16|int8|pq] [--nq Q] [--nprobe P] [--seed S] [--json] [--gpu]
       npm run bench -- models [--steps 200] [--chunks 256] [--json] [--gpu]
       npm run bench -- rag [--n 100000] [--requests 32] [--max-tokens 32] [--nprobe 8] [--arrival-ms 200] [--part all|stream|periodic]
                           [--periodic-requests 4] [--periodic-tokens 192] [--periodic-slowdown F] [--mode vector|lexical|hybrid]
                           [--regime cached|idb|remote] [--storage f16|pq] [--json] [--gpu]
       npm run bench -- rerank [--candidates 20] [--trials 3] [--corpus 64] [--queries 30] [--zipf 1.0] [--gpu-fraction 0.25] [--seed S] [--json] [--gpu]
       npm run bench -- quality [--embedder DIR|tiny] [--scale 100000] [--seed S] [--json] [--gpu]
       npm run bench -- quality --embedder use-lite [--faq debian-faq.en.txt.gz] [--chunk-tokens 256] [--overlap-tokens N] [--rankings FILE.json] [--json]
       npm run bench -- peers [--n 10000] [--dim 128] [--fvecs FILE.fvecs [--queries FILE.fvecs]] [--nq 200] [--k 10]
                             [--systems ${PEER_SYSTEMS.join(',')}] [--seed S] [--json] [--gpu]
       npm run bench -- workflows [--n 100000] [--requests 24] [--rate 1] [--max-tokens 32] [--nprobe 8] [--regime cached|idb|remote]
                                 [--mix one-shot,hyde,multistep,irg] [--schedulers sequential,naive,weft,weft-las,weft-unbatched,weft-unlent] [--seed S] [--json] [--gpu]
       npm run bench -- growth [--n 200000] [--dim 384] [--storage f32|f16|int8] [--nprobe 16] [--k 10] [--nq 200] [--seed S] [--json] [--gpu]`;
if (!['search', 'tiers', 'models', 'rag', 'rerank', 'quality', 'peers', 'growth', 'workflows'].includes(name)) {
  console.error(name ? `Unknown benchmark '${name}'.\n${usage}` : usage);
  process.exit(2);
}
const fail = (msg) => {
  console.error(`${msg}\n${usage}`);
  process.exit(2);
};
const int = (s, what) => {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) fail(`--${what} must be a positive integer`);
  return v;
};
const num = (s, what) => {
  const v = Number(s);
  if (!(v > 0)) fail(`--${what} must be a positive number`);
  return v;
};
const files = new Map();
const serve = (path) => {
  const id = `/@bench-file/${files.size}/${basename(path)}`;
  files.set(id, resolve(path));
  return id;
};
let a, options;
if (name === 'search') {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      data: { type: 'string' },
      queries: { type: 'string' },
      metric: { type: 'string', default: 'l2' },
      dim: { type: 'string' },
      n: { type: 'string', default: '100000' },
      nlist: { type: 'string' },
      nprobe: { type: 'string' },
      k: { type: 'string', default: '10' },
      storage: { type: 'string', default: 'f32' },
      nq: { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
      niter: { type: 'string', default: '10' },
      wg: { type: 'string' },
      'pq-m': { type: 'string' },
      'pq-bits': { type: 'string', default: '4' },
      'pq-tables': { type: 'string', default: 'both' },
      rerank: { type: 'string' },
      groups: { type: 'string' },
      'simulate-rerank': { type: 'string' },
      'simulate-groups': { type: 'string' },
      remote: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
    },
  }));
  if (!['l2', 'ip', 'cosine'].includes(a.metric)) fail(`--metric must be l2, ip or cosine`);
  if (a.remote && a.storage !== 'pq') fail('--remote compares pq with f16 from the remote tier: give --storage pq');
  if (a.groups !== undefined && (!a.remote || !/^\d+$/.test(a.groups))) fail('--groups N (0: none) is for --storage pq --remote');
  for (const f of ['simulate-rerank', 'simulate-groups']) if (a[f] !== undefined && !a.remote) fail(`--${f} is for --storage pq --remote`);
  if (!['f32', 'f16', 'int8', 'pq'].includes(a.storage)) fail(`--storage must be f32, f16, int8 or pq`);
  if (!['4', '8'].includes(a['pq-bits'])) fail('--pq-bits must be 4 or 8');
  if (!['both', 'workgroup', 'storage'].includes(a['pq-tables'])) fail('--pq-tables must be both, workgroup or storage');
  for (const f of ['data', 'queries']) if (a[f] && !existsSync(a[f])) fail(`--${f}: no such file ${a[f]}`);
  if (a.data?.endsWith('.bin') && !a.dim) fail('--data FILE.bin needs --dim');
  options = {
    metric: a.metric,
    storage: a.storage,
    k: int(a.k, 'k'),
    n: int(a.n, 'n'),
    dim: a.dim ? int(a.dim, 'dim') : 128,
    queries: int(a.nq, 'nq'),
    seed: int(a.seed, 'seed'),
    niter: int(a.niter, 'niter'),
    ...(a.nlist ? { nlist: int(a.nlist, 'nlist') } : {}),
    ...(a.wg ? { wg: int(a.wg, 'wg') } : {}),
    ...(a.nprobe ? { nprobe: a.nprobe.split(',').map((s) => int(s, 'nprobe')) } : {}),
    ...(a.data ? { dataUrl: serve(a.data), dataName: basename(a.data) } : {}),
    ...(a.queries ? { queriesUrl: serve(a.queries), queriesName: basename(a.queries) } : {}),
    ...(a.storage === 'pq'
      ? {
          bits: Number(a['pq-bits']),
          tables: a['pq-tables'],
          ...(a.rerank ? { rerank: int(a.rerank, 'rerank') } : {}),
          ...(a['pq-m'] ? { m: int(a['pq-m'], 'pq-m') } : {}),
        }
      : {}),
    ...(a.remote ? { remote: true } : {}),
    ...(a.groups !== undefined ? { groups: Number(a.groups) } : {}),
    ...(a['simulate-rerank'] !== undefined ? { simulateRerank: int(a['simulate-rerank'], 'simulate-rerank') } : {}),
    ...(a['simulate-groups'] !== undefined ? { simulateGroups: int(a['simulate-groups'], 'simulate-groups') } : {}),
  };
} else if (name === 'rag') {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      n: { type: 'string', default: '100000' },
      requests: { type: 'string', default: '32' },
      'max-tokens': { type: 'string', default: '32' },
      nprobe: { type: 'string', default: '8' },
      'arrival-ms': { type: 'string', default: '200' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
      part: { type: 'string', default: 'all' },
      'periodic-requests': { type: 'string', default: '4' },
      'periodic-tokens': { type: 'string', default: '192' },
      'periodic-slowdown': { type: 'string' },
      mode: { type: 'string' },
      regime: { type: 'string', default: 'idb' },
      storage: { type: 'string', default: 'f16' },
    },
  }));
  if (!['cached', 'idb', 'remote'].includes(a.regime)) fail('--regime must be cached, idb or remote');
  if (!['f16', 'pq'].includes(a.storage)) fail('--storage must be f16 or pq');
  const shared = resolve(root, '../shared/assets');
  if (!existsSync(shared)) fail(`the rag benchmark reads ../shared/assets (${shared}), which is missing`);
  if (!['all', 'stream', 'periodic'].includes(a.part)) fail(`--part must be all, stream or periodic`);
  if (a.mode && !['vector', 'lexical', 'hybrid'].includes(a.mode)) fail('--mode must be vector, lexical or hybrid');
  options = {
    assets: `/@fs${shared}`,
    n: int(a.n, 'n'),
    requests: int(a.requests, 'requests'),
    maxTokens: int(a['max-tokens'], 'max-tokens'),
    nprobe: int(a.nprobe, 'nprobe'),
    arrivalMs: Number(a['arrival-ms']),
    part: a.part,
    periodicRequests: int(a['periodic-requests'], 'periodic-requests'),
    periodicTokens: int(a['periodic-tokens'], 'periodic-tokens'),
    ...(a['periodic-slowdown'] ? { periodicSlowdown: Number(a['periodic-slowdown']) } : {}),
    ...(a.mode ? { mode: a.mode } : {}),
    regime: a.regime,
    storage: a.storage,
  };
} else if (name === 'workflows') {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      n: { type: 'string', default: '100000' },
      requests: { type: 'string', default: '24' },
      rate: { type: 'string', default: '1' },
      'max-tokens': { type: 'string', default: '32' },
      nprobe: { type: 'string', default: '8' },
      regime: { type: 'string', default: 'idb' },
      mix: { type: 'string', default: 'one-shot,hyde,multistep,irg' },
      schedulers: { type: 'string', default: 'sequential,naive,weft,weft-las,weft-unbatched,weft-unlent' },
      seed: { type: 'string', default: '7' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
    },
  }));
  if (!['cached', 'idb', 'remote'].includes(a.regime)) fail('--regime must be cached, idb or remote');
  const shared = resolve(root, '../shared/assets');
  if (!existsSync(shared)) fail(`the workflows benchmark reads ../shared/assets (${shared}), which is missing`);
  const mix = a.mix.split(',');
  for (const w of mix) if (!['one-shot', 'hyde', 'multistep', 'irg', 'recomp', 'flare', 'periodic'].includes(w)) fail(`--mix: unknown workflow '${w}'`);
  const schedulers = a.schedulers.split(',');
  for (const s of schedulers)
    if (!['sequential', 'naive', 'weft', 'weft-las', 'weft-unbatched', 'weft-unlent'].includes(s)) fail(`--schedulers: unknown scheduler '${s}'`);
  options = {
    assets: `/@fs${shared}`,
    n: int(a.n, 'n'),
    requests: int(a.requests, 'requests'),
    rate: num(a.rate, 'rate'),
    maxTokens: int(a['max-tokens'], 'max-tokens'),
    nprobe: int(a.nprobe, 'nprobe'),
    regime: a.regime,
    mix,
    schedulers,
    seed: int(a.seed, 'seed'),
  };
} else if (name === 'rerank') {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      candidates: { type: 'string', default: '20' },
      trials: { type: 'string', default: '3' },
      corpus: { type: 'string', default: '64' },
      queries: { type: 'string', default: '30' },
      zipf: { type: 'string', default: '1.0' },
      'gpu-fraction': { type: 'string', default: '0.25' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
    },
  }));
  const shared = resolve(root, '../shared/assets');
  if (!existsSync(shared)) fail(`the rerank benchmark reads ../shared/assets (${shared}), which is missing`);
  options = {
    assets: `/@fs${shared}`,
    candidates: int(a.candidates, 'candidates'),
    trials: int(a.trials, 'trials'),
    corpus: int(a.corpus, 'corpus'),
    queries: int(a.queries, 'queries'),
    zipf: num(a.zipf, 'zipf'),
    gpuFraction: num(a['gpu-fraction'], 'gpu-fraction'),
    seed: int(a.seed, 'seed'),
  };
} else if (name === 'quality') {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      embedder: { type: 'string' },
      faq: { type: 'string' },
      'chunk-tokens': { type: 'string', default: '256' },
      'overlap-tokens': { type: 'string' },
      rankings: { type: 'string' },
      scale: { type: 'string', default: '100000' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
    },
  }));
  const shared = resolve(root, '../shared/assets');
  if (!existsSync(resolve(shared, 'cranfield'))) fail(`the quality benchmark reads ../shared/assets/cranfield (${shared}/cranfield), which is missing`);
  const scale = Number(a.scale);
  if (!Number.isInteger(scale) || scale < 0) fail('--scale must be a whole number of chunks (0 skips the timing part)');
  // --embedder DIR: a sentence-embedding model folder (model.onnx or onnx/model.onnx, tokenizer.json, tokenizer_config.json); 'tiny': the tests' random graph.
  if (a.embedder && a.embedder !== 'tiny' && a.embedder !== 'use-lite' && !existsSync(resolve(a.embedder, 'tokenizer.json')))
    fail(`--embedder ${a.embedder}: not a model folder (no tokenizer.json)`);
  if (a.embedder === 'use-lite') {
    await runQualityInNode(a, shared);
    process.exit(0);
  }
  const embedder = a.embedder === 'tiny' ? 'tiny' : a.embedder ? `/@fs${resolve(a.embedder)}` : undefined;
  options = { assets: `/@fs${shared}`, scale, seed: int(a.seed, 'seed'), ...(embedder ? { embedder } : {}) };
} else if (name === 'peers') {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      n: { type: 'string' },
      dim: { type: 'string', default: '128' },
      fvecs: { type: 'string' },
      queries: { type: 'string' },
      nq: { type: 'string', default: '200' },
      k: { type: 'string', default: '10' },
      systems: { type: 'string' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
    },
  }));
  for (const f of ['fvecs', 'queries']) if (a[f] && !existsSync(a[f])) fail(`--${f}: no such file ${a[f]}`);
  for (const f of ['fvecs', 'queries']) if (a[f] && !a[f].endsWith('.fvecs')) fail(`--${f} must be an .fvecs file`);
  if (a.queries && !a.fvecs) fail('--queries needs --fvecs');
  const systems = a.systems?.split(',');
  for (const s of systems ?? []) if (!PEER_SYSTEMS.includes(s)) fail(`--systems: unknown system '${s}' (known: ${PEER_SYSTEMS.join(', ')})`);
  options = {
    n: a.n ? int(a.n, 'n') : a.fvecs ? Number.MAX_SAFE_INTEGER : 10000,
    dim: int(a.dim, 'dim'),
    queries: int(a.nq, 'nq'),
    k: int(a.k, 'k'),
    seed: int(a.seed, 'seed'),
    ...(systems ? { systems } : {}),
    ...(a.fvecs ? { dataUrl: serve(a.fvecs), dataName: basename(a.fvecs) } : {}),
    ...(a.queries ? { queriesUrl: serve(a.queries), queriesName: basename(a.queries) } : {}),
  };
} else if (name === 'models') {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      steps: { type: 'string', default: '200' },
      chunks: { type: 'string', default: '256' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
    },
  }));
  const shared = resolve(root, '../shared/assets');
  if (!existsSync(shared)) fail(`the models benchmark reads ../shared/assets (${shared}), which is missing`);
  options = { assets: `/@fs${shared}`, steps: int(a.steps, 'steps'), chunks: int(a.chunks, 'chunks') };
} else if (name === 'growth') {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      n: { type: 'string', default: '200000' },
      dim: { type: 'string', default: '384' },
      storage: { type: 'string', default: 'f16' },
      nprobe: { type: 'string', default: '16' },
      k: { type: 'string', default: '10' },
      nq: { type: 'string', default: '200' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
    },
  }));
  if (!['f32', 'f16', 'int8'].includes(a.storage)) fail(`--storage must be f32, f16 or int8`);
  options = {
    n: int(a.n, 'n'),
    dim: int(a.dim, 'dim'),
    storage: a.storage,
    nprobe: int(a.nprobe, 'nprobe'),
    k: int(a.k, 'k'),
    queries: int(a.nq, 'nq'),
    seed: int(a.seed, 'seed'),
  };
} else {
  ({ values: a } = parseArgs({
    args: rest,
    strict: true,
    options: {
      n: { type: 'string', default: '100000' },
      dim: { type: 'string', default: '384' },
      nlist: { type: 'string' },
      'cache-fraction': { type: 'string', default: '0.25' },
      zipf: { type: 'string', default: '1.0' },
      storage: { type: 'string', default: 'f16' },
      nq: { type: 'string', default: '300' },
      nprobe: { type: 'string', default: '8' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
    },
  }));
  if (!['f32', 'f16', 'int8', 'pq'].includes(a.storage)) fail(`--storage must be f32, f16, int8 or pq`);
  options = {
    n: int(a.n, 'n'),
    dim: int(a.dim, 'dim'),
    cacheFraction: num(a['cache-fraction'], 'cache-fraction'),
    zipf: num(a.zipf, 'zipf'),
    storage: a.storage,
    queries: int(a.nq, 'nq'),
    nprobe: int(a.nprobe, 'nprobe'),
    seed: int(a.seed, 'seed'),
    ...(a.nlist ? { nlist: int(a.nlist, 'nlist') } : {}),
  };
}

const server = await createServer({
  root,
  configFile: false,
  logLevel: 'error',
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  // No HMR and no file watching: an edit elsewhere in the tree must not reload a running benchmark.
  server: {
    port: 0,
    host: '127.0.0.1',
    hmr: false,
    watch: { ignored: ['**/*'] },
    fs: { allow: [root, resolve(root, '../shared'), ...(options.embedder?.startsWith('/@fs') ? [options.embedder.slice(4)] : [])] },
  },
  plugins: [
    rangeHostPlugin(),
    {
      name: 'weft-bench-files',
      configureServer(s) {
        s.middlewares.use((req, res, next) => {
          const path = files.get(decodeURI(req.url ?? ''));
          if (!path) return next();
          res.setHeader('Content-Length', statSync(path).size);
          createReadStream(path).pipe(res);
        });
      },
    },
  ],
});
await server.listen();
const url = `http://127.0.0.1:${server.config.server.port ?? server.httpServer.address().port}/bench/index.html`;
const args = [
  ...CHROMIUM_BASE_ARGS,
  // Without --gpu, use SwiftShader (this project's CI machines have no GPU); with it, the real adapter.
  ...(a.gpu ? ['--enable-features=Vulkan', '--ignore-gpu-blocklist'] : ['--use-webgpu-adapter=swiftshader']),
];
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args, headless: true });
let result;
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.text().startsWith('[bench] ')) console.error(m.text().slice(8));
  });
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  if (name === 'peers') {
    // Memory figures for the peers benchmark: V8's heap and ArrayBuffer use, after a forced GC.
    const cdp = await page.context().newCDPSession(page);
    await page.exposeFunction('weftBenchHeap', async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return cdp.send('Runtime.getHeapUsage');
    });
  }
  if (name === 'rag' || name === 'workflows') {
    // The remote regime's network: Chromium's own emulation (latency and throughput), switched on
    // by the page once its models and index are loaded.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await page.exposeFunction('weftBenchNetwork', (c) =>
      cdp.send(
        'Network.emulateNetworkConditions',
        c
          ? { offline: false, latency: c.latencyMs, downloadThroughput: (c.mbps * 1e6) / 8, uploadThroughput: (c.mbps * 1e6) / 8 }
          : { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 },
      ),
    );
  }
  await page.goto(url);
  await page.waitForFunction(() => 'weftBench' in window);
  // The PQ index has benchmark pages of its own (bench/search-pq.ts, and from the remote tier bench/remote-pq.ts).
  const bench = name === 'search' && options.storage === 'pq' ? (options.remote ? 'remote-pq' : 'search-pq') : name;
  result = await page.evaluate(([n, o]) => window.weftBench.run(n, o), [bench, options]);
} finally {
  await browser.close();
  await server.close();
}

const f = (x, d = 2) => (typeof x === 'number' ? x.toFixed(d) : String(x));
if (name === 'search' && options.remote) {
  console.log(`\nWeft remote tier, PQ against f16 lists, on ${result.device}`);
  console.log(
    `${result.n} x ${result.dim} (${result.metric}), nlist ${result.nlist}, nprobe ${result.nprobe}, k ${result.k}, ${result.queries} cold queries; PQ m ${result.m} x ${result.bits} bits, ${result.rerank} candidates per result\n`,
  );
  console.log(
    'storage      file MB   open KB (requests)   KB a query (requests)   lists KB   rows KB   texts KB   groups KB   places KB   ms a query   recall@k',
  );
  for (const r of result.rows)
    console.log(
      `${r.storage.padEnd(10)}   ${f(r.fileBytes / 1e6).padStart(7)}   ${f(r.openBytes / 1e3, 1).padStart(7)} (${f(r.openRequests, 1)})   ${f(r.bytesPerQuery / 1e3, 1).padStart(10)} (${f(r.requestsPerQuery, 1)})   ${f(r.parts.lists / 1e3, 1).padStart(8)}   ${f(r.parts.rows / 1e3, 1).padStart(7)}   ${f(r.parts.texts / 1e3, 1).padStart(8)}   ${f(r.parts.groups / 1e3, 1).padStart(9)}   ${f((r.parts.places ?? 0) / 1e3, 1).padStart(9)}   ${f(r.msPerQuery, 0).padStart(10)}   ${f(r.recall, 4)}`,
    );
  console.log('\nsimulated (layout bytes scaled; nlist as trained at that size):');
  for (const s of result.simulated)
    console.log(
      `  ${s.n / 1e6}M vectors, nlist ${s.nlist}, nprobe ${s.nprobe}, ${s.rerank} candidates per result, ${s.groups} groups: f16 ${f(s.f16BytesPerQuery / 1e6)} MB, pq ${f(s.pqBytesPerQuery / 1e3, 0)} KB a query (${f(s.ratio, 3)}); open ${f(s.f16OpenBytes / 1e6, 1)} MB (f16) vs ${f(s.pageBytes / 1e6, 1)} MB (pq) vs ${f(s.groupedOpenBytes / 1e6)} MB (pq, grouped); first answer ${f(s.f16FirstAnswerBytes / 1e6, 1)} vs ${f(s.pqFirstAnswerBytes / 1e6, 1)} vs ${f(s.groupedFirstAnswerBytes / 1e6)} MB; with the runtime's defaults (nprobe 8, 3 passages) ${f(s.groupedDefaultAnswerBytes / 1e3, 0)} KB; with coarse codes (layout 7) open ${f(s.codedOpenBytes / 1e3, 0)} KB, first answer ${f(s.codedFirstAnswerBytes / 1e3, 0)} KB, with the defaults ${f(s.codedDefaultAnswerBytes / 1e3, 0)} KB`,
    );
} else if (name === 'search' && options.storage === 'pq') {
  console.log(`\nWeft IVF-PQ search benchmark on ${result.device}`);
  console.log(
    `${result.n} x ${result.dim} (${result.metric}), nlist ${result.nlist}, k ${result.k}, ${result.queries} queries; PQ m ${result.m} x ${result.bits} bits, ${result.rerank} candidates per result`,
  );
  console.log(
    `bytes per vector: PQ ${result.bytesPerVector.pq}, f16 ${result.bytesPerVector.f16}; built in ${f(result.trainMs.pq, 0)} ms (f16: ${f(result.trainMs.flat, 0)} ms)\n`,
  );
  // 4-bit codes: the scan's q/s with its tables in storage beside the default (workgroup memory).
  const storageCol = result.rows.some((r) => r.qpsTablesInStorage !== undefined);
  console.log(`nprobe   recall f16   PQ codes   re-ranked   PQ q/s${storageCol ? '   tables in storage' : ''}   f16 q/s`);
  for (const r of result.rows)
    console.log(
      `${String(r.nprobe).padStart(6)}   ${f(r.recallF16, 4).padStart(10)}   ${f(r.recallCodes, 4).padStart(8)}   ${f(r.recall, 4).padStart(9)}   ${f(r.qps, 1).padStart(6)}${storageCol ? `   ${f(r.qpsTablesInStorage, 1).padStart(17)}` : ''}   ${f(r.qpsF16, 1).padStart(7)}`,
    );
} else if (name === 'search') {
  console.log(`\nWeft search benchmark on ${result.device}`);
  console.log(
    `${result.n} x ${result.dim} ${result.storage} (${result.metric}), nlist ${result.nlist}, k ${result.k}, ${result.queries} queries; train ${f(result.trainMs, 0)} ms, add ${f(result.addMs, 0)} ms`,
  );
  console.log(`flat (exact, same storage): ${f(result.flatQps, 1)} queries/s\n`);
  console.log('nprobe   recall@k   queries/s   vs flat');
  for (const r of result.rows)
    console.log(`${String(r.nprobe).padStart(6)}   ${f(r.recall, 4).padStart(8)}   ${f(r.qps, 1).padStart(9)}   ${f(r.speedupVsFlat, 2).padStart(6)}x`);
  console.log(`\nscan ${f(result.scanGBps, 3)} GB/s, copy ${f(result.copyGBps, 3)} GB/s (read+written), scanEfficiency ${f(result.scanEfficiency, 3)}`);
} else if (name === 'rag') {
  const where = {
    cached: 'every list resident on the GPU',
    idb: `lists cold in IndexedDB, GPU cache ${f(result.cacheFraction * 100, 1)}% of the index`,
    remote: `lists behind a range-request host at ${result.network?.mbps} Mbit/s, ${result.network?.latencyMs} ms RTT, GPU cache ${f(result.cacheFraction * 100, 1)}% of the index`,
  }[result.regime];
  const storage = result.pq ? `pq (m ${result.pq.m}, ${result.pq.bits} bits)` : result.storage;
  const file = result.file
    ? `; file ${f(result.file.bytes / 2 ** 20, 1)} MiB${result.file.rerank !== undefined ? `, ${result.file.rerank} candidates per result` : ''}`
    : '';
  console.log(
    `\nWeft rag benchmark, regime ${result.regime} (${where}): ${result.requests} requests every ${result.arrivalMs} ms, ${result.n} x ${result.dim} ${storage} index (${f(result.indexBytes / 2 ** 20, 1)} MiB of lists${file}), nprobe ${result.nprobe}, ${result.maxTokens} tokens per answer`,
  );
  if (result.sequential) {
    console.log(
      `sequential  e2e ${f(result.sequential.e2eMedianMs, 0)} ms (p95 ${f(result.sequential.e2eP95Ms, 0)})  TTFT ${f(result.sequential.ttftMedianMs, 0)} ms (p95 ${f(result.sequential.ttftP95Ms, 0)})  ITL p99 ${f(result.sequential.itlP99Ms, 1)} ms`,
    );
    console.log(
      `woven       e2e ${f(result.woven.e2eMedianMs, 0)} ms (p95 ${f(result.woven.e2eP95Ms, 0)})  TTFT ${f(result.woven.ttftMedianMs, 0)} ms (p95 ${f(result.woven.ttftP95Ms, 0)})  ITL p99 ${f(result.woven.itlP99Ms, 1)} ms (decode only: ${f(result.decodeOnlyItlP99Ms, 1)} ms)`,
    );
    console.log(
      `e2eSpeedup ${f(result.e2eSpeedup, 2)}, ttftSpeedup ${f(result.ttftSpeedup, 2)}, itlP99Inflation ${f(result.itlP99Inflation, 3)} (mean ITL ${f(result.woven.itlMeanMs, 1)} ms vs ${f(result.decodeOnlyItlMeanMs, 1)} ms decode-only: ${f(result.itlMeanInflation, 3)})`,
    );
    for (const s of ['sequential', 'woven'])
      console.log(
        `${s.padEnd(10)}  per request, median ms: ${Object.entries(result[s].stageMs)
          .map(([k, v]) => `${k} ${f(v, 0)}`)
          .join(', ')}`,
      );
    console.log(
      `bound (sequential, every list resident) e2e ${f(result.boundE2eMedianMs, 0)} ms: idealSpeedup ${f(result.idealSpeedup, 2)}, woven reaches ${f(result.ofIdeal, 3)} of it`,
    );
    console.log(
      `retrieval's share of request latency: sequential ${f(result.retrievalShareSequential, 3)}, woven ${f(result.retrievalShareWoven, 3)}; probed lists on the GPU when searched: woven ${f(result.prefetchHitRate, 3)} (prefetch), sequential ${f(result.sequentialGpuHitRate, 3)}`,
    );
  }
  if (result.periodic.length) {
    console.log(`\nperiodic retrieval (PipeRAG), ${result.periodicTokens}-token answers, k 1; blocking = the same retrievals without pipelining`);
    console.log('interval  nprobe  pipelined ms  blocking ms  speedupVsBlocking  without refreshes  search ms  waited ms  refreshes  refresh ms');
    for (const p of result.periodic)
      console.log(
        `${String(p.interval).padStart(8)}  ${String(p.nprobe).padStart(6)}  ${f(p.latencyMs, 0).padStart(12)}  ${f(p.blockingLatencyMs, 0).padStart(11)}  ${f(p.speedupVsBlocking, 2).padStart(17)}  ${f(p.speedupVsBlockingExRefresh, 2).padStart(17)}  ${f(p.searchMsMedian, 1).padStart(9)}  ${f(p.waitedMsMedian, 1).padStart(9)}  ${String(p.refreshes).padStart(9)}  ${f(p.refreshMsMedian, 0).padStart(10)}`,
      );
  }
} else if (name === 'workflows') {
  console.log(
    `\nWeft workflows benchmark on ${result.device}: ${result.requests} requests (${result.mix.join(', ')} in equal parts), Poisson ${result.rate}/s, ${result.maxTokens}-token answers, nprobe ${result.nprobe}, regime ${result.regime}, ${result.n} passages`,
  );
  console.log('scheduler        req/s   mean ms    p99 ms  TTFT mean  TTFT p99  ITL p99  lists/req  batched  spec.hits  per workflow (mean ms)');
  const row = (label, s) =>
    console.log(
      `${label.padEnd(15)} ${f(s.throughput, 3).padStart(6)} ${f(s.meanMs, 0).padStart(9)} ${f(s.p99Ms, 0).padStart(9)} ${f(s.ttftMeanMs, 0).padStart(10)} ${f(s.ttftP99Ms, 0).padStart(9)} ${f(s.itlP99Ms, 1).padStart(8)} ${f(s.listsReadPerRequest, 1).padStart(10)} ${f(s.batchedSliceShare, 2).padStart(8)} ${f(s.speculationHitRate, 2).padStart(10)}  ${Object.entries(
        s.perWorkflow,
      )
        .map(([w, x]) => `${w} ${f(x.meanMs, 0)}`)
        .join(', ')}`,
    );
  for (const [s, fig] of Object.entries(result.schedulers)) row(s, fig);
  if (result.bound) row('bound', result.bound);
  console.log(
    `bound: the sequential schedule with every list resident; hiding retrieval could gain at most ${f(result.idealThroughputGain, 2)}x throughput, ${f(result.idealLatencyGain, 2)}x mean latency over sequential`,
  );
  const any = Object.values(result.schedulers)[0];
  if (any)
    console.log(
      `retrievals / generation stages per request: ${Object.entries(any.perWorkflow)
        .map(([w, x]) => `${w} ${f(x.retrievals, 1)} / ${f(x.generations, 1)}`)
        .join(', ')}; decode-only ITL p99 ${f(result.decodeOnlyItlP99Ms, 1)} ms`,
    );
  const r = result.reordering;
  console.log(
    `semantic reordering (a search after a related one, nprobe ${r.nprobe}, k ${r.k}): slices until the top-k is final ${f(r.slicesUntilStable, 2)} in rank order, ${f(r.slicesUntilStableReordered, 2)} with the first search's lists first, ${f(r.slicesUntilStableTop3, 2)} with its top 3's lists first; the first slice holds ${f(r.firstSliceRecall, 2)} / ${f(r.firstSliceRecallReordered, 2)} / ${f(r.firstSliceRecallTop3, 2)} of the final top-k`,
  );
  for (const t of result.targets)
    console.log(`${t.met ? 'met    ' : 'MISSED '} ${t.name}: ${typeof t.got === 'number' ? f(t.got, 3) : t.got} (target ${t.want})`);
} else if (name === 'growth') {
  console.log(
    `\nWeft growth benchmark on ${result.device}: 10 -> ${result.n} x ${result.dim} ${result.storage} in ${result.batches} batches, recall@${result.k} at nprobe ${result.nprobe}`,
  );
  console.log('batch     added         n   nlist  largest/bound   add ms   recall  scratch (nlist)');
  for (const r of result.rows)
    if (r.recall !== undefined || r.split)
      console.log(
        `${String(r.batch).padStart(5)} ${String(r.added).padStart(9)} ${String(r.n).padStart(9)} ${String(r.nlist).padStart(7)} ${`${r.maxList}/${r.bound}`.padStart(14)} ${f(r.addMs, 0).padStart(8)}${r.split ? '*' : ' '} ${r.recall !== undefined ? `${f(r.recall, 3).padStart(7)}  ${f(r.scratchRecall, 3)} (${r.scratchNlist})` : ''}`,
      );
  console.log(
    `(* the add split lists)\ngrowing: ${f(result.growMs / 1000, 1)} s in all, ${f(result.growOverOnce, 2)}x building it once at its final size (${f(result.onceMs / 1000, 1)} s); splits took ${f(result.splitExtraMs / 1000, 1)} s beyond plain adds, ${f(result.splitShare * 100, 1)}% of growing`,
  );
  for (const t of result.targets)
    console.log(`${t.met ? 'met    ' : 'MISSED '} ${t.name}: ${typeof t.got === 'number' ? f(t.got, 3) : t.got} (target ${t.want})`);
} else if (name === 'rerank') {
  const st = result.stream;
  console.log(
    `\nWeft rerank benchmark: decoder reranker (query likelihood, ${result.model}), ${result.candidates} candidates of ${f(result.passageTokensMin, 0)}-${f(result.passageTokensMax, 0)} tokens, queries of ${result.queryTokensMin}-${result.queryTokensMax} tokens`,
  );
  console.log(`without KV reuse  ${f(result.noReuseMs, 0)} ms   first use (compute + keep) ${f(result.firstUseMs, 0)} ms`);
  console.log(`GPU tier          ${f(result.gpuTierMs, 0)} ms   kvReuseSpeedup ${f(result.kvReuseSpeedup, 2)}x`);
  console.log(`IndexedDB tier    ${f(result.idbTierMs, 0)} ms   speedup ${f(result.kvReuseSpeedupIdb, 2)}x`);
  console.log(
    `stream: ${st.queries} queries, Zipf s=${st.zipf} over ${st.corpus} passages (${st.touched} touched), GPU budget ${f(st.gpuFraction, 2)} of the working set`,
  );
  console.log(
    `KV tier hit rate ${f(st.hitRate, 3)} (GPU ${f(st.gpuHitRate, 3)}, IndexedDB ${f(st.idbHitRate, 3)}, compulsory misses ${f(st.compulsoryMissRate, 3)}); GPU tier: hotness ${f(st.gpuHitRate, 3)}, LRU ${f(st.gpuHitRateLru, 3)}, Belady ${f(st.gpuHitRateBelady, 3)}; ${f(st.msPerQueryMedian, 0)} ms/query`,
  );
} else if (name === 'quality') {
  console.log(
    `\nWeft quality benchmark: Cranfield, ${result.documents} documents, ${result.queries} judged queries (relevant: grades 1-4; nDCG gain 5 - grade)`,
  );
  console.log('mode                    MAP      nDCG@10  recall@100  ms/query');
  const row = (label, q) => console.log(`${label.padEnd(22)}  ${f(q.map, 4)}   ${f(q.ndcg10, 4)}   ${f(q.recall100, 4)}      ${f(q.msPerQuery, 1)}`);
  row('weft lexical (BM25)', result.lexical);
  for (const m of ['vector', 'hybrid']) if (result[m]) row(`weft ${m}`, result[m]);
  row('lunr.js BM25 (ref.)', result.reference);
  if (result.skipped) console.log(`vector and hybrid skipped: ${result.skipped}`);
  if (result.scale)
    console.log(
      `\none keyword search on ${result.scale.chunks} chunks in IndexedDB: ${f(result.scale.searchMsMedian, 1)} ms median, ${f(result.scale.searchMsP99, 1)} ms p99; CPU (blocks the thread) ${f(result.scale.cpuMsMedian, 2)} ms median, ${f(result.scale.cpuMsP99, 2)} ms p99; ${f(result.scale.bucketKBMedian, 0)} KiB of postings read`,
    );
  if (result.scale)
    console.log(
      `ingest of ${result.scale.chunks} chunks in batches of 10000: ${f(result.scale.ingestMs / 1000, 1)} s; then one 10-chunk add: ${f(result.scale.smallAddMs, 0)} ms`,
    );
  if (result.scale)
    console.log(
      `lexicalSession: longest one-term step ${f(result.scale.sliceCpuMsMedian, 2)} ms median, ${f(result.scale.sliceCpuMsP99, 2)} ms p99 of CPU; ranking (read()) ${f(result.scale.rankMsMedian, 2)} ms median, ${f(result.scale.rankMsP99, 2)} ms p99`,
    );
} else if (name === 'peers') {
  console.log(`\n${formatPeers(result)}`);
} else if (name === 'models') {
  console.log('\nWeft models benchmark');
  console.log(
    `reference generator (stories260K)  prefill ${f(result.prefillTokPerS, 0)} tok/s, decode ${f(result.decodeMsMedian, 2)} ms/step median, ${f(result.decodeMsP99, 2)} ms p99 (${result.decodeSteps} steps)`,
  );
  console.log(`embedder (384-dim test graph)      ${f(result.embedChunksPerS, 1)} chunks/s on WebGPU, ${f(result.embedChunksPerSWasm, 1)} on WASM`);
} else {
  console.log(
    `\nWeft tiers benchmark: ${result.n} x ${result.dim} ${result.storage}, nlist ${result.nlist}, nprobe ${result.nprobe}, cache ${result.cacheFraction * 100}% of the index, Zipf s = ${result.zipf}, ${result.queries} queries`,
  );
  console.log(
    `cold open + first answer  ${f(result.coldOpenMs, 1)} ms; with kernels already compiled ${f(result.coldOpenCompiledMs, 1)} ms (reading its lists: ${f(result.firstQueryReadMs, 1)} ms)`,
  );
  console.log(`IndexedDB reads           ${f(result.idbReadMBps, 1)} MB/s`);
  console.log(`IndexedDB → GPU stream    ${f(result.streamMBps, 1)} MB/s (overlap ${f(result.streamOverlap, 3)})`);
  console.log(
    `hit rate                  ${result.policy} (default) ${f(result.hitRate, 3)} (trimmed to 0.9 after each search: ${f(result.hitRateFill09, 3)}), hotness ${f(result.hitRateHotness, 3)}, LRU ${f(result.hitRateLru, 3)}; Belady ${f(result.beladyHitRate, 3)}, static top-popularity ${f(result.staticHitRate, 3)} (${result.policy}/Belady ${f(result.hitRateVsOptimal, 3)})`,
  );
}
console.log('\ntargets:');
for (const t of result.targets) console.log(`  ${t.met ? 'met    ' : 'NOT met'}  ${t.name}: ${f(t.got, 3)} (want ${t.want})`);
if (a.json) console.log(JSON.stringify(result));

/**
 * `quality --embedder use-lite`: the real sentence encoder's benchmark runs under Node (its
 * packages are Node's), loaded through Vite's SSR module loader; no browser.
 */
async function runQualityInNode(a, shared) {
  const chunkTokens = int(a['chunk-tokens'], 'chunk-tokens');
  const faqDefault = '/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz';
  const faq = a.faq ?? (existsSync(faqDefault) ? faqDefault : undefined);
  if (a.faq && !existsSync(a.faq)) fail(`--faq ${a.faq}: no such file`);
  const server = await createServer({
    root,
    logLevel: 'error',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false },
    optimizeDeps: { noDiscovery: true },
  });
  let result;
  try {
    const mod = await server.ssrLoadModule('/bench/quality-embedded.ts');
    const collections = await mod.loadCollections(resolve(shared, 'cranfield'), faq);
    if (!faq)
      console.error(
        `The Debian FAQ was not found (${faqDefault}); only Cranfield runs. To add it: apt-get download debian-faq && dpkg-deb -x debian-faq_*.deb faq, then --faq faq${faqDefault}`,
      );
    const overlapTokens = a['overlap-tokens'] === undefined ? undefined : Number(a['overlap-tokens']);
    if (overlapTokens !== undefined && !(Number.isInteger(overlapTokens) && overlapTokens >= 0 && overlapTokens < chunkTokens))
      fail('--overlap-tokens must be a whole number of tokens below --chunk-tokens');
    result = await mod.runEmbeddedQuality({ collections, chunkTokens, depth: 200, rankingsFile: a.rankings, overlapTokens }, (s) => console.error(s));
  } finally {
    await server.close();
  }
  const f = (x, d = 2) => (typeof x === 'number' ? x.toFixed(d) : String(x));
  for (const c of result.collections) {
    console.log(`\n${c.name}: ${c.documents} documents (${c.passages} passages of at most ${result.chunkTokens} pieces), ${c.queries} queries, ${c.judged}`);
    console.log('ranking                           nDCG@10  R@100   MAP@100');
    for (const [label, q] of Object.entries(c.quality)) console.log(`${label.padEnd(32)}  ${f(q.ndcg10, 3)}    ${f(q.recall100, 3)}   ${f(q.map, 3)}`);
    console.log(`runtime hybrid vs the default fusion applied here: ${c.hybridMismatches} of ${c.queries} queries differ`);
    for (const m of c.margins)
      console.log(
        `default fusion nDCG@10 - the better half's, each side ranked to ${String(m.depth).padStart(3)}: ${f(m.encoder, 3)} with the encoder, ${f(m.randomVectors, 3)} with random vectors (want >= -0.01)`,
      );
    for (const [method, n] of Object.entries(c.contributions))
      console.log(
        `top 10 of ${method} (50 a side): ${f(n.both, 1)} ranked by both, ${f(n.vectorOnly, 1)} by the vectors only, ${f(n.lexicalOnly, 1)} by the keywords only`,
      );
  }
  if (a.json) console.log(JSON.stringify(result));
}
