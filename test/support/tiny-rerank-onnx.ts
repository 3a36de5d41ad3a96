// Small ONNX graphs written in code for the reranker tests, with CPU references of the same math:
// a cross-encoder (token + token-type embeddings, a dense tanh layer, masked mean pooling, a
// linear head to [batch, K] logits) and a one-layer, one-head decoder in the Optimum /
// transformers.js export convention (input_ids, attention_mask, position_ids,
// past_key_values.0.key/value in; logits, present.0.key/value out).
import { onnx } from 'onnx-proto';

const F = onnx.TensorProto.DataType.FLOAT,
  I64 = onnx.TensorProto.DataType.INT64;
const f32 = (name: string, dims: number[], data: Float32Array): onnx.ITensorProto => ({
  name,
  dims,
  dataType: F,
  rawData: new Uint8Array(data.buffer.slice(0)),
});
const i64 = (name: string, values: number[]): onnx.ITensorProto => ({
  name,
  dims: [values.length],
  dataType: I64,
  rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer),
});
const input = (name: string, elem: number, dims: (number | string)[]): onnx.IValueInfoProto => ({
  name,
  type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});
const encode = (model: onnx.IModelProto): ArrayBuffer => {
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
};
const INT = onnx.AttributeProto.AttributeType.INT;

export interface CrossEncoderWeights {
  V: number;
  D: number;
  K: number;
  E: Float32Array;
  T: Float32Array;
  W: Float32Array;
  b: Float32Array;
  U: Float32Array;
  c: Float32Array;
}

/** logits[b] = (masked mean over tokens of tanh((E[id] + T[type]) W + b)) U + c, shape [batch, K]. */
export function buildTinyCrossEncoder(w: CrossEncoderWeights, outputName = 'logits'): ArrayBuffer {
  const { V, D, K } = w;
  return encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'weft-test',
    graph: {
      name: 'tiny-cross-encoder',
      input: [input('input_ids', I64, ['batch', 'seq']), input('attention_mask', I64, ['batch', 'seq']), input('token_type_ids', I64, ['batch', 'seq'])],
      output: [input(outputName, F, ['batch', K])],
      initializer: [
        f32('E', [V, D], w.E),
        f32('T', [2, D], w.T),
        f32('W', [D, D], w.W),
        f32('b', [D], w.b),
        f32('U', [D, K], w.U),
        f32('c', [K], w.c),
        i64('ax1', [1]),
        i64('ax2', [2]),
      ],
      node: [
        { opType: 'Gather', input: ['E', 'input_ids'], output: ['e1'], attribute: [{ name: 'axis', type: INT, i: 0 }] },
        { opType: 'Gather', input: ['T', 'token_type_ids'], output: ['e2'], attribute: [{ name: 'axis', type: INT, i: 0 }] },
        { opType: 'Add', input: ['e1', 'e2'], output: ['emb'] },
        { opType: 'MatMul', input: ['emb', 'W'], output: ['mm'] },
        { opType: 'Add', input: ['mm', 'b'], output: ['pre'] },
        { opType: 'Tanh', input: ['pre'], output: ['h'] },
        { opType: 'Cast', input: ['attention_mask'], output: ['mf'], attribute: [{ name: 'to', type: INT, i: F }] },
        { opType: 'Unsqueeze', input: ['mf', 'ax2'], output: ['m3'] },
        { opType: 'Mul', input: ['h', 'm3'], output: ['hm'] },
        { opType: 'ReduceSum', input: ['hm', 'ax1'], output: ['s'], attribute: [{ name: 'keepdims', type: INT, i: 0 }] },
        { opType: 'ReduceSum', input: ['m3', 'ax1'], output: ['cnt'], attribute: [{ name: 'keepdims', type: INT, i: 0 }] },
        { opType: 'Div', input: ['s', 'cnt'], output: ['pooled'] },
        { opType: 'MatMul', input: ['pooled', 'U'], output: ['lu'] },
        { opType: 'Add', input: ['lu', 'c'], output: [outputName] },
      ],
    },
  });
}

