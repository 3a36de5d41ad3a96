// The "Ask your documents" view: the model picker, ingestion with progress, the indexes kept on
// this device, the conversation and the live timeline. The conversation is a <weft-chat> element
// (weft-rag/chat): it runs the runtime in the engine worker, loads the model, keeps the
// conversation and streams cited answers. The page configures it (its `options`: the model the
// picker chose; its `index`), adds the documents dropped on the page through `chat.ingest()`, and
// draws the progress bars and the timeline from the element's events (`weft-progress`,
// `weft-event` with each answer's request number). The page keeps only the store handle it needs
// to list, delete, export and import indexes.

import { WeftChat, type ChatEvent, type ChatProgress, type DoneEvent } from '../src/entries/chat.js';
import { isWeftError, persistStorage, storageEstimate, type TraceStage } from '../src/entries/client.js';
import { exportIndex, importIndex, openStore, type WeftStore } from '../src/weft.js';
import { acceptAttribute, readableTypesText } from '../src/ingest/file-types.js';
import { fromDrop, fromInput, fromShell, type Picked } from './files.js';
import { modelSetup, type ModelChoice, type ModelSetup } from './models.js';
import { shellBridge } from './shell-bridge.js';
import { createTimeline, wovenSlices } from './timeline.js';

const DB = 'weft-demo';
const $ = <T extends Element>(sel: string) => document.querySelector<T>(sel)!;
const message = (e: unknown) => (isWeftError(e) ? `${e.message} (${e.code})` : e instanceof Error ? e.message : String(e));
const mb = (b: number) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GB` : `${(b / (1 << 20)).toFixed(1)} MB`);

/** Questions for "Ask 3 at once" when the box has fewer than three lines. */
const FALLBACK = ['What is this about?', 'What are the key facts?', 'What is mentioned most often?'];

export async function setupAsk(): Promise<void> {
  const ui = {
    model: $<HTMLSelectElement>('#model'), modelHint: $<HTMLParagraphElement>('#model-hint'), load: $<HTMLButtonElement>('#load'),
    loadBar: $<HTMLDivElement>('#load-bar'), loadProgress: $<HTMLProgressElement>('#load-progress'), loadText: $<HTMLSpanElement>('#load-text'),
    engineStatus: $<HTMLParagraphElement>('#engine-status'),
    drop: $<HTMLDivElement>('#drop'), folderInput: $<HTMLInputElement>('#folder-input'), filesInput: $<HTMLInputElement>('#files-input'),
    openFolder: $<HTMLButtonElement>('#open-folder'), ingest: $<HTMLDivElement>('#ingest'), ingestStatus: $<HTMLParagraphElement>('#ingest-status'),
    cancelIngest: $<HTMLButtonElement>('#cancel-ingest'),
    indexes: $<HTMLTableElement>('#indexes'), indexesEmpty: $<HTMLParagraphElement>('#indexes-empty'), newIndex: $<HTMLInputElement>('#new-index'),
    importInput: $<HTMLInputElement>('#import-input'), storageMeter: $<HTMLMeterElement>('#storage-meter'), storageText: $<HTMLSpanElement>('#storage-text'),
    persistText: $<HTMLSpanElement>('#persist-text'),
    chatSlot: $<HTMLDivElement>('#chat-slot'), askHint: $<HTMLParagraphElement>('#ask-hint'),
    questions3: $<HTMLTextAreaElement>('#questions3'), ask3: $<HTMLButtonElement>('#ask3'),
  };
  const timeline = createTimeline($<SVGSVGElement>('#timeline'), $<HTMLUListElement>('#legend'));
  const store: WeftStore = await openStore({ dbName: DB });
  let setup: ModelSetup | undefined;
  /** The conversation: created when a model is first loaded. */
  let chat: WeftChat | undefined;
  /** The model the element is loading or runs. */
  let choice: ModelChoice | undefined;
  let loading = false;
  let ingesting: AbortController | undefined;
  /** An ingest the element started itself (files dropped on the conversation, its "Add documents"). */
  let ingestingInChat = false;
  let indexName = localStorage.getItem('weft-demo:index') || 'notes';
  let size = 0;
  /** Requests that have a timeline lane (or had one before "Clear timeline"). */
  const laned = new Set<number>();
  const stagesOf = new Map<number, TraceStage[]>();

  const setStatus = (el: HTMLElement, text: string, error = false) => { el.textContent = text; el.classList.toggle('error', error); };
  /** Whether the runtime can write answers (false: no WebGPU in this browser, search only). */
  let answers = true;
  const readyText = (model?: string) => answers
    ? `Ready: ${choice?.label ?? model ?? 'model'}, index “${indexName}” (${size} passages).`
    : `This browser has no WebGPU: no model can write answers here, but your documents are indexed and searched on the CPU — questions get the passages that match. Index “${indexName}” (${size} passages).`;

  const refreshControls = () => {
    const ready = !!chat && !loading;
    ui.ask3.disabled = !ready || size === 0;
    // Documents can be picked at any time: they are added once the model is loaded.
    ui.askHint.textContent = !chat ? 'Load a model first (step 1).'
      : loading ? 'The model is loading…'
        : size === 0 ? `Add documents to “${indexName}” first (step 2), then ask in the box below.`
          : answers ? `Ask in the box below: answers come from “${indexName}” (${size} passages) and cite them as [1], [2]… — click one to read the passage.`
            : `Ask in the box below: the passages of “${indexName}” (${size} passages) that match come back, numbered [1], [2]… — click one to read it.`;
  };

  // ---- Indexes and storage ----------------------------------------------------------------
  const refreshIndexes = async () => {
    const all = await store.listIndexes();
    const tbody = ui.indexes.tBodies[0]!;
    tbody.replaceChildren();
    ui.indexes.hidden = all.length === 0;
    ui.indexesEmpty.hidden = all.length > 0;
    for (const m of all) {
      const tr = tbody.insertRow();
      tr.dataset.index = m.name;
      tr.classList.toggle('current', m.name === indexName);
      tr.insertCell().textContent = m.name;
      const n = tr.insertCell(); n.textContent = String(m.count); n.className = 'num';
      tr.insertCell().textContent = m.modelId || '–';
      const actions = tr.insertCell(); actions.className = 'actions';
      const button = (text: string, label: string, run: () => Promise<void>) => {
        const b = document.createElement('button');
        b.type = 'button'; b.textContent = text; b.setAttribute('aria-label', `${label} ${m.name}`);
        b.addEventListener('click', () => { b.disabled = true; run().catch((e: unknown) => setStatus(ui.engineStatus, message(e), true)).finally(() => { b.disabled = false; }); });
        actions.append(b);
      };
      if (m.name !== indexName) button('Use', 'Use index', () => useIndex(m.name));
      button('Export', 'Export index', async () => {
        const blob = await exportIndex(store, m.name);
        const a = document.createElement('a');
        a.href = URL.createObjectURL(blob); a.download = `${m.name}.weft`;
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      });
      button('Delete', 'Delete index', async () => {
        if (!confirm(`Delete the index “${m.name}” (${m.count} passages) from this device?`)) return;
        // The index in use: its runtime (and conversation) goes first, then a new one starts on an empty index.
        const current = m.name === indexName ? chat : undefined;
        if (current) await dropChat();
        await store.deleteIndex(m.name);
        if (current) startEngine();
        await refreshIndexes();
      });
    }
    await refreshStorage();
  };

  const refreshStorage = async () => {
    try {
      const s = await storageEstimate();
      ui.storageMeter.max = Math.max(1, s.quota); ui.storageMeter.value = s.usage;
      ui.storageText.textContent = `${mb(s.usage)} used of ${mb(s.quota)} this site may use`;
      ui.persistText.textContent = s.persisted ? 'Persistent: the browser will not evict it.' : 'Not persistent: the browser may evict it when space runs low.';
    } catch (e) {
      ui.storageText.textContent = message(e);
    }
  };

  const useIndex = async (name: string) => {
    indexName = name;
    localStorage.setItem('weft-demo:index', name);
    chat?.clear(); // a new conversation: the passages of the old one are another index's
    if (chat) startEngine();
    refreshControls();
    await refreshIndexes();
  };

  $<HTMLButtonElement>('#create-index').addEventListener('click', () => {
    const name = ui.newIndex.value.trim();
    if (!name) { ui.newIndex.focus(); return; }
    ui.newIndex.value = '';
    void useIndex(name);
  });
  $<HTMLButtonElement>('#import').addEventListener('click', () => ui.importInput.click());
  ui.importInput.addEventListener('change', () => {
    const file = ui.importInput.files?.[0];
    ui.importInput.value = '';
    if (!file) return;
    const taken = new Set<string>();
    void (async () => {
      for (const m of await store.listIndexes()) taken.add(m.name);
      let name = file.name.replace(/\.weft$/, '') || 'imported';
      for (let i = 2; taken.has(name); i++) name = `${file.name.replace(/\.weft$/, '')}-${i}`;
      const m = await importIndex(store, file, { name });
      setStatus(ui.engineStatus, `Imported “${m.name}” (${m.count} passages).`);
      await refreshIndexes();
    })().catch((e: unknown) => setStatus(ui.engineStatus, `Import failed: ${message(e)}`, true));
  });
  $<HTMLButtonElement>('#persist').addEventListener('click', () => {
    persistStorage().then((ok) => {
      ui.persistText.textContent = ok ? 'Persistent: the browser will not evict it.' : 'The browser said no (Chrome decides from how often the site is used).';
    }, (e: unknown) => { ui.persistText.textContent = message(e); });
  });

  // ---- The conversation: <weft-chat> --------------------------------------------------------
  const downloads = new Map<string, { loaded: number; total: number }>();
  const onProgress = (p: ChatProgress) => {
    if (p.phase === 'load') {
      if (p.status === 'download') {
        downloads.set(p.file, { loaded: p.loaded, total: p.total ?? p.loaded });
        const loaded = [...downloads.values()].reduce((a, f) => a + f.loaded, 0), total = [...downloads.values()].reduce((a, f) => a + f.total, 0);
        ui.loadProgress.max = Math.max(1, total); ui.loadProgress.value = loaded;
        ui.loadText.textContent = p.text ?? `${mb(loaded)} of ${mb(total)}`;
      } else if (p.status === 'init') {
        ui.loadProgress.max = Math.max(1, p.total); ui.loadProgress.value = p.done;
        ui.loadText.textContent = p.text ?? 'Initialising…';
      }
      return;
    }
    if (!ingesting && !ingestingInChat) {
      // Documents dropped on the conversation (or its "Add documents"): the same bars show them.
      ingestingInChat = true;
      resetBars();
      ui.ingest.hidden = false;
      ui.cancelIngest.hidden = false;
      setStatus(ui.ingestStatus, `Adding the documents given to the conversation to “${indexName}”…`);
    }
    // Earlier phases are complete once a later one reports.
    for (const q of phases.slice(0, phases.indexOf(p.status))) { const bar = $<HTMLProgressElement>(`#p-${q}`); bar.value = bar.max; }
    const bar = $<HTMLProgressElement>(`#p-${p.status}`);
    bar.max = Math.max(1, p.total); bar.value = p.done;
    $<HTMLSpanElement>(`#t-${p.status}`).textContent = `${p.done} / ${p.total}`;
    if (ingestingInChat && p.status === 'persist' && p.done === p.total) {
      ingestingInChat = false;
      ui.cancelIngest.hidden = true;
      void (async () => {
        size = (await chat?.rag?.info())?.size ?? size;
        setStatus(ui.ingestStatus, `Added. “${indexName}” now holds ${size} passages, saved on this device.`);
        refreshControls();
        await refreshIndexes();
      })();
    }
  };

  const onEvent = (d: ChatEvent) => {
    if (!laned.has(d.request)) {
      laned.add(d.request);
      stagesOf.set(d.request, []);
      timeline.addRequest(d.request, `Q${d.request}: ${d.question}`);
    }
    if (d.type === 'stage') {
      stagesOf.get(d.request)?.push(d.stage);
      timeline.addStage(d.request, d.stage);
    } else if (d.type === 'token' || d.type === 'done') {
      if (alongside?.request === d.request) askAlongside();
      if (d.type === 'done') {
        timeline.finish(d.request);
        void updateFigures(d, stagesOf.get(d.request) ?? []);
      }
    }
  };

  const createChat = (): WeftChat => {
    const el = document.createElement('weft-chat');
    el.id = 'chat';
    el.dbName = DB;
    el.k = 3;
    el.maxTokens = 64;
    el.timings = true;
    el.theme = 'light';
    el.setAttribute('aria-label', 'Conversation with your documents');
    // A removed element (its index deleted) may still report while it closes: only the current one counts.
    el.addEventListener('weft-progress', (e) => { if (el === chat) onProgress(e.detail); });
    el.addEventListener('weft-event', (e) => { if (el === chat) onEvent(e.detail); });
    el.addEventListener('weft-ready', (e) => {
      if (el !== chat) return;
      loading = false;
      size = e.detail.size;
      ui.loadBar.hidden = true;
      ui.load.textContent = 'Reload model';
      answers = e.detail.answers;
      setStatus(ui.engineStatus, readyText(e.detail.model));
      refreshControls();
      void refreshIndexes();
      addWaiting();
    });
    el.addEventListener('weft-error', (e) => {
      if (el !== chat) return;
      if (e.detail.request !== undefined) timeline.finish(e.detail.request);
      if (!loading) return; // shown in the conversation (and, for documents, in step 2)
      loading = false;
      ui.loadBar.hidden = true;
      setStatus(ui.engineStatus, `Could not load the model: ${e.detail.message} (${e.detail.code})`, true);
      refreshControls();
    });
    return el;
  };

  /** Loads the chosen model on the chosen index: the first time creates the conversation, later times reconfigure it (it restarts). */
  const startEngine = () => {
    if (!setup) return;
    choice = setup.choices.find((c) => c.id === ui.model.value) ?? setup.choices[0]!;
    loading = true;
    size = 0;
    downloads.clear();
    ui.loadBar.hidden = false;
    ui.loadProgress.removeAttribute('value');
    ui.loadText.textContent = '';
    setStatus(ui.engineStatus, `Loading ${choice.label}…`);
    const fresh = !chat;
    chat ??= createChat();
    // Set together: one restart with both.
    chat.index = indexName;
    chat.options = { embedder: { ...setup.embedder }, generator: choice.generator };
    if (fresh) ui.chatSlot.replaceChildren(chat);
    refreshControls();
  };

  /** Closes the conversation's runtime and removes it (before its index is deleted). */
  const dropChat = async () => {
    const el = chat;
    if (!el) return;
    chat = undefined;
    const rag = el.rag;
    el.remove();
    await rag?.close().catch(() => undefined);
    ui.chatSlot.replaceChildren();
  };

  // ---- Ingestion --------------------------------------------------------------------------
  const phases = ['read', 'embed', 'index', 'persist'] as const;
  const resetBars = () => { for (const p of phases) { $<HTMLProgressElement>(`#p-${p}`).value = 0; $<HTMLSpanElement>(`#t-${p}`).textContent = ''; } };
  let waiting: Picked | undefined; // picked before the model was loaded: added once it is
  const ingest = async (picked: Picked) => {
    if (picked.files.length > 0 && (!chat || loading || ingesting)) {
      waiting = { files: [...(waiting?.files ?? []), ...picked.files], skipped: [...(waiting?.skipped ?? []), ...picked.skipped] };
      ui.ingest.hidden = false;
      setStatus(ui.ingestStatus, `${waiting.files.length} documents will be added once ${chat && !loading ? 'the documents before them are in' : 'a model is loaded (step 1)'}.`);
      return;
    }
    if (picked.files.length === 0) {
      setStatus(ui.ingestStatus, picked.skipped.length ? `Nothing to add: ${picked.skipped.length} files are not ${readableTypesText}.` : 'Nothing to add.', true);
      ui.ingest.hidden = false;
      return;
    }
    const el = chat;
    if (!el) return;
    const ctl = new AbortController();
    ingesting = ctl;
    refreshControls();
    ui.ingest.hidden = false;
    ui.cancelIngest.hidden = false;
    resetBars();
    const skipped = picked.skipped.length ? ` (skipping ${picked.skipped.length} that are not ${readableTypesText})` : '';
    setStatus(ui.ingestStatus, `Adding ${picked.files.length} documents to “${indexName}”${skipped}…`);
    try {
      // The engine worker reads and parses every file; the element reports each phase as weft-progress.
      const r = await el.ingest(picked.files, { signal: ctl.signal });
      for (const q of phases) { const bar = $<HTMLProgressElement>(`#p-${q}`); bar.value = bar.max; }
      size = (await el.rag?.info())?.size ?? size;
      setStatus(ui.engineStatus, readyText());
      setStatus(ui.ingestStatus, `Added ${r.documents} documents as ${r.chunks} passages. “${indexName}” now holds ${size} passages, saved on this device.`);
    } catch (e) {
      // Files that could not be read (a damaged or encrypted PDF) are named; the others were added.
      if (isWeftError(e) && e.code === 'UNPARSABLE_DOCUMENT') size = (await el.rag?.info())?.size ?? size;
      setStatus(ui.ingestStatus, isWeftError(e) && e.code === 'ABORTED' ? 'Cancelled: nothing of this batch was saved.' : `Could not add the documents: ${message(e)}`, !(isWeftError(e) && e.code === 'ABORTED'));
    } finally {
      ingesting = undefined;
      ui.cancelIngest.hidden = true;
      refreshControls();
      await refreshIndexes();
      addWaiting();
    }
  };
  const addWaiting = () => {
    const next = waiting;
    waiting = undefined;
    if (next) void ingest(next);
  };
  // The element's own ingests (a drop on the conversation) stop with its stop(), which stops an answer too.
  ui.cancelIngest.addEventListener('click', () => { if (ingesting) ingesting.abort(); else if (ingestingInChat) chat?.stop(); });
  $<HTMLButtonElement>('#pick-folder').addEventListener('click', () => ui.folderInput.click());
  $<HTMLButtonElement>('#pick-files').addEventListener('click', () => ui.filesInput.click());
  ui.drop.addEventListener('click', () => ui.filesInput.click());
  ui.drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ui.filesInput.click(); } });
  ui.filesInput.accept = acceptAttribute;
  $<HTMLSpanElement>('#drop-hint').textContent = `${readableTypesText[0]!.toUpperCase()}${readableTypesText.slice(1)}. Folders are read recursively.`;
  for (const input of [ui.folderInput, ui.filesInput]) {
    input.addEventListener('change', () => { if (input.files) void ingest(fromInput(input.files)); input.value = ''; });
  }
  ui.drop.addEventListener('dragover', (e) => { e.preventDefault(); ui.drop.classList.add('over'); });
  ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  ui.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    ui.drop.classList.remove('over');
    if (e.dataTransfer) void fromDrop(e.dataTransfer).then(ingest);
  });
  const shell = shellBridge();
  if (shell) {
    ui.openFolder.hidden = false;
    ui.openFolder.addEventListener('click', () => {
      void shell.openFolder().then((r) => { if (r) return ingest(fromShell(r.files)); }, (e: unknown) => setStatus(ui.ingestStatus, message(e), true));
    });
  }

  // ---- Questions and the timeline ------------------------------------------------------------
  const figure = (id: string, text: string) => { $<HTMLElement>(`#fig-${id}`).textContent = text; };
  const updateFigures = async (done: DoneEvent, stages: TraceStage[]) => {
    const steps = stages.filter((s) => s.kind === 'step');
    if (steps.length > 1) {
      const ms = steps.at(-1)!.at + steps.at(-1)!.end - steps.at(-1)!.start - steps[0]!.at;
      figure('tps', (steps.length / (ms / 1000)).toFixed(1));
    }
    figure('ttft', `${done.timings.firstTokenMs.toFixed(0)} ms`);
    const cache = (await chat?.rag?.info())?.cache;
    if (cache && cache.hits + cache.misses > 0) figure('hit', `${((100 * cache.hits) / (cache.hits + cache.misses)).toFixed(0)} % (${cache.hits}/${cache.hits + cache.misses} lists)`);
    let woven = 0;
    const ids = [...stagesOf.keys()];
    for (const a of ids) for (const b of ids) if (a !== b) woven += wovenSlices(stagesOf.get(a)!, stagesOf.get(b)!);
    figure('woven', String(woven));
  };

  // "Ask 3 at once": the first question goes into the conversation; once its answer is being
  // written, the second and third are asked alongside it (`ask(q, { alongside: true })`), so the
  // runtime searches for them in the gaps between the first answer's decode steps.
  let alongside: { request: number; questions: string[]; chat: WeftChat } | undefined;
  const askAlongside = () => {
    const next = alongside;
    alongside = undefined;
    if (next && next.chat === chat) for (const q of next.questions) next.chat.ask(q, { alongside: true }).catch(() => undefined); // failures show in the conversation
  };
  ui.ask3.addEventListener('click', () => {
    const el = chat;
    if (!el) return;
    const lines = ui.questions3.value.split('\n').map((l) => l.trim()).filter(Boolean);
    const qs = [...lines, ...FALLBACK].slice(0, 3);
    clearTimeline(); // one axis for the three, so that their overlap is easy to see
    el.ask(qs[0]!).catch(() => undefined);
    alongside = { request: el.messages.at(-1)!.request!, questions: qs.slice(1), chat: el };
  });
  const clearTimeline = () => {
    timeline.clear();
    // Lanes of answers still streaming go too; their stages stay counted for the figures.
    const running = new Set(chat?.messages.filter((t) => t.pending).map((t) => t.request));
    for (const id of [...stagesOf.keys()]) if (!running.has(id)) stagesOf.delete(id);
  };
  $<HTMLButtonElement>('#clear-timeline').addEventListener('click', clearTimeline);
  // An answer stopped before it began sends no 'done': its lane stops growing once nothing streams.
  setInterval(() => { if (chat && !chat.answering) timeline.finishAll(); }, 500);

  // ---- Start ------------------------------------------------------------------------------
  ui.model.disabled = true;
  refreshControls();
  await refreshIndexes();
  try {
    setup = await modelSetup();
  } catch (e) {
    setStatus(ui.engineStatus, `Could not list the models: ${message(e)}`, true);
    return;
  }
  for (const c of setup.choices) ui.model.add(new Option(c.label, c.id));
  const saved = localStorage.getItem('weft-demo:model');
  if (saved && setup.choices.some((c) => c.id === saved)) ui.model.value = saved;
  const showHint = () => { ui.modelHint.textContent = setup!.choices.find((c) => c.id === ui.model.value)?.hint ?? ''; };
  showHint();
  ui.model.disabled = false;
  ui.model.addEventListener('change', () => { localStorage.setItem('weft-demo:model', ui.model.value); showHint(); ui.load.textContent = 'Load model'; });
  ui.load.addEventListener('click', startEngine);
  // Offline models are small: load them at once. Online ones wait for the click (a download).
  if (setup.local) startEngine();
}
