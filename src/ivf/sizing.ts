// How big an IVF index's lists should be, in one place: the nlist a new index is trained with,
// the list size an index of n vectors aims at, and the bounds past which a growing index splits a
// list (stored-index/rebalance.ts). The soft bound keeps an index that grew from 10 vectors to millions
// shaped like one trained at its final size (about 2√n lists); the hard bound keeps every list
// within what one GPU storage buffer, and the list cache's smallest shard, can hold.

import type { GpuContext } from '../gpu/context.js';
import { BLOCK, type Layout } from './codec.js';

/** nlist for an index trained on n vectors: about 2√n lists (a power of two), at least 4 vectors a list. */
export function nlistFor(n: number): number {
  return Math.max(1, Math.min(Math.floor(n / 4), 2 ** Math.round(Math.log2(Math.sqrt(Math.max(1, n)) * 2))));
}

/** The mean list size of an index of n vectors trained from scratch (n / nlistFor(n)). */
export function targetListSize(n: number): number {
  return Math.max(1, n / nlistFor(n));
}

/** A list grows to this many times the target size before it is split. */
export const SPLIT_FACTOR = 2;
/** Lists are never split below this many vectors (a list takes whole 32-vector blocks on the GPU). */
export const MIN_SPLIT_SIZE = 2 * BLOCK;
/** Bytes of one list at most: the list cache's first shard (8 MiB), so any list fits an empty cache. */
export const MAX_LIST_BYTES = 8 * 2 ** 20;

/** The most vectors one list may hold on this backend: a whole number of blocks within MAX_LIST_BYTES and one storage buffer. */
export function maxListSize(ctx: GpuContext | undefined, layout: Layout): number {
  const bytes = Math.min(MAX_LIST_BYTES, ctx?.maxShardBytes ?? Infinity);
  return Math.max(BLOCK, Math.floor(bytes / (layout.bytesPerVector * BLOCK)) * BLOCK);
}

/** The live vectors past which a list of an index of n vectors is split. */
export function splitBound(n: number, ctx: GpuContext | undefined, layout: Layout): number {
  return Math.min(maxListSize(ctx, layout), Math.max(MIN_SPLIT_SIZE, Math.ceil(SPLIT_FACTOR * targetListSize(n))));
}
