// <weft-chat>: the embeddable chat over an app's documents. It starts the RAG runtime in the
// engine worker (createRagInWorker, the public client API), shows model download and ingest
// progress, takes documents from a file picker or drag-and-drop, streams cited answers and keeps
// the conversation. Everything that comes from documents or the model is rendered through Lit
// text bindings, never as HTML.
// Over 400 lines: one Lit element's states and templates; its options, citations and styles are
// apart already.

import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { isWeftError, WeftError } from '../errors.js';
import type { ChatMessage } from '../generate/types.js';
import type { DocumentInput } from '../ingest/documents.js';
import type { Rag } from '../runtime/rag-api.js';
import type { IngestProgress, Passage, RagEvent, RagInfo, Workflow } from '../runtime/types.js';
import type { WeftStageInfo } from '../runtime/completions.js';
import { createRagInWorker, type RagWorkerInit } from '../transport/client.js';
import type { RagWorkerOptions } from '../transport/engine-api.js';
import type { LoadProgress } from '../util/progress.js';
import { acceptAttribute, documentTypeOf, readableTypesText } from '../ingest/file-types.js';
import { passagePage } from '../runtime/answer-context.js';
import { scoreText, sourceLabel, splitCitations } from './citation-marks.js';
import { chatWorkflow, workerOptions } from './attributes.js';
import { styles } from './styles.js';

/** An answer's last event: the answer, its citations, passages and timings (the detail of `weft-answer`). */
export type DoneEvent = Extract<RagEvent, { type: 'done' }>;

/** `weft-progress`'s detail: the runtime's report, and which phase it belongs to. */
export type ChatProgress = (LoadProgress & { phase: 'load' }) | (IngestProgress & { phase: 'ingest' });

/** `weft-error`'s detail (`request`: the answer that failed, when an answer failed). */
export interface ChatError {
  code: string;
  message: string;
  request?: number;
}

/**
 * `weft-event`'s detail: a RagEvent of an answer, with the answer's request number (1, 2, … per
 * element, the same as its turn's `request`) and its question, so that a page can tell the
 * events of overlapping answers apart (one timeline lane per request).
 */
export type ChatEvent = RagEvent & { request: number; question: string };

/** `ask()`'s options. */
export interface AskOptions {
  /**
   * Answer at once, beside an answer already streaming, instead of after it: the question is
   * answered on its own (without the conversation's earlier turns) and its turn joins the
   * conversation like any other. The runtime schedules the overlapping answers together (a
   * waiting question's search runs in the gaps between the other answer's decode steps).
   */
  alongside?: boolean;
}

/** `ingest()`'s options. */
export interface ChatIngestOptions {
  /** Cancels this ingest (as the element's Cancel button and `stop()` do): nothing of it is saved. */
  signal?: AbortSignal;
}

/**
 * `weft-ingested`'s detail: an ingest is over (the element's own, from its "Add documents" or a
 * drop, or the app's ingest()). `documents` and `chunks`: what it stored — all of it, or, with
 * `error`, what it could (the documents that could be read when some could not; nothing when it
 * failed or was cancelled, `error.code` 'ABORTED'). `size`: the index's passages after it.
 */
export interface ChatIngested {
  documents: number;
  chunks: number;
  size: number;
  error?: ChatError;
}

/**
 * `runtime`: opens the runtime an app provides instead of the engine worker's (e.g. one created
 * on the page with createRag). It gets the options the element would give the worker (its index,
 * database and the rest) and the load's signal and progress; the element closes what it returns.
 */
export type ChatRuntimeFactory = (options: RagWorkerOptions, init: { signal: AbortSignal; onProgress: (p: LoadProgress) => void }) => Promise<Rag>;

/**
 * `searchOnly`: why a runtime that cannot write answers (RagInfo.answers false) only searches, as
 * the header says it (`header`, after "search only") and as its replies say it (`reply`, above
 * the passages found). Default: the browser has no WebGPU.
 */
export interface SearchOnlyNote {
  header: string;
  reply: string;
}

const NO_WEBGPU: SearchOnlyNote = {
  header: 'no WebGPU',
  reply:
    'This browser has no WebGPU, which writing an answer needs; these are the passages of your documents that match, found on the CPU. Click one to read it.',
};

/** The DOM events <weft-chat> dispatches (all bubble and cross shadow roots). */
export interface WeftChatEventMap {
  'weft-ready': CustomEvent<RagInfo>;
  'weft-ingested': CustomEvent<ChatIngested>;
  'weft-progress': CustomEvent<ChatProgress>;
  'weft-event': CustomEvent<ChatEvent>;
  'weft-answer': CustomEvent<DoneEvent>;
  'weft-error': CustomEvent<ChatError>;
}

