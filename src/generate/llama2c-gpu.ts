// The reference generator: llama2.c checkpoints run by WGSL kernels, with the KV cache on the
// GPU (and snapshot/restore of a prefix's KV as bytes, for prefix and document-side KV reuse).
// One decode step = one command buffer of 14 dispatches per layer and one readback of the
// logits; sampling runs on the CPU with llama2.c's sampler. Prefill runs the same 14 dispatches
// per layer on up to PREFILL_ROWS prompt tokens at once (one activation row each, the z of the
// dispatch), with kernels that work on several rows per invocation where that saves work, and
// gives bitwise the logits and KV cache that feeding the tokens one by one gives.
// For rerankers (src/rerank/llama2c-reranker.ts): logProbs() feeds tokens like prefill and returns the
// log-probability of a given next token at every position (final norm, classifier and a
// log-softmax per row, on the GPU, one float read back per token), and a prefix's KV can be kept
// on the GPU (snapshotOnGpu) and restored from there or from bytes without recomputing logits.
// Over 400 lines: one transformer forward pass as WGSL dispatches, whose passes share the buffers
// and pipelines held in one closure.

import { WeftError } from '../errors.js';
import { gpuAwait, type GpuContext } from '../gpu/context.js';
import { contextFrom, type GpuOption } from '../gpu/option.js';
import { bufferFrom, readBack, storageBuffer } from '../gpu/kernels.js';
import llamaWgsl from '../../shaders/llama.wgsl?raw';
import { BOS, EOS, createBpeTokenizer, type BpeTokenizer } from './bpe.js';
import { fetchBytes, type PinnedFile } from '../util/fetch-bytes.js';
import { percentile } from '../util/stats.js';
import { parseCheckpoint, parseTokenizer, type Llama2cConfig, type Llama2cWeights } from './llama2c-format.js';
import { createSampler, tokenProbability, type Sampler } from './sampler.js';
import type { GeneratedToken, Generator, GeneratorTimings, LoadProgress, SamplingOptions } from './types.js';

/** A reference generator's KV cache as bytes, with the tokens it covers: store it anywhere and restore() it later. */
export interface KvSnapshot {
  /** Tokens the snapshot covers (its positions 0..length-1). */
  tokens: number[];
  /** Keys then values, layer by layer, positions 0..length-1 (float32). */
  data: ArrayBuffer;
}

/** A prefix's KV cache kept on the GPU (same layout as KvSnapshot.data); its owner releases it with releaseSnapshot. */
export interface GpuKvSnapshot {
  tokens: number[];
  buffer: GPUBuffer;
  /** Bytes of KV in `buffer` (its size may be rounded up). */
  byteLength: number;
}

/** Options of Llama2cGenerator.restore. */
export interface RestoreOptions {
  /**
   * Recompute the logits after the snapshot's last token (default true: one more forward row, so
   * step() and logits() work at once). false leaves the context at the snapshot's end with no
   * logits: for a caller that feeds the next tokens itself (logProbs).
   */
  logits?: boolean;
}

/** The label of KV snapshots kept on the GPU (a decoder reranker's passage KV: its own holder in the memory budget). */
export const KV_SNAPSHOT_LABEL = 'weft.llama.kvSnapshot';

/**
 * The WebGPU llama2.c reference generator: a Generator whose KV cache is Weft's own, so it can be
 * snapshotted, uploaded and restored (the decoder reranker's passage KV reuse).
 */
export interface Llama2cGenerator extends Generator {
  readonly config: Llama2cConfig;
  readonly tokenizer: BpeTokenizer;
  /** The context it runs on (whose memory budget its buffers, and a reranker's KV on it, count against). */
  readonly gpu: GpuContext;
  /** Logits after the last token fed (a copy). */
  logits(): Promise<Float32Array>;
  /** The KV cache of the context so far, as bytes (store it anywhere, e.g. IndexedDB). */
  snapshot(): Promise<KvSnapshot>;
  /** Replaces the context with a snapshot's; generating afterwards equals generating after its tokens. */
  restore(snapshot: KvSnapshot | GpuKvSnapshot, options?: RestoreOptions): Promise<void>;
  /** The KV cache of the context so far, copied into a GPU buffer (no readback). */
  snapshotOnGpu(): Promise<GpuKvSnapshot>;
  /** A byte snapshot uploaded into a GPU buffer, for restoring it many times. */
  uploadSnapshot(snapshot: KvSnapshot): GpuKvSnapshot;
  /** A GPU snapshot's bytes (to store it). */
  readSnapshot(snapshot: GpuKvSnapshot): Promise<KvSnapshot>;
  /** Frees a GPU snapshot's buffer. */
  releaseSnapshot(snapshot: GpuKvSnapshot): void;
  /**
   * Feeds `tokens` like prefill and returns, for each i, log p(targets[i] | context, tokens[0..i])
   * (natural log, float32, computed on the GPU). The logits after the last token are kept, as
   * after prefill. Exactness: the same bits whatever the context's batch history.
   */
  logProbs(tokens: readonly number[], targets: readonly number[], options?: { signal?: AbortSignal | undefined }): Promise<Float32Array>;
  setSampling(options: SamplingOptions): void;
}

