// What a WebLLM model counts for in the engine's GPU memory budget: its record's vram_required_MB
// (MiB) in bytes, read from WebLLM's prebuilt list or from the app's custom record, and nothing
// where the record does not say. The engine's claim itself: test/transport/engine-memory.browser.test.ts.
import { describe, expect, test } from 'vitest';
import { webLlmModelRecord } from '../../src/generate/webllm.js';
import { webLlmVramBytes } from '../../src/generate/webllm-memory.js';

describe('webLlmVramBytes', () => {
  test('vram_required_MB in bytes (MiB, rounded up); nothing where a record does not say or says nonsense', () => {
    expect(webLlmVramBytes({ vram_required_MB: 1 })).toBe(2 ** 20);
    expect(webLlmVramBytes({ vram_required_MB: 879.04 })).toBe(Math.ceil(879.04 * 2 ** 20));
    expect(webLlmVramBytes({ vram_required_MB: 0.5 })).toBe(2 ** 19);
    expect(webLlmVramBytes({})).toBeUndefined();
    expect(webLlmVramBytes({ vram_required_MB: undefined })).toBeUndefined();
    for (const bad of [0, -3, Number.NaN, Number.POSITIVE_INFINITY, '100' as unknown as number]) {
      expect(webLlmVramBytes({ vram_required_MB: bad })).toBeUndefined();
    }
  });

  test("a prebuilt id's requirement is its entry's in WebLLM's prebuilt list; a custom record's is the one the app gives, or none", async () => {
    const { prebuiltAppConfig } = await import('@mlc-ai/web-llm');
    const id = 'Llama-3.2-1B-Instruct-q4f16_1-MLC';
    const entry = prebuiltAppConfig.model_list.find((r) => r.model_id === id)!;
    expect(entry.vram_required_MB).toBeGreaterThan(0);
    const prebuilt = await webLlmModelRecord({ id });
    expect(prebuilt.modelId).toBe(id);
    expect(webLlmVramBytes(prebuilt.record)).toBe(Math.ceil(entry.vram_required_MB! * 2 ** 20));
    // Hashes make the prebuilt record the app's own; its requirement stays.
    const hashed = await webLlmModelRecord({ id, integrity: { config: 'sha256-x' } });
    expect(webLlmVramBytes(hashed.record)).toBe(Math.ceil(entry.vram_required_MB! * 2 ** 20));

    const custom = await webLlmModelRecord({
      record: { model: 'https://example.org/m/', modelLib: 'https://example.org/m.wasm', modelId: 'm', vramRequiredMB: 12 },
    });
    expect(custom).toEqual({
      modelId: 'm',
      record: { model: 'https://example.org/m/', model_id: 'm', model_lib: 'https://example.org/m.wasm', vram_required_MB: 12 },
    });
    expect(webLlmVramBytes(custom.record)).toBe(12 * 2 ** 20);
    const silent = await webLlmModelRecord({ record: { model: 'https://example.org/m/', modelLib: 'https://example.org/m.wasm' } });
    expect(silent.record).not.toHaveProperty('vram_required_MB');
    expect(webLlmVramBytes(silent.record)).toBeUndefined();
  });

  test('the lookup refuses what the load would: no model, an unknown prebuilt id', async () => {
    await expect(webLlmModelRecord({})).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(webLlmModelRecord({ id: 'no-such-model-MLC' })).rejects.toMatchObject({ code: 'UNKNOWN_MODEL' });
  });
});