/** A turn of the conversation as the element shows it. */
export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
  /** Assistant turns: the passages the answer had, by citation number. */
  passages?: Passage[];
  /** Assistant turns: the citation numbers the finished answer used. */
  citations?: number[];
  /** Assistant turns: set once the answer is over. */
  finishReason?: DoneEvent['finishReason'];
  /** Assistant turns: why the answer failed. */
  error?: string;
  /** Assistant turns: still waiting or streaming. */
  pending?: boolean;
  /** Assistant turns: the request number its `weft-event`s carry. */
  request?: number;
  /** Assistant turns: the finished answer's figures (shown with the `timings` attribute). */
  stats?: { generated: number; firstTokenMs: number; totalMs: number };
  /** Assistant turns: asked `alongside` another answer, without the earlier turns. */
  alongside?: boolean;
  /** Assistant turns: no answer could be written (no WebGPU here), only the passages found. */
  searchOnly?: boolean;
  /** Assistant turns: the workflow it ran ('hyde', a graph's name, 'custom'), where one was set. */
  workflow?: string;
  /** Assistant turns: the workflow's stages before the answer, as they finished (what each wrote, listed or searched). */
  stages?: WeftStageInfo[];
}

type Status = 'idle' | 'loading' | 'ready' | 'error';

/** The properties whose change restarts the runtime. */
const CONFIG = [
  'index',
  'remote',
  'model',
  'embedder',
  'referenceModel',
  'referenceTokenizer',
  'embedderTokenizer',
  'embedderTokenizerConfig',
  'dbName',
  'engine',
  'options',
  'worker',
  'runtime',
] as const;
const INGEST_STAGES = ['read', 'embed', 'index', 'persist'] as const;
const STAGE_LABELS: Record<IngestProgress['status'], string> = { read: 'Read', embed: 'Embed', index: 'Index', persist: 'Save' };

/**
 * `<weft-chat>`: a chat over the user's documents, running the RAG runtime in the engine worker (or a
 * runtime the app opens: `runtime`). Its attributes configure the index and the models; `ingest`,
 * `ask`, `stop` and `clear` drive it; it reports through `weft-*` events (WeftChatEventMap).
 */
export class WeftChat extends LitElement {
  static override styles = styles;
  static override properties = {
    index: { type: String },
    remote: { type: String },
    model: { type: String },
    embedder: { type: String },
    referenceModel: { type: String, attribute: 'reference-model' },
    referenceTokenizer: { type: String, attribute: 'reference-tokenizer' },
    embedderTokenizer: { type: String, attribute: 'embedder-tokenizer' },
    embedderTokenizerConfig: { type: String, attribute: 'embedder-tokenizer-config' },
    dbName: { type: String, attribute: 'db-name' },
    engine: { type: String },
    k: { type: Number },
    maxTokens: { type: Number, attribute: 'max-tokens' },
    timings: { type: Boolean },
    workflow: {},
    theme: { type: String, reflect: true },
    options: { attribute: false },
    worker: { attribute: false },
    runtime: { attribute: false },
    searchOnly: { attribute: false },
    addBlocked: { attribute: false },
    _status: { state: true },
    _turns: { state: true },
    _info: { state: true },
    _downloads: { state: true },
    _init: { state: true },
    _ingest: { state: true },
    _notice: { state: true },
    _error: { state: true },
    _open: { state: true },
    _dragging: { state: true },
    _draft: { state: true },
  };

  /** Name of the index in the database. Default 'notes'. */
  declare index: string;
  /**
   * The URL of an index published as one file (`weft publish`, exportIndex) to search in place,
   * read-only: a site ships its docs' index and visitors embed nothing (no "Add documents").
   */
  declare remote: string | undefined;
  /** A WebLLM prebuilt model id, or 'reference' for the llama2.c reference generator. Default: DEFAULT_CHAT_MODEL. */
  declare model: string | undefined;
  /** An ONNX embedding model's URL, or 'default' (all-MiniLM-L6-v2 from the Hub). */
  declare embedder: string | undefined;
  /** With model="reference": the llama2.c checkpoint's URL. */
  declare referenceModel: string | undefined;
  /** With model="reference": the llama2.c tokenizer's (tok*.bin) URL. */
  declare referenceTokenizer: string | undefined;
  /** The embedder's tokenizer.json URL (default: MiniLM's). */
  declare embedderTokenizer: string | undefined;
  /** The embedder's tokenizer_config.json URL. */
  declare embedderTokenizerConfig: string | undefined;
  /** IndexedDB database (default 'weft'). */
  declare dbName: string | undefined;
  /**
   * 'shared' (default): elements with the same configuration in every tab of the app use one
   * engine, the models loaded once; 'tab': this element gets an engine of its own (RagWorkerInit.engine).
   */
  declare engine: 'shared' | 'tab' | undefined;
  /** Passages per answer (default: the runtime's, 3). */
  declare k: number | undefined;
  /** Longest answer in tokens (default: the runtime's, 64). */
  declare maxTokens: number | undefined;
  /** Show each finished answer's tokens, time to first token and total time under it. */
  declare timings: boolean;
  /**
   * The workflow every question runs (GenerateOptions.workflow): the attribute takes a built-in's
   * name ('one-shot', 'hyde', 'multistep', 'irg', 'recomp', 'flare', 'periodic'), the property also a graph
   * (docs/workflows.md). Default: the runtime's, one-shot. An unknown name or a graph that could
   * not run is reported (INVALID_WORKFLOW, with the built-ins' names) when it is set, and fails
   * the questions asked with it. Its stages show above each answer, folded.
   */
  declare workflow: Workflow | undefined;
  /** 'light', 'dark' or 'auto' (default: follows prefers-color-scheme). */
  declare theme: 'light' | 'dark' | 'auto';
  /** Worker options laid over what the attributes give (embedder or generator here replaces the attributes for it). */
  declare options: Partial<RagWorkerOptions> | undefined;
  /**
   * An engine worker the app started (on a script that runs serveEngine()). The element owns it
   * from then on: closing the runtime (a configuration change, removal from the page) terminates
   * it, so a restart needs a new one.
   */
  declare worker: Worker | undefined;
  /** Opens an app's own runtime instead of the engine worker's (see ChatRuntimeFactory); changing it restarts the element. */
  declare runtime: ChatRuntimeFactory | undefined;
  /** Why a runtime without answers only searches (see SearchOnlyNote; default: no WebGPU). */
  declare searchOnly: SearchOnlyNote | undefined;
  /**
   * Why documents cannot be added now, where the app knows (e.g. the index was built by another
   * embedder): "Add documents" is disabled with it as its title, and drops are refused.
   */
  declare addBlocked: string | undefined;

