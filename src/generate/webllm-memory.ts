// What a WebLLM model holds on the GPU, for the engine's one memory budget (issue 23). WebLLM runs
// on a GPUDevice of its own (webllm.ts), which Weft cannot see into, but on the same physical GPU
// as the engine's device, so the engine claims the model's memory on its own context before
// WebLLM loads anything. The figure is the one WebLLM's model record gives: vram_required_MB,
// MLC's estimate of the weights, the KV cache and the workspace (web-llm's utils/vram_requirements
// computes it in MiB). A record without it (a custom record that does not say) is not counted.

import type { WebLlmModelRecord } from './webllm-files.js';

/** The label the engine claims WebLLM's model under (budget.ts's holderOf: the 'generator'). */
export const WEBLLM_MEMORY_LABEL = 'weft.webllm.model';

/**
 * Bytes of GPU memory a WebLLM model record says its model needs (vram_required_MB, MiB, rounded
 * up to a whole byte), or undefined where it does not say (no field, or not a positive number).
 */
export function webLlmVramBytes(record: Pick<WebLlmModelRecord, 'vram_required_MB'>): number | undefined {
  const mb = record.vram_required_MB;
  if (typeof mb !== 'number' || !Number.isFinite(mb) || mb <= 0) return undefined;
  return Math.ceil(mb * 2 ** 20);
}
