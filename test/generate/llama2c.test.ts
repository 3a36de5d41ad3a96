import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseCheckpoint, parseTokenizer } from '../../src/generate/llama2c-format.js';
import { BOS, createBpeTokenizer } from '../../src/generate/bpe.js';
import { argmax, createCpuLlama } from '../../src/generate/llama2c-cpu.js';
import { createRng } from '../../src/random.js';

const assets = resolve(import.meta.dirname, '../../../shared/assets/lm-stories260K');
const read = (f: string) => {
  const b = readFileSync(resolve(assets, f));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};

describe('llama2.c checkpoint, tokenizer and CPU reference', () => {
  const model = parseCheckpoint(read('stories260K.bin'));
  const tok = createBpeTokenizer(parseTokenizer(read('tok512.bin'), model.config.vocabSize));

  test('header of stories260K', () => {
    expect(model.config).toMatchObject({
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      seqLen: 512,
      sharedClassifier: true,
      headSize: 8,
      kvDim: 32,
    });
  });

  test("greedy decoding from BOS for 200 steps prints exactly llama2.c's output", () => {
    const llama = createCpuLlama(model);
    const out: number[] = [];
    let token = BOS;
    for (let pos = 0; pos < 200; pos++) {
      const next = argmax(llama.forward(token, pos));
      if (next === BOS) break;
      out.push(next);
      token = next;
    }
    const expected = new TextDecoder().decode(read('expected_greedy_n200.txt'));
    expect(tok.decode(out)).toBe(expected); // the oracle file holds the printed text without run's final newline
  });

  test('encode round-trips text through the BPE merges', () => {
    const text = 'Once upon a time, there was a little girl named Lily.';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(BOS);
    expect(ids.length).toBeLessThan(text.length / 2); // merges happened
    expect(tok.decode(ids.slice(1))).toBe(text); // the dummy prefix space is dropped after BOS
  });

  test("encode equals llama2.c's rescan-per-merge loop on random text (ties: the leftmost pair)", () => {
    const data = parseTokenizer(read('tok512.bin'), model.config.vocabSize);
    const strs = data.vocab.map((b) => new TextDecoder('latin1').decode(b));
    const lookup = new Map<string, number>();
    strs.forEach((k, i) => {
      if (!lookup.has(k)) lookup.set(k, i);
    });
    // run.c's loop, kept here as the oracle.
    const reference = (ids: number[]) => {
      const t = ids.slice();
      for (;;) {
        let best = -1e10,
          bestId = -1,
          bestIdx = -1;
        for (let i = 0; i + 1 < t.length; i++) {
          const id = lookup.get(strs[t[i]!]! + strs[t[i + 1]!]!);
          if (id !== undefined && data.scores[id]! > best) {
            best = data.scores[id]!;
            bestId = id;
            bestIdx = i;
          }
        }
        if (bestIdx < 0) return t;
        t.splice(bestIdx, 2, bestId);
      }
    };
    const rng = createRng(9);
    const words = [
      'Once',
      ' upon',
      ' a',
      ' time',
      ' the',
      ' little',
      ' girl',
      'Lily',
      ' happy',
      ',',
      '.',
      ' ',
      '  ',
      'é',
      '日本',
      '\n',
      'ing',
      'ed',
      'aaaa',
      'aaa',
      'lll',
      ' ooo',
      'eee',
      'zq',
      '🙂',
    ];
    for (let trial = 0; trial < 200; trial++) {
      const len = 1 + rng.int(60);
      const text = Array.from({ length: len }, () => words[rng.int(words.length)]!).join('');
      const ids = tok.encode(text, { bos: trial % 2 === 0 });
      // Unmerged: what encode starts from — merging it by the oracle must give the same ids.
      const start = tok.encode(text, { bos: trial % 2 === 0, merge: false });
      expect(ids).toEqual(reference(start));
    }
  });

  test('bad and truncated files get INVALID_MODEL', () => {
    const good = read('stories260K.bin');
    expect(() => parseCheckpoint(good.slice(0, good.byteLength - 1000))).toThrow(expect.objectContaining({ code: 'INVALID_MODEL' }));
    expect(() => parseCheckpoint(new ArrayBuffer(10))).toThrow(expect.objectContaining({ code: 'INVALID_MODEL' }));
    const garbage = new Int32Array([64, 172, 5, 7, 4, 512, 512]).buffer; // 64 not divisible by 7 heads
    expect(() => parseCheckpoint(garbage)).toThrow(expect.objectContaining({ code: 'INVALID_MODEL' }));
    expect(() => parseTokenizer(read('tok512.bin').slice(0, 1000), 512)).toThrow(expect.objectContaining({ code: 'INVALID_MODEL' }));
  });
});