  declare private _status: Status;
  declare private _turns: ChatTurn[];
  declare private _info: RagInfo | undefined;
  declare private _downloads: Map<string, { loaded: number; total: number | undefined }>;
  declare private _init: string | undefined;
  declare private _ingest: Partial<Record<IngestProgress['status'], { done: number; total: number }>> | undefined;
  declare private _notice: string | undefined;
  declare private _error: ChatError | undefined;
  declare private _open: { passage: Passage; opener: HTMLElement | undefined } | undefined;
  declare private _dragging: boolean;
  declare private _draft: string;

  private _started = false;
  private _rag: Rag | undefined;
  private _ready: Promise<Rag> | undefined;
  private _session = 0;
  private _loadAbort: AbortController | undefined;
  private _closing: Promise<void> = Promise.resolve();
  private _spentWorker: Worker | undefined;
  /** The answers streaming now (more than one with `ask(…, { alongside: true })`). */
  private _running = new Set<{ turn: ChatTurn; abort: AbortController }>();
  private _requests = 0;
  /** A question was just asked: the conversation scrolls to it, wherever it was scrolled to. */
  private _toNewQuestion = false;
  private _answers: Promise<unknown> = Promise.resolve();
  private _ingestAbort: AbortController | undefined;
  private _ingests: Promise<unknown> = Promise.resolve();
  private _conversation = 0;
  /** Why the workflow set now cannot run (reported when it was set). */
  private _workflowError: ChatError | undefined;

  constructor() {
    super();
    this.index = 'notes';
    this.theme = 'auto';
    this.timings = false;
    this._status = 'idle';
    this._turns = [];
    this._downloads = new Map();
    this._dragging = false;
    this._draft = '';
    this.addEventListener('keydown', this._onKeydown);
    this.addEventListener('dragenter', this._onDragOver);
    this.addEventListener('dragover', this._onDragOver);
    this.addEventListener('dragleave', this._onDragLeave);
    this.addEventListener('drop', this._onDrop);
  }

  /** The runtime (in the engine worker, or the app's own `runtime`), once it is ready (undefined before, and after a failed load). */
  get rag(): Rag | undefined {
    return this._rag;
  }

  /** The conversation so far (a copy). */
  get messages(): ChatTurn[] {
    return this._turns.map((t) => ({ ...t }));
  }

  /** Whether an answer is being written now. */
  get answering(): boolean {
    return this._running.size > 0;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // Back on the page after a removal that closed the runtime: start it again.
    if (this.hasUpdated && this._status === 'idle') this._start();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    // A move within the page (disconnect, then connect in the same task) keeps the runtime.
    queueMicrotask(() => {
      if (!this.isConnected) this._shutdown();
    });
  }

  protected override willUpdate(changed: PropertyValues): void {
    // Here rather than in updated(): the state _start() sets then renders in this same update.
    const starting = this.isConnected && (!this._started || CONFIG.some((k) => changed.has(k)));
    if (starting) this._start();
    // A workflow that cannot run is said when it is set (and again after a restart cleared the error).
    if (changed.has('workflow') || (starting && this._workflowError)) this._checkWorkflow();
  }

  /** Reports a workflow that cannot run (weft-error and the error line); a valid one clears that report. */
  private _checkWorkflow(): void {
    const before = this._workflowError;
    try {
      chatWorkflow(this.workflow);
      this._workflowError = undefined;
      if (before && this._error?.message === before.message) this._error = undefined;
    } catch (e) {
      this._workflowError = errorOf(e);
      this._report(e);
    }
  }

  protected override updated(changed: PropertyValues): void {
    if (changed.has('_open') && this._open) this.renderRoot.querySelector<HTMLElement>('.panel .close')?.focus();
    if (changed.has('_turns')) {
      this._scrollToEnd(this._toNewQuestion);
      this._toNewQuestion = false;
    }
  }

