// <weft-chat> on the real engine worker, with the test embedder (an ONNX graph written here, the
// MiniLM tokenizer) and the stories260K reference generator: it starts and reports ready, ingests
// with progress, streams an answer with numbered sources that open the cited passage, stops an
// answer, keeps the conversation across turns, answers questions alongside each other with their own
// request numbers, runs no markup from documents or questions, works
// from the keyboard with labelled controls, runs a workflow (workflow="hyde", or a graph by
// property) with its stages folded above each answer, and is screenshotted in light and dark themes.
import { afterEach, expect, inject, test } from 'vitest';
import { page, userEvent } from 'vitest/browser';
import '../../src/entries/chat.js';
import { splitCitations } from '../../src/chat/citation-marks.js';
import type { WeftChat } from '../../src/entries/chat.js';
import type { RagClient, RagEvent, RagWorkerOptions } from '../../src/entries/client.js';
import { deleteStore, openStore } from '../../src/storage/idb-store.js';
import { exportIndex } from '../../src/storage/portable.js';
import { clearRemoteCache } from '../../src/storage/remote/section-cache.js';
import { BUILTIN_WORKFLOWS } from '../../src/workflow/builtins.js';
import { testEmbeddingGraph } from '../support/tiny-onnx.js';

const assets = new URL(inject('sharedAssets'), location.href).href;
const tok = async (f: string) => (await fetch(`${assets}/minilm-tokenizer/${f}`)).json() as Promise<object>;

/** The test embedder's ONNX graph (fresh bytes each time: the worker takes them). */
const embeddingGraph = testEmbeddingGraph;

async function testOptions(dbName: string): Promise<Partial<RagWorkerOptions>> {
  return {
    dbName,
    embedder: {
      model: embeddingGraph(),
      tokenizer: await tok('tokenizer.json'),
      tokenizerConfig: await tok('tokenizer_config.json'),
      device: 'wasm',
      maxLength: 64,
      wasmPaths: new URL('/node_modules/onnxruntime-web/dist/', location.href).href,
      modelId: 'tiny',
    },
    generator: { reference: { model: `${assets}/lm-stories260K/stories260K.bin`, tokenizer: `${assets}/lm-stories260K/tok512.bin` } },
  };
}

const mounted: { el: WeftChat; dbName: string }[] = [];
afterEach(async () => {
  const all = mounted.splice(0);
  for (const { el } of all) {
    const rag = el.rag;
    el.remove();
    await rag?.close().catch(() => undefined);
  }
  for (const dbName of new Set(all.map((m) => m.dbName))) await deleteStore(dbName);
  delete (window as { __pwned?: unknown }).__pwned;
});

/** Every event the element dispatched, by type. */
interface Recorded {
  ready: number;
  progress: { phase: string; status: string }[];
  events: RagEvent[];
  answers: Extract<RagEvent, { type: 'done' }>[];
  errors: { code: string; message: string }[];
}

/** Mounts a <weft-chat> on the test models and waits for weft-ready. */
async function mount(attributes: Record<string, string> = {}, dbName = `weft-chat-${crypto.randomUUID()}`): Promise<{ el: WeftChat; got: Recorded }> {
  const el = document.createElement('weft-chat');
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
  el.options = await testOptions(dbName);
  el.style.height = '560px';
  el.style.width = '760px';
  const got: Recorded = { ready: 0, progress: [], events: [], answers: [], errors: [] };
  // Listened for on the document: the events bubble out of the element.
  const ac = new AbortController();
  document.addEventListener(
    'weft-ready',
    () => {
      got.ready++;
    },
    { signal: ac.signal },
  );
  document.addEventListener(
    'weft-progress',
    (e) => {
      got.progress.push({ phase: e.detail.phase, status: e.detail.status });
    },
    { signal: ac.signal },
  );
  document.addEventListener(
    'weft-event',
    (e) => {
      got.events.push(e.detail);
    },
    { signal: ac.signal },
  );
  document.addEventListener(
    'weft-answer',
    (e) => {
      got.answers.push(e.detail);
    },
    { signal: ac.signal },
  );
  document.addEventListener(
    'weft-error',
    (e) => {
      got.errors.push(e.detail);
    },
    { signal: ac.signal },
  );
  const ready = new Promise<void>((resolve, reject) => {
    el.addEventListener('weft-ready', () => resolve(), { once: true });
    el.addEventListener('weft-error', (e) => reject(new Error(`weft-error ${e.detail.code}: ${e.detail.message}`)), { once: true });
  });
  document.body.append(el);
  mounted.push({ el, dbName });
  await ready;
  return { el, got };
}

