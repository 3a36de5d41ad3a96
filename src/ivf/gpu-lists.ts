// Uploads inverted lists (or one flat list) into storage-buffer shards no larger than the
// device's binding limit. Lists are packed one after another, each starting on a 32-vector
// block; a list that crosses a shard boundary is split there (always at a block boundary, so
// the record's interleaved blocks are copied as they are). The segment table gives, for every
// (list, shard), the first slot and the count of that list's vectors in that shard.

import { WeftError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { bufferFrom } from '../gpu/kernels.js';
import { BLOCK, type Layout } from './codec.js';
import { NO_ID, type ListRecord } from './types.js';

export interface GpuLists {
  readonly shards: readonly { codes: GPUBuffer; ids: GPUBuffer; slots: number }[];
  readonly segs: GPUBuffer;
  /** Entries per list in `segs`: the shards planned (`shards` are the ones that exist so far). */
  readonly segStride: number;
  readonly numLists: number;
  /** Largest number of vectors of one list in one shard (sizes the scan grid). */
  readonly maxSegment: number;
  readonly bytes: number;
  destroy(): void;
}

/** Uploads `lists` (list i is the i-th record, whatever its `list` field). */
export function uploadLists(ctx: GpuContext, label: string, lists: readonly ListRecord[], layout: Layout<string>): GpuLists {
  const blockBytes = layout.bytesPerVector * BLOCK;
  const blocksPerShard = Math.floor(ctx.maxShardBytes / blockBytes);
  if (blocksPerShard < 1) {
    throw new WeftError(
      'DEVICE_LIMIT',
      `One block of ${BLOCK} vectors of dimension ${layout.dim} (${blockBytes} bytes as ${layout.storage}) exceeds this device's storage buffer limit of ${ctx.maxShardBytes} bytes. Use a smaller dimension or a compact storage type.`,
      { details: { blockBytes, maxShardBytes: ctx.maxShardBytes } },
    );
  }
  // Plan: (shard, first slot, count, offset within list) pieces.
  const pieces: { list: number; shard: number; slot: number; count: number; offset: number }[] = [];
  const shardBlocks: number[] = [0];
  for (let l = 0; l < lists.length; l++) {
    const n = lists[l]!.count;
    let offset = 0;
    while (offset < n) {
      let shard = shardBlocks.length - 1;
      if (shardBlocks[shard]! === blocksPerShard) {
        shardBlocks.push(0);
        shard++;
      }
      const room = (blocksPerShard - shardBlocks[shard]!) * BLOCK;
      const count = Math.min(room, n - offset);
      pieces.push({ list: l, shard, slot: shardBlocks[shard]! * BLOCK, count, offset });
      shardBlocks[shard]! += Math.ceil(count / BLOCK);
      offset += count;
    }
  }
  const numShards = shardBlocks.length;
  const shardCodes = shardBlocks.map((b) => new Uint32Array(Math.max(1, b) * layout.units * BLOCK * 4));
  const shardIds = shardBlocks.map((b) => new Uint32Array(Math.max(1, b) * BLOCK).fill(NO_ID));
  const segs = new Uint32Array(Math.max(1, lists.length * numShards) * 2);
  let maxSegment = 0;
  for (const p of pieces) {
    const list = lists[p.list]!;
    // Pieces start on block boundaries of both the record and the shard: copy whole blocks.
    const blockWords = layout.words * BLOCK;
    const from = (p.offset / BLOCK) * blockWords;
    shardCodes[p.shard]!.set(list.codes.subarray(from, from + Math.ceil(p.count / BLOCK) * blockWords), (p.slot / BLOCK) * blockWords);
    shardIds[p.shard]!.set(list.ids.subarray(p.offset, p.offset + p.count), p.slot);
    segs[(p.list * numShards + p.shard) * 2] = p.slot;
    segs[(p.list * numShards + p.shard) * 2 + 1] = p.count;
    maxSegment = Math.max(maxSegment, p.count);
  }
  const shards = shardCodes.map((codes, s) => ({
    codes: bufferFrom(ctx, `${label}.codes[${s}]`, codes),
    ids: bufferFrom(ctx, `${label}.ids[${s}]`, shardIds[s]!),
    slots: shardBlocks[s]! * BLOCK,
  }));
  const segBuffer = bufferFrom(ctx, `${label}.segments`, segs);
  const bytes = shards.reduce((a, s) => a + s.codes.size + s.ids.size, segBuffer.size);
  return {
    shards,
    segs: segBuffer,
    segStride: numShards,
    numLists: lists.length,
    maxSegment,
    bytes,
    destroy() {
      for (const s of shards) {
        ctx.destroyBuffer(s.codes);
        ctx.destroyBuffer(s.ids);
      }
      ctx.destroyBuffer(segBuffer);
    },
  };
}