  /**
   * Adds documents (Files, Blobs or { id, text, type }) to the index: ingest progress is shown and
   * dispatched as `weft-progress`. Waits for the runtime to be ready, and for earlier ingests.
   */
  ingest(files: readonly (File | Blob | DocumentInput)[], options: ChatIngestOptions = {}): Promise<{ documents: number; chunks: number }> {
    const run = async () => {
      const rag = await this._whenReady();
      const abort = new AbortController();
      const signal = options.signal ? AbortSignal.any([abort.signal, options.signal]) : abort.signal;
      this._ingestAbort = abort;
      this._ingest = {};
      this._notice = undefined;
      try {
        signal.throwIfAborted();
        const result = await rag.ingest(files, {
          signal,
          onProgress: (p) => {
            this._ingest = { ...this._ingest, [p.status]: { done: p.done, total: p.total } };
            this._emit('weft-progress', { ...p, phase: 'ingest' } as ChatProgress);
          },
        });
        this._notice = `Added ${plural(result.documents, 'document')} (${plural(result.chunks, 'passage')}).`;
        this._error = undefined; // an earlier failure is over
        await this._ingested(rag, result);
        return result;
      } catch (e) {
        if (isWeftError(e, 'ABORTED') || signal.aborted) {
          this._notice = 'Adding documents was cancelled; nothing was added.';
          const cancelled = isWeftError(e, 'ABORTED') ? e : new WeftError('ABORTED', 'Adding documents was cancelled.');
          await this._ingested(rag, { documents: 0, chunks: 0 }, errorOf(cancelled));
          throw cancelled;
        }
        this._report(e);
        // Documents that could be read were stored though others could not: the counts follow.
        const indexed = isWeftError(e, 'UNPARSABLE_DOCUMENT')
          ? (e.details as { indexed?: { documents: number; chunks: number } } | undefined)?.indexed
          : undefined;
        await this._ingested(rag, indexed ?? { documents: 0, chunks: 0 }, errorOf(e));
        throw e;
      } finally {
        this._ingestAbort = undefined;
        this._ingest = undefined;
      }
    };
    const done = this._ingests.then(run, run);
    this._ingests = done.catch(() => undefined);
    return done;
  }

  /**
   * Asks a question in the conversation: the runtime answers the last user turn with the earlier
   * turns as context. Resolves with the `done` event, or undefined when the answer was stopped
   * before it began. Waits for an answer already streaming.
   */
  ask(question: string, options: AskOptions = {}): Promise<DoneEvent | undefined> {
    const text = question.trim();
    if (!text) return Promise.reject(new WeftError('INVALID_INPUT', 'The question is empty: type a question first.'));
    const conversation = this._conversation;
    const turn: ChatTurn = { role: 'assistant', content: '', pending: true, request: ++this._requests, ...(options.alongside ? { alongside: true } : {}) };
    this._turns = [...this._turns, { role: 'user', content: text }, turn];
    this._toNewQuestion = true;
    const run = () => (conversation === this._conversation ? this._answerTurn(turn, text) : Promise.resolve(undefined));
    // An answer alongside starts now; the next question in the conversation waits for it too.
    const done = options.alongside ? run() : this._answers.then(run, run);
    const settled = done.catch(() => undefined);
    this._answers = options.alongside ? Promise.all([this._answers, settled]) : settled;
    return done;
  }

  /** After an ingest: the index's size as stored now (whatever the ingest stored), and `weft-ingested`. */
  private async _ingested(rag: Rag, result: { documents: number; chunks: number }, error?: ChatError): Promise<void> {
    this._info = await rag.info().catch(() => this._info);
    this._emit('weft-ingested', { ...result, size: this._info?.size ?? 0, ...(error ? { error } : {}) });
  }

  /** Stops the answers in progress (they end with finishReason 'abort') and a running ingest. */
  stop(): void {
    this._stopAnswers();
    this._ingestAbort?.abort();
  }

  /** Starts a new conversation (stops the answers in progress). */
  clear(): void {
    this._conversation++;
    this._stopAnswers();
    this._turns = [];
    this._open = undefined;
    this._notice = undefined;
    this._error = undefined;
  }

  private _stopAnswers(): void {
    for (const a of this._running) a.abort.abort();
  }

