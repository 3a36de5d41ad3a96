// The benchmarks a machine with a GPU but no Chromium runs (bench/deno.ts): built with Vite, run by
// the deno devDependency on SwiftShader WebGPU. `search` with PQ codes, and `growth`, `tiers`,
// `rag` and `workflows` with their index in Deno's file store (`rag`'s remote regime on the local
// host of bench/deno-host.ts), each print one JSON result — what the
// issues' real-GPU runs need, checked here on a small index so that a lent GPU finds them working.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { denoSwiftShaderEnv as env } from '../test/support/deno-swiftshader.js';

const root = resolve(import.meta.dirname, '..');
const deno = resolve(root, 'node_modules/.bin/deno');
const bundle = resolve(root, 'dist/bench-deno/weft-bench.js');

function bench(name: string, options: object): Record<string, unknown> {
  const run = spawnSync(deno, ['run', '-A', '--unstable-webgpu', '--node-modules-dir=manual', bundle, name, JSON.stringify(options)], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 400_000,
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

beforeAll(() => {
  const built = spawnSync('npm', ['run', 'build:bench-deno', '--', '--logLevel', 'error'], { cwd: root, encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
}, 120_000);

describe('the Deno benchmarks', () => {
  test('search with "storage": "pq": the IVF-PQ index against IVF-Flat f16, recall before and after re-ranking', () => {
    const r = bench('search', { storage: 'pq', n: 3000, dim: 32, queries: 20, nlist: 16, nprobe: [4, 16] });
    const rows = r.rows as { nprobe: number; recallF16: number; recallCodes: number; recall: number }[];
    expect(rows.map((x) => x.nprobe)).toEqual([4, 16]);
    // Re-ranked recall is at least the codes' own, and every list probed it is IVF-Flat's.
    for (const x of rows) expect(x.recall).toBeGreaterThanOrEqual(x.recallCodes);
    expect(rows[1]!.recall).toBeGreaterThan(0.9);
    expect((r.bytesPerVector as { pq: number; f16: number }).pq).toBeLessThan((r.bytesPerVector as { f16: number }).f16);
  }, 420_000);

  test('growth: 10 -> n in batches in the file store, no list past its bound, recall beside a fresh index', () => {
    const r = bench('growth', { n: 3000, dim: 16, queries: 20, nprobe: 8 });
    expect(r.store).toBe('files');
    const rows = r.rows as { n: number; nlist: number; maxList: number; bound: number; recall?: number }[];
    expect(rows.at(-1)!.n).toBe(3000);
    expect(rows.at(-1)!.nlist).toBeGreaterThan(rows[0]!.nlist);
    expect(rows.filter((x) => x.recall !== undefined).length).toBeGreaterThan(0);
    for (const t of r.targets as { name: string; met: boolean }[]) expect(t.met, t.name).toBe(true);
  }, 420_000);

  test('tiers: the file store under the GPU cache, hit rates against Belady on the same stream', () => {
    const r = bench('tiers', { n: 3000, dim: 32, queries: 40 });
    expect(r.tier).toBe('files');
    for (const k of ['hitRate', 'hitRateLru', 'beladyHitRate']) expect(r[k]).toBeGreaterThan(0);
    expect(r.hitRate as number).toBeLessThanOrEqual(r.beladyHitRate as number);
  }, 420_000);

  test('workflows: a mixed stream through two schedulers over lists cold in files, with the bound and the reordering figure', () => {
    const r = bench('workflows', { n: 4000, requests: 4, rate: 4, maxTokens: 4, schedulers: ['sequential', 'weft'] });
    expect(r.regime).toBe('idb');
    const schedulers = r.schedulers as Record<string, { throughput: number; meanMs: number }>;
    expect(Object.keys(schedulers)).toEqual(['sequential', 'weft']);
    for (const s of Object.values(schedulers)) expect(s.throughput).toBeGreaterThan(0);
    for (const k of ['idealThroughputGain', 'idealLatencyGain', 'throughputVsSequential']) expect(Number.isFinite(r[k]), k).toBe(true);
    expect((r.reordering as { slicesUntilStable: number }).slicesUntilStable).toBeGreaterThan(0);
  }, 420_000);

  test('rag: the woven and sequential streams over lists cold in files, with the bound', () => {
    const r = bench('rag', { n: 4000, requests: 2, maxTokens: 4, part: 'stream', arrivalMs: 50 });
    expect(r.regime).toBe('idb');
    for (const k of ['e2eSpeedup', 'idealSpeedup', 'ofIdeal', 'boundE2eMedianMs']) expect(Number.isFinite(r[k]), k).toBe(true);
  }, 420_000);

  test('rag --regime remote: a PQ index published to the local host with its network emulated, read by range requests', () => {
    const r = bench('rag', { regime: 'remote', storage: 'pq', n: 4000, requests: 2, maxTokens: 4, part: 'stream', arrivalMs: 50 });
    expect(r.regime).toBe('remote');
    expect(r.network).toEqual({ latencyMs: 40, mbps: 20 });
    const woven = r.remoteWoven as { requests: number; bytesFetched: number };
    expect(woven.requests).toBeGreaterThan(0);
    // A first answer reads part of the file, not all of it.
    expect(woven.bytesFetched).toBeLessThan((r.file as { bytes: number }).bytes);
    expect(Number.isFinite(r.e2eSpeedup)).toBe(true);
  }, 420_000);
});
