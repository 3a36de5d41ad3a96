// The "Ask your documents" view: the model picker, ingestion with progress, the indexes kept on
// this device, the conversation and the live timeline. The conversation is a <weft-chat> element
// (weft-rag/chat): it runs the runtime in the engine worker, loads the model, keeps the
// conversation and streams cited answers. The page configures it (its `options`: the model the
// picker chose; its `index`), adds the documents dropped on the page through `chat.ingest()`, and
// draws the progress bars and the timeline from the element's events (`weft-progress`,
// `weft-event` with each answer's request number, `weft-ingested` when an ingest is over). The
// page keeps only the store handle it needs to list, delete, export and import indexes.
//
// When no model can load (offline, the local model files missing, an embedder that cannot be
// downloaded) the element runs keyword search instead (demo/keywords.ts, its `runtime`): documents
// are still added and searched by their words, and the page says so in one sentence.
//
// What the page shows comes from one state (`state` below) drawn by render(): which runtime the
// conversation has (none yet, loading, a model, keyword search, failed), the index in use and the
// indexes as last listed from the store (the passage counts), the ingest under way or its
// outcome, and the last index-management message. Every handler changes the state, then renders.

// For its side effect: it defines the <weft-chat> element this page is built around.
import '../src/entries/chat.js';
import type { WeftChat, ChatEvent, ChatProgress, DoneEvent, ChatIngested } from '../src/entries/chat.js';
import { isWeftError, persistStorage, storageEstimate, type Rag, type RagInfo, type TraceStage } from '../src/entries/client.js';
import { exportIndex, importIndex, openStore, type Manifest, type WeftStore } from '../src/weft.js';
import { acceptAttribute, readableTypesText } from '../src/entries/client.js';
import { fromDrop, fromInput, fromShell, type Picked } from './files.js';
import { KEYWORD_EMBEDDER, openKeywordRuntime } from './keywords.js';
import { cachedModel, missingFiles, modelSetup, reachable, type ModelChoice, type ModelSetup } from './models.js';
import { shellBridge } from './shell-bridge.js';
import { drawMemory, type MemoryView } from './memory.js';
import { createTimeline, type LaneWorkflow, wovenSlices } from './timeline.js';
import { builtinLane, isBuiltinWorkflow, WORKFLOW_CHOICES } from './workflows.js';

const DB = 'weft-demo';
const DEFAULT_INDEX = 'notes';
const $ = <T extends Element>(sel: string) => document.querySelector<T>(sel)!;
const message = (e: unknown) => (isWeftError(e) ? `${e.message} (${e.code})` : e instanceof Error ? e.message : String(e));
const mb = (b: number) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GB` : `${(b / (1 << 20)).toFixed(1)} MB`);
/** "1 document", "2 documents", "1,548 passages". */
const plural = (n: number, word: string) => `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;

/** Questions for "Ask 3 at once" when the box has fewer than three lines. */
const FALLBACK = ['What is this about?', 'What are the key facts?', 'What is mentioned most often?'];

/** How the conversation's keyword-only runtime explains itself (<weft-chat>'s `searchOnly`). */
const KEYWORD_NOTE = {
  header: 'keyword search, no model',
  reply: 'No model is loaded, so no answer is written: these are the passages of your documents whose words match. Click one to read it.',
};

/** What the conversation runs. */
type Engine =
  | { kind: 'none' } // no model loaded yet (it waits for "Load model")
  | { kind: 'loading' } // a model is loading
  | { kind: 'model'; answers: boolean } // a model (answers false: no WebGPU, the search model only)
  | { kind: 'keywords'; why: string; ready: boolean } // no model could load: keyword search on the page
  | { kind: 'failed'; why: string }; // not even keyword search could start

/** What the documents card shows under the drop zone. */
interface IngestView {
  text: string;
  error: boolean;
  bars: boolean;
}

