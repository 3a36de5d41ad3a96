// The runtime's numeric options (src/runtime/option-checks.ts; issue 20, item 7): k, maxTokens
// and every other number a caller hands createRag, search and generate are checked where they
// come in — whole numbers in range, coded errors (K_OUT_OF_RANGE for k, as the index uses;
// INVALID_OPTION otherwise) that quote the value given and the valid range — instead of slicing,
// rounding or clamping silently. A k within MAX_K but beyond the index returns every passage
// there is.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RagEvent } from '../../src/runtime/types.js';
import type { LocalRag } from '../../src/runtime/rag-api.js';
import type { WeftStore } from '../../src/storage/contract.js';
import { documents, nodeRag, nodeStores } from '../support/node-rag.js';

const stores = nodeStores();
let store: WeftStore;
let rag: LocalRag;
beforeAll(async () => {
  store = await stores.open(await stores.dir());
  rag = await nodeRag(store);
  await rag.ingest(documents(20));
});
afterAll(async () => {
  await rag.close();
  store.close();
  await stores.cleanup();
});

const refusal = (code: string, ...parts: RegExp[]) =>
  expect.objectContaining({ code, message: expect.stringMatching(new RegExp(parts.map((p) => `(?=[\\s\\S]*${p.source})`).join(''))) });

async function answer(o: Parameters<LocalRag['generate']>[1]): Promise<Extract<RagEvent, { type: 'done' }>> {
  let done: Extract<RagEvent, { type: 'done' }> | undefined;
  for await (const e of rag.generate('what is the weather of topic 3?', o)) if (e.type === 'done') done = e;
  return done!;
}

describe('search: k and nprobe', () => {
  test('k that is not a whole number from 1 to 1024 is K_OUT_OF_RANGE quoting it (not 14, 2 or 0 passages)', async () => {
    for (const k of [-3, 0, 2.5, NaN, Infinity]) {
      await expect(rag.search('weather topic 3', { k })).rejects.toEqual(
        refusal('K_OUT_OF_RANGE', /k must be an integer between 1 and 1024/, new RegExp(`got ${String(k)}\\.`)),
      );
    }
    await expect(rag.search('weather topic 3', { k: '3' as unknown as number })).rejects.toEqual(refusal('K_OUT_OF_RANGE', /got "3"/));
    // Absurdly large: the value asked for is named, not the index's size.
    await expect(rag.search('weather topic 3', { k: 1e6 })).rejects.toEqual(refusal('K_OUT_OF_RANGE', /between 1 and 1024/, /got 1000000\./));
  });

  test('k within 1..1024 but beyond the index returns every passage there is; k as asked otherwise', async () => {
    expect(await rag.search('weather topic 3', { k: 1024 })).toHaveLength(20);
    expect(await rag.search('weather topic 3', { k: 50, mode: 'vector' })).toHaveLength(20);
    expect(await rag.search('weather topic 3', { k: 2 })).toHaveLength(2);
    expect(await rag.search('weather topic 3')).toHaveLength(5);
  });

  test('nprobe is a whole number in range, in every mode (also where lexical search does not use it)', async () => {
    await expect(rag.search('weather', { nprobe: 1.5, mode: 'lexical' })).rejects.toEqual(refusal('NPROBE_OUT_OF_RANGE', /nprobe/, /got 1\.5/));
    await expect(rag.search('weather', { nprobe: -1 })).rejects.toEqual(refusal('NPROBE_OUT_OF_RANGE', /got -1/));
  });
});

describe('generate: maxTokens, k and the rest', () => {
  test('maxTokens of -5, 0, NaN or 2.5 is INVALID_OPTION quoting it; a valid one bounds the answer', async () => {
    for (const maxTokens of [-5, 0, NaN, 2.5]) {
      await expect(answer({ maxTokens })).rejects.toEqual(
        refusal('INVALID_OPTION', /maxTokens must be an integer between 1 and/, new RegExp(`got ${String(maxTokens)}\\.`)),
      );
    }
    const done = await answer({ maxTokens: 3, k: 2 });
    expect(done.tokens.generated).toBe(3);
    expect(done.passages).toHaveLength(2);
  });

  test('k, nprobe, queryTurns, periodic, rewrite, speculate and sampling numbers are checked', async () => {
    await expect(answer({ k: -3 })).rejects.toEqual(refusal('K_OUT_OF_RANGE', /got -3\./));
    await expect(answer({ k: 1e6 })).rejects.toEqual(refusal('K_OUT_OF_RANGE', /got 1000000\./));
    await expect(answer({ nprobe: 0 })).rejects.toEqual(refusal('NPROBE_OUT_OF_RANGE', /got 0\./));
    await expect(answer({ queryTurns: -1 })).rejects.toEqual(refusal('INVALID_OPTION', /queryTurns/, /got -1/));
    await expect(answer({ periodic: { interval: 0 } })).rejects.toEqual(refusal('INVALID_OPTION', /periodic\.interval/, /got 0/));
    await expect(answer({ periodic: { interval: 4, k: 0 } })).rejects.toEqual(refusal('K_OUT_OF_RANGE', /periodic\.k/));
    await expect(answer({ periodic: { interval: 4, maxSlowdown: -1 } })).rejects.toEqual(refusal('INVALID_OPTION', /periodic\.maxSlowdown/, /got -1/));
    await expect(answer({ periodic: { interval: 4, staleness: 2 as 0 } })).rejects.toEqual(refusal('INVALID_OPTION', /staleness/));
    await expect(answer({ rewrite: { maxTokens: 0 } })).rejects.toEqual(refusal('INVALID_OPTION', /rewrite\.maxTokens/));
    await expect(answer({ speculate: { afterSlices: 0.5 } })).rejects.toEqual(refusal('INVALID_OPTION', /speculate\.afterSlices/));
    await expect(answer({ sampling: { temperature: -1 } })).rejects.toEqual(refusal('INVALID_OPTION', /sampling\.temperature/, /got -1/));
    await expect(answer({ sampling: { topP: 0 } })).rejects.toEqual(refusal('INVALID_OPTION', /sampling\.topP/));
    await expect(answer({ sampling: { seed: 1.5 } })).rejects.toEqual(refusal('INVALID_OPTION', /sampling\.seed/, /got 1\.5/));
    expect((await answer({ k: 500, maxTokens: 2 })).passages).toHaveLength(20);
  });
});

describe("createRag: the runtime's own numbers", () => {
  test('nlist, cacheBytes, maxSlowdown, lookahead and sampling are refused before anything opens, quoting the value', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ nlist: 0 }, /nlist must be an integer between 1 and 65535; got 0\./],
      [{ nlist: 2.5 }, /nlist.*got 2\.5/],
      [{ cacheBytes: 0 }, /cacheBytes.*got 0\./],
      [{ cacheBytes: -5 }, /cacheBytes.*got -5\./],
      [{ maxSlowdown: 0 }, /maxSlowdown must be a finite number above 0; got 0\./],
      [{ maxSlowdown: NaN }, /maxSlowdown.*got NaN/],
      [{ lookahead: 0 }, /lookahead.*got 0\./],
      [{ sampling: { temperature: Infinity } }, /sampling\.temperature.*got Infinity/],
    ];
    for (const [options, message] of cases) {
      await expect(nodeRag(store, options)).rejects.toEqual(refusal('INVALID_OPTION', message));
    }
  });
});
