// Seeded pseudo-random numbers (xorshift128+ style mulberry32 streams): deterministic
// k-means initialisation and sampling, and reproducible generated data for demos and benches.

/** A seeded random number generator: uniform floats and integers, standard normals. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
}

/** A seeded Rng: the same seed gives the same sequence, on any platform. */
export function createRng(seed: number): Rng {
  let a = (seed >>> 0) ^ 0x9e3779b9;
  let spare: number | undefined;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal() {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}

/** k distinct indices from [0, n), in a seeded random order (partial Fisher-Yates). */
export function sampleIndices(n: number, k: number, rng: Rng): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const m = Math.min(k, n);
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm.slice(0, m);
}

/**
 * Clustered test data: a Gaussian mixture of `centers` blobs in `dim` dimensions
 * (centres ~ N(0, 1), points = centre + spread * N(0, 1)). Never all zeros.
 */
export function gaussianMixture(n: number, dim: number, opts: { centers?: number; spread?: number; seed?: number } = {}): Float32Array {
  const rng = createRng(opts.seed ?? 1);
  const centers = Math.max(1, opts.centers ?? Math.max(1, Math.round(Math.sqrt(n))));
  const spread = opts.spread ?? 0.35;
  const c = new Float32Array(centers * dim);
  for (let i = 0; i < c.length; i++) c[i] = rng.normal();
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const b = rng.int(centers) * dim;
    for (let j = 0; j < dim; j++) out[i * dim + j] = c[b + j]! + spread * rng.normal();
  }
  return out;
}
