// One engine per app across real tabs (issue 23), three pages of one app in one browser context
// with createRagInWorker's default shared engine: the models load once for all of them; a
// write through one tab is searched from another at once; the tabs answer while the others ask;
// the tab that started the engine closes in the middle of another tab's answer and that answer
// ends as usual, with no second load; the tab hosting the engine crashes, the other tab's next
// question starts the engine again (its models reloaded) and is answered.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Page } from 'playwright';
import type { Fixture } from '../support/fixture-server.js';
import { answerInTab as answer, engineFixture, openInTab as open, wingNotes } from '../support/engine-tabs.js';

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

const engineInfo = (page: Page) => page.evaluate(async () => (await window.rag.engine.api.info()).engine);

const notes = wingNotes(12);

test('three tabs share one engine: one load, writes seen at once, answers side by side, the first tab closing mid-answer costs nothing', async () => {
  const context = await fx.browser.newContext();
  try {
    const [a, b, c] = [await fx.page(context), await fx.page(context), await fx.page(context)];
    const dbName = `e2e-shared-${Date.now()}`;
    const firstMs = await open(a, dbName);
    const secondMs = await open(b, dbName);
    await open(c, dbName);
    console.log(`time to a ready runtime: first tab ${firstMs.toFixed(0)} ms (loads the models), second tab ${secondMs.toFixed(0)} ms (joins)`);
    expect(await engineInfo(c)).toEqual({ connections: 3, users: 3, loads: 1 });
    await a.evaluate(async (docs) => {
      await window.rag.ingest(docs);
    }, notes);
    const hits = (page: Page) => page.evaluate(async () => (await window.rag.search('wing of model 3', { k: 3 })).map((p) => p.docId));
    expect(await hits(b)).toEqual(await hits(a));
    // Two tabs asking at once against one tab asking both (the same engine, the same scheduler).
    const timed = async (run: () => Promise<unknown>) => {
      const t0 = Date.now();
      await run();
      return Date.now() - t0;
    };
    const oneTab = await timed(() => Promise.all([answer(b, 'Which wing was tested?'), answer(b, 'What speed was model 5?')]));
    const twoTabs = await timed(() => Promise.all([answer(b, 'Which wing was tested?'), answer(c, 'What speed was model 5?')]));
    console.log(`two questions at once: from one tab ${oneTab} ms, from two tabs ${twoTabs} ms`);
    // b and c ask at once; a closes while they answer.
    const both = Promise.all([answer(b, 'At what speed was model 3 tested?'), answer(c, 'Which wing was tested?')]);
    await a.close();
    const [x, y] = await both;
    expect(x?.length).toBeGreaterThan(0);
    expect(y?.length).toBeGreaterThan(0);
    expect(await engineInfo(b)).toEqual({ connections: 2, users: 2, loads: 1 });
    expect(await answer(c, 'At what speed was model 3 tested?')).toBe(x);
  } finally {
    await context.close();
  }
}, 240_000);

test("the tab hosting the engine crashes: the other tab's next question starts it again and is answered", async () => {
  const context = await fx.browser.newContext();
  try {
    const [a, b] = [await fx.page(context), await fx.page(context)];
    const dbName = `e2e-crash-${Date.now()}`;
    await open(a, dbName);
    await open(b, dbName);
    await b.evaluate(async (docs) => {
      await window.rag.ingest(docs);
    }, notes);
    const before = await answer(b, 'At what speed was model 3 tested?');
    const cdp = await context.newCDPSession(a);
    // The renderer dies before it answers: do not wait for the answer.
    void cdp.send('Page.crash').catch(() => undefined);
    const t0 = Date.now();
    // The engine lived in a's renderer: its calls fail (WORKER_FAILED) until b's next call restarts it.
    const after = await b.evaluate(async () => {
      for (let i = 0; ; i++) {
        try {
          await window.rag.info();
          if (window.rag.engine.lost) throw new Error('still the dead engine');
          return (await window.rag.engine.api.info()).engine;
        } catch (e) {
          if (i > 50) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    });
    console.log(`after the host tab crashed, the other tab's engine was running again in ${Date.now() - t0} ms`);
    expect(after).toEqual({ connections: 1, users: 1, loads: 1 });
    expect(await answer(b, 'At what speed was model 3 tested?')).toBe(before);
  } finally {
    await context.close();
  }
}, 240_000);