  private async _answerTurn(turn: ChatTurn, question: string): Promise<DoneEvent | undefined> {
    const abort = new AbortController();
    const running = { turn, abort };
    this._running.add(running);
    this.requestUpdate();
    // The conversation the runtime answers: every earlier turn that has text, then this question
    // (only the question for an answer alongside another, whose earlier turns may still be streaming).
    const at = this._turns.indexOf(turn);
    const messages: ChatMessage[] = turn.alongside
      ? [{ role: 'user', content: question }]
      : this._turns
          .slice(0, at)
          .filter((t) => t.content && !t.error && !t.pending)
          .map((t) => ({ role: t.role, content: t.content }));
    const update = () => {
      this._turns = [...this._turns];
    };
    const request = turn.request!;
    try {
      const rag = await this._whenReady();
      if (this._info && !this._info.answers) {
        // No WebGPU here: no model can write, but the index searches on the CPU — the passages are the reply.
        turn.passages = await rag.search(question, { signal: abort.signal, ...(this.k ? { k: this.k } : {}) });
        Object.assign(turn, { searchOnly: true, finishReason: 'stop' });
        this._error = undefined; // an earlier failure is over
        return undefined;
      }
      let done: DoneEvent | undefined;
      const workflow = chatWorkflow(this.workflow);
      if (workflow !== undefined) turn.workflow = typeof workflow === 'string' ? workflow : (workflow.name ?? 'custom');
      const options = {
        signal: abort.signal,
        ...(this.k ? { k: this.k } : {}),
        ...(this.maxTokens ? { maxTokens: this.maxTokens } : {}),
        ...(workflow !== undefined ? { workflow } : {}),
      };
      for await (const e of rag.generate({ messages }, options)) {
        this._emit('weft-event', { ...e, request, question });
        if (e.type === 'node') {
          const { type: _, passages: __, ...stage } = e;
          turn.stages = [...(turn.stages ?? []), stage];
          update();
        } else if (e.type === 'retrieval') {
          turn.passages = e.passages;
          update();
        } else if (e.type === 'token') {
          turn.content += e.text;
          update();
        } else if (e.type === 'done') {
          done = e;
          Object.assign(turn, {
            content: e.answer,
            passages: e.passages,
            citations: e.citations,
            finishReason: e.finishReason,
            stats: { generated: e.tokens.generated, firstTokenMs: e.timings.firstTokenMs, totalMs: e.timings.totalMs },
          });
        }
      }
      if (done) {
        this._error = undefined;
        this._emit('weft-answer', done);
      }
      return done;
    } catch (e) {
      if (isWeftError(e, 'ABORTED')) {
        turn.finishReason = 'abort';
        return undefined;
      }
      turn.error = errorOf(e).message;
      this._report(e, request);
      throw e;
    } finally {
      turn.pending = false;
      this._running.delete(running);
      update();
    }
  }

  /** Starts (or restarts, closing the previous one) the runtime for the current configuration. */
  private _start(): void {
    this._started = true;
    const session = ++this._session;
    const previous = this._close();
    this._status = 'loading';
    this._error = undefined;
    this._downloads = new Map();
    this._init = undefined;
    const abort = new AbortController();
    this._loadAbort = abort;
    const ready = (async () => {
      await previous;
      if (session !== this._session) throw superseded();
      const options = workerOptions(this, this.options);
      const init: RagWorkerInit = {
        ...(this.engine ? { engine: this.engine } : {}),
        signal: abort.signal,
        onProgress: (p) => {
          if (session === this._session) this._onLoad(p);
        },
      };
      if (this.worker) {
        if (this.worker === this._spentWorker)
          throw new WeftError(
            'INVALID_OPTION',
            'The worker given to <weft-chat> was terminated with the previous runtime; set `worker` to a new Worker to restart.',
          );
        init.worker = this._spentWorker = this.worker;
      }
      const onProgress = init.onProgress!;
      const rag = this.runtime ? await this.runtime(options, { signal: abort.signal, onProgress }) : await createRagInWorker(options, init);
      if (session !== this._session) {
        await rag.close();
        throw superseded();
      }
      this._rag = rag;
      this._info = await rag.info();
      this._status = 'ready';
      this._emit('weft-ready', this._info);
      return rag;
    })();
    this._ready = ready;
    ready.catch((e: unknown) => {
      if (session !== this._session) return;
      this._status = 'error';
      this._report(e);
    });
  }

  /** Closes the runtime (and aborts its loading); resolves once the worker has released everything. */
  private _close(): Promise<void> {
    this._loadAbort?.abort();
    this._stopAnswers();
    this._ingestAbort?.abort();
    const rag = this._rag;
    this._rag = undefined;
    this._ready = undefined;
    this._closing = this._closing.then(() => rag?.close()).catch(() => undefined);
    return this._closing;
  }

  private _shutdown(): void {
    this._session++;
    void this._close();
    this._status = 'idle';
  }

  /** The ready runtime; a restart while waiting waits for the new one. */
  private async _whenReady(): Promise<Rag> {
    if (!this.hasUpdated) await this.updateComplete;
    for (;;) {
      const ready = this._ready;
      if (!ready) throw new WeftError('INVALID_INPUT', '<weft-chat> is not on the page: add it to the document before calling ingest() or ask().');
      try {
        return await ready;
      } catch (e) {
        if (ready !== this._ready) continue;
        throw e;
      }
    }
  }

  private _onLoad(p: LoadProgress): void {
    if (p.status === 'download') {
      this._downloads = new Map(this._downloads).set(p.file, { loaded: p.loaded, total: p.total });
      this._init = undefined;
    } else if (p.status === 'init') {
      this._init = p.text ?? `Preparing the models (${p.done} of ${p.total})`;
    }
    this._emit('weft-progress', { ...p, phase: 'load' } as ChatProgress);
  }

  private _report(e: unknown, request?: number): void {
    const error = request === undefined ? errorOf(e) : { ...errorOf(e), request };
    this._error = error;
    this._emit('weft-error', error);
  }

