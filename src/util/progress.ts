// Progress of loading a model or tokenizer (download, then initialisation), shared by every
// loader: the embedder, the generators and the fetch helper they all use.

export type LoadProgress =
  | { status: 'download'; file: string; loaded: number; total: number | undefined }
  | { status: 'init'; done: number; total: number }
  | { status: 'ready' };
