// A small sentence-embedding ONNX graph written in code (token embedding, one dense layer with
// tanh, the output named and shaped like a transformer's last_hidden_state), for tests and the
// models benchmark: real onnxruntime-web sessions without downloadable weights.
import { onnx } from 'onnx-proto';
import { createRng } from '../../src/random.js';

export interface TinyEmbeddingGraph {
  bytes: ArrayBuffer;
  E: Float32Array;
  W: Float32Array;
  b: Float32Array;
  vocab: number;
  dim: number;
}

function tensor(name: string, dims: number[], data: Float32Array): onnx.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer.slice(0)) };
}

/** last_hidden_state = tanh(E[input_ids] · W + b), shape [batch, seq, dim]. */
export function buildTinyEmbeddingGraph(
  E: Float32Array,
  W: Float32Array,
  b: Float32Array,
  vocab: number,
  dim: number,
  outputName = 'last_hidden_state',
): ArrayBuffer {
  const i64 = (name: string): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }] } } },
  });
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'weft',
    graph: {
      name: 'tiny-embedder',
      input: [i64('input_ids'), i64('attention_mask'), i64('token_type_ids')],
      output: [
        {
          name: outputName,
          type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }, { dimValue: dim }] } } },
        },
      ],
      initializer: [tensor('E', [vocab, dim], E), tensor('W', [dim, dim], W), tensor('b', [dim], b)],
      node: [
        { opType: 'Gather', input: ['E', 'input_ids'], output: ['emb'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] },
        { opType: 'MatMul', input: ['emb', 'W'], output: ['mm'] },
        { opType: 'Add', input: ['mm', 'b'], output: ['pre'] },
        { opType: 'Tanh', input: ['pre'], output: [outputName] },
      ],
    },
  };
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** The tests' embedder: a 30522 x 32 graph with seeded random weights (fresh bytes each call). */
export function testEmbeddingGraph(): ArrayBuffer {
  const rng = createRng(5);
  const V = 30522,
    D = 32;
  return buildTinyEmbeddingGraph(
    Float32Array.from({ length: V * D }, () => rng.normal()),
    Float32Array.from({ length: D * D }, () => rng.normal() * 0.3),
    new Float32Array(D),
    V,
    D,
  );
}