  private _emit<K extends keyof WeftChatEventMap>(type: K, detail: WeftChatEventMap[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /** Files from the picker or a drop: the readable ones are ingested, the others named in an error. */
  private _addFiles(files: readonly File[]): void {
    const readable = files.filter((f) => documentTypeOf(f) !== undefined);
    const skipped = files.filter((f) => !readable.includes(f));
    if (skipped.length) {
      this._report(
        new WeftError('UNPARSABLE_DOCUMENT', `Skipped ${skipped.map((f) => f.name || 'a file').join(', ')}: only ${readableTypesText} files can be added.`),
      );
    }
    if (readable.length) this.ingest(readable).catch(() => undefined); // reported by ingest()
  }

  private _send(): void {
    const text = this._draft.trim();
    if (!text || this._status !== 'ready' || this.answering) return;
    this._draft = '';
    this.ask(text).catch(() => undefined); // reported on the turn and as weft-error
  }

  private _openPassage(passage: Passage, opener: EventTarget | null): void {
    this._open = { passage, opener: opener instanceof HTMLElement ? opener : undefined };
  }

  private _closePanel(): void {
    const opener = this._open?.opener;
    this._open = undefined;
    if (opener?.isConnected) opener.focus();
  }

  private _onKeydown = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && this._open) {
      e.preventDefault();
      e.stopPropagation();
      this._closePanel();
    }
  };

