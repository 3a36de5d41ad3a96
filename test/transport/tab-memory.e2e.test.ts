// GPU memory with N tabs (issue 23): 1, 2 and 3 tabs of one app open the same runtime and each
// answers a question, first with the shared engine (createRagInWorker's default) and then, in a
// fresh browser context, with an engine per tab (`engine: 'tab'`). For each N it records the
// engines' own accounting of their GPU memory (info().memory.used, summed over distinct engines)
// and their generator loads, and the GPU process's resident set (CDP SystemInfo.getProcessInfo
// plus /proc; SwiftShader keeps "GPU" memory in that process's RAM). It asserts the accounting
// (shared: 1×, one load; per tab: N×, N loads) and prints everything; the resident set is too
// noisy to assert on. The runtime keeps its defaults: the accounted bytes are mostly the list
// cache's default 16 MiB hold (held from the start, filled or not) and the stories260K
// generator's 2.9 MiB, and each engine's own GPU device shows in the resident set anyway (about
// 30 MiB an engine here). The figures are in docs/design/one-engine-per-app.md.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { CDPSession, Page } from 'playwright';
import type { Fixture } from '../support/fixture-server.js';
import { answerInTab as answer, engineFixture, openInTab as open, wingNotes } from '../support/engine-tabs.js';
import type { EngineInfo } from '../../src/transport/engine-api.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await engineFixture();
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

interface Tab {
  rag: import('../../src/transport/client.js').RagClient;
}
declare const window: Tab & Window;

type Kind = 'shared' | 'tab';
const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const info = (page: Page): Promise<EngineInfo> => page.evaluate(() => window.rag.engine.api.info());

const notes = wingNotes(48);

/** The GPU process's resident set in MiB (Linux /proc), found by CDP SystemInfo.getProcessInfo. */
async function gpuRssMiB(cdp: CDPSession): Promise<number | undefined> {
  const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: { type: string; id: number }[] };
  const gpu = processInfo.find((p) => p.type === 'GPU');
  if (!gpu) return undefined;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gpu.id}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined; // not Linux, or the process is gone
  }
}

/** The resident set once it stops moving (two readings 300 ms apart within 2 MiB, at most ~3 s). */
async function settledRss(cdp: CDPSession): Promise<number | undefined> {
  let last = await gpuRssMiB(cdp);
  for (let i = 0; i < 10; i++) {
    await sleep(300);
    const now = await gpuRssMiB(cdp);
    if (now === undefined || last === undefined || Math.abs(now - last) < 2) return now;
    last = now;
  }
  return last;
}

interface Row {
  kind: Kind;
  tabs: number;
  /** Sum over distinct engines of info().memory.used. */
  accounted: number;
  /** Generator loads summed over distinct engines. */
  loads: number;
  engines: number;
  connections: number[];
  rssBefore: number | undefined;
  rss: number | undefined;
  holders: Record<string, number>;
}

/** 1 to `tabs` tabs of one app in a fresh context, each opening the runtime and answering a question. */
async function measure(kind: Kind, cdp: CDPSession, tabs = 3): Promise<Row[]> {
  const context = await fx.browser.newContext();
  const rows: Row[] = [];
  try {
    const rssBefore = await settledRss(cdp);
    const pages: Page[] = [];
    const dbName = `e2e-tab-memory-${kind}-${Date.now()}`;
    for (let n = 1; n <= tabs; n++) {
      const page = await fx.page(context);
      pages.push(page);
      await open(page, dbName, kind);
      if (n === 1)
        await page.evaluate(async (docs) => {
          await window.rag.ingest(docs);
        }, notes);
      expect((await answer(page, `At what speed was model ${n} tested?`))?.length).toBeGreaterThan(0);
      const infos = await Promise.all(pages.map(info));
      // The shared engine answers every tab's info(); per tab, each tab has its own engine.
      const engines = kind === 'shared' ? infos.slice(0, 1) : infos;
      const holders: Record<string, number> = {};
      for (const i of engines) for (const [h, b] of Object.entries(i.memory?.holders ?? {})) holders[h] = (holders[h] ?? 0) + b;
      rows.push({
        kind,
        tabs: n,
        accounted: engines.reduce((a, i) => a + (i.memory?.used ?? 0), 0),
        loads: engines.reduce((a, i) => a + i.engine.loads, 0),
        engines: engines.length,
        connections: infos.map((i) => i.engine.connections),
        rssBefore,
        rss: await settledRss(cdp),
        holders,
      });
    }
  } finally {
    await context.close();
  }
  return rows;
}

test('GPU memory with N tabs: one shared engine holds it once (1×), an engine per tab N times (N×)', async () => {
  const cdp = await fx.browser.newBrowserCDPSession();
  // A first engine leaves the GPU process larger for good (its first pipelines and allocations),
  // whichever kind it is: one tab opens and answers beforehand, so both kinds start warm.
  await measure('tab', cdp, 1);
  const shared = await measure('shared', cdp);
  const tab = await measure('tab', cdp);
  const f = (b: number | undefined, unit = MiB) => (b === undefined ? 'n/a' : (b / unit).toFixed(1));
  console.log(
    [
      'tabs | engine | engines | accounted MiB | loads | GPU process RSS MiB: before the tabs -> with them (grown) | holders MiB',
      ...[...shared, ...tab].map(
        (r) =>
          `${r.tabs} | ${r.kind} | ${r.engines} | ${f(r.accounted)} | ${r.loads} | ${f(r.rssBefore, 1)} -> ${f(r.rss, 1)} (${
            r.rss !== undefined && r.rssBefore !== undefined ? `+${(r.rss - r.rssBefore).toFixed(1)}` : 'n/a'
          }) | ${Object.entries(r.holders)
            .map(([h, b]) => `${h} ${f(b)}`)
            .join(', ')}`,
      ),
    ].join('\n'),
  );

  // One shared engine: every tab connected to it, one load, the same memory as one tab's
  // (within 1 MiB or 5%: the search's transient buffers).
  const near = (a: number, b: number) => Math.abs(a - b) <= Math.max(MiB, 0.05 * b);
  for (const r of shared) {
    expect(r.engines).toBe(1);
    expect(r.connections).toEqual(Array(r.tabs).fill(r.tabs));
    expect(r.loads).toBe(1);
    expect(near(r.accounted, shared[0]!.accounted), `shared, ${r.tabs} tabs: ${r.accounted} B against ${shared[0]!.accounted} B`).toBe(true);
  }
  // An engine per tab: N engines, N loads, N times one engine's memory.
  for (const r of tab) {
    expect(r.connections).toEqual(Array(r.tabs).fill(1));
    expect(r.loads).toBe(r.tabs);
    expect(near(r.accounted, r.tabs * tab[0]!.accounted), `per tab, ${r.tabs} tabs: ${r.accounted} B against ${r.tabs} × ${tab[0]!.accounted} B`).toBe(true);
  }
  // One tab costs the same either way.
  expect(near(tab[0]!.accounted, shared[0]!.accounted)).toBe(true);
}, 180_000);
