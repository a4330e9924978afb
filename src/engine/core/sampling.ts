// Choosing the next token: greedy by default; temperature, top-k and top-p when asked.

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep the k most likely tokens (0 = all). */
  topK: number;
  /** Keep the smallest set whose probability reaches p (1 = all). */
  topP: number;
  seed: number;
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, seed: 0 };

/** mulberry32: a small seeded PRNG so sampled completions are reproducible in tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** log Σ exp(logits): softmax's normaliser, around the maximum so nothing overflows. */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

/** log p(id) under softmax(logits) restricted to the allowed tokens (all when allowed is null). */
export function logProbability(
  logits: Float32Array,
  id: number,
  allowed: ((id: number) => boolean) | null,
): number {
  if (allowed === null) return logits[id] - logSumExp(logits);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max && allowed(i)) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) if (allowed(i)) sum += Math.exp(logits[i] - max);
  return logits[id] - max - Math.log(sum);
}

/**
 * Picks a token id from logits. `allowed` (when given) filters candidates: token healing uses it
 * to force the first tokens to reproduce the text before the cursor. Returns -1 if nothing is allowed.
 */
export function pickToken(
  logits: Float32Array,
  allowed: ((id: number) => boolean) | null,
  opts: SamplingOptions,
  random: () => number,
): number {
  if (opts.temperature <= 0) {
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < logits.length; i++) {
      if (logits[i] > bestValue && (allowed === null || allowed(i))) {
        best = i;
        bestValue = logits[i];
      }
    }
    return best;
  }
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (allowed === null || allowed(i)) ids.push(i);
  if (ids.length === 0) return -1;
  ids.sort((a, b) => logits[b] - logits[a]);
  const k = opts.topK > 0 ? Math.min(opts.topK, ids.length) : ids.length;
  const top = ids.slice(0, k);
  const max = logits[top[0]];
  const weights = top.map((i) => Math.exp((logits[i] - max) / opts.temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  // top-p: the smallest prefix of the sorted candidates whose mass reaches p
  let keep = top.length;
  if (opts.topP < 1) {
    let mass = 0;
    for (let i = 0; i < top.length; i++) {
      mass += weights[i] / total;
      if (mass >= opts.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  const kept = weights.slice(0, keep);
  let r = random() * kept.reduce((a, b) => a + b, 0);
  for (let i = 0; i < keep; i++) {
    r -= kept[i];
    if (r <= 0) return top[i];
  }
  return top[keep - 1];
}
