// What every embedder's embed() does around its model call: check the texts, cut them into
// batches, run one call at a time (an ONNX session runs one at a time), and join the rows.

import { WeftError } from '../errors.js';
import { createSerialQueue } from '../util/serial-queue.js';

export interface BatchedEmbed {
  embed(texts: readonly string[]): Promise<Float32Array>;
  /** Resolves once no call is running (before releasing the model). */
  settled(): Promise<void>;
}

/** `run` embeds one batch (rows of `dim()` floats, the dimension known after the first batch). */
export function batchedEmbed(batchSize: number, run: (batch: readonly string[]) => Promise<Float32Array>, dim: () => number): BatchedEmbed {
  const calls = createSerialQueue();
  return {
    embed(texts) {
      return calls.run(async () => {
        if (!Array.isArray(texts) || texts.length === 0) throw new WeftError('INVALID_INPUT', 'embed() needs a non-empty array of texts.');
        texts.forEach((t, i) => {
          if (typeof t !== 'string' || t.trim() === '')
            throw new WeftError('INVALID_INPUT', `Text ${i} is empty; there is nothing to embed. Drop empty passages before embedding.`, {
              details: { index: i },
            });
        });
        const parts: Float32Array[] = [];
        for (let i = 0; i < texts.length; i += batchSize) parts.push(await run(texts.slice(i, i + batchSize)));
        const out = new Float32Array(texts.length * dim());
        let at = 0;
        for (const p of parts) {
          out.set(p, at);
          at += p.length;
        }
        return out;
      });
    },
    async settled() {
      await calls.settled();
    },
  };
}
