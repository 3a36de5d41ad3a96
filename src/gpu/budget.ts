// One GPU memory budget for everything a GpuContext holds (issue 23): the reference generator's
// weights and KV cache, WebLLM's model, the embedder, the stored index's list cache, the
// reranker's passage KV, training's scratch, the search's buffers. WebGPU does not say how much
// memory a device has, so the budget is the app's (RagOptions' and the worker's
// `gpuBudgetBytes`); without one it only accounts. Every buffer is charged to a holder named by
// its label. A load that allocates at once asks first (reserve); one that allocates over time
// (WebLLM, a cache that fills as searches run) holds its bytes from the start (hold, claim), so
// what it will grow into counts as held. Allocations themselves are never refused (a search must
// not fail halfway), only charged: a holder's share is the larger of its holds and its buffers.
//
// Caches are elastic (HedraRAG's GPU cluster cache that follows the LLM's needs): a hold made
// with `elastic` gives memory back when a load would not fit otherwise (down to its minimum, the
// largest spare first) and takes it again, up to what it wants, once memory is freed. A load is
// refused with DEVICE_LIMIT only when the caches at their minimum would still leave too little,
// and then before anything is taken from them.

import { WeftError } from '../errors.js';

/**
 * Who holds a buffer, by its label: 'weft.llama.*' and 'weft.webllm.model' the generator ('weft.llama.kvSnapshot' the
 * reranker's passage KV), 'weft.embedder' the embedder, 'weft.reranker' an ONNX reranker, 'weft.<index>.cache…' the list cache, 'weft.<index>' its centroids.
 */
export function holderOf(label: string | undefined): string {
  if (!label) return 'other';
  if (label.startsWith('weft.llama.kvSnapshot')) return 'rerank KV';
  if (label.startsWith('weft.llama') || label.startsWith('weft.webllm')) return 'generator';
  if (label.startsWith('weft.embedder')) return 'embedder';
  if (label.startsWith('weft.reranker')) return 'reranker';
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
  /** Bytes the caches (list cache, rerank KV) would give back to make room for a load. */
  reclaimable: number;
}

/** How an elastic hold (a cache) follows the memory left: it shrinks for loads and grows back. */
export interface Elastic {
  /** The least it works with: it never gives back below this. */
  min: number;
  /** The most it takes when memory is free. */
  want: number;
  /**
   * Changes the holder's size to at most `bytes` (giving memory back frees its buffers before
   * returning); returns the size it now holds (its granularity may keep it below `bytes`).
   */
  resize(bytes: number): number;
}

/** Bytes set aside for a holder that fills them over time. */
export interface GpuHold {
  readonly bytes: number;
  /** Grows (DEVICE_LIMIT if it does not fit, after elastic holds gave back) or shrinks the hold. */
  resize(bytes: number, what: string): void;
  /** Gives the hold back (its holder's buffers, if any are left, still count). */
  release(): void;
}

