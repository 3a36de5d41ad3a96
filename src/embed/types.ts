// What the runtime needs of an embedder, as a leaf type module: the runtime, the engine host and
// every embedder (onnxruntime-web, transformers.js, an app's own) import the contract from here,
// not from one of its implementations.

/** Where an embedder runs: 'webgpu' or 'wasm'. */
export type EmbedderDevice = 'webgpu' | 'wasm';

/**
 * What the runtime needs of an embedder: its model id, dimension and token limit, token counting, and
 * `embed` (one row of `dim` floats per text). Any object that implements it can be the runtime's
 * embedder.
 */
export interface Embedder {
  readonly modelId: string;
  readonly dim: number;
  readonly maxLength: number;
  readonly device: EmbedderDevice;
  /** The GPUDevice onnxruntime runs this model on, when it was given one (undefined on onnxruntime's own device or on 'wasm'). */
  readonly gpuDevice?: GPUDevice | undefined;
  /** Token ids (with special tokens) the model sees for `text`, after truncation. */
  tokenize(text: string): number[];
  /** Tokens (with special tokens) `text` takes before any truncation: what chunking must fit into maxLength. */
  countTokens(text: string): number;
  /** One row of `dim` floats per text. */
  embed(texts: readonly string[]): Promise<Float32Array>;
  destroy(): Promise<void>;
}
