// The "Ask your documents" view: the model picker, ingestion with progress, the indexes kept on
// this device, questions with streamed, cited answers, and the live timeline. Everything heavy
// runs in the engine worker (createRagInWorker); the page keeps only the store handle it needs
// to list, delete, export and import indexes.

import { createRagInWorker, isWeftError, persistStorage, storageEstimate, type RagClient, type RagEvent, type TraceStage } from '../src/entries/client.js';
import { exportIndex, importIndex, openStore, type WeftStore } from '../src/weft.js';
import { forWorker, fromDrop, fromInput, fromShell, type Picked } from './files.js';
import { modelSetup, type ModelSetup } from './models.js';
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
    form: $<HTMLFormElement>('#ask-form'), question: $<HTMLTextAreaElement>('#question'), ask: $<HTMLButtonElement>('#ask'), ask3: $<HTMLButtonElement>('#ask3'),
    stop: $<HTMLButtonElement>('#stop'), askHint: $<HTMLSpanElement>('#ask-hint'), answers: $<HTMLOListElement>('#answers'),
  };
  const timeline = createTimeline($<SVGSVGElement>('#timeline'), $<HTMLUListElement>('#legend'));
  const store: WeftStore = await openStore({ dbName: DB });
  let setup: ModelSetup | undefined;
  let rag: RagClient | undefined;
  let loading: AbortController | undefined;
  let ingesting: AbortController | undefined;
  let indexName = localStorage.getItem('weft-demo:index') || 'notes';
  let size = 0;
  let requests = 0;
  const running = new Set<AbortController>();
  const stagesOf = new Map<number, TraceStage[]>();

  const setStatus = (el: HTMLElement, text: string, error = false) => { el.textContent = text; el.classList.toggle('error', error); };

  const refreshControls = () => {
    const ready = !!rag && !loading;
    ui.ask.disabled = ui.ask3.disabled = !ready || size === 0;
    ui.stop.disabled = running.size === 0;
    // Documents can be picked at any time: they are added once the model is loaded.
    ui.askHint.textContent = !rag ? 'Load a model first (step 1).' : size === 0 ? `Add documents to “${indexName}” first (step 2).` : `Searching “${indexName}” (${size} passages).`;
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
        if (m.name === indexName && rag) { await rag.close(); rag = undefined; }
        await store.deleteIndex(m.name);
        if (m.name === indexName) await startEngine();
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
    await startEngine();
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

  // ---- The engine -------------------------------------------------------------------------
  const startEngine = async () => {
    if (!setup) return;
    loading?.abort();
    const ctl = new AbortController();
    loading = ctl;
    const choice = setup.choices.find((c) => c.id === ui.model.value) ?? setup.choices[0]!;
    const old = rag;
    rag = undefined;
    refreshControls();
    await old?.close().catch(() => undefined);
    ui.loadBar.hidden = false;
    ui.loadProgress.removeAttribute('value');
    setStatus(ui.engineStatus, `Loading ${choice.label}…`);
    try {
      const files = new Map<string, { loaded: number; total: number }>();
      const started = await createRagInWorker(
        { dbName: DB, indexName, embedder: setup.embedder, generator: choice.generator },
        {
          signal: ctl.signal,
          onProgress: (p) => {
            if (p.status === 'download') {
              files.set(p.file, { loaded: p.loaded, total: p.total ?? p.loaded });
              const loaded = [...files.values()].reduce((a, f) => a + f.loaded, 0), total = [...files.values()].reduce((a, f) => a + f.total, 0);
              ui.loadProgress.max = Math.max(1, total); ui.loadProgress.value = loaded;
              ui.loadText.textContent = p.text ?? `${mb(loaded)} of ${mb(total)}`;
            } else if (p.status === 'init') {
              ui.loadProgress.max = Math.max(1, p.total); ui.loadProgress.value = p.done;
              ui.loadText.textContent = p.text ?? 'Initialising…';
            }
          },
        },
      );
      if (ctl.signal.aborted) { await started.close(); return; }
      rag = started;
      size = (await rag.info()).size;
      setStatus(ui.engineStatus, `Ready: ${choice.label}, index “${indexName}” (${size} passages).`);
      ui.load.textContent = 'Reload model';
      addWaiting();
    } catch (e) {
      if (!ctl.signal.aborted) setStatus(ui.engineStatus, `Could not load the model: ${message(e)}`, true);
    } finally {
      if (loading === ctl) { loading = undefined; ui.loadBar.hidden = true; }
      refreshControls();
    }
  };

  // ---- Ingestion --------------------------------------------------------------------------
  const phases = ['read', 'embed', 'index', 'persist'] as const;
  let waiting: Picked | undefined; // picked before the model was loaded: added once it is
  const ingest = async (picked: Picked) => {
    if (picked.files.length > 0 && (!rag || ingesting)) {
      waiting = { files: [...(waiting?.files ?? []), ...picked.files], skipped: [...(waiting?.skipped ?? []), ...picked.skipped] };
      ui.ingest.hidden = false;
      setStatus(ui.ingestStatus, `${waiting.files.length} documents will be added once ${rag ? 'the documents before them are in' : 'a model is loaded (step 1)'}.`);
      return;
    }
    if (picked.files.length === 0) {
      setStatus(ui.ingestStatus, picked.skipped.length ? `Nothing to add: ${picked.skipped.length} files are not text, Markdown or HTML.` : 'Nothing to add.', true);
      ui.ingest.hidden = false;
      return;
    }
    const engine = rag;
    if (!engine) return;
    const ctl = new AbortController();
    ingesting = ctl;
    refreshControls();
    ui.ingest.hidden = false;
    ui.cancelIngest.hidden = false;
    for (const p of phases) { $<HTMLProgressElement>(`#p-${p}`).value = 0; $<HTMLSpanElement>(`#t-${p}`).textContent = ''; }
    const skipped = picked.skipped.length ? ` (skipping ${picked.skipped.length} that are not text, Markdown or HTML)` : '';
    setStatus(ui.ingestStatus, `Adding ${picked.files.length} documents to “${indexName}”${skipped}…`);
    try {
      const files = await Promise.all(picked.files.map(forWorker));
      const r = await engine.ingest(files, {
        signal: ctl.signal,
        onProgress: (p) => {
          // Earlier phases are complete once a later one reports.
          for (const q of phases.slice(0, phases.indexOf(p.status))) { const bar = $<HTMLProgressElement>(`#p-${q}`); bar.value = bar.max; }
          const bar = $<HTMLProgressElement>(`#p-${p.status}`);
          bar.max = Math.max(1, p.total); bar.value = p.done;
          $<HTMLSpanElement>(`#t-${p.status}`).textContent = `${p.done} / ${p.total}`;
        },
      });
      for (const q of phases) { const bar = $<HTMLProgressElement>(`#p-${q}`); bar.value = bar.max; }
      size = (await engine.info()).size;
      setStatus(ui.engineStatus, `Ready: index “${indexName}” (${size} passages).`);
      setStatus(ui.ingestStatus, `Added ${r.documents} documents as ${r.chunks} passages. “${indexName}” now holds ${size} passages, saved on this device.`);
    } catch (e) {
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
  ui.cancelIngest.addEventListener('click', () => ingesting?.abort());
  $<HTMLButtonElement>('#pick-folder').addEventListener('click', () => ui.folderInput.click());
  $<HTMLButtonElement>('#pick-files').addEventListener('click', () => ui.filesInput.click());
  ui.drop.addEventListener('click', () => ui.filesInput.click());
  ui.drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ui.filesInput.click(); } });
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

  // ---- Questions --------------------------------------------------------------------------
  const figure = (id: string, text: string) => { $<HTMLElement>(`#fig-${id}`).textContent = text; };
  const updateFigures = async (done: Extract<RagEvent, { type: 'done' }>, stages: TraceStage[]) => {
    const steps = stages.filter((s) => s.kind === 'step');
    if (steps.length > 1) {
      const ms = steps.at(-1)!.at + steps.at(-1)!.end - steps.at(-1)!.start - steps[0]!.at;
      figure('tps', (steps.length / (ms / 1000)).toFixed(1));
    }
    figure('ttft', `${done.timings.firstTokenMs.toFixed(0)} ms`);
    const cache = (await rag?.info())?.cache;
    if (cache && cache.hits + cache.misses > 0) figure('hit', `${((100 * cache.hits) / (cache.hits + cache.misses)).toFixed(0)} % (${cache.hits}/${cache.hits + cache.misses} lists)`);
    let woven = 0;
    const ids = [...stagesOf.keys()];
    for (const a of ids) for (const b of ids) if (a !== b) woven += wovenSlices(stagesOf.get(a)!, stagesOf.get(b)!);
    figure('woven', String(woven));
  };

  const renderAnswer = (el: HTMLElement, text: string, passages: Map<number, HTMLDetailsElement>) => {
    el.replaceChildren();
    let last = 0;
    for (const m of text.matchAll(/\[(\d+)\]/g)) {
      const n = Number(m[1]);
      const target = passages.get(n);
      if (!target) continue;
      el.append(text.slice(last, m.index));
      const b = document.createElement('button');
      b.type = 'button'; b.className = 'cite'; b.textContent = `[${n}]`; b.setAttribute('aria-label', `Show passage ${n}`);
      b.addEventListener('click', () => { target.open = true; target.scrollIntoView({ block: 'nearest' }); });
      el.append(b);
      last = m.index + m[0].length;
    }
    el.append(text.slice(last));
  };

  const ask = async (question: string, onFirstToken?: () => void) => {
    if (!rag) return;
    const id = ++requests;
    const color = timeline.addRequest(id, `Q${id}: ${question}`);
    const stages: TraceStage[] = [];
    stagesOf.set(id, stages);
    const li = document.createElement('li');
    li.className = 'qa'; li.dataset.request = String(id); li.style.setProperty('--lane', color);
    const q = document.createElement('div'); q.className = 'q';
    const tag = document.createElement('span'); tag.className = 'tag'; tag.textContent = `Q${id}`;
    q.append(tag, question);
    const a = document.createElement('div'); a.className = 'a';
    const meta = document.createElement('div'); meta.className = 'meta';
    const sources = document.createElement('ol'); sources.className = 'sources'; sources.setAttribute('aria-label', 'Sources');
    li.append(q, a, meta, sources);
    ui.answers.prepend(li);
    const ctl = new AbortController();
    running.add(ctl);
    refreshControls();
    let text = '';
    const details = new Map<number, HTMLDetailsElement>();
    try {
      for await (const e of rag.generate(question, { k: 3, maxTokens: 64, signal: ctl.signal })) {
        if (e.type === 'stage') { stages.push(e.stage); timeline.addStage(id, e.stage); continue; }
        if (e.type === 'retrieval') {
          meta.textContent = `Found ${e.passages.length} passages; writing…`;
          for (const p of e.passages) {
            const item = document.createElement('li');
            item.dataset.doc = p.docId;
            const d = document.createElement('details');
            const s = document.createElement('summary');
            const doc = document.createElement('span'); doc.className = 'doc'; doc.textContent = `[${p.citation}] ${p.docId}`;
            s.append(doc);
            const passage = document.createElement('div'); passage.className = 'passage'; passage.textContent = p.text;
            d.append(s, passage);
            item.append(d);
            sources.append(item);
            details.set(p.citation, d);
          }
        } else if (e.type === 'token') {
          if (text === '') onFirstToken?.();
          text += e.text;
          a.textContent = text;
        } else if (e.type === 'done') {
          renderAnswer(a, e.answer, details);
          for (const c of e.citations) details.get(c)?.parentElement?.classList.add('cited');
          const why = e.finishReason === 'abort' ? ' · stopped' : e.finishReason === 'length' ? ' · reached the length limit' : '';
          meta.textContent = `${e.tokens.generated} tokens · first token after ${e.timings.firstTokenMs.toFixed(0)} ms · ${(e.timings.totalMs / 1000).toFixed(2)} s in all${why}. Sources (click to read):`;
          li.dataset.done = 'true';
          await updateFigures(e, stages);
        }
      }
    } catch (e) {
      meta.textContent = '';
      a.textContent = isWeftError(e) && e.code === 'ABORTED' ? 'Stopped.' : `Could not answer: ${message(e)}`;
      a.classList.add('error');
      onFirstToken?.();
    } finally {
      running.delete(ctl);
      timeline.finish(id);
      refreshControls();
    }
  };

  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = ui.question.value.trim().split('\n')[0]?.trim();
    if (q) void ask(q); else ui.question.focus();
  });
  ui.ask3.addEventListener('click', () => {
    const lines = ui.question.value.split('\n').map((l) => l.trim()).filter(Boolean);
    const qs = [...lines, ...FALLBACK].slice(0, 3);
    clearTimeline(); // one axis for the three, so that their overlap is easy to see
    // The second and third arrive while the first is decoding: their search runs in its gaps.
    let started = false;
    void ask(qs[0]!, () => {
      if (started) return;
      started = true;
      void ask(qs[1]!);
      void ask(qs[2]!);
    });
  });
  ui.stop.addEventListener('click', () => { for (const c of running) c.abort(); });
  const clearTimeline = () => {
    timeline.clear();
    for (const id of [...stagesOf.keys()]) if (![...ui.answers.querySelectorAll<HTMLElement>('li.qa:not([data-done])')].some((li) => li.dataset.request === String(id))) stagesOf.delete(id);
  };
  $<HTMLButtonElement>('#clear-timeline').addEventListener('click', clearTimeline);

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
  ui.load.addEventListener('click', () => { void startEngine(); });
  // Offline models are small: load them at once. Online ones wait for the click (a download).
  if (setup.local) await startEngine();
}
