// The transformers.js adapter against a stand-in pipeline with the real call signature
// (pipe(texts, { pooling, normalize }) → Tensor { data, dims }) and tokenizer
// (encode(text) with special tokens, model_max_length): @huggingface/transformers is not a
// dependency and no model can be downloaded here.
import { expect, test } from 'vitest';
import { createTransformersEmbedder, type FeatureExtractionPipelineLike, type TransformersTensor } from '../../src/embed/transformers-embedder.js';

const CLS = 101,
  SEP = 102,
  DIM = 6;

/** Word ids with [CLS]/[SEP]; vectors are a deterministic function of the words (mean of per-word vectors, normalised). */
function fakePipeline(modelMaxLength = 8) {
  const calls: { texts: string[]; options: unknown }[] = [];
  const disposed = { tensors: 0, pipeline: 0 };
  const ids = (text: string) =>
    text
      .toLowerCase()
      .split(/\s+/)
      .filter(Boolean)
      .map((w) => 1000 + [...w].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 5000, 7));
  const tokenizer = {
    model_max_length: modelMaxLength,
    encode: (text: string, o: { add_special_tokens?: boolean } = {}) => (o.add_special_tokens === false ? ids(text) : [CLS, ...ids(text), SEP]),
  };
  const pipe = Object.assign(
    async (texts: string[], options: { pooling: 'mean' | 'cls'; normalize: boolean }): Promise<TransformersTensor> => {
      calls.push({ texts, options });
      const data = new Float32Array(texts.length * DIM);
      texts.forEach((t, b) => {
        const words = tokenizer.encode(t).slice(0, modelMaxLength);
        for (const w of words) for (let j = 0; j < DIM; j++) data[b * DIM + j]! += Math.sin(w * (j + 1)) / words.length;
        if (options.normalize) {
          const n = Math.hypot(...data.subarray(b * DIM, (b + 1) * DIM));
          for (let j = 0; j < DIM; j++) data[b * DIM + j]! /= n;
        }
      });
      return {
        data,
        dims: [texts.length, DIM],
        dispose() {
          disposed.tensors++;
        },
      };
    },
    {
      tokenizer,
      model: { config: { _name_or_path: 'Xenova/all-MiniLM-L6-v2', model_type: 'bert' } },
      async dispose() {
        disposed.pipeline++;
      },
    },
  );
  return { pipe: pipe as FeatureExtractionPipelineLike, calls, disposed };
}

test('it embeds through the pipeline with mean pooling and normalisation, in batches, one row per text', async () => {
  const { pipe, calls, disposed } = fakePipeline();
  const e = createTransformersEmbedder(pipe, { batchSize: 2 });
  expect(e).toMatchObject({ modelId: 'Xenova/all-MiniLM-L6-v2', maxLength: 8, device: 'wasm', dim: 0 });
  const texts = ['shield volcano', 'cinder cone', 'lava dome'];
  const v = await e.embed(texts);
  expect(e.dim).toBe(DIM);
  expect(v.length).toBe(3 * DIM);
  expect(calls.map((c) => c.texts)).toEqual([texts.slice(0, 2), texts.slice(2)]);
  expect(calls[0]!.options).toEqual({ pooling: 'mean', normalize: true });
  expect(disposed.tensors).toBe(2);
  // Row i is text i's vector, whatever it was batched with.
  const alone = await e.embed(['lava dome']);
  expect(Array.from(v.subarray(2 * DIM))).toEqual(Array.from(alone));
  for (let r = 0; r < 3; r++) expect(Math.hypot(...v.subarray(r * DIM, (r + 1) * DIM))).toBeCloseTo(1, 5);
  await e.destroy();
  expect(disposed.pipeline).toBe(1);
});

test("token counts come from the pipeline's tokenizer, special tokens included; tokenize cuts where the pipeline does", () => {
  const { pipe } = fakePipeline(8);
  const e = createTransformersEmbedder(pipe, { maxLength: 6, pooling: 'cls', modelId: 'mine', device: 'webgpu', disposePipeline: false });
  expect(e).toMatchObject({ modelId: 'mine', maxLength: 6, device: 'webgpu' });
  expect(e.countTokens('one two three')).toBe(5);
  const long = 'a b c d e f g h i j';
  expect(e.countTokens(long)).toBe(12);
  expect(e.tokenize(long)).toHaveLength(8);
  expect(e.tokenize('one')).toEqual([CLS, expect.any(Number), SEP]);
});

test('bad input, a bad pipeline and bad options are refused with coded errors', async () => {
  const { pipe } = fakePipeline();
  const e = createTransformersEmbedder(pipe);
  await expect(e.embed([])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  await expect(e.embed(['ok', '  '])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  expect(() => createTransformersEmbedder({} as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  expect(() => createTransformersEmbedder(pipe, { maxLength: 9 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  expect(() => createTransformersEmbedder(pipe, { pooling: 'max' as never })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  // A pipeline created without pooling returns [texts, tokens, dim]: refused, not misread.
  const unpooled = Object.assign(async (texts: string[]) => ({ data: new Float32Array(texts.length * 3 * DIM), dims: [texts.length, 3, DIM] }), {
    tokenizer: pipe.tokenizer,
  });
  await expect(createTransformersEmbedder(unpooled as never).embed(['x'])).rejects.toMatchObject({ code: 'INVALID_MODEL' });
});