export async function setupAsk(): Promise<void> {
  const ui = {
    model: $<HTMLSelectElement>('#model'),
    modelHint: $<HTMLParagraphElement>('#model-hint'),
    load: $<HTMLButtonElement>('#load'),
    loadBar: $<HTMLDivElement>('#load-bar'),
    loadProgress: $<HTMLProgressElement>('#load-progress'),
    loadText: $<HTMLSpanElement>('#load-text'),
    engineStatus: $<HTMLParagraphElement>('#engine-status'),
    memory: $<HTMLDivElement>('#gpu-memory'),
    drop: $<HTMLDivElement>('#drop'),
    folderInput: $<HTMLInputElement>('#folder-input'),
    filesInput: $<HTMLInputElement>('#files-input'),
    pickFolder: $<HTMLButtonElement>('#pick-folder'),
    pickFiles: $<HTMLButtonElement>('#pick-files'),
    docsReason: $<HTMLParagraphElement>('#docs-reason'),
    openFolder: $<HTMLButtonElement>('#open-folder'),
    ingest: $<HTMLDivElement>('#ingest'),
    ingestStatus: $<HTMLParagraphElement>('#ingest-status'),
    phases: $<HTMLDivElement>('#phases'),
    cancelIngest: $<HTMLButtonElement>('#cancel-ingest'),
    indexes: $<HTMLTableElement>('#indexes'),
    indexesEmpty: $<HTMLParagraphElement>('#indexes-empty'),
    indexesStatus: $<HTMLParagraphElement>('#indexes-status'),
    newIndex: $<HTMLInputElement>('#new-index'),
    importInput: $<HTMLInputElement>('#import-input'),
    storageMeter: $<HTMLMeterElement>('#storage-meter'),
    storageText: $<HTMLSpanElement>('#storage-text'),
    persistText: $<HTMLSpanElement>('#persist-text'),
    chatSlot: $<HTMLDivElement>('#chat-slot'),
    askHint: $<HTMLParagraphElement>('#ask-hint'),
    workflow: $<HTMLSelectElement>('#workflow'),
    workflowHint: $<HTMLSpanElement>('#workflow-hint'),
    questions3: $<HTMLTextAreaElement>('#questions3'),
    ask3: $<HTMLButtonElement>('#ask3'),
  };
  const timeline = createTimeline($<SVGSVGElement>('#timeline'), $<HTMLUListElement>('#legend'));
  const store: WeftStore = await openStore({ dbName: DB });

  // ---- The state, and the one function that shows it ---------------------------------------
  const state = {
    /** Whether this browser offers WebGPU (an adapter): without it no model writes answers. */
    gpu: true,
    setup: undefined as ModelSetup | undefined,
    /** `?models=local`: the model files that are not where the page looks for them. */
    missing: [] as string[],
    engine: { kind: 'none' } as Engine,
    /** The model the conversation loads or runs. */
    choice: undefined as ModelChoice | undefined,
    index: localStorage.getItem('weft-demo:index') || DEFAULT_INDEX,
    /** The workflow the next questions run (one-shot: none set on the conversation). */
    workflow: (() => {
      const saved = localStorage.getItem('weft-demo:workflow');
      return isBuiltinWorkflow(saved) ? saved : 'one-shot';
    })(),
    /** The indexes as last listed from the store: the one source of every passage count shown. */
    indexes: [] as Manifest[],
    ingest: undefined as IngestView | undefined,
    /** An ingest under way: the page's (its AbortController) or the conversation's own ('chat'). */
    ingesting: undefined as AbortController | 'chat' | undefined,
    /** Documents picked before the conversation could take them: added once it can. */
    waiting: undefined as Picked | undefined,
    /** The last message about index management (import, export, delete); cleared by the next action. */
    note: undefined as { text: string; error: boolean } | undefined,
    /** The engine's GPU memory and who shares it, as last asked (undefined: not asked yet, a runtime starting, or no WebGPU). */
    memory: undefined as MemoryView | undefined,
  };
  /** The conversation: created when a runtime is first started. */
  let chat: WeftChat | undefined;

  const current = () => state.indexes.find((m) => m.name === state.index);
  const size = () => current()?.count ?? 0;
  /** The embedder that adds documents now, as recorded in the indexes it builds. */
  const embedderId = () => (state.engine.kind === 'keywords' ? KEYWORD_EMBEDDER : state.setup?.embedderId);
  /**
   * Why documents cannot be added to the index in use now ('' when they can): its vectors came
   * from another embedder than the one at hand (keyword search still reads it; answers use its
   * keywords), or nothing at all could start.
   */
  const addBlocked = (): string => {
    if (state.engine.kind === 'failed') return 'Documents cannot be added: nothing could start here (see step 1).';
    const m = current(),
      id = embedderId();
    if (!m?.modelId || !id || m.modelId === id || state.engine.kind === 'none' || state.engine.kind === 'loading') return '';
    const built =
      m.modelId === KEYWORD_EMBEDDER ? 'for keyword search, without a model, so the model cannot add to it' : `with ${m.modelId}, which is not loaded now`;
    return `“${m.name}” was built ${built}: add documents to a new index (below, “New index”); this one is still searched by keyword.`;
  };
  /** Whether the index in use was built by another embedder than the one loading (so its runtime searches by keyword). */
  const foreignFor = (id: string) => {
    const m = current();
    return !!m && !!m.modelId && m.modelId !== id;
  };

  const setStatus = (el: HTMLElement, text: string, error = false) => {
    el.textContent = text;
    el.classList.toggle('error', error);
  };
  const label = () => state.choice?.label ?? 'the model';

  const engineText = (): { text: string; error: boolean; why?: string } => {
    const e = state.engine,
      n = size(),
      name = state.index;
    const held = `index “${name}” (${plural(n, 'passage')})`;
    switch (e.kind) {
      case 'none':
        return {
          text: state.gpu
            ? 'No model loaded yet: “Load model” downloads it once, then it is kept in this browser.'
            : 'This browser has no WebGPU, so no model can write answers here; the search model is loading.',
          error: false,
        };
      case 'loading':
        return { text: `Loading ${label()}…`, error: false };
      case 'model':
        return e.answers
          ? {
              text: `Ready: ${label()}, ${held}${foreignFor(state.setup!.embedderId) ? ', searched by keyword (it was built without this model’s embedder)' : ''}.`,
              error: false,
            }
          : {
              text: `This browser has no WebGPU: no model can write answers here, but your documents are indexed and searched on the CPU — questions get the passages that match. Index “${name}” (${plural(n, 'passage')}).`,
              error: false,
            };
      case 'keywords':
        return {
          why: e.why,
          text: `You can still add documents and search them by keyword; answers need a model${state.gpu ? '' : ' and WebGPU'}.`,
          error: false,
        };
      case 'failed':
        return { text: e.why, error: true };
    }
  };

  const askHint = (): string => {
    const e = state.engine,
      n = size(),
      name = state.index;
    if (e.kind === 'none') return state.gpu ? 'Load a model first (step 1).' : 'The search model is loading…';
    if (e.kind === 'loading' || (e.kind === 'keywords' && !e.ready)) return e.kind === 'loading' ? 'The model is loading…' : 'Keyword search is starting…';
    if (e.kind === 'failed') return 'Nothing can be asked: see step 1.';
    if (n === 0)
      return e.kind === 'keywords'
        ? `Add documents to “${name}” first (step 2), then search them in the box below.`
        : `Add documents to “${name}” first (step 2), then ask in the box below.`;
    if (e.kind === 'keywords')
      return `Type a question or some words in the box below: the passages of “${name}” (${plural(n, 'passage')}) that have those words come back, numbered [1], [2]… — click one to read it.`;
    return e.answers
      ? `Ask in the box below: answers come from “${name}” (${plural(n, 'passage')}) and cite them as [1], [2]… — click one to read the passage.`
      : `Ask in the box below: the passages of “${name}” (${plural(n, 'passage')}) that match come back, numbered [1], [2]… — click one to read it.`;
  };

  const render = () => {
    const e = state.engine;
    // Step 1: the model.
    const status = engineText();
    ui.engineStatus.replaceChildren();
    ui.engineStatus.classList.toggle('error', status.error);
    if (status.why) {
      const why = document.createElement('span');
      why.className = 'why';
      why.textContent = `${status.why} `;
      ui.engineStatus.append(why);
    }
    ui.engineStatus.append(status.text);
    ui.load.disabled = e.kind === 'loading' || !state.setup || state.missing.length > 0;
    ui.load.title = state.missing.length ? `Needs ${state.missing.join(', ')} (see below).` : '';
    ui.model.disabled = !state.setup || !state.gpu || state.missing.length > 0;
    ui.load.textContent =
      e.kind === 'model' ? 'Reload model' : (e.kind === 'keywords' || e.kind === 'failed') && !state.missing.length ? 'Try the model again' : 'Load model';
    ui.loadBar.hidden = e.kind !== 'loading';
    drawMemory(ui.memory, e.kind === 'model' ? state.memory : undefined);
    // Step 2: documents.
    const blocked = addBlocked();
    ui.docsReason.hidden = !blocked;
    ui.docsReason.textContent = blocked;
    if (chat) chat.addBlocked = blocked || undefined;
    for (const b of [ui.pickFolder, ui.pickFiles, ui.openFolder]) b.disabled = !!blocked;
    ui.drop.setAttribute('aria-disabled', String(!!blocked));
    ui.drop.classList.toggle('disabled', !!blocked);
    ui.ingest.hidden = !state.ingest && !state.ingesting;
    if (state.ingest) setStatus(ui.ingestStatus, state.ingest.text, state.ingest.error);
    ui.phases.hidden = !state.ingest?.bars;
    ui.cancelIngest.hidden = !state.ingesting;
    // The indexes.
    ui.indexesStatus.hidden = !state.note;
    if (state.note) setStatus(ui.indexesStatus, state.note.text, state.note.error);
    for (const tr of ui.indexes.tBodies[0]!.rows) tr.classList.toggle('current', tr.dataset.index === state.index);
    // Step 3: asking, with the workflow picked (it needs a model that writes answers).
    ui.askHint.textContent = askHint();
    const writes = !(e.kind === 'keywords' || e.kind === 'failed' || (e.kind === 'model' && !e.answers));
    const choice = WORKFLOW_CHOICES.find((c) => c.name === state.workflow)!;
    ui.workflow.value = state.workflow;
    ui.workflow.disabled = !writes;
    ui.workflowHint.textContent = writes ? choice.hint : 'Workflows need a model that writes answers: questions get the passages that match.';
    ui.workflow.title = writes ? choice.hint : ui.workflowHint.textContent;
    const canAsk3 = e.kind === 'model' && e.answers && size() > 0 && !!chat;
    ui.ask3.disabled = !canAsk3;
    ui.ask3.title = canAsk3
      ? ''
      : e.kind === 'keywords' || (e.kind === 'model' && !e.answers)
        ? 'Needs a model that writes answers.'
        : size() === 0
          ? 'Add documents first.'
          : 'Load a model first.';
  };

  // ---- Indexes and storage ----------------------------------------------------------------
  const refreshIndexes = async () => {
    state.indexes = await store.listIndexes();
    const all = state.indexes;
    const tbody = ui.indexes.tBodies[0]!;
    tbody.replaceChildren();
    ui.indexes.hidden = all.length === 0;
    ui.indexesEmpty.hidden = all.length > 0;
    for (const m of all) {
      const tr = tbody.insertRow();
      tr.dataset.index = m.name;
      tr.insertCell().textContent = m.name;
      const n = tr.insertCell();
      n.textContent = m.count.toLocaleString('en');
      n.className = 'num';
      const model = tr.insertCell();
      model.className = 'model';
      model.textContent = m.modelId === KEYWORD_EMBEDDER ? 'keywords only' : m.modelId.replace(/^sentence-transformers\//, '') || '–';
      model.title = m.modelId;
      // The actions on a row of their own under the index: the side column is narrow.
      const row = tbody.insertRow();
      row.className = 'actions-row';
      row.dataset.actionsOf = m.name;
      const cell = row.insertCell();
      cell.colSpan = 3;
      cell.className = 'actions';
      const actions = document.createElement('div');
      cell.append(actions);
      const button = (text: string, aria: string, run: () => Promise<void>) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = text;
        b.setAttribute('aria-label', `${aria} ${m.name}`);
        b.addEventListener('click', () => {
          b.disabled = true;
          state.note = undefined;
          run()
            .catch((e: unknown) => {
              state.note = { text: `${text} failed: ${message(e)}`, error: true };
            })
            .finally(() => {
              b.disabled = false;
              render();
            });
        });
        actions.append(b);
      };
      if (m.name !== state.index) button('Use', 'Use index', () => useIndex(m.name));
      button('Export', 'Export index', async () => {
        const blob = await exportIndex(store, m.name);
        const a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = `${m.name}.weft`;
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
        state.note = { text: `Exported “${m.name}” as ${m.name}.weft (${mb(blob.size)}).`, error: false };
      });
      button('Delete', 'Delete index', async () => {
        if (!confirm(`Delete the index “${m.name}” (${plural(m.count, 'passage')}) from this device?`)) return;
        const inUse = m.name === state.index;
        // The index in use: its runtime (and conversation) goes first; then the conversation
        // starts again on another index (the first one left, or a new, empty one).
        if (inUse) await dropChat();
        await store.deleteIndex(m.name);
        const left = (await store.listIndexes()).filter((x) => x.name !== m.name);
        if (inUse) setIndex(left[0]?.name ?? DEFAULT_INDEX);
        state.note = {
          text: `Deleted “${m.name}”.${inUse ? ` Now using “${state.index}”${left.length ? '' : ' (new: the first documents you add create it)'}.` : ''}`,
          error: false,
        };
        await refreshIndexes();
        if (inUse) restart();
      });
    }
    render();
    await Promise.all([refreshStorage(), refreshMemory()]);
  };

  const refreshStorage = async () => {
    try {
      const s = await storageEstimate();
      ui.storageMeter.max = Math.max(1, s.quota);
      ui.storageMeter.value = s.usage;
      ui.storageText.textContent = `${mb(s.usage)} used of ${mb(s.quota)} this site may use`;
      ui.persistText.textContent = s.persisted ? 'Persistent: the browser will not evict it.' : 'Not persistent: the browser may evict it when space runs low.';
    } catch (e) {
      ui.storageText.textContent = message(e);
    }
  };

  /**
   * Shows the engine's GPU memory and who shares it, from `rag`'s info(): the engine worker's
   * (EngineInfo: `memory`, `engine`), though <weft-chat> types its runtime as a Rag. Asked after
   * the runtime is ready, each answer and each ingest (the list cache grows as searches run).
   */
  const showMemory = (rag: Rag, info: RagInfo | undefined) => {
    if (rag !== chat?.rag || state.engine.kind !== 'model') return; // the conversation restarted meanwhile: another runtime's figures
    const engine = info as Partial<MemoryView> | undefined;
    state.memory = engine?.memory ? { memory: engine.memory, engine: engine.engine } : undefined;
    render();
  };
  const refreshMemory = async () => {
    const rag = chat?.rag;
    // A runtime closing under a restart cannot say: the next one is asked once it is ready.
    if (rag && state.engine.kind === 'model') showMemory(rag, await rag.info().catch(() => undefined));
  };

  const setIndex = (name: string) => {
    state.index = name;
    localStorage.setItem('weft-demo:index', name);
    // The outcome of an ingest into another index no longer applies.
    if (!state.ingesting) state.ingest = undefined;
  };

  const useIndex = async (name: string) => {
    setIndex(name);
    chat?.clear(); // a new conversation: the passages of the old one are another index's
    await refreshIndexes();
    restart();
  };

  $<HTMLButtonElement>('#create-index').addEventListener('click', () => {
    const name = ui.newIndex.value.trim();
    if (!name) {
      ui.newIndex.focus();
      return;
    }
    ui.newIndex.value = '';
    state.note = state.indexes.some((m) => m.name === name) ? undefined : { text: `Using “${name}”: the first documents you add create it.`, error: false };
    void useIndex(name);
  });
  $<HTMLButtonElement>('#import').addEventListener('click', () => ui.importInput.click());
  ui.importInput.addEventListener('change', () => {
    const file = ui.importInput.files?.[0];
    ui.importInput.value = '';
    if (!file) return;
    state.note = undefined;
    const taken = new Set(state.indexes.map((m) => m.name));
    void (async () => {
      for (const m of await store.listIndexes()) taken.add(m.name);
      let name = file.name.replace(/\.weft$/, '') || 'imported';
      for (let i = 2; taken.has(name); i++) name = `${file.name.replace(/\.weft$/, '')}-${i}`;
      const m = await importIndex(store, file, { name });
      state.note = { text: `Imported “${m.name}” (${plural(m.count, 'passage')}).`, error: false };
      await refreshIndexes();
    })().catch((e: unknown) => {
      state.note = { text: `Import failed: ${message(e)}`, error: true };
      render();
    });
  });
  $<HTMLButtonElement>('#persist').addEventListener('click', () => {
    persistStorage().then(
      (ok) => {
        ui.persistText.textContent = ok
          ? 'Persistent: the browser will not evict it.'
          : 'The browser said no (Chrome decides from how often the site is used).';
      },
      (e: unknown) => {
        ui.persistText.textContent = message(e);
      },
    );
  });

  // ---- The conversation: <weft-chat> --------------------------------------------------------
  /** What the conversation's `workflow` is for the workflow picked: none for one-shot (the runtime's default). */
  const conversationWorkflow = () => (state.workflow === 'one-shot' ? undefined : state.workflow);
  for (const c of WORKFLOW_CHOICES) {
    const o = new Option(c.label, c.name);
    o.title = c.hint;
    ui.workflow.add(o);
  }
  ui.workflow.addEventListener('change', () => {
    if (!isBuiltinWorkflow(ui.workflow.value)) return;
    state.workflow = ui.workflow.value;
    localStorage.setItem('weft-demo:workflow', state.workflow);
    // The next questions run it (an answer already streaming keeps its own).
    if (chat) chat.workflow = conversationWorkflow();
    render();
  });
  const phases = ['read', 'embed', 'index', 'persist'] as const;
  const resetBars = () => {
    for (const p of phases) {
      const bar = $<HTMLProgressElement>(`#p-${p}`);
      bar.max = 1;
      bar.value = 0;
      $<HTMLSpanElement>(`#t-${p}`).textContent = '';
    }
  };
  const downloads = new Map<string, { loaded: number; total: number }>();
  const onProgress = (p: ChatProgress) => {
    if (p.phase === 'load') {
      if (p.status === 'download') {
        downloads.set(p.file, { loaded: p.loaded, total: p.total ?? p.loaded });
        const loaded = [...downloads.values()].reduce((a, f) => a + f.loaded, 0),
          total = [...downloads.values()].reduce((a, f) => a + f.total, 0);
        ui.loadProgress.max = Math.max(1, total);
        ui.loadProgress.value = loaded;
        ui.loadText.textContent = p.text ?? `${mb(loaded)} of ${mb(total)}`;
      } else if (p.status === 'init') {
        ui.loadProgress.max = Math.max(1, p.total);
        ui.loadProgress.value = p.done;
        ui.loadText.textContent = p.text ?? 'Initialising…';
      }
      return;
    }
    if (!state.ingesting) {
      // Documents dropped on the conversation (or its "Add documents"): the same bars show them.
      state.ingesting = 'chat';
      resetBars();
      state.ingest = { text: `Adding the documents given to the conversation to “${state.index}”…`, error: false, bars: true };
      render();
    }
    // Earlier phases are complete once a later one reports.
    for (const q of phases.slice(0, phases.indexOf(p.status))) {
      const bar = $<HTMLProgressElement>(`#p-${q}`);
      bar.value = bar.max;
    }
    const bar = $<HTMLProgressElement>(`#p-${p.status}`);
    bar.max = Math.max(1, p.total);
    bar.value = p.done;
    $<HTMLSpanElement>(`#t-${p.status}`).textContent = `${p.done} / ${p.total}`;
  };

  /** What an ingest that is over says (its own count, and the index's from the store, listed after the commit). */
  const ingestOutcome = (r: ChatIngested, given: number, skipped: number): IngestView => {
    const n = size(),
      name = state.index;
    const skip = skipped ? ` Skipped ${plural(skipped, 'file')} that ${skipped === 1 ? 'is' : 'are'} not ${readableTypesText}.` : '';
    const holds = `“${name}” now holds ${plural(n, 'passage')}, saved on this device.`;
    if (!r.error) return { text: `Added ${plural(r.documents, 'document')} as ${plural(r.chunks, 'passage')}. ${holds}${skip}`, error: false, bars: true };
    if (r.error.code === 'ABORTED') return { text: 'Cancelled: nothing of this batch was saved.', error: false, bars: false };
    if (r.documents > 0) {
      // The runtime's message ends by counting what was indexed: said first here already.
      const why = r.error.message.replace(/\s*The other (document was|\d+ documents were) indexed \([^)]*\)\.$/, '');
      return {
        text: `Added ${r.documents} of ${plural(given, 'document')} (${plural(r.chunks, 'passage')}); ${holds} Not added: ${why}${skip}`,
        error: true,
        bars: true,
      };
    }
    return { text: `Could not add the documents: ${r.error.message} (${r.error.code})${skip}`, error: true, bars: false };
  };

  /** The workflow a request runs, for its timeline lane: a built-in's name and its nodes (the lane's rows). */
  const laneWorkflow = (request: number): LaneWorkflow | undefined => {
    const name = chat?.messages.find((t) => t.request === request)?.workflow;
    if (!name) return undefined;
    return isBuiltinWorkflow(name) ? { workflow: name, ...builtinLane(name) } : { workflow: name };
  };
  const onEvent = (d: ChatEvent) => {
    if (!laned.has(d.request)) {
      laned.add(d.request);
      stagesOf.set(d.request, []);
      timeline.addRequest(d.request, `Q${d.request}: ${d.question}`, laneWorkflow(d.request));
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
    el.workflow = conversationWorkflow();
    el.setAttribute('aria-label', 'Conversation with your documents');
    // A removed element (its index deleted) may still report while it closes: only the current one counts.
    el.addEventListener('weft-progress', (e) => {
      if (el === chat) onProgress(e.detail);
    });
    el.addEventListener('weft-event', (e) => {
      if (el === chat) onEvent(e.detail);
    });
    el.addEventListener('weft-ingested', (e) => {
      if (el !== chat || state.ingesting !== 'chat') return; // the page's own ingests say their outcome themselves
      const r: ChatIngested = e.detail;
      void refreshIndexes().then(() => {
        state.ingesting = undefined;
        state.ingest = ingestOutcome(r, r.documents, 0);
        render();
      });
    });
    el.addEventListener('weft-ready', (e) => {
      if (el !== chat) return;
      if (state.engine.kind === 'keywords') state.engine = { ...state.engine, ready: true };
      else state.engine = { kind: 'model', answers: e.detail.answers };
      void refreshIndexes().then(addWaiting);
    });
    el.addEventListener('weft-error', (e) => {
      if (el !== chat) return;
      if (e.detail.request !== undefined) timeline.finish(e.detail.request);
      const s = state.engine;
      // Errors of answers and ingests show in the conversation (and, for documents, in step 2).
      if (s.kind === 'loading') {
        const id = state.gpu ? (state.choice?.id ?? 'the model') : `the search model (${state.setup?.embedderName ?? 'embedder'})`;
        // A download that failed for want of a network says so; other failures say what the runtime said.
        const offline = e.detail.code === 'MODEL_UNREACHABLE' || /failed to fetch|networkerror|network error|load failed/i.test(e.detail.message);
        const what = offline
          ? `${id} could not be downloaded: this device seems to be offline.`
          : `Could not load ${id}: ${e.detail.message} (${e.detail.code})`;
        startKeywords(state.gpu ? what : `This browser has no WebGPU, so no model can write answers here, and ${what.replace(/^Could not/, 'could not')}`);
      } else if (s.kind === 'keywords' && !s.ready) {
        state.engine = { kind: 'failed', why: `${s.why} Keyword search could not start either: ${e.detail.message} (${e.detail.code})` };
        render();
      }
    });
    return el;
  };

  const mount = () => {
    const fresh = !chat;
    chat ??= createChat();
    if (fresh) ui.chatSlot.replaceChildren(chat);
    return chat;
  };

  /** Loads the chosen model on the index in use: the first time creates the conversation, later times reconfigure it (it restarts). */
  const startModel = () => {
    const setup = state.setup;
    if (!setup) return;
    state.choice = setup.choices.find((c) => c.id === ui.model.value) ?? setup.choices[0]!;
    state.engine = { kind: 'loading' };
    state.memory = undefined; // the next runtime's, once it is ready
    downloads.clear();
    ui.loadProgress.removeAttribute('value');
    ui.loadText.textContent = '';
    const el = mount();
    // Set together: one restart with all of them. An index built by another embedder is searched by its keywords.
    el.runtime = undefined;
    el.searchOnly = undefined;
    el.index = state.index;
    el.options = { embedder: { ...setup.embedder }, generator: state.choice.generator, ...(foreignFor(setup.embedderId) ? { mode: 'lexical' as const } : {}) };
    render();
  };

  /** No model could load: the conversation searches by keyword instead, on the page (demo/keywords.ts). */
  const startKeywords = (why: string) => {
    state.engine = { kind: 'keywords', why, ready: false };
    state.memory = undefined;
    const el = mount();
    el.runtime = (options) => openKeywordRuntime(DB, options.indexName);
    el.searchOnly = KEYWORD_NOTE;
    el.index = state.index;
    render();
  };

  /** The conversation again on the index in use, with what it ran (after a switch or a delete). */
  const restart = () => {
    const e = state.engine;
    if (e.kind === 'keywords') startKeywords(e.why);
    else if (e.kind === 'model' || e.kind === 'loading') startModel();
    else render();
  };

  /** Closes the conversation's runtime and removes it (before its index is deleted). */
  const dropChat = async () => {
    const el = chat;
    if (!el) return;
    chat = undefined;
    state.memory = undefined;
    const rag = el.rag;
    el.remove();
    await rag?.close().catch(() => undefined);
    ui.chatSlot.replaceChildren();
  };

  // ---- Ingestion --------------------------------------------------------------------------
  /** Whether the conversation can take documents now (else they wait for it). */
  const chatTakes = () => !!chat && (state.engine.kind === 'model' || (state.engine.kind === 'keywords' && state.engine.ready));
  const ingest = async (picked: Picked) => {
    if (picked.files.length === 0) {
      // Nothing to add: no bars (the last run's would be someone else's).
      state.ingest = {
        text: picked.skipped.length
          ? `Nothing to add: ${plural(picked.skipped.length, 'file')} ${picked.skipped.length === 1 ? 'is' : 'are'} not ${readableTypesText}.`
          : 'Nothing to add: the folder has no files.',
        error: true,
        bars: false,
      };
      render();
      return;
    }
    const blocked = addBlocked();
    if (blocked) {
      state.ingest = { text: blocked, error: true, bars: false };
      render();
      return;
    }
    if (!chatTakes() || state.ingesting) {
      const waiting = (state.waiting = {
        files: [...(state.waiting?.files ?? []), ...picked.files],
        skipped: [...(state.waiting?.skipped ?? []), ...picked.skipped],
      });
      const when = state.ingesting
        ? 'the documents before them are in'
        : state.engine.kind === 'none'
          ? 'a model is loaded (step 1)'
          : 'the conversation is ready';
      if (!state.ingesting) state.ingest = { text: `${plural(waiting.files.length, 'document')} will be added once ${when}.`, error: false, bars: false };
      render();
      return;
    }
    const el = chat!;
    const ctl = new AbortController();
    state.ingesting = ctl;
    state.note = undefined; // what was said about the indexes is over
    resetBars();
    const skipped = picked.skipped.length
      ? ` (skipping ${plural(picked.skipped.length, 'file')} that ${picked.skipped.length === 1 ? 'is' : 'are'} not ${readableTypesText})`
      : '';
    state.ingest = { text: `Adding ${plural(picked.files.length, 'document')} to “${state.index}”${skipped}…`, error: false, bars: true };
    render();
    let outcome: ChatIngested;
    try {
      // The engine worker reads and parses every file; the element reports each phase as weft-progress.
      const r = await el.ingest(picked.files, { signal: ctl.signal });
      outcome = { ...r, size: 0 };
    } catch (e) {
      // Files that could not be read (a damaged or encrypted PDF) are named; the others were added.
      const indexed = isWeftError(e, 'UNPARSABLE_DOCUMENT')
        ? (e.details as { indexed?: { documents: number; chunks: number } } | undefined)?.indexed
        : undefined;
      outcome = {
        documents: indexed?.documents ?? 0,
        chunks: indexed?.chunks ?? 0,
        size: 0,
        error: isWeftError(e) ? { code: e.code, message: e.message } : { code: 'UNKNOWN', message: message(e) },
      };
    }
    await refreshIndexes();
    // What was stored is saved: a phase that did not report (training: only an index's first ingest trains) is done too.
    if (outcome.documents > 0)
      for (const q of phases) {
        const bar = $<HTMLProgressElement>(`#p-${q}`);
        bar.value = bar.max;
        const t = $<HTMLSpanElement>(`#t-${q}`);
        t.textContent ||= 'done';
      }
    state.ingesting = undefined;
    state.ingest = ingestOutcome(outcome, picked.files.length, picked.skipped.length);
    render();
    addWaiting();
  };
  const addWaiting = () => {
    const next = state.waiting;
    state.waiting = undefined;
    if (next) void ingest(next);
  };
  // The element's own ingests (a drop on the conversation) stop with its stop(), which stops an answer too.
  ui.cancelIngest.addEventListener('click', () => {
    if (state.ingesting instanceof AbortController) state.ingesting.abort();
    else if (state.ingesting) chat?.stop();
  });
  const pick = (input: HTMLInputElement) => {
    if (!addBlocked()) input.click();
  };
  ui.pickFolder.addEventListener('click', () => pick(ui.folderInput));
  ui.pickFiles.addEventListener('click', () => pick(ui.filesInput));
  ui.drop.addEventListener('click', () => pick(ui.filesInput));
  ui.drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      pick(ui.filesInput);
    }
  });
  ui.filesInput.accept = acceptAttribute;
  $<HTMLSpanElement>('#drop-hint').textContent = `${readableTypesText[0]!.toUpperCase()}${readableTypesText.slice(1)}. Folders are read recursively.`;
  for (const input of [ui.folderInput, ui.filesInput]) {
    input.addEventListener('change', () => {
      if (input.files) void ingest(fromInput(input.files));
      input.value = '';
    });
  }
  ui.drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    ui.drop.classList.add('over');
  });
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
      void shell.openFolder().then(
        (r) => {
          if (r) return ingest(fromShell(r.files));
        },
        (e: unknown) => {
          state.ingest = { text: message(e), error: true, bars: false };
          render();
        },
      );
    });
  }

  // ---- Questions and the timeline ------------------------------------------------------------
  /** Requests that have a timeline lane (or had one before "Clear timeline"). */
  const laned = new Set<number>();
  const stagesOf = new Map<number, TraceStage[]>();
  const figure = (id: string, text: string) => {
    $<HTMLElement>(`#fig-${id}`).textContent = text;
  };
  const updateFigures = async (done: DoneEvent, stages: TraceStage[]) => {
    const steps = stages.filter((s) => s.kind === 'step');
    if (steps.length > 1) {
      const ms = steps.at(-1)!.at + steps.at(-1)!.end - steps.at(-1)!.start - steps[0]!.at;
      figure('tps', (steps.length / (ms / 1000)).toFixed(1));
    }
    figure('ttft', `${done.timings.firstTokenMs.toFixed(0)} ms`);
    const rag = chat?.rag;
    const info = await rag?.info();
    if (rag) showMemory(rag, info);
    const cache = info?.cache;
    if (cache && cache.hits + cache.misses > 0)
      figure('hit', `${((100 * cache.hits) / (cache.hits + cache.misses)).toFixed(0)} % (${cache.hits}/${cache.hits + cache.misses} lists)`);
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
    const lines = ui.questions3.value
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
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
  setInterval(() => {
    if (chat && !chat.answering) timeline.finishAll();
  }, 500);

  // ---- Start ------------------------------------------------------------------------------
  ui.model.disabled = true;
  ui.load.disabled = true;
  await refreshIndexes();
  const adapter = await (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter().catch(() => null);
  state.gpu = !!adapter;
  try {
    state.setup = await modelSetup();
  } catch (e) {
    startKeywords(`Could not list the models: ${message(e)}.`);
    return;
  }
  const setup = state.setup;
  for (const c of setup.choices) ui.model.add(new Option(c.label, c.id));
  const saved = localStorage.getItem('weft-demo:model');
  if (saved && setup.choices.some((c) => c.id === saved)) ui.model.value = saved;
  const showHint = () => {
    const c = setup.choices.find((x) => x.id === ui.model.value);
    ui.model.title = c?.label ?? '';
    ui.modelHint.textContent = state.gpu
      ? (c?.hint ?? '')
      : `This browser has no WebGPU: no language model runs here; “Load model” loads the search model only (${setup.embedderName}), for search by meaning on the CPU.`;
  };
  showHint();
  ui.model.addEventListener('change', () => {
    localStorage.setItem('weft-demo:model', ui.model.value);
    showHint();
    if (state.engine.kind === 'model') ui.load.textContent = 'Load model';
  });
  ui.load.addEventListener('click', () => {
    state.note = undefined;
    startModel();
  });
  if (setup.files) {
    // Offline models: the files must be there, else the loaders would parse whatever came back.
    const { base, names } = setup.files;
    const missing = (state.missing = await missingFiles(setup.files));
    if (missing.length) {
      const list = (xs: string[]) => `${xs.slice(0, -1).join(', ')}${xs.length > 1 ? ' and ' : ''}${xs.at(-1)}`;
      startKeywords(
        missing.length === names.length
          ? `The offline models are not there: ?models=local needs ${list(names)} in ${base} — put them there, or point ?assets=URL at a folder that has them.`
          : `The offline models are incomplete: ${list(missing)} ${missing.length === 1 ? 'is' : 'are'} missing from ${base} (it needs ${list(names)}) — put ${missing.length === 1 ? 'it' : 'them'} there, or point ?assets=URL at a folder that has them.`,
      );
      return;
    }
  }
  // Offline models are small, and without WebGPU only the search model loads: load them at once.
  // Online models wait for the click (a download) — unless the model host cannot be reached and
  // the model is not cached: then keyword search starts at once, and "Load model" can try again.
  if (setup.local || !state.gpu) {
    startModel();
    return;
  }
  render();
  const first = setup.choices.find((c) => c.id === ui.model.value);
  if (first?.url && !(await cachedModel(first.id)) && !(await reachable(first.url)) && state.engine.kind === 'none') {
    startKeywords(`This device cannot reach ${new URL(first.url).host}, where the models are downloaded from: it seems to be offline.`);
  }
}
