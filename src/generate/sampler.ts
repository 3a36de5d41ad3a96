// llama2.c's sampler: greedy argmax, or temperature softmax with optional top-p (nucleus),
// drawing from llama2.c's xorshift RNG so that a seed gives the same tokens as `run -s seed`.

export interface Sampler {
  sample(logits: Float32Array): number;
}

export function createSampler(vocabSize: number, temperature = 0, topP = 0.9, seed = 1): Sampler {
  let state = BigInt.asUintN(64, BigInt(seed));
  const randomU32 = () => {
    state ^= state >> 12n;
    state = BigInt.asUintN(64, state ^ (state << 25n));
    state ^= state >> 27n;
    return Number(BigInt.asUintN(64, state * 0x2545f4914f6cdd1dn) >> 32n);
  };
  const randomF32 = () => (randomU32() >>> 8) / 16777216.0;
  const probs = new Float32Array(vocabSize);
  return {
    sample(logits) {
      if (temperature === 0) {
        let best = 0;
        for (let i = 1; i < vocabSize; i++) if (logits[i]! > logits[best]!) best = i;
        return best;
      }
      let max = -Infinity;
      for (let i = 0; i < vocabSize; i++) {
        probs[i] = logits[i]! / temperature;
        if (probs[i]! > max) max = probs[i]!;
      }
      let sum = 0;
      for (let i = 0; i < vocabSize; i++) {
        probs[i] = Math.exp(probs[i]! - max);
        sum += probs[i]!;
      }
      for (let i = 0; i < vocabSize; i++) probs[i] = probs[i]! / sum;
      const coin = randomF32();
      if (topP <= 0 || topP >= 1) {
        let cdf = 0;
        for (let i = 0; i < vocabSize; i++) {
          cdf += probs[i]!;
          if (coin < cdf) return i;
        }
        return vocabSize - 1;
      }
      const cutoff = (1 - topP) / (vocabSize - 1);
      const cand: { i: number; p: number }[] = [];
      for (let i = 0; i < vocabSize; i++) if (probs[i]! >= cutoff) cand.push({ i, p: probs[i]! });
      cand.sort((a, b) => b.p - a.p);
      let cum = 0,
        last = cand.length - 1;
      for (let i = 0; i < cand.length; i++) {
        cum += cand[i]!.p;
        if (cum > topP) {
          last = i;
          break;
        }
      }
      const r = coin * cum;
      let cdf = 0;
      for (let i = 0; i <= last; i++) {
        cdf += cand[i]!.p;
        if (r < cdf) return cand[i]!.i;
      }
      return cand[last]!.i;
    },
  };
}

/**
 * The model's probability of `token` given `logits` (their softmax at temperature 1): how sure the
 * model was of the token, whatever the sampler then drew (FLARE's uncertainty test).
 */
export function tokenProbability(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return Math.exp(logits[token]! - max) / sum;
}
