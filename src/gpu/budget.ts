// One GPU memory budget for everything a GpuContext holds (issue 23): the reference generator's
// weights and KV cache, the stored index's list cache, training's scratch, the search's buffers.
// WebGPU does not say how much memory a device has, so the budget is the app's (RagOptions'
// and the worker's `gpuBudgetBytes`); without one it only accounts. Every buffer is charged to
// a holder named by its label; a load that knows its size asks first (reserve), so it fails with
// DEVICE_LIMIT before allocating anything, naming what holds the memory. A holder that grows
// later (the list cache fills as searches run) claims its whole size when it opens, so what it
// may grow into counts as held; allocations themselves are never refused (a search must not
// fail halfway), only charged: a holder's share is the larger of its claim and its buffers.

import { WeftError } from '../errors.js';

/**
 * Who holds a buffer, by its label: 'weft.llama.*' and 'weft.webllm' the generator ('weft.llama.kvSnapshot' the
 * reranker's passage KV), 'weft.embedder' the embedder, 'weft.<index>.cache…' the list cache, 'weft.<index>' its centroids.
 */
export function holderOf(label: string | undefined): string {
  if (!label) return 'other';
  if (label.startsWith('weft.llama.kvSnapshot')) return 'rerank KV';
  if (label.startsWith('weft.llama') || label.startsWith('weft.webllm')) return 'generator';
  if (label.startsWith('weft.embedder')) return 'embedder';
  if (/^weft\.[^.]+\.cache/.test(label)) return 'list cache';
  if (label.startsWith('weft.kmeans')) return 'training';
  if (label.startsWith('weft.search') || label.startsWith('weft.readback')) return 'search';
  if (/^weft\.[^.[]+$/.test(label) || /^weft\.[^.]+\.(centroids|trained)/.test(label)) return 'index';
  return 'other';
}

/** The budget and its use, by holder (bytes). */
export interface GpuMemoryReport {
  /** The budget in bytes (Infinity without one). */
  budget: number;
  used: number;
  holders: Record<string, number>;
}

export interface GpuBudget {
  /** Throws DEVICE_LIMIT if `bytes` more for `what` would pass the budget. */
  reserve(bytes: number, what: string): void;
  /** Claims `bytes` for the holder of `label` (0 gives the claim back): DEVICE_LIMIT if the claim's growth would pass the budget. */
  claim(label: string, bytes: number, what: string): void;
  /** Charges a buffer of `bytes` to its label's holder. */
  add(label: string | undefined, bytes: number): void;
  remove(label: string | undefined, bytes: number): void;
  /** Sets the budget (Infinity: none); what is held already stays. */
  set(bytes: number): void;
  /** Bytes left under the budget (Infinity without one). */
  left(): number;
  report(): GpuMemoryReport;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The part of a label that names one holder's buffers ('weft.notes.cache.codes[0]' → 'weft.notes.cache'). */
const keyOf = (label: string | undefined) => (label ?? 'other').replace(/\.(codes|ids|segments)\[?.*$/, '').replace(/\[\d+\]$/, '');

export function createGpuBudget(initial = Number.POSITIVE_INFINITY): GpuBudget {
  let budget = initial;
  // Per holder key: bytes of its live buffers, and the size it claimed.
  const allocated = new Map<string, number>();
  const claimed = new Map<string, number>();
  const footprint = (k: string) => Math.max(allocated.get(k) ?? 0, claimed.get(k) ?? 0);
  const keys = () => new Set([...allocated.keys(), ...claimed.keys()]);
  const used = () => [...keys()].reduce((a, k) => a + footprint(k), 0);
  const byHolder = () => {
    const out: Record<string, number> = {};
    for (const k of keys()) {
      const b = footprint(k);
      if (b > 0) out[holderOf(k)] = (out[holderOf(k)] ?? 0) + b;
    }
    return out;
  };
  const check = (bytes: number) => {
    if (!(bytes === Number.POSITIVE_INFINITY || (Number.isFinite(bytes) && bytes > 0))) {
      throw new WeftError('INVALID_OPTION', `gpuBudgetBytes must be a positive number of bytes (or Infinity), not ${bytes}.`);
    }
  };
  check(initial);
  const api: GpuBudget = {
    reserve(bytes, what) {
      const u = used();
      if (u + bytes <= budget) return;
      const held = Object.entries(byHolder()).sort((a, b) => b[1] - a[1]);
      const list = held.length ? held.map(([h, b]) => `${h} ${mib(b)}`).join(', ') : 'nothing';
      throw new WeftError(
        'DEVICE_LIMIT',
        `${what} needs ${mib(bytes)} of GPU memory, but ${mib(Math.max(0, budget - u))} of the ${mib(budget)} budget are left (held: ${list}). ` +
          'Free some (close an index, lower cacheBytes, unload or pick a smaller model) or raise gpuBudgetBytes.',
        { details: { bytes, budget, used: u, holders: Object.fromEntries(held) } },
      );
    },
    claim(label, bytes, what) {
      const k = keyOf(label);
      const growth = Math.max(bytes, allocated.get(k) ?? 0) - footprint(k);
      if (growth > 0) api.reserve(growth, what);
      if (bytes > 0) claimed.set(k, bytes);
      else claimed.delete(k);
    },
    add(label, bytes) {
      const k = keyOf(label);
      allocated.set(k, (allocated.get(k) ?? 0) + bytes);
    },
    remove(label, bytes) {
      const k = keyOf(label);
      const left = (allocated.get(k) ?? 0) - bytes;
      if (left > 0) allocated.set(k, left);
      else allocated.delete(k);
    },
    set(bytes) {
      check(bytes);
      budget = bytes;
    },
    left: () => budget - used(),
    report: () => ({ budget, used: used(), holders: byHolder() }),
  };
  return api;
}
