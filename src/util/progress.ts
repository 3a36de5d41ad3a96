// Progress of loading a model or tokenizer (download, then initialisation), shared by every
// loader: the embedder, the generators and the fetch helper they all use.

/** Progress of loading a model: files downloaded, initialisation, ready. */
export type LoadProgress =
  /** `text`: the loader's own line for people, where it has one (e.g. WebLLM's report text). */
  | { status: 'download'; file: string; loaded: number; total: number | undefined; text?: string }
  | { status: 'init'; done: number; total: number; text?: string }
  | { status: 'ready' };