/** The cross-encoder graph's logits for one pair, in float64. */
export function crossEncoderReference(w: CrossEncoderWeights, ids: readonly number[], types: readonly number[]): number[] {
  const { D, K } = w;
  const pooled = new Float64Array(D);
  ids.forEach((id, t) => {
    for (let j = 0; j < D; j++) {
      let acc = w.b[j]!;
      for (let i = 0; i < D; i++) acc += (w.E[id * D + i]! + w.T[types[t]! * D + i]!) * w.W[i * D + j]!;
      pooled[j]! += Math.tanh(acc) / ids.length;
    }
  });
  return Array.from({ length: K }, (_, k) => {
    let s = w.c[k]!;
    for (let j = 0; j < D; j++) s += pooled[j]! * w.U[j * K + k]!;
    return s;
  });
}

export interface DecoderWeights {
  V: number;
  D: number;
  maxPos: number;
  E: Float32Array;
  P: Float32Array;
  Wq: Float32Array;
  Wk: Float32Array;
  Wv: Float32Array;
  Wo: Float32Array;
}

/**
 * One layer, one head (head size D): x = E[id] + P[pos]; K, V = past ++ x Wk, x Wv (present.0.*);
 * causal attention over positions <= pos (and attention_mask); logits = (x + attn) Wo, [batch, seq, V].
 */
export function buildTinyDecoder(w: DecoderWeights): ArrayBuffer {
  const { V, D, maxPos } = w;
  return encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 14 }],
    producerName: 'weft-test',
    graph: {
      name: 'tiny-decoder',
      input: [
        input('input_ids', I64, ['batch', 'seq']),
        input('attention_mask', I64, ['batch', 'total']),
        input('position_ids', I64, ['batch', 'seq']),
        input('past_key_values.0.key', F, ['batch', 1, 'past', D]),
        input('past_key_values.0.value', F, ['batch', 1, 'past', D]),
      ],
      output: [
        input('logits', F, ['batch', 'seq', V]),
        input('present.0.key', F, ['batch', 1, 'total', D]),
        input('present.0.value', F, ['batch', 1, 'total', D]),
      ],
      initializer: [
        f32('E', [V, D], w.E),
        f32('P', [maxPos, D], w.P),
        f32('Wq', [D, D], w.Wq),
        f32('Wk', [D, D], w.Wk),
        f32('Wv', [D, D], w.Wv),
        f32('Wo', [D, V], w.Wo),
        i64('ax1', [1]),
        i64('ax13', [1, 3]),
        i64('ax12', [1, 2]),
        i64('zero', [0]),
        i64('one', [1]),
        i64('two', [2]),
        f32('scale', [], Float32Array.of(1 / Math.sqrt(D))),
        f32('neg', [], Float32Array.of(-1e9)),
      ],
      node: [
        { opType: 'Gather', input: ['E', 'input_ids'], output: ['te'], attribute: [{ name: 'axis', type: INT, i: 0 }] },
        { opType: 'Gather', input: ['P', 'position_ids'], output: ['pe'], attribute: [{ name: 'axis', type: INT, i: 0 }] },
        { opType: 'Add', input: ['te', 'pe'], output: ['x'] },
        { opType: 'MatMul', input: ['x', 'Wq'], output: ['q3'] },
        { opType: 'MatMul', input: ['x', 'Wk'], output: ['k3'] },
        { opType: 'MatMul', input: ['x', 'Wv'], output: ['v3'] },
        { opType: 'Unsqueeze', input: ['q3', 'ax1'], output: ['q'] },
        { opType: 'Unsqueeze', input: ['k3', 'ax1'], output: ['k'] },
        { opType: 'Unsqueeze', input: ['v3', 'ax1'], output: ['v'] },
        { opType: 'Concat', input: ['past_key_values.0.key', 'k'], output: ['present.0.key'], attribute: [{ name: 'axis', type: INT, i: 2 }] },
        { opType: 'Concat', input: ['past_key_values.0.value', 'v'], output: ['present.0.value'], attribute: [{ name: 'axis', type: INT, i: 2 }] },
        {
          opType: 'Transpose',
          input: ['present.0.key'],
          output: ['kt'],
          attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 1, 3, 2] }],
        },
        { opType: 'MatMul', input: ['q', 'kt'], output: ['qk'] },
        { opType: 'Mul', input: ['qk', 'scale'], output: ['scores'] },
        // Causal: key position j <= the query's position; and the attention mask.
        { opType: 'Shape', input: ['present.0.key'], output: ['kshape'] },
        { opType: 'Gather', input: ['kshape', 'two'], output: ['total'], attribute: [{ name: 'axis', type: INT, i: 0 }] },
        { opType: 'Squeeze', input: ['total', 'zero'], output: ['totalScalar'] },
        { opType: 'Squeeze', input: ['zero', 'zero'], output: ['zeroScalar'] },
        { opType: 'Squeeze', input: ['one', 'zero'], output: ['oneScalar'] },
        { opType: 'Range', input: ['zeroScalar', 'totalScalar', 'oneScalar'], output: ['kpos'] },
        { opType: 'Unsqueeze', input: ['position_ids', 'ax13'], output: ['qpos'] },
        { opType: 'LessOrEqual', input: ['kpos', 'qpos'], output: ['causal'] },
        { opType: 'Cast', input: ['attention_mask'], output: ['maskb'], attribute: [{ name: 'to', type: INT, i: onnx.TensorProto.DataType.BOOL }] },
        { opType: 'Unsqueeze', input: ['maskb', 'ax12'], output: ['mask4'] },
        { opType: 'And', input: ['causal', 'mask4'], output: ['allowed'] },
        { opType: 'Where', input: ['allowed', 'scores', 'neg'], output: ['masked'] },
        { opType: 'Softmax', input: ['masked'], output: ['att'], attribute: [{ name: 'axis', type: INT, i: -1 }] },
        { opType: 'MatMul', input: ['att', 'present.0.value'], output: ['ctx4'] },
        { opType: 'Squeeze', input: ['ctx4', 'ax1'], output: ['ctx'] },
        { opType: 'Add', input: ['x', 'ctx'], output: ['hid'] },
        { opType: 'MatMul', input: ['hid', 'Wo'], output: ['logits'] },
      ],
    },
  });
}

