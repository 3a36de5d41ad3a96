// The CPU side of a stored search with `missing: 'cpu'`: while the GPU scans the cached lists,
// the CPU scores every vector of the missing lists in float64 and keeps, per query, each vector
// whose score could still place it in the top k once the GPU scores it in float32 (its exact
// score within a rounding bound of the k-th best upper bound). Those few candidates go to a
// scratch arena, one pseudo-list per query, for the GPU kernel to score: so the final ranking
// uses the kernel's own scores, as if the lists had been cached, bit for bit. A filtered search
// passes its allow-list: vectors outside it are not candidates here either.

import type { GpuContext } from '../gpu/context.js';
import { bufferFrom } from '../gpu/kernels.js';
import { scratchArena, type ListArena } from './cache/arena.js';
import { decodeRows, deinterleave, packRows, type FlatLayout, type ScalarQuantizer } from '../ivf/codec.js';
import { NO_ID, type ListRecord, type Metric } from '../ivf/types.js';

export interface CpuCandidates {
  /** One pseudo-list per query holding its candidates. */
  scratch: ListArena;
  /** Probe table: query q probes pseudo-list q. */
  probes: GPUBuffer;
}

export function cpuCandidates(
  ctx: GpuContext,
  label: string,
  o: {
    layout: FlatLayout;
    metric: Metric;
    quantizer: ScalarQuantizer | undefined;
    records: readonly ListRecord[];
    probeLists: Uint32Array;
    queries: Float32Array;
    numQueries: number;
    nprobe: number;
    k: number;
    /** Entries per query in probeLists (default nprobe: the first nprobe of each are probed). */
    probeStride?: number;
    /** Only these ids are candidates (a filtered search's allow-list). */
    allow?: { has(id: number): boolean };
  },
): CpuCandidates {
  const { layout, metric, queries: q, numQueries: nq, nprobe, k, allow } = o;
  const stride = o.probeStride ?? nprobe;
  const dim = layout.dim;
  const decoded = new Map<number, { rec: ListRecord; rows: Uint32Array; vectors: Float32Array }>();
  for (const rec of o.records) {
    const rows = deinterleave(rec.codes, rec.count, layout.units);
    decoded.set(rec.list, { rec, rows, vectors: decodeRows(rows, layout, o.quantizer) });
  }
  const eps = 8 * (layout.dimPad + 8) * 2 ** -24;
  const perQuery: { ids: number[]; rows: Uint32Array[] }[] = [];
  for (let qi = 0; qi < nq; qi++) {
    const cands: { lo: number; hi: number; id: number; row: Uint32Array }[] = [];
    for (let r = 0; r < nprobe; r++) {
      const d = decoded.get(o.probeLists[qi * stride + r]!);
      if (!d) continue;
      for (let slot = 0; slot < d.rec.count; slot++) {
        const id = d.rec.ids[slot]!;
        if (id === NO_ID || (allow && !allow.has(id))) continue;
        let key = 0,
          mag = 0;
        for (let j = 0; j < dim; j++) {
          const a = q[qi * dim + j]!,
            b = d.vectors[slot * dim + j]!;
          if (metric === 'l2') key += (a - b) * (a - b);
          else key -= a * b;
          mag += Math.abs(a * b) + a * a + b * b;
        }
        const bound = eps * mag + 1e-30;
        cands.push({ lo: key - bound, hi: key + bound, id, row: d.rows.subarray(slot * layout.words, (slot + 1) * layout.words) });
      }
    }
    let limit = Infinity;
    if (cands.length > k) limit = cands.map((c) => c.hi).sort((a, b) => a - b)[k - 1]!;
    const keep = cands.filter((c) => c.lo <= limit);
    perQuery.push({ ids: keep.map((c) => c.id), rows: keep.map((c) => c.row) });
  }
  const scratch = scratchArena(
    ctx,
    label,
    layout,
    nq,
    perQuery.map((p, qi) => {
      const rows = new Uint32Array(p.ids.length * layout.words);
      p.rows.forEach((row, j) => rows.set(row, j * layout.words));
      return { list: qi, count: p.ids.length, ids: Uint32Array.from(p.ids), codes: packRows(rows, p.ids.length, layout.units) };
    }),
  );
  const probeTable = new Uint32Array(nq * 2);
  for (let qi = 0; qi < nq; qi++) probeTable[2 * qi + 1] = qi;
  let probes: GPUBuffer;
  try {
    probes = bufferFrom(ctx, `${label}.probes`, probeTable);
  } catch (e) {
    scratch.destroy();
    throw e;
  }
  return { scratch, probes };
}