const shadow = (el: WeftChat) => el.shadowRoot!;
const q = <T extends Element = HTMLElement>(el: WeftChat, selector: string) => shadow(el).querySelector<T>(selector);
const qa = <T extends Element = HTMLElement>(el: WeftChat, selector: string) => [...shadow(el).querySelectorAll<T>(selector)];
const settle = async (el: WeftChat) => {
  await el.updateComplete;
  await new Promise((r) => setTimeout(r, 0));
  await el.updateComplete;
};
/** Waits until `check` holds (polling), or fails with `what`. */
async function until(check: () => boolean, what: string, ms = 60_000) {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const VOLCANOES =
  '# Volcanoes\n\nShield volcanoes have gentle slopes built from runny basalt lava. Cinder cones are small steep hills of ash. Stratovolcanoes are tall cones of alternating lava and ash layers.';
const TEA =
  'Green tea is steamed or pan fired soon after picking, so its leaves stay green. Black tea is fully oxidised before drying, which darkens the leaves.';

test('ready, ingest with progress, a streamed answer with sources that open the passage, Stop, and a conversation that keeps its turns', async () => {
  const { el, got } = await mount({ 'max-tokens': '16', k: '2' });
  expect(got.ready).toBe(1);
  expect(got.progress.filter((p) => p.phase === 'load').map((p) => p.status)).toContain('ready');
  expect(el.rag).toBeDefined();

  const result = await el.ingest([new File([VOLCANOES], 'volcanoes.md', { type: 'text/markdown' }), new File([TEA], 'tea.txt', { type: 'text/plain' })]);
  expect(result.documents).toBe(2);
  const stages = [...new Set(got.progress.filter((p) => p.phase === 'ingest').map((p) => p.status))];
  expect(stages).toEqual(['read', 'embed', 'index', 'persist']);
  await settle(el);
  expect(q(el, '[part~=status]')!.textContent).toContain(`${result.chunks} passage`);

  // Tokens stream into the conversation: the assistant's bubble shows several growing texts before the answer is done.
  const seen: string[] = [];
  const observer = new MutationObserver(() => {
    const text = qa(el, '.message.assistant .bubble').at(-1)?.textContent ?? '';
    if (text && !text.includes('Searching') && !text.includes('Reading') && seen.at(-1) !== text) seen.push(text);
  });
  observer.observe(shadow(el), { subtree: true, childList: true, characterData: true });
  const first = await el.ask('Which kinds of volcano are there?');
  observer.disconnect();
  expect(first).toBeDefined();
  expect(got.answers).toHaveLength(1);
  const done = got.answers[0]!;
  expect(done.passages.length).toBeGreaterThan(0);
  expect(done.answer.length).toBeGreaterThan(0);
  const tokenEvents = got.events.filter((e) => e.type === 'token');
  expect(tokenEvents.length).toBeGreaterThan(1);
  expect(got.events[0]!.type).toBe('retrieval');
  expect(got.events.at(-1)!.type).toBe('done');
  expect(seen.length).toBeGreaterThan(1); // streamed, not painted once at the end
  await settle(el);
  expect(q(el, '.message.assistant .bubble')!.textContent!.trim()).toBe(done.answer.trim());
  expect(q(el, '.message.user .bubble')!.textContent).toBe('Which kinds of volcano are there?');

  // A source button [n] opens its passage and document in the panel; Close returns focus to it.
  const sources = qa<HTMLButtonElement>(el, '.sources button');
  expect(sources).toHaveLength(done.passages.length);
  expect(sources[0]!.textContent).toContain('[1]');
  sources[0]!.click();
  await settle(el);
  const passage = done.passages.find((p) => p.citation === 1)!;
  expect(q(el, '[part=passage]')!.textContent).toBe(passage.text);
  expect(q(el, '.panel h2')!.textContent).toContain(passage.docId);
  expect(shadow(el).activeElement).toBe(q(el, '.panel .close'));
  q<HTMLButtonElement>(el, '.panel .close')!.click();
  await settle(el);
  expect(q(el, '.panel')).toBeNull();
  expect(shadow(el).activeElement).toBe(sources[0]);

  // Stop during an answer ends it with finishReason 'abort'; the second question carries the first turn.
  el.maxTokens = 200;
  got.events.length = 0;
  const stopOnFirstToken = () => {
    if (!got.events.some((e) => e.type === 'token')) return;
    document.removeEventListener('weft-event', stopOnFirstToken);
    queueMicrotask(async () => {
      await settle(el);
      q<HTMLButtonElement>(el, '[part=stop]')!.click();
    });
  };
  document.addEventListener('weft-event', stopOnFirstToken);
  const second = await el.ask('And which one is the tallest?');
  expect(second?.finishReason).toBe('abort');
  expect(second!.tokens.generated).toBeLessThan(200);
  const retrieval = got.events.find((e) => e.type === 'retrieval') as Extract<RagEvent, { type: 'retrieval' }>;
  expect(retrieval.query).toContain('And which one is the tallest?');
  expect(retrieval.query).toContain('Which kinds of volcano are there?');
  await settle(el);
  expect(q(el, '[part=stop]')).toBeNull();
  expect(q(el, '[part=send]')).not.toBeNull();
  expect(qa(el, '.message .meta').at(-1)!.textContent).toContain('Stopped');
  expect(el.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);

  // A third turn sees the stopped answer's text too; clear() starts over.
  got.events.length = 0;
  el.maxTokens = 4;
  await el.ask('Thanks!');
  const third = got.events.find((e) => e.type === 'retrieval') as Extract<RagEvent, { type: 'retrieval' }>;
  expect(third.query).toContain('And which one is the tallest?');
  el.clear();
  await settle(el);
  expect(el.messages).toEqual([]);
  expect(qa(el, '.message')).toHaveLength(0);
  expect(got.errors).toEqual([]);
});

test('answers alongside: overlapping questions with their own request numbers on weft-event, one Stop for all, timings; an ingest cancelled by its signal', async () => {
  const { el, got } = await mount({ 'max-tokens': '128', k: '2', timings: '' });
  expect(el.timings).toBe(true);

  // ingest(files, { signal }): an aborted signal, and one aborted mid-ingest, add nothing.
  const file = () => new File([VOLCANOES], 'volcanoes.md', { type: 'text/markdown' });
  await expect(el.ingest([file()], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
  const cancel = new AbortController();
  const onProgress = (e: CustomEvent<{ phase: string }>) => {
    if (e.detail.phase === 'ingest') cancel.abort();
  };
  el.addEventListener('weft-progress', onProgress);
  await expect(el.ingest([file()], { signal: cancel.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  el.removeEventListener('weft-progress', onProgress);
  expect((await el.rag!.info()).size).toBe(0);
  await settle(el);
  expect(q(el, '[part=notice]')!.textContent).toContain('cancelled');
  await el.ingest([file(), new File([TEA], 'tea.txt', { type: 'text/plain' })]);

  // The first question streams; two more are asked alongside it and answered at once, on their own.
  const first = el.ask('Which kinds of volcano are there?');
  await until(() => got.events.some((e) => e.type === 'token'), 'the first answer to stream');
  const second = el.ask('How is green tea made?', { alongside: true });
  const third = el.ask('What makes black tea dark?', { alongside: true });
  expect(el.answering).toBe(true);
  await settle(el);
  expect(qa(el, '[part=stop]')).toHaveLength(1);
  const done = await Promise.all([first, second, third]);
  expect(done.map((d) => d?.type)).toEqual(['done', 'done', 'done']);
  expect(el.answering).toBe(false);

  const events = got.events as (RagEvent & { request: number; question: string })[];
  const requests = [...new Set(events.map((e) => e.request))];
  expect(requests).toEqual([1, 2, 3]);
  expect(el.messages.filter((t) => t.role === 'assistant').map((t) => t.request)).toEqual([1, 2, 3]);
  const questions = ['Which kinds of volcano are there?', 'How is green tea made?', 'What makes black tea dark?'];
  for (const [i, r] of requests.entries()) {
    const own = events.filter((e) => e.request === r);
    expect(new Set(own.map((e) => e.question))).toEqual(new Set([questions[i]]));
    expect(own.at(-1)!.type).toBe('done');
    expect(own.some((e) => e.type === 'stage')).toBe(true); // the trace stages a timeline draws
  }
  // Alongside answers do not carry the conversation's earlier turns.
  const retrieval = (r: number) => events.find((e) => e.type === 'retrieval' && e.request === r) as Extract<RagEvent, { type: 'retrieval' }>;
  expect(retrieval(2).query).toContain('green tea');
  expect(retrieval(2).query).not.toContain('volcano');
  // They overlapped: the second question was searched before the first answer was done.
  expect(events.findIndex((e) => e.request === 2)).toBeLessThan(events.findIndex((e) => e.request === 1 && e.type === 'done'));
  await settle(el);
  const metas = qa(el, '.message.assistant .meta').map((m) => m.textContent!);
  expect(metas).toHaveLength(3);
  for (const m of metas) expect(m).toMatch(/^\d+ tokens? · first token after \d+ ms · [\d.]+ s in all/);

  // One Stop ends every answer in progress.
  el.maxTokens = 400;
  got.events.length = 0;
  const a = el.ask('Tell me more about volcanoes.');
  await until(() => got.events.some((e) => e.type === 'token'), 'the answer to stream');
  const b = el.ask('And about tea?', { alongside: true });
  await settle(el);
  q<HTMLButtonElement>(el, '[part=stop]')!.click();
  const [ra, rb] = await Promise.all([a, b]);
  expect(ra?.finishReason).toBe('abort');
  expect(rb === undefined || rb.finishReason === 'abort').toBe(true);
  expect(el.answering).toBe(false);
  expect(got.errors).toEqual([]);
});

test('untrusted text: markup in documents, file names and questions is shown as text and runs nothing', async () => {
  const { el, got } = await mount({ 'max-tokens': '8', k: '4' });
  const evilHtml =
    '<html><body><h1>Volcano safety</h1><script>window.__pwned=1</script>' +
    '<p>Keep away from lava. <img src=x onerror="window.__pwned=2"> Quoted markup: &lt;script&gt;window.__pwned=3&lt;/script&gt; and &lt;img src=x onerror="window.__pwned=4"&gt;</p></body></html>';
  const evilMarkdown =
    '# Volcano notes\n\nRaw HTML in Markdown: <img src=x onerror="window.__pwned=5"> and <script>window.__pwned=6</script> near the volcano.';
  await el.ingest([
    new File([evilHtml], 'safety.html', { type: 'text/html' }),
    { id: '<img src=x onerror="window.__pwned=7">.md', text: evilMarkdown, type: 'markdown' },
  ]);
  const done = await el.ask('Volcano safety <img src=x onerror="window.__pwned=8"> notes?');
  expect(done!.passages.length).toBe(2); // both documents' passages are in the answer
  await settle(el);

  const texts: string[] = [];
  for (let i = 0; i < done!.passages.length; i++) {
    qa<HTMLButtonElement>(el, '.sources button')[i]!.click();
    await settle(el);
    texts.push(q(el, '[part=passage]')!.textContent! + q(el, '.panel h2')!.textContent!);
    await new Promise((r) => setTimeout(r, 100)); // an onerror would have fired by now
  }
  const all = texts.join('\n');
  expect(all).toContain('Raw HTML in Markdown: and near the volcano.'); // the Markdown's raw HTML, reduced to its text
  expect(all).not.toMatch(/__pwned=[56]/);
  expect(all).toContain('<script>window.__pwned=3</script>'); // the HTML's quoted markup, as text
  expect(all).toContain('<img src=x onerror="window.__pwned=7">.md'); // the document id, as text
  expect(q(el, '.message.user .bubble')!.textContent).toContain('<img src=x onerror="window.__pwned=8">');
  expect(shadow(el).querySelectorAll('script, img, iframe, object')).toHaveLength(0);
  expect(document.querySelectorAll('img')).toHaveLength(0);
  expect((window as { __pwned?: unknown }).__pwned).toBeUndefined();
  expect(got.errors).toEqual([]);
});

test('keyboard and screen readers: labelled controls, Enter sends, Shift+Enter is a new line, Escape closes the source', async () => {
  const { el, got } = await mount({ 'max-tokens': '6' });
  await el.ingest([{ id: 'volcanoes.md', text: VOLCANOES, type: 'markdown' }]);
  await settle(el);

  const input = q<HTMLTextAreaElement>(el, 'textarea')!;
  expect(input.labels[0]!.textContent).toBe('Question');
  expect(q(el, '[part=send]')!.textContent).toBe('Send');
  expect(q(el, '[part=add]')!.textContent).toBe('Add documents');
  expect(q(el, '[part=conversation]')!.getAttribute('role')).toBe('log');
  expect(q(el, '[part=conversation]')!.getAttribute('aria-live')).toBe('polite');
  expect(q(el, 'input[type=file]')!.getAttribute('aria-label')).toBe('Documents to add');

  await userEvent.click(input);
  await userEvent.keyboard('What are cinder cones?');
  await userEvent.keyboard('{Shift>}{Enter}{/Shift}');
  await settle(el);
  expect(input.value).toBe('What are cinder cones?\n');
  expect(el.messages).toHaveLength(0); // Shift+Enter did not send
  await userEvent.keyboard('Small?');
  await userEvent.keyboard('{Enter}');
  await until(() => got.answers.length === 1, 'the answer');
  await settle(el);
  expect(el.messages[0]).toMatchObject({ role: 'user', content: 'What are cinder cones?\nSmall?' });
  expect(input.value).toBe('');
  expect(q(el, '.message.assistant')!.getAttribute('aria-busy')).toBe('false');

  // Tab reaches the source button; Enter opens the panel, Escape closes it and focus returns.
  const source = q<HTMLButtonElement>(el, '.sources button')!;
  expect(source.getAttribute('aria-label')).toMatch(/^Source 1: volcanoes\.md$/);
  source.focus();
  await userEvent.keyboard('{Enter}');
  await settle(el);
  const panel = q(el, '[part=panel]')!;
  expect(panel.getAttribute('role')).toBe('dialog');
  expect(shadow(el).getElementById(panel.getAttribute('aria-labelledby')!)!.textContent).toContain('volcanoes.md');
  expect(q(el, '.panel .close')!.getAttribute('aria-label')).toBe('Close the source');
  await userEvent.keyboard('{Escape}');
  await settle(el);
  expect(q(el, '[part=panel]')).toBeNull();
  expect(shadow(el).activeElement).toBe(source);
});

test('drag and drop adds readable files and names the ones it skipped', async () => {
  const { el, got } = await mount();
  const drop = (files: File[]) => {
    const data = new DataTransfer();
    for (const f of files) data.items.add(f);
    el.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    return el.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  };
  const notCancelled = drop([
    new File([TEA], 'tea.txt', { type: 'text/plain' }),
    new File([new Uint8Array([137, 80, 78, 71])], 'photo.png', { type: 'image/png' }),
  ]);
  expect(notCancelled).toBe(false); // the drop was taken (the browser does not open the file)
  await until(() => got.progress.some((p) => p.phase === 'ingest' && p.status === 'persist'), 'the dropped file to be stored');
  await until(() => (el.shadowRoot!.querySelector('[part=notice]')?.textContent ?? '').includes('Added 1 document'), 'the notice');
  expect(got.errors.map((e) => e.code)).toEqual(['UNPARSABLE_DOCUMENT']);
  expect(got.errors[0]!.message).toContain('photo.png');
  expect((await el.rag!.info()).size).toBeGreaterThan(0);
});

test('screenshots, light and dark', async () => {
  await page.viewport(900, 700);
  const { el, got } = await mount({ 'max-tokens': '24', k: '2', theme: 'light' });
  await el.ingest([new File([VOLCANOES], 'volcanoes.md', { type: 'text/markdown' }), new File([TEA], 'tea.txt', { type: 'text/plain' })]);
  await el.ask('Which kinds of volcano are there?');
  await settle(el);
  q<HTMLButtonElement>(el, '.sources button')!.click();
  await settle(el);
  await page.screenshot({ element: el, path: '../../docs/weft-chat.png' });
  const background = () => getComputedStyle(q(el, '.frame')!).backgroundColor;
  expect(background()).toBe('rgb(255, 255, 255)');
  el.theme = 'dark';
  document.body.style.background = '#000';
  await settle(el);
  expect(background()).toBe('rgb(15, 20, 27)');
  el.style.setProperty('--weft-bg', 'rgb(1, 2, 3)'); // an app's colour wins in either theme
  expect(background()).toBe('rgb(1, 2, 3)');
  el.style.removeProperty('--weft-bg');
  await settle(el);
  await page.screenshot({ element: el, path: '__screenshots__/weft-chat-dark.png' });
  document.body.style.background = '';
  el.theme = 'light';
  q<HTMLButtonElement>(el, '.panel .close')!.click();
  // The ingest progress bars, mid-ingest.
  const raw = (await (await fetch(`${assets}/cranfield/cran.all.1400`)).text()).split(/^\.I /m).slice(1, 121);
  const ingesting = el.ingest(raw.map((r, i) => ({ id: `cran-${i + 1}.txt`, text: r })));
  await until(() => got.progress.some((p) => p.phase === 'ingest' && p.status === 'embed'), 'the embed stage');
  await settle(el);
  await page.screenshot({ element: el, path: '__screenshots__/weft-chat-ingest.png' });
  await ingesting;
});

test('remote="…": a published index is searched in place, read-only, and answers cite its documents', async () => {
  await page.viewport(900, 700);
  // The site: ingest, export, publish on the range host.
  const { el: site } = await mount({ index: 'handbook' });
  await site.ingest([new File([VOLCANOES], 'volcanoes.md', { type: 'text/markdown' }), new File([TEA], 'tea.txt', { type: 'text/plain' })]);
  const siteDb = mounted.at(-1)!.dbName;
  const store = await openStore({ dbName: siteDb });
  const name = `handbook-${crypto.randomUUID()}.weft`;
  await fetch(`/__weft-range/files/${name}`, { method: 'PUT', body: await exportIndex(store, 'handbook') });
  store.close();
  // A visitor's page: only the URL.
  const { el } = await mount({ remote: `/__weft-range/files/${name}`, 'max-tokens': '16', k: '2', theme: 'light' });
  await settle(el);
  expect(q(el, '[part~=status]')!.textContent).toMatch(/“handbook” · 2 passages/);
  expect(q(el, '[part~=add]')).toBeNull();
  expect(q(el, '.empty')!.textContent).toMatch(/published at/);
  const done = await el.ask('Which kinds of volcano are there?');
  expect(done!.passages.map((p) => p.docId)).toContain('volcanoes.md');
  await settle(el);
  await page.screenshot({ element: el, path: '__screenshots__/weft-chat-remote.png' });
  await expect(el.ingest([new File(['x'], 'x.txt')])).rejects.toMatchObject({ code: 'READ_ONLY' });
  await clearRemoteCache();
});

test('workflow="hyde": every question runs it and its stages fold above the answer; the property takes a graph; an unknown name is a clear error', async () => {
  await page.viewport(900, 700);
  const { el, got } = await mount({ 'max-tokens': '16', k: '2', workflow: 'hyde', theme: 'light' });
  expect(el.workflow).toBe('hyde');
  await el.ingest([new File([VOLCANOES], 'volcanoes.md', { type: 'text/markdown' }), new File([TEA], 'tea.txt', { type: 'text/plain' })]);
  type NodeEvent = Extract<RagEvent, { type: 'node' }>;
  const nodes = () => got.events.filter((e): e is NodeEvent => e.type === 'node');

  // The hypothetical passage is written, then searched with: its 'node' event comes before the retrieval.
  const done = await el.ask('Which kinds of volcano are there?');
  expect(done!.answer.length).toBeGreaterThan(0);
  const hypothesis = nodes()[0]!;
  expect(hypothesis).toMatchObject({ node: 'hypothesis', kind: 'generate', text: expect.any(String) });
  const types = got.events.map((e) => e.type);
  expect(types.indexOf('node')).toBeLessThan(types.indexOf('retrieval'));
  expect(el.messages.at(-1)).toMatchObject({ workflow: 'hyde', stages: [{ node: 'hypothesis', kind: 'generate', text: hypothesis.text }] });
  await settle(el);
  // One folded line above the answer; opened, what the stage wrote.
  const details = q<HTMLDetailsElement>(el, '.message.assistant [part=stages]')!;
  expect(details.open).toBe(false);
  expect(details.nextElementSibling!.classList.contains('bubble')).toBe(true);
  expect(q(el, '.stages summary')!.textContent!.trim()).toBe('hyde · hypothesis');
  q(el, '.stages summary')!.click();
  await settle(el);
  expect(details.open).toBe(true);
  expect(q(el, '.stages li')!.textContent).toBe(`hypothesis wrote ${hypothesis.text!.trim() || '(nothing)'}`);
  await page.screenshot({ element: el, path: '__screenshots__/weft-chat-workflow.png' });

  // The property takes a graph (here multistep, as JSON data would bring it): sub-questions, listed.
  el.workflow = JSON.parse(JSON.stringify(BUILTIN_WORKFLOWS.multistep));
  got.events.length = 0;
  await el.ask('How is green tea made?');
  expect(nodes().map((e) => e.node)).toEqual(['decompose', 'split']);
  const items = nodes()[1]!.items!;
  expect(items.length).toBeGreaterThan(0);
  await settle(el);
  const turn = qa(el, '.message.assistant').at(-1)!;
  expect(turn.querySelector('.stages summary')!.textContent!.trim()).toBe('multistep · decompose → split');
  expect([...turn.querySelectorAll('.stages ul li')].map((li) => li.textContent)).toEqual(items);
  turn.querySelector<HTMLElement>('.stages summary')!.click();
  await settle(el);
  await page.screenshot({ element: el, path: '__screenshots__/weft-chat-workflow-graph.png' });

  // An unknown name: the error line and weft-error name the built-ins; a question asked with it fails on its turn.
  el.setAttribute('workflow', 'hide');
  await settle(el);
  expect(got.errors.at(-1)).toMatchObject({
    code: 'INVALID_WORKFLOW',
    message: expect.stringContaining('one-shot, hyde, multistep, irg, recomp, flare, periodic'),
  });
  expect(q(el, '[part=error]')!.textContent).toContain(`<weft-chat workflow="hide">: there is no built-in workflow 'hide'`);
  await expect(el.ask('Anything else?')).rejects.toMatchObject({ code: 'INVALID_WORKFLOW' });
  await settle(el);
  expect(qa(el, '.message.assistant .meta').at(-1)!.textContent).toContain('The answer failed');
  // And none: the error line goes, the answers are one-shot again, without a stages line.
  el.removeAttribute('workflow');
  await settle(el);
  expect(q(el, '[part=error]')).toBeNull();
  got.events.length = 0;
  await el.ask('Thanks!');
  expect(nodes()).toEqual([]);
  await settle(el);
  expect(qa(el, '.message.assistant').at(-1)!.querySelector('.stages')).toBeNull();
  expect(el.messages.at(-1)!.stages).toBeUndefined();
});

test('elements with the same configuration share one engine; engine="tab" gets one of its own; a bad value is a clear error', async () => {
  const dbName = `weft-chat-${crypto.randomUUID()}`;
  const engineOf = async (el: WeftChat) => (await (el.rag as RagClient).engine.api.info()).engine;
  const a = await mount({}, dbName);
  const b = await mount({}, dbName);
  expect(await engineOf(a.el)).toMatchObject({ connections: 2, users: 2, loads: 1 });
  await a.el.ingest([{ id: 'tea', text: TEA }]);
  expect((await b.el.rag!.search('green tea leaves', { k: 1 }))[0]?.docId).toBe('tea');
  const own = await mount({ engine: 'tab' }, dbName);
  expect(await engineOf(own.el)).toMatchObject({ connections: 1, users: 1, loads: 1 });
  expect(await engineOf(b.el)).toMatchObject({ connections: 2, loads: 1 });
  // Its own engine reads the same database.
  expect((await own.el.rag!.search('green tea leaves', { k: 1 }))[0]?.docId).toBe('tea');
  const bad = document.createElement('weft-chat');
  bad.setAttribute('engine', 'everywhere');
  bad.options = await testOptions(`weft-chat-${crypto.randomUUID()}`);
  const failed = new Promise<{ code: string; message: string }>((resolve) => bad.addEventListener('weft-error', (e) => resolve(e.detail), { once: true }));
  document.body.append(bad);
  expect(await failed).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringMatching(/engine must be 'shared' or 'tab'/) });
  bad.remove();
});

test('citation marks become citations only for passages the answer had', () => {
  const known = new Set([1, 2]);
  expect(splitCitations('Shield volcanoes [1] and cones [2][1], in [1, 2].', known)).toEqual([
    { text: 'Shield volcanoes ' },
    { citation: 1 },
    { text: ' and cones ' },
    { citation: 2 },
    { citation: 1 },
    { text: ', in ' },
    { citation: 1 },
    { citation: 2 },
    { text: '.' },
  ]);
  // Unknown numbers, years and a mark still streaming in stay text.
  expect(splitCitations('In [2023] see [3] or [1', known)).toEqual([{ text: 'In [2023] see [3] or [1' }]);
  expect(splitCitations('', known)).toEqual([]);
});
