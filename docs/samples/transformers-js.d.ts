// @huggingface/transformers is the app's dependency, not Weft's, so it is not installed here. This
// declares the part of it that transformers.ts uses, as @huggingface/transformers 4 types it
// (checked against 4.3.2's own declarations), so the sample type-checks without installing it.
declare module '@huggingface/transformers' {
  export interface Tensor {
    readonly data: Float32Array | Float64Array | Int32Array | Uint8Array;
    readonly dims: number[];
    dispose(): void;
  }
  export interface FeatureExtractionPipeline {
    (texts: string | string[], options?: { pooling?: 'none' | 'mean' | 'cls' | 'first_token' | 'eos' | 'last_token'; normalize?: boolean; quantize?: boolean }): Promise<Tensor>;
    readonly tokenizer: { encode(text: string, options?: { text_pair?: string | null; add_special_tokens?: boolean }): number[]; readonly model_max_length: number };
    readonly model: { readonly config: { readonly model_type?: string; readonly _name_or_path?: string } };
    dispose(): Promise<void>;
  }
  export function pipeline(task: 'feature-extraction', model?: string, options?: { device?: 'auto' | 'wasm' | 'webgpu' | 'cpu'; dtype?: string }): Promise<FeatureExtractionPipeline>;
}
