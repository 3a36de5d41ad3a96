// Semantic reordering (HedraRAG): a later search of the same request scans first the lists that
// held its earlier searches' results, among those it probes, then the rest in rank order. The
// lists probed and so the final top-k are unchanged — only the order of the slices is — so the
// first slices already hold most of the final top-k (a partial result worth speculating on) and
// scan lists that are likely still cached.

/**
 * Each query's first `nprobe` ranked lists (`depth` per query in `lists`) reordered in place:
 * those in its `first` set first (in rank order), then the others (in rank order). Queries
 * without a set keep their order. Returns whether anything moved.
 */
export function scanFirst(lists: Uint32Array, nq: number, depth: number, nprobe: number, first: readonly (ReadonlySet<number> | undefined)[]): boolean {
  let moved = false;
  for (let q = 0; q < nq; q++) {
    const set = first[q];
    if (!set || set.size === 0) continue;
    const row = lists.subarray(q * depth, q * depth + nprobe);
    const front = Array.from(row).filter((l) => set.has(l));
    if (front.length === 0 || front.length === nprobe) continue;
    const back = Array.from(row).filter((l) => !set.has(l));
    const next = [...front, ...back];
    if (next.some((l, i) => l !== row[i])) moved = true;
    row.set(next);
  }
  return moved;
}