/** A llama2.c checkpoint and its tokenizer, as URLs (optionally pinned by SHA-256) or bytes. */
export interface Llama2cSource {
  /** The checkpoint: a URL or its bytes. */
  model: string | URL | PinnedFile | ArrayBuffer;
  /** The tokenizer (`tok*.bin`): a URL or its bytes. */
  tokenizer: string | URL | PinnedFile | ArrayBuffer;
}

export interface Llama2cOptions extends Llama2cSource, GpuOption {
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  sampling?: SamplingOptions;
}

const PARAM_BLOCK = 256;
const WG = 64;
/**
 * Prompt tokens per prefill command buffer. On SwiftShader (stories260K, 2 cores, a 384-token
 * prompt) 8 rows gave 2x the one-token rate, 32 5.5x, 64 6x, 128 and 256 6-7x, and on the models
 * benchmark's ~100-token prompt 64 beat 128; 64 also keeps the activations small (a row holds
 * nHeads x seqLen attention scores) and abort checks frequent.
 */
export const PREFILL_ROWS = 64;
/** Rows per invocation of matmul_rows (fixed in the shader). */
const MATMUL_ROWS = 16;

function load(src: string | URL | PinnedFile | ArrayBuffer, file: string, onProgress?: (p: LoadProgress) => void, signal?: AbortSignal): Promise<ArrayBuffer> {
  return src instanceof ArrayBuffer ? Promise.resolve(src) : fetchBytes(src, file, { onProgress, signal });
}

/** Loads a llama2.c checkpoint and tokenizer and prepares them on the GPU. */
export async function loadLlama2c(options: Llama2cOptions): Promise<Llama2cGenerator> {
  const modelBytes = await load(options.model, 'model', options.onProgress, options.signal);
  const tokBytes = await load(options.tokenizer, 'tokenizer', options.onProgress, options.signal);
  if (options.signal?.aborted) throw new WeftError('ABORTED', 'Loading the model was aborted.');
  const weights = parseCheckpoint(modelBytes);
  const tokenizer = createBpeTokenizer(parseTokenizer(tokBytes, weights.config.vocabSize));
  const { ctx, owns } = await contextFrom(options.gpu);
  try {
    const g = createGenerator(ctx, owns, weights, tokenizer, options.sampling ?? {});
    options.onProgress?.({ status: 'ready' });
    return g;
  } catch (e) {
    if (owns) ctx.destroy();
    throw e;
  }
}