/** log p(targets[i] | tokens[0..i]) under the decoder graph, positions 0.., in float64. */
export function decoderReference(w: DecoderWeights, tokens: readonly number[], targets: readonly number[]): number[] {
  const { V, D } = w;
  const mm = (x: Float64Array, M: Float32Array, cols: number) => {
    const o = new Float64Array(cols);
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let i = 0; i < D; i++) s += x[i]! * M[i * cols + j]!;
      o[j] = s;
    }
    return o;
  };
  const xs = tokens.map((id, pos) => Float64Array.from({ length: D }, (_, i) => w.E[id * D + i]! + w.P[pos * D + i]!));
  const ks = xs.map((x) => mm(x, w.Wk, D)),
    vs = xs.map((x) => mm(x, w.Wv, D));
  return xs.map((x, t) => {
    const q = mm(x, w.Wq, D);
    const s = ks.slice(0, t + 1).map((k) => k.reduce((a, kv, i) => a + kv * q[i]!, 0) / Math.sqrt(D));
    const mx = Math.max(...s);
    const e = s.map((v) => Math.exp(v - mx));
    const z = e.reduce((a, b) => a + b, 0);
    const h = Float64Array.from(x);
    e.forEach((a, j) => {
      for (let i = 0; i < D; i++) h[i]! += (a / z) * vs[j]![i]!;
    });
    const logits = mm(h, w.Wo, V);
    let m = -Infinity,
      sum = 0;
    for (const l of logits) m = Math.max(m, l);
    for (const l of logits) sum += Math.exp(l - m);
    return logits[targets[t]!]! - m - Math.log(sum);
  });
}
