// The peers benchmark (bench/peers.ts) on a tiny index: every system builds, searches, persists
// and reopens in a fresh iframe; the exact systems find the exact answer; Weft's CPU fallback
// traces the same recall curve as its GPU path; a failing system becomes an error row.
import { describe, expect, it } from 'vitest';
import { runPeersBench } from './peers.js';

describe('peers benchmark', () => {
  it('measures every system on the same data and reopens each from storage', async () => {
    const r = await runPeersBench({ n: 400, dim: 16, queries: 12, k: 5, seed: 7 }, () => {});
    expect(r.rows.map((x) => x.system)).toEqual(['weft-gpu', 'weft-cpu', 'hnswlib-wasm', 'voy-search', 'mememo', 'orama']);
    for (const row of r.rows) {
      expect(row.error, row.system).toBeUndefined();
      expect(row.buildMs).toBeGreaterThan(0);
      expect(row.recall).toBeGreaterThan(0.5);
      expect(row.batchQps).toBeGreaterThan(0);
      expect(row.coldOpenMs).toBeGreaterThan(0);
      // The reopened index answers like the built one: its first answer is the right one.
      expect(row.coldRecall, row.system).toBeGreaterThanOrEqual(0.8);
      expect(row.sweep!.length).toBeGreaterThan(0);
      expect(row.recall).toBe(row.sweep!.find((s) => s.knob === row.knob)!.recall);
    }
    const by = (s: string) => r.rows.find((x) => x.system === s)!;
    expect(by('voy-search').recall).toBe(1);
    expect(by('orama').recall).toBe(1);
    expect(by('weft-cpu').sweep!.map((s) => s.recall)).toEqual(by('weft-gpu').sweep!.map((s) => s.recall));
    expect(by('weft-gpu').memory!.gpuBytes).toBeGreaterThan(0);
  });

  it('turns a system that fails into an error row and goes on', async () => {
    const r = await runPeersBench({ n: 200, dim: 8, queries: 4, k: 5, seed: 1, systems: ['no-such-system' as never, 'orama'] }, () => {});
    expect(r.rows[0]!.error).toMatch(/no-such-system/);
    expect(r.rows[1]!.error).toBeUndefined();
    expect(r.rows[1]!.recall).toBe(1);
  });
});
