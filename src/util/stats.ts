// Order statistics for timings: the generators' decode percentiles and the benchmarks' figures.

/** The q-quantile of `values` (the element at floor(q x n) of the sorted copy; 0 when empty). */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