export interface GpuBudget {
  /** Throws DEVICE_LIMIT if `bytes` more for `what` would pass the budget, once the elastic holds gave back what they can. */
  reserve(bytes: number, what: string): void;
  /** Holds `bytes` for the buffers labelled `label` (several holds of one label add up); `elastic`: a cache that follows the memory left. */
  hold(label: string, bytes: number, what: string, elastic?: Elastic): GpuHold;
  /** The one hold of `label` set to `bytes` (0 gives it back): for a holder of which there is one per context. */
  claim(label: string, bytes: number, what: string): void;
  /** Charges a buffer of `bytes` to its label's holder. */
  add(label: string | undefined, bytes: number): void;
  remove(label: string | undefined, bytes: number): void;
  /** Sets the budget (Infinity: none); what is held already stays. */
  set(bytes: number): void;
  /** Bytes left under the budget (Infinity without one). */
  left(): number;
  report(): GpuMemoryReport;
  /** Stops giving memory back to the elastic holds (the context is going away). */
  dispose(): void;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The share of the budget that elastic holds leave free when they grow back. */
const HEADROOM = 0.05;

/** The part of a label that names one holder's buffers ('weft.notes.cache.codes[0]' → 'weft.notes.cache'). */
const keyOf = (label: string | undefined) => (label ?? 'other').replace(/\.(codes|ids|segments)\[?.*$/, '').replace(/\[\d+\]$/, '');

interface Entry {
  key: string;
  bytes: number;
  elastic: Elastic | undefined;
}

export function createGpuBudget(initial = Number.POSITIVE_INFINITY): GpuBudget {
  let budget = initial;
  // Per holder key: bytes of its live buffers; and the holds, each with its key.
  const allocated = new Map<string, number>();
  const holds = new Set<Entry>();
  const claims = new Map<string, GpuHold>();
  const heldFor = (k: string) => {
    let b = 0;
    for (const e of holds) if (e.key === k) b += e.bytes;
    return b;
  };
  const footprint = (k: string) => Math.max(allocated.get(k) ?? 0, heldFor(k));
  const keys = () => new Set([...allocated.keys(), ...[...holds].map((e) => e.key)]);
  const used = () => [...keys()].reduce((a, k) => a + footprint(k), 0);
  const byHolder = () => {
    const out: Record<string, number> = {};
    for (const k of keys()) {
      const b = footprint(k);
      if (b > 0) out[holderOf(k)] = (out[holderOf(k)] ?? 0) + b;
    }
    return out;
  };
  const spare = (e: Entry) => (e.elastic ? Math.max(0, e.bytes - e.elastic.min) : 0);
  const reclaimable = (except?: Entry) => [...holds].reduce((a, e) => a + (e === except ? 0 : spare(e)), 0);
  const check = (bytes: number) => {
    if (!(bytes === Number.POSITIVE_INFINITY || (Number.isFinite(bytes) && bytes > 0))) {
      throw new WeftError('INVALID_OPTION', `gpuBudgetBytes must be a positive number of bytes (or Infinity), not ${bytes}.`);
    }
  };
  check(initial);

  const refusal = (bytes: number, what: string, except?: Entry) => {
    const u = used();
    const held = Object.entries(byHolder()).sort((a, b) => b[1] - a[1]);
    const list = held.length ? held.map(([h, b]) => `${h} ${mib(b)}`).join(', ') : 'nothing';
    const caches = reclaimable(except);
    return new WeftError(
      'DEVICE_LIMIT',
      `${what} needs ${mib(bytes)} of GPU memory, but ${mib(Math.max(0, budget - u))} of the ${mib(budget)} budget are left` +
        `${caches > 0 ? ` even with the caches' ${mib(caches)} given back` : ''} (held: ${list}). ` +
        'Free some (close an index, lower cacheBytes, unload or pick a smaller model) or raise gpuBudgetBytes.',
      { details: { bytes, budget, used: u, reclaimable: caches, holders: Object.fromEntries(held) } },
    );
  };

  /** Makes room for `bytes` more, shrinking elastic holds (not `except`), largest spare first; DEVICE_LIMIT before shrinking anything if they cannot make enough. */
  const makeRoom = (bytes: number, what: string, except?: Entry) => {
    if (used() + bytes <= budget) return;
    if (used() + bytes - reclaimable(except) > budget) throw refusal(bytes, what, except);
    const order = [...holds].filter((e) => e !== except && spare(e) > 0).sort((a, b) => spare(b) - spare(a));
    for (const e of order) {
      const short = used() + bytes - budget;
      if (short <= 0) break;
      e.bytes = Math.min(e.bytes, e.elastic!.resize(Math.max(e.elastic!.min, e.bytes - short)));
    }
    if (used() + bytes > budget) {
      regrowSoon();
      throw refusal(bytes, what, except);
    }
  };

  // Elastic holds take freed memory back on a later task: a load that reserved and allocates
  // at once is never raced; one that allocates over time holds its bytes. They grow into all but
  // the last twentieth of the budget, which the searches' working buffers come and go in.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;
  const regrow = () => {
    timer = undefined;
    for (const e of holds) {
      if (!e.elastic || e.bytes >= e.elastic.want) continue;
      const room = (1 - HEADROOM) * budget - used();
      if (room <= 0) break;
      const target = Math.min(e.elastic.want, e.bytes + room);
      e.bytes = Math.max(e.bytes, Math.min(target, e.elastic.resize(target)));
    }
  };
  const regrowSoon = () => {
    if (disposed || timer !== undefined) return;
    let wanting = false;
    for (const e of holds) if (e.elastic && e.bytes < e.elastic.want) wanting = true;
    if (wanting) timer = setTimeout(regrow, 0);
  };

  const api: GpuBudget = {
    reserve: (bytes, what) => makeRoom(bytes, what),
    hold(label, bytes, what, elastic) {
      const e: Entry = { key: keyOf(label), bytes: 0, elastic };
      /** Sets the hold to `to`, first making room for what that adds to the footprint. */
      const grow = (to: number, w: string) => {
        const from = e.bytes;
        const before = used();
        e.bytes = to;
        const growth = used() - before;
        e.bytes = from;
        if (growth > 0) makeRoom(growth, w, e);
        e.bytes = to;
      };
      holds.add(e);
      try {
        grow(bytes, what);
      } catch (err) {
        holds.delete(e);
        throw err;
      }
      return {
        get bytes() {
          return e.bytes;
        },
        resize(to, w) {
          if (!holds.has(e)) return;
          if (to > e.bytes) grow(to, w);
          else {
            e.bytes = to;
            regrowSoon();
          }
        },
        release() {
          if (holds.delete(e)) regrowSoon();
        },
      };
    },
    claim(label, bytes, what) {
      const h = claims.get(label);
      if (bytes <= 0) {
        h?.release();
        claims.delete(label);
      } else if (h) h.resize(bytes, what);
      else claims.set(label, api.hold(label, bytes, what));
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
      // A search's working buffers come and go every slice, inside the headroom: not worth a regrow.
      if (holderOf(k) !== 'search') regrowSoon();
    },
    set(bytes) {
      check(bytes);
      budget = bytes;
      regrowSoon();
    },
    left: () => budget - used(),
    report: () => ({ budget, used: used(), holders: byHolder(), reclaimable: reclaimable() }),
    dispose() {
      disposed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
  return api;
}
