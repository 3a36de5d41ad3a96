// <weft-chat> in a browser without WebGPU (the `browser-nogpu` project): it starts with no model to
// download, says in its status that it searches only, adds documents, and answers a question with
// the passages that match (found on the CPU) and a sentence saying why no answer is written — also
// with a workflow set, whose stages need a generator.
import { afterEach, expect, test } from 'vitest';
import { page } from 'vitest/browser';
import '../../src/entries/chat.js';
import type { WeftChat } from '../../src/entries/chat.js';
import { deleteStore } from '../../src/storage/idb-store.js';
import { workerOptions } from '../support/rag-runtimes.js';

const dbName = `weft-nogpu-chat-${crypto.randomUUID()}`;
afterEach(async () => {
  await deleteStore(dbName);
});

test('no WebGPU: the element searches only, and says so', async () => {
  await page.viewport(900, 700);
  const el = document.createElement('weft-chat') as WeftChat;
  el.options = await workerOptions(dbName);
  el.k = 2;
  el.theme = 'light';
  el.workflow = 'hyde'; // no generator to write its hypothesis: the search is the reply, as without it
  el.style.height = '560px';
  el.style.width = '760px';
  const ready = new Promise<void>((resolve, reject) => {
    el.addEventListener('weft-ready', () => resolve(), { once: true });
    el.addEventListener('weft-error', (e) => reject(new Error(e.detail.message)), { once: true });
  });
  document.body.append(el);
  try {
    await ready;
    await el.ingest([
      new File(['Shield volcanoes have gentle slopes built from runny basalt lava.'], 'volcanoes.md', { type: 'text/markdown' }),
      new File(['Green tea is steamed soon after picking, so its leaves stay green.'], 'tea.txt', { type: 'text/plain' }),
    ]);
    await el.updateComplete;
    const root = el.shadowRoot!;
    expect(root.querySelector('[part~=status]')!.textContent).toMatch(/search only \(no WebGPU\)/);
    expect(await el.ask('Which volcanoes have gentle slopes?')).toBeUndefined();
    await el.updateComplete;
    const turn = el.messages.at(-1)!;
    expect(turn).toMatchObject({ role: 'assistant', searchOnly: true, pending: false });
    expect(turn.stages).toBeUndefined();
    expect(root.querySelector('[part=error]')).toBeNull();
    expect(turn.passages!.map((p) => p.docId).sort()).toEqual(['tea.txt', 'volcanoes.md']);
    expect(root.querySelector('.message.assistant .bubble')!.textContent).toMatch(/no WebGPU/);
    expect(root.querySelectorAll('.sources button')).toHaveLength(2);
    await page.screenshot({ element: el, path: '__screenshots__/weft-chat-no-webgpu.png' });
  } finally {
    const rag = el.rag;
    el.remove();
    await rag?.close().catch(() => undefined);
  }
});