function createGenerator(ctx: GpuContext, ownsCtx: boolean, w: Llama2cWeights, tokenizer: BpeTokenizer, sampling: SamplingOptions): Llama2cGenerator {
  const cfg = w.config;
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, headSize, kvDim } = cfg;
  const o = w.offsets;
  const device = ctx.device;
  // Activations, one row of ROW floats per token of a batch (row 0: the decode step's): x, xb,
  // xb2, hb, hb2, q, att (nHeads x seqLen). After the rows: the batch's token ids (as f32, exact
  // below 2^24) and the logits, which only the batch's last token needs.
  let at = 0;
  const alloc = (n: number) => {
    const off = at;
    at += Math.ceil(n / 4) * 4;
    return off;
  };
  const X = alloc(dim),
    XB = alloc(dim),
    XB2 = alloc(dim),
    HB = alloc(hiddenDim),
    HB2 = alloc(hiddenDim),
    Q = alloc(dim);
  const ATT = alloc(nHeads * seqLen);
  const ROW = at;
  // The batch's token ids, then (logProbs) their targets; the log-probs come back in the ids' slots.
  const idsLen = Math.ceil((2 * PREFILL_ROWS) / 4) * 4;
  const TARGETS = PREFILL_ROWS;
  const maxRows = Math.min(PREFILL_ROWS, ctx.limits.maxComputeWorkgroupsPerDimension, Math.floor((ctx.maxShardBytes / 4 - idsLen - vocabSize) / ROW));
  if (maxRows < 1)
    throw new WeftError(
      'DEVICE_LIMIT',
      `One token's ${ROW * 4} bytes of activations exceed one storage buffer on this device (${ctx.maxShardBytes} bytes). The header asks for a ${seqLen}-token context; the reference generator is for small llama2.c models, use WebLLM for large ones.`,
    );
  const TOKENS = maxRows * ROW,
    LOGITS = TOKENS + idsLen;
  const layerKv = seqLen * kvDim;
  const VALUES = nLayers * layerKv;
  // A decode step or prefill batch: embed, 14 per layer, final norm and classifier; a logProbs
  // batch replaces the last two with a norm, classifier and log-softmax per row (or for all rows
  // at once, and the last row's classifier again into LOGITS).
  const maxDispatches = Math.max(4, 1 + 3 * maxRows) + nLayers * 14;
  // logProbs can keep every row's logits in the row itself (after its x) when the vocabulary fits.
  const logitsInRows = XB + vocabSize <= ROW;
  // Every buffer is checked before any is created (a refused model leaves nothing allocated):
  // an oversized one would fail validation, be left invalid, and decode zeros.
  const half = headSize / 2;
  const ROPE = w.data.length;
  const sizes: [string, number][] = [
    ['weights', (ROPE + seqLen * half * 2) * 4],
    ['activations', (LOGITS + vocabSize) * 4],
    ['KV cache', 2 * VALUES * 4],
    ['parameters', maxDispatches * PARAM_BLOCK],
  ];
  for (const [what, bytes] of sizes) {
    if (bytes > ctx.maxShardBytes) {
      throw new WeftError(
        'DEVICE_LIMIT',
        `The model's ${what} would need ${bytes} bytes, over the ${ctx.maxShardBytes} bytes one buffer may hold on this device (header: dim ${dim}, ${nLayers} layers, ${seqLen}-token context). The reference generator is for small llama2.c models; use WebLLM for large ones.`,
        { details: { buffer: what, bytes, limit: ctx.maxShardBytes } },
      );
    }
  }
  // …and all of them against the device's memory budget (the list cache and the rest hold theirs).
  ctx.reserve(
    sizes.reduce((a, [, b]) => a + b, 0),
    'The reference generator (weights, activations and KV cache)',
  );
  // RoPE angles are tabulated here (float64, rounded once): WGSL's sin/cos may be off by 2^-11,
  // which alone put the logits 1.3e-4 away from the float32 reference.
  const rope = new Float32Array(seqLen * half * 2);
  for (let pos = 0; pos < seqLen; pos++) {
    for (let j = 0; j < half; j++) {
      const freq = Math.fround(1 / Math.fround(10000 ** Math.fround((2 * j) / headSize)));
      const val = Math.fround(pos * freq);
      rope[(pos * half + j) * 2] = Math.cos(val);
      rope[(pos * half + j) * 2 + 1] = Math.sin(val);
    }
  }
  const all = new Float32Array(w.data.length + rope.length);
  all.set(w.data);
  all.set(rope, ROPE);
  const created: GPUBuffer[] = [];
  const made = (b: GPUBuffer) => {
    created.push(b);
    return b;
  };
  let weights: GPUBuffer, scratch: GPUBuffer, kv: GPUBuffer, params: GPUBuffer;
  try {
    weights = made(bufferFrom(ctx, 'weft.llama.weights', all));
    scratch = made(storageBuffer(ctx, 'weft.llama.activations', (LOGITS + vocabSize) * 4));
    kv = made(storageBuffer(ctx, 'weft.llama.kvCache', 2 * VALUES * 4));
    params = made(ctx.createBuffer({ label: 'weft.llama.params', size: maxDispatches * PARAM_BLOCK, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
  } catch (e) {
    for (const b of created) ctx.destroyBuffer(b);
    throw e;
  }
  const layout = device.createBindGroupLayout({
    label: 'weft.llama.layout',
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: 64 } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    ],
  });
  const module = device.createShaderModule({ label: 'weft.llama', code: llamaWgsl });
  const pipelineLayout = device.createPipelineLayout({ label: 'weft.llama.pipelineLayout', bindGroupLayouts: [layout] });
  const pipe = (entryPoint: string) =>
    ctx.pipeline(`llama.${entryPoint}`, () =>
      device.createComputePipeline({ label: `weft.llama.${entryPoint}`, layout: pipelineLayout, compute: { module, entryPoint } }),
    );
  const P = {
    logProb: pipe('log_prob_rows'),
    embed: pipe('embed'),
    rmsnorm: pipe('rmsnorm'),
    matmul: pipe('matmul'),
    rope: pipe('rope'),
    attention: pipe('attention'),
    residual: pipe('residual'),
    swiglu: pipe('swiglu'),
    rmsnormRows: pipe('rmsnorm_rows'),
    matmulRows: pipe('matmul_rows'),
    attentionRows: pipe('attention_rows'),
  };
  const bindGroup = device.createBindGroup({
    label: 'weft.llama.bind',
    layout,
    entries: [
      { binding: 0, resource: { buffer: params, size: 64 } },
      { binding: 1, resource: { buffer: weights } },
      { binding: 2, resource: { buffer: scratch } },
      { binding: 3, resource: { buffer: kv } },
    ],
  });

  let sampler: Sampler = createSampler(vocabSize, sampling.temperature ?? 0, sampling.topP ?? 0.9, sampling.seed ?? 1);
  let position = 0;
  let lastToken = BOS;
  let history: number[] = [];
  let hasLogits = false;
  let destroyed = false;
  let interrupted = false;
  const decodeMs: number[] = [];
  let prefillTokens = 0,
    prefillMs = 0;

  const groups = (n: number) => Math.ceil(n / WG);

  /**
   * Encodes and submits the forward pass of `tokens` (1..maxRows) at positions pos.., with the
   * logits of the last one. Every parameter block gets the row stride (l) and the batch's rows (m).
   * One row (decode) keeps the kernels that spread a row over a workgroup; a batch uses the
   * *_rows ones for rmsnorm, attention and matmul (no barriers, each weight read once for 16
   * rows): on SwiftShader, batching alone made prefill 2x faster, these kernels another 3-4x.
   */
  const forward = (tokens: number[], pos: number, targets?: readonly number[]) => {
    const n = tokens.length;
    const blocks: Uint32Array[] = [];
    const steps: [GPUComputePipeline, number, number, number][] = [];
    const add = (pipeline: GPUComputePipeline, values: number[], x: number, y = 1, z = n, rows = n) => {
      const b = new Uint32Array(16);
      b.set(values);
      b[11] = ROW;
      b[12] = rows;
      blocks.push(b);
      steps.push([pipeline, x, y, z]);
    };
    const mm = (src: number, wOff: number, dst: number, k: number, outs: number, toKv: boolean, rows = n) => {
      const g = groups(outs);
      const x = Math.min(g, ctx.limits.maxComputeWorkgroupsPerDimension);
      const v = [src, wOff, dst, k, outs, toKv ? 1 : 0];
      if (rows === 1) add(P.matmul, v, x, Math.ceil(g / x), 1, 1);
      else add(P.matmulRows, v, x, Math.ceil(g / x), Math.ceil(rows / MATMUL_ROWS));
    };
    const rmsnorm = (src: number, wOff: number, dst: number) => {
      if (n === 1) add(P.rmsnorm, [src, wOff, dst, dim], 1);
      else add(P.rmsnormRows, [src, wOff, dst, dim], groups(n), 1, 1);
    };
    device.queue.writeBuffer(scratch, TOKENS * 4, new Float32Array(tokens));
    if (targets) device.queue.writeBuffer(scratch, (TOKENS + TARGETS) * 4, new Float32Array(targets));
    add(P.embed, [X, o.tokenEmbedding, dim, TOKENS], groups(dim));
    for (let l = 0; l < nLayers; l++) {
      const kOff = l * layerKv + pos * kvDim;
      const vOff = VALUES + l * layerKv + pos * kvDim;
      rmsnorm(X, o.rmsAtt + l * dim, XB);
      mm(XB, o.wq + l * dim * dim, Q, dim, dim, false);
      mm(XB, o.wk + l * dim * kvDim, kOff, dim, kvDim, true);
      mm(XB, o.wv + l * dim * kvDim, vOff, dim, kvDim, true);
      add(P.rope, [Q, kOff, ROPE + pos * half * 2, dim, kvDim, headSize], groups(dim / 2));
      const att = [Q, l * layerKv, pos, nHeads, kvDim, headSize, nHeads / nKvHeads, XB, ATT, seqLen, VALUES + l * layerKv];
      if (n === 1) add(P.attention, att, nHeads);
      else add(P.attentionRows, att, groups(nHeads * n), 1, 1);
      mm(XB, o.wo + l * dim * dim, XB2, dim, dim, false);
      add(P.residual, [X, XB2, dim], groups(dim));
      rmsnorm(X, o.rmsFfn + l * dim, XB);
      mm(XB, o.w1 + l * dim * hiddenDim, HB, dim, hiddenDim, false);
      mm(XB, o.w3 + l * dim * hiddenDim, HB2, dim, hiddenDim, false);
      add(P.swiglu, [HB, HB2, hiddenDim], groups(hiddenDim));
      mm(HB, o.w2 + l * dim * hiddenDim, XB, hiddenDim, dim, false);
      add(P.residual, [X, XB, dim], groups(dim));
    }
    if (targets && logitsInRows) {
      // Every row's final norm and classifier at once (the *_rows kernels: bitwise the one-row
      // results), its logits into the row after its x, the log-softmax of its target into the
      // token-id slot r (free once embed has read it); then the last row's classifier again into
      // LOGITS, so that the logits after the batch are there as after a plain one.
      rmsnorm(X, o.rmsFinal, X);
      mm(X, o.wcls, XB, dim, vocabSize, false);
      add(P.logProb, [XB, TOKENS + TARGETS, TOKENS, vocabSize], 1, 1, n);
      mm(X + (n - 1) * ROW, o.wcls, LOGITS, dim, vocabSize, false, 1);
    } else if (targets) {
      // A vocabulary larger than a row: row by row through LOGITS, which ends up holding the last row's.
      for (let r = 0; r < n; r++) {
        const row = X + r * ROW;
        add(P.rmsnorm, [row, o.rmsFinal, row, dim], 1, 1, 1, 1);
        mm(row, o.wcls, LOGITS, dim, vocabSize, false, 1);
        add(P.logProb, [LOGITS, TOKENS + TARGETS + r, TOKENS + r, vocabSize], 1, 1, 1, 1);
      }
    } else {
      // Only the last token's logits are wanted: the final norm and the classifier run on its row.
      const last = X + (n - 1) * ROW;
      add(P.rmsnorm, [last, o.rmsFinal, last, dim], 1, 1, 1, 1);
      mm(last, o.wcls, LOGITS, dim, vocabSize, false, 1);
    }
    const data = new Uint32Array(blocks.length * (PARAM_BLOCK / 4));
    blocks.forEach((b, i) => data.set(b, i * (PARAM_BLOCK / 4)));
    device.queue.writeBuffer(params, 0, data);
    const enc = device.createCommandEncoder({ label: 'weft.llama.step' });
    const pass = enc.beginComputePass({ label: 'weft.llama.forward' });
    steps.forEach(([pipeline, x, y, z], i) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup, [i * PARAM_BLOCK]);
      pass.dispatchWorkgroups(x, y, z);
    });
    pass.end();
    device.queue.submit([enc.finish()]);
  };

  const idle = () => gpuAwait(ctx, device.queue.onSubmittedWorkDone(), 'Running the model');
  const readLogits = async () => new Float32Array(await readBack(ctx, scratch, vocabSize * 4, undefined, LOGITS * 4));

  const alive = () => {
    ctx.check();
    if (destroyed) throw new WeftError('DESTROYED', 'This generator was destroyed; load the model again.');
  };

  /** Feeds 1..maxRows tokens in one command buffer (with `targets`: their log-probs into the id slots). */
  const feedRows = (tokens: number[], targets?: readonly number[]) => {
    if (position + tokens.length > seqLen)
      throw new WeftError('CONTEXT_FULL', `The context is full (${seqLen} tokens). Reset the generator or start from a shorter prompt.`);
    forward(tokens, position, targets);
    position += tokens.length;
    lastToken = tokens[tokens.length - 1]!;
    history.push(...tokens);
    hasLogits = true;
  };
  const feed = (...tokens: number[]) => feedRows(tokens);
  const checkTokens = (tokens: readonly number[]) => {
    for (const t of tokens)
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new WeftError('INVALID_OPTION', `Token ${t} is outside the vocabulary (0..${vocabSize - 1}).`);
  };
  const kvBytes = (n: number) => 2 * nLayers * n * kvDim * 4;
  /** Copies positions 0..n-1 of every layer's K and V between the cache and a packed snapshot buffer. */
  const copyKv = (enc: GPUCommandEncoder, packed: GPUBuffer, n: number, toCache: boolean) => {
    const bytesPer = n * kvDim * 4;
    if (bytesPer === 0) return;
    for (let l = 0; l < 2 * nLayers; l++) {
      if (toCache) enc.copyBufferToBuffer(packed, l * bytesPer, kv, l * layerKv * 4, bytesPer);
      else enc.copyBufferToBuffer(kv, l * layerKv * 4, packed, l * bytesPer, bytesPer);
    }
  };
  const snapshotBuffer = (bytes: number) =>
    ctx.createBuffer({
      label: KV_SNAPSHOT_LABEL,
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });

  const gen: Llama2cGenerator = {
    config: cfg,
    tokenizer,
    contextLength: seqLen,
    gpu: ctx,
    gpuDevice: ctx.device,
    get position() {
      return position;
    },

    async prefill(prompt, opts = {}) {
      alive();
      const tokens = typeof prompt === 'string' ? tokenizer.encode(prompt, { bos: opts.bos ?? position === 0 }) : [...prompt];
      checkTokens(tokens);
      if (position + tokens.length > seqLen)
        throw new WeftError('CONTEXT_FULL', `The prompt needs ${tokens.length} tokens but only ${seqLen - position} of the ${seqLen}-token context are left.`);
      const t0 = performance.now();
      for (let i = 0; i < tokens.length; i += maxRows) {
        if (opts.signal?.aborted) throw new WeftError('ABORTED', 'Prefill was aborted; the context holds the tokens fed so far.');
        feed(...tokens.slice(i, i + maxRows));
      }
      await idle();
      prefillTokens += tokens.length;
      prefillMs += performance.now() - t0;
    },

    async step(options = {}): Promise<GeneratedToken> {
      alive();
      if (interrupted) {
        interrupted = false;
        return { token: -1, piece: '', done: true };
      }
      if (!hasLogits) feed(BOS);
      const t0 = performance.now();
      const logits = await readLogits();
      const next = sampler.sample(logits);
      if (next === BOS || next === EOS) return { token: next, piece: '', done: true };
      const prev = lastToken;
      if (position >= seqLen) return { token: next, piece: '', done: true };
      const prob = options.probability ? tokenProbability(logits, next) : undefined;
      feed(next);
      await idle(); // return with the GPU idle: the scheduler's gap starts here
      decodeMs.push(performance.now() - t0);
      return { token: next, piece: tokenizer.decode([next], prev), done: false, ...(prob !== undefined ? { prob } : {}) };
    },

    async logits() {
      alive();
      return readLogits();
    },

    async snapshot() {
      alive();
      await idle();
      const bytesPer = position * kvDim * 4;
      const out = new Uint8Array(2 * nLayers * bytesPer);
      const enc = device.createCommandEncoder({ label: 'weft.llama.snapshot' });
      const staging = storageBuffer(ctx, 'weft.llama.snapshotStaging', Math.max(16, out.byteLength));
      try {
        for (let l = 0; l < 2 * nLayers; l++) {
          if (bytesPer > 0) enc.copyBufferToBuffer(kv, l * layerKv * 4, staging, l * bytesPer, bytesPer);
        }
        out.set(new Uint8Array(await readBack(ctx, staging, out.byteLength, enc)));
      } finally {
        ctx.destroyBuffer(staging);
      }
      return { tokens: history.slice(), data: out.buffer };
    },

    async restore(snap, opts = {}) {
      alive();
      const n = snap.tokens.length;
      const bytesPer = n * kvDim * 4;
      const size = 'data' in snap ? snap.data.byteLength : snap.byteLength;
      if (n > seqLen || size !== 2 * nLayers * bytesPer) {
        throw new WeftError(
          'INVALID_OPTION',
          `The snapshot (${n} tokens, ${size} bytes) does not fit this model (${nLayers} layers x ${kvDim} KV dims, ${seqLen} positions).`,
        );
      }
      if ('data' in snap) {
        const src = new Uint8Array(snap.data);
        for (let l = 0; l < 2 * nLayers; l++) {
          if (bytesPer > 0) device.queue.writeBuffer(kv, l * layerKv * 4, src, l * bytesPer, bytesPer);
        }
      } else {
        const enc = device.createCommandEncoder({ label: 'weft.llama.restore' });
        copyKv(enc, snap.buffer, n, true);
        device.queue.submit([enc.finish()]);
      }
      history = snap.tokens.slice();
      position = n;
      lastToken = n > 0 ? history[n - 1]! : BOS;
      // The logits after the last token are not in the snapshot: recompute them from the cache
      // by feeding that token again at its own position (it rewrites the same K/V).
      hasLogits = false;
      if (n > 0 && opts.logits !== false) {
        position = n - 1;
        history.pop();
        feed(lastToken);
      }
      await idle();
    },

    async snapshotOnGpu() {
      alive();
      const bytes = kvBytes(position);
      const buffer = snapshotBuffer(bytes);
      const enc = device.createCommandEncoder({ label: 'weft.llama.snapshotOnGpu' });
      copyKv(enc, buffer, position, false);
      device.queue.submit([enc.finish()]);
      await idle();
      return { tokens: history.slice(), buffer, byteLength: bytes };
    },

    uploadSnapshot(snap) {
      alive();
      const n = snap.tokens.length;
      if (n > seqLen || snap.data.byteLength !== kvBytes(n)) {
        throw new WeftError(
          'INVALID_OPTION',
          `The snapshot (${n} tokens, ${snap.data.byteLength} bytes) does not fit this model (${nLayers} layers x ${kvDim} KV dims, ${seqLen} positions).`,
        );
      }
      const buffer = snapshotBuffer(snap.data.byteLength);
      if (snap.data.byteLength > 0) device.queue.writeBuffer(buffer, 0, snap.data);
      return { tokens: snap.tokens.slice(), buffer, byteLength: snap.data.byteLength };
    },

    async readSnapshot(snap) {
      alive();
      const data = snap.byteLength > 0 ? await readBack(ctx, snap.buffer, snap.byteLength) : new ArrayBuffer(0);
      return { tokens: snap.tokens.slice(), data };
    },

    releaseSnapshot(snap) {
      ctx.destroyBuffer(snap.buffer);
    },

    async logProbs(tokens, targets, opts = {}) {
      alive();
      if (tokens.length !== targets.length)
        throw new WeftError('INVALID_OPTION', `logProbs needs one target per token (${tokens.length} tokens, ${targets.length} targets).`);
      checkTokens(tokens);
      checkTokens(targets);
      if (position + tokens.length > seqLen)
        throw new WeftError(
          'CONTEXT_FULL',
          `The tokens need ${tokens.length} positions but only ${seqLen - position} of the ${seqLen}-token context are left.`,
        );
      const out = new Float32Array(tokens.length);
      for (let i = 0; i < tokens.length; i += maxRows) {
        if (opts.signal?.aborted) throw new WeftError('ABORTED', 'Scoring was aborted; the context holds the tokens fed so far.');
        const part = tokens.slice(i, i + maxRows);
        feedRows(part, targets.slice(i, i + maxRows));
        out.set(new Float32Array(await readBack(ctx, scratch, part.length * 4, undefined, TOKENS * 4)), i);
      }
      return out;
    },

    async interrupt() {
      interrupted = true;
    },

    countTokens(text) {
      return tokenizer.encode(text, { bos: false }).length;
    },
    // A plain language model (no chat template): the turns' text, one paragraph each.
    formatChat(messages) {
      return messages.map((m) => m.content).join('\n\n');
    },

    setSampling(s) {
      sampler = createSampler(vocabSize, s.temperature ?? 0, s.topP ?? 0.9, s.seed ?? 1);
    },

    reset() {
      position = 0;
      lastToken = BOS;
      history = [];
      hasLogits = false;
      interrupted = false;
    },

    timings(): GeneratorTimings {
      return {
        prefillTokensPerSecond: prefillMs > 0 ? (prefillTokens / prefillMs) * 1000 : 0,
        decodeMsMedian: percentile(decodeMs, 0.5),
        decodeMsP99: percentile(decodeMs, 0.99),
        steps: decodeMs.length,
      };
    },

    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const b of [weights, scratch, kv, params]) ctx.destroyBuffer(b);
      if (ownsCtx) ctx.destroy();
    },
  };
  return gen;
}