  private _onDragOver = (e: DragEvent) => {
    if (!e.dataTransfer?.types.includes('Files') || !this._canAdd()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    this._dragging = true;
  };

  private _onDragLeave = (e: DragEvent) => {
    const to = e.relatedTarget;
    if (!(to instanceof Node) || (!this.contains(to) && !this.renderRoot.contains(to))) this._dragging = false;
  };

  private _onDrop = (e: DragEvent) => {
    this._dragging = false;
    const files = [...(e.dataTransfer?.files ?? [])];
    if (!files.length || !this._canAdd()) return;
    e.preventDefault();
    this._addFiles(files);
  };

  private _scrollToEnd(always = false): void {
    const log = this.renderRoot.querySelector('.conversation');
    if (log && (always || log.scrollHeight - log.scrollTop - log.clientHeight < 120)) log.scrollTop = log.scrollHeight;
  }

  /** Whether documents can be added now: not to a published index, nor once the runtime failed to start (it waits while loading). */
  private _canAdd(): boolean {
    return !this.remote && !this.addBlocked && this._status !== 'error' && this._status !== 'idle';
  }

  /** Why the composer and "Add documents" cannot be used now ('' when they can). */
  private _unavailable(): string {
    return this._status === 'loading'
      ? 'The models are loading…'
      : this._status === 'error'
        ? `Not available: ${this._error?.message ?? 'the runtime could not start.'}`
        : this._status === 'idle'
          ? 'Not started: add the element to the page.'
          : '';
  }

  protected override render(): TemplateResult {
    const answering = this.answering;
    // A start that failed says why in the conversation's place; the banner would repeat it.
    const startFailed = this._status === 'error' && this._turns.length === 0;
    const unavailable = this._unavailable();
    return html`
      <div class="frame" part="frame">
        <header part="header">
          ${this._renderStatus()}
          <div class="actions">
            ${
              this.remote
                ? nothing
                : html`<button type="button" part="add" ?disabled=${!this._canAdd()} title=${this.addBlocked ?? (this._status === 'error' ? unavailable : `Add ${readableTypesText} files`)}
              @click=${() => this.renderRoot.querySelector<HTMLInputElement>('input[type=file]')?.click()}>Add documents</button>`
            }
            <button type="button" part="clear" ?disabled=${this._turns.length === 0} @click=${() => this.clear()}>New conversation</button>
          </div>
          <input type="file" multiple accept=${acceptAttribute} aria-label="Documents to add" tabindex="-1"
            @change=${(e: Event) => {
              const input = e.target as HTMLInputElement;
              this._addFiles([...(input.files ?? [])]);
              input.value = '';
            }}>
        </header>
        ${this._renderProgress()}
        ${
          this._error && !startFailed
            ? html`<div class="error" role="alert" part="error"><span>${this._error.message}</span><button type="button" aria-label="Dismiss the error" @click=${() => {
                this._error = undefined;
              }}>×</button></div>`
            : nothing
        }
        ${
          this._notice
            ? html`<div class="notice" part="notice"><span>${this._notice}</span><button type="button" aria-label="Dismiss" @click=${() => {
                this._notice = undefined;
              }}>×</button></div>`
            : nothing
        }
        <div class="main">
          <div class="conversation" part="conversation" role="log" aria-live="polite" aria-label="Conversation" tabindex="0">
            ${this._turns.length ? this._turns.map((t) => this._renderTurn(t)) : this._renderEmpty()}
          </div>
          ${this._open ? this._renderPanel(this._open.passage) : nothing}
        </div>
        <form part="composer" @submit=${(e: Event) => {
          e.preventDefault();
          this._send();
        }}>
          <label class="sr-only" for="question">Question</label>
          <textarea id="question" part="input" rows="1" placeholder=${this._status === 'ready' ? (this._info?.answers === false ? 'Search your documents: type a question or some words' : 'Ask a question about your documents') : unavailable}
            ?disabled=${this._status === 'error'}
            .value=${this._draft}
            @input=${(e: Event) => {
              this._draft = (e.target as HTMLTextAreaElement).value;
            }}
            @keydown=${(e: KeyboardEvent) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                this._send();
              }
            }}></textarea>
          ${
            answering
              ? html`<button type="button" part="stop" @click=${() => this._stopAnswers()}>Stop</button>`
              : html`<button type="submit" class="primary" part="send" ?disabled=${this._status !== 'ready' || !this._draft.trim()}>Send</button>`
          }
        </form>
        ${this._dragging ? html`<div class="drop" part="drop">Drop ${readableTypesText} files to add them</div>` : nothing}
      </div>`;
  }

  private _renderStatus(): TemplateResult {
    const info = this._info;
    const text =
      this._status === 'ready' && info
        ? `Ready · “${info.indexName}” · ${plural(info.size, 'passage')}${this.remote ? ` from ${this._remoteHost()}` : ''}${info.model ? ` · ${info.model}` : ''}${info.answers ? '' : ` · search only (${(this.searchOnly ?? NO_WEBGPU).header})`}`
        : this._status === 'loading'
          ? 'Loading the models…'
          : this._status === 'error'
            ? 'Not ready: the runtime could not start'
            : 'Stopped';
    return html`<div class="status" part="status" role="status" title=${text}><span class="dot" data-state=${this._status}></span><span>${text}</span></div>`;
  }

  private _renderProgress(): TemplateResult | typeof nothing {
    if (this._ingest) {
      const stages = this._ingest;
      return html`<div class="progress" part="progress" aria-label="Adding documents">
        <div class="title"><span>Adding documents…</span><button type="button" part="cancel" @click=${() => this._ingestAbort?.abort()}>Cancel</button></div>
        ${INGEST_STAGES.map((s) => {
          const p = stages[s];
          return html`<span class=${p ? '' : 'waiting'}>${STAGE_LABELS[s]}</span>
            <progress aria-label=${`${STAGE_LABELS[s]}: ${p ? `${p.done} of ${p.total}` : 'waiting'}`} max=${p?.total || 1} .value=${p?.done ?? 0}></progress>
            <span class="num ${p ? '' : 'waiting'}">${p ? `${p.done} / ${p.total}` : '—'}</span>`;
        })}
      </div>`;
    }
    if (this._status !== 'loading') return nothing;
    const files = [...this._downloads.entries()];
    const loaded = files.reduce((s, [, f]) => s + f.loaded, 0);
    const known = files.every(([, f]) => f.total !== undefined);
    const total = files.reduce((s, [, f]) => s + (f.total ?? 0), 0);
    const current = [...files].reverse().find(([, f]) => f.total === undefined || f.loaded < f.total)?.[0] ?? files.at(-1)?.[0];
    const label = this._init ?? (files.length ? `Downloading ${baseName(current ?? '')}` : 'Starting the engine worker…');
    return html`<div class="progress" part="progress" aria-label="Loading the models">
      <div class="title"><span>${label}</span></div>
      <span>Models</span>
      ${
        files.length && known && total > 0 && !this._init
          ? html`<progress aria-label="Model download" max=${total} .value=${loaded}></progress><span class="num">${megabytes(loaded)} / ${megabytes(total)}</span>`
          : html`<progress aria-label="Model download"></progress><span class="num">${files.length ? megabytes(loaded) : ''}</span>`
      }
    </div>`;
  }

  /** The host a published index (`remote`) is served from, as people know it. */
  private _remoteHost(): string {
    return new URL(this.remote ?? '', location.href).host;
  }

  private _renderEmpty(): TemplateResult {
    if (this._status === 'error')
      return html`<p class="empty failed" part="failed"><strong>Could not start</strong>${this._error?.message ?? 'The runtime could not start.'}</p>`;
    if (this._status !== 'ready') return html`<p class="empty"><strong>Getting ready</strong>The models load once and are cached for the next visit.</p>`;
    if (this.remote && this._info) {
      return html`<p class="empty"><strong>Ask about “${this._info.indexName}”</strong>${plural(this._info.size, 'passage')}, published at ${this._remoteHost()}; each search fetches only the parts it needs and keeps them for the next visit. Answers cite their sources as [1], [2]…; click one to read the passage.</p>`;
    }
    const searchOnly = this._info?.answers === false;
    if (!this._info?.size)
      return html`<p class="empty"><strong>No documents yet</strong>Add ${readableTypesText} files with “Add documents”, or drop them here. Then ${searchOnly ? 'search them with a question or some words' : 'ask a question about them'}.</p>`;
    if (searchOnly)
      return html`<p class="empty"><strong>Search your documents</strong>${plural(this._info.size, 'passage')} in “${this._info.indexName}”. Type a question or some words: the passages that match come back as [1], [2]…; click one to read it.</p>`;
    return html`<p class="empty"><strong>Ask about your documents</strong>${plural(this._info.size, 'passage')} in “${this._info.indexName}”. Answers cite their sources as [1], [2]…; click one to read the passage.</p>`;
  }

  private _renderTurn(t: ChatTurn): TemplateResult {
    if (t.role === 'user') {
      return html`<article class="message user" part="message user-message" aria-label="You"><div class="bubble">${t.content}</div></article>`;
    }
    const passages = t.passages ?? [];
    const byNumber = new Map(passages.map((p) => [p.citation, p]));
    // Models often open with a space or a line break; the bubble shows text from the first word.
    const parts = splitCitations(t.content.trimStart(), new Set(byNumber.keys()));
    const cited = new Set(t.citations ?? []);
    return html`<article class="message assistant" part="message assistant-message" aria-label="Assistant" aria-busy=${t.pending ? 'true' : 'false'}>
      ${t.stages?.length ? this._renderStages(t, t.stages) : nothing}
      <div class="bubble">${
        t.searchOnly
          ? html`<span class="placeholder">${passages.length ? (this.searchOnly ?? NO_WEBGPU).reply : 'No passage of your documents matches.'}</span>`
          : t.content
            ? parts.map((p) => ('text' in p ? p.text : this._renderCitation(byNumber.get(p.citation)!)))
            : t.pending
              ? html`<span class="placeholder">${passages.length ? 'Reading the passages…' : 'Searching your documents…'}</span>`
              : html`<span class="placeholder">(no answer)</span>`
      }${t.pending ? html`<span class="caret" aria-hidden="true"></span>` : nothing}</div>
      ${
        passages.length
          ? html`<div class="sources" part="sources"><span class="label">Sources</span>${passages.map(
              (p) => html`
        <button type="button" part="citation source" class=${cited.has(p.citation) ? 'cited' : ''} aria-label=${`Source ${p.citation}: ${sourceLabel(p)}`} title=${sourceLabel(p)}
          @click=${(e: Event) => this._openPassage(p, e.currentTarget)}><span class="n">[${p.citation}]</span>${sourceLabel(p)}</button>`,
            )}</div>`
          : nothing
      }
      ${this._renderMeta(t)}
    </article>`;
  }

  /**
   * A workflow's stages before the answer, folded into one muted line (the workflow and its
   * stages' names) that opens to what each wrote, listed or searched.
   */
  private _renderStages(t: ChatTurn, stages: readonly WeftStageInfo[]): TemplateResult {
    const names = stages.map((s) => s.node).join(' → ');
    return html`<details class="stages" part="stages">
      <summary title="What the workflow did before the answer">${t.workflow ? `${t.workflow} · ` : ''}${names}${t.pending && !t.passages ? ' …' : ''}</summary>
      <ol>${stages.map(
        (s) =>
          html`<li><span class="node">${s.node}</span> ${
            s.kind === 'generate'
              ? html`wrote <q>${s.text?.trim() || '(nothing)'}</q>`
              : s.kind === 'split'
                ? html`listed<ul>${(s.items ?? []).map((i) => html`<li>${i}</li>`)}</ul>`
                : html`searched ${(s.queries ?? []).map((q, i) => html`${i ? ' · ' : ''}<q>${q}</q>`)}`
          }</li>`,
      )}</ol>
    </details>`;
  }

  private _renderCitation(p: Passage): TemplateResult {
    return html`<button type="button" class="cite" part="citation" aria-label=${`Source ${p.citation}: ${sourceLabel(p)}`} @click=${(e: Event) => this._openPassage(p, e.currentTarget)}>[${p.citation}]</button>`;
  }

  private _renderMeta(t: ChatTurn): TemplateResult | typeof nothing {
    if (t.error) return html`<div class="meta failed">The answer failed: ${t.error}</div>`;
    if (t.finishReason === 'abort') return html`<div class="meta">Stopped.</div>`;
    const stats =
      this.timings && t.stats
        ? `${plural(t.stats.generated, 'token')} · first token after ${Math.round(t.stats.firstTokenMs)} ms · ${(t.stats.totalMs / 1000).toFixed(2)} s in all`
        : '';
    if (t.finishReason === 'length') return html`<div class="meta">${stats ? `${stats} · ` : ''}Stopped at the length limit.</div>`;
    return stats ? html`<div class="meta" part="timings">${stats}</div>` : nothing;
  }

  private _renderPanel(p: Passage): TemplateResult {
    return html`<aside class="panel" part="panel" role="dialog" aria-modal="false" aria-labelledby="panel-title">
      <header>
        <h2 id="panel-title"><span class="doc">Source ${p.citation} of the answer</span><span class="n">[${p.citation}]</span>${sourceLabel(p)}</h2>
        <button type="button" class="close" part="close" aria-label="Close the source" @click=${() => this._closePanel()}>Close</button>
      </header>
      <div class="body">
        <p class="passage" part="passage">${p.text}</p>
        <p class="score">Document “${p.docId}”${passagePage(p) === undefined ? '' : ` · page ${passagePage(p)}`} · passage ${p.id}${scoreText(p) ? ` · ${scoreText(p)}` : ''}</p>
      </div>
    </aside>`;
  }
}

function errorOf(e: unknown): ChatError {
  if (isWeftError(e)) return { code: e.code, message: (e as { message?: string }).message ?? String(e.code) };
  return { code: 'UNKNOWN', message: e instanceof Error ? e.message : String(e) };
}

function superseded(): WeftError {
  return new WeftError('ABORTED', 'The configuration changed while the runtime loaded; it restarts with the new one.');
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString()} ${word}${n === 1 ? '' : 's'}`;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

function baseName(url: string): string {
  return url.split(/[?#]/)[0]!.split('/').filter(Boolean).pop() ?? url;
}
