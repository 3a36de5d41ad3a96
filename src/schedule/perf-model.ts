// The performance model that sizes a search to the time it may take (PipeRAG): search latency as
// a straight line in nprobe, fitted on this device at start-up from a few timed searches and
// corrected online from every search the scheduler runs. Older samples fade (exponential
// forgetting), so the line follows the device as caches warm up or other work competes.

/**
 * Search latency as a line in nprobe (PipeRAG's performance model): predict a search's time, or the
 * largest nprobe that fits a budget.
 */
export interface LatencyLine {
  /** Fixed cost of a search, ms (coarse step, submission, readback). */
  readonly intercept: number;
  /** Cost of one more probed list, ms. */
  readonly slope: number;
  /** Samples seen (fitted and online). */
  readonly samples: number;
  observe(nprobe: number, ms: number): void;
  predict(nprobe: number): number;
  /** The largest nprobe in [min, max] whose predicted latency fits `budgetMs` (min if none does). */
  nprobeFor(budgetMs: number, min: number, max: number): number;
}

/**
 * An empty LatencyLine that learns from observe(); `forget` (default 0.9) is how much each older
 * sample keeps of its weight per new one.
 */
export function createLatencyLine(options: { forget?: number } = {}): LatencyLine {
  const forget = options.forget ?? 0.9;
  let sw = 0,
    sx = 0,
    sy = 0,
    sxx = 0,
    sxy = 0,
    n = 0;
  let intercept = 0,
    slope = 0;
  const refit = () => {
    const den = sw * sxx - sx * sx;
    if (sw > 0 && Math.abs(den) > 1e-9 * Math.max(1, sw * sxx)) {
      slope = (sw * sxy - sx * sy) / den;
      intercept = (sy - slope * sx) / sw;
    } else if (sx > 0) {
      slope = sy / sx; // one distinct nprobe so far: a line through the origin
      intercept = 0;
    }
    // Latency never falls as nprobe grows, and never is negative.
    if (slope < 0) {
      slope = 0;
      intercept = sw > 0 ? sy / sw : 0;
    }
    if (intercept < 0) {
      intercept = 0;
      slope = sxx > 0 ? sxy / sxx : slope;
    }
  };
  return {
    get intercept() {
      return intercept;
    },
    get slope() {
      return slope;
    },
    get samples() {
      return n;
    },
    observe(x, y) {
      if (!(x > 0) || !Number.isFinite(y) || y < 0) return;
      sw = sw * forget + 1;
      sx = sx * forget + x;
      sy = sy * forget + y;
      sxx = sxx * forget + x * x;
      sxy = sxy * forget + x * y;
      n++;
      refit();
    },
    predict(x) {
      return intercept + slope * x;
    },
    nprobeFor(budget, min, max) {
      if (n === 0) return min;
      if (slope <= 0) return intercept <= budget ? max : min;
      const p = Math.floor((budget - intercept) / slope);
      return Math.max(min, Math.min(max, p));
    },
  };
}
