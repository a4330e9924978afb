// Measurements shared by `linea bench` and the comparison view: per-token step latency against
// context length, time to a 16-token suggestion, prefill throughput and state size.
import { GREEDY, pickToken } from './sampling';
import type { DecoderState, ModelSession } from './session';

export interface ContextPoint {
  context: number;
  /** Median ms of one single-token decoder run with a state of this context. */
  stepMs: number;
  /** ms from a warm state at this context to a 16-token suggestion (prompt token + 16 steps). */
  ttfsMs: number;
  stateBytes: number;
}

const now = () => performance.now();

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** The decoder's own greedy pick: the cost it pays per token besides the model run. */
export const argmax = (logits: Float32Array) => pickToken(logits, null, GREEDY, () => 0);

/**
 * Runs the step graph (and a short prefill chunk) until its time stops improving. V8 first runs
 * onnxruntime's WASM in its baseline compiler and tiers hot functions up in the background: on this
 * 2-core machine the first model measured in a process ran its step 8x slower than the same graph a
 * moment later. Returns the step ms of the first and the last block.
 */
export async function warmUp(
  session: ModelSession,
  maxMs = 3000,
  minMs = 500,
  lock: <T>(fn: () => Promise<T>) => Promise<T> = (fn) => fn(),
  stop: () => boolean = () => false,
): Promise<{ firstMs: number; lastMs: number; runs: number }> {
  const memory = await lock(() => session.nullMemory());
  const token = session.manifest.tokenizer.eos - 1;
  const chunk = new Array<number>(Math.min(16, session.manifest.limits.max_chunk)).fill(token);
  const t0 = now();
  let state = session.initState();
  let first = NaN;
  let best = Infinity;
  let flat = 0;
  let runs = 0;
  let last = NaN;
  while (!stop() && now() - t0 < maxMs) {
    const times: number[] = [];
    for (let i = 0; i < 8; i++) {
      // Timed inside the lock: a completion that holds it is not the step's cost.
      state = await lock(async () => {
        const t = now();
        const r = await session.run([token], state, memory);
        times.push(now() - t);
        return r.state;
      });
    }
    state = (await lock(() => session.run(chunk, session.initState(), memory))).state;
    runs += 9;
    last = median(times);
    if (Number.isNaN(first)) first = last;
    // Done once three blocks in a row are no faster than the best so far.
    flat = last < 0.95 * best ? 0 : flat + 1;
    best = Math.min(best, last);
    if (flat >= 3 && now() - t0 >= minMs) break;
  }
  return { firstMs: first, lastMs: last, runs };
}

/** Raw timings at one context: single-token steps and 16-token suggestions (ms). */
export interface ContextSamples {
  steps: number[];
  ttfs: number[];
  stateBytes: number;
}

export async function sampleContext(
  session: ModelSession,
  context: number,
  reps: number,
  suggestionTokens = 16,
): Promise<ContextSamples> {
  const memory = await session.nullMemory();
  const start = session.syntheticState(context);
  const token = session.manifest.tokenizer.eos - 1;
  // Steps as decoding runs them (transient: on WebGPU the state may stay in GPU buffers).
  const step = async (id: number, state: DecoderState) => {
    const r = await session.run([id], state, memory, { transient: true });
    if (state !== start) session.releaseState?.(state);
    return r;
  };
  session.releaseState?.((await step(token, start)).state); // warm-up (allocations, caches)
  const steps: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = now();
    const r = await step(token, start);
    steps.push(now() - t);
    session.releaseState?.(r.state);
  }
  const ttfs: number[] = [];
  for (let r = 0; r < Math.max(1, Math.floor(reps / 4)); r++) {
    const t = now();
    let res = await step(token, start);
    for (let i = 0; i < suggestionTokens - 1; i++) res = await step(argmax(res.logits), res.state);
    argmax(res.logits);
    ttfs.push(now() - t);
    session.releaseState?.(res.state);
  }
  return { steps, ttfs, stateBytes: start.bytes };
}

export function toPoint(context: number, samples: ContextSamples[]): ContextPoint {
  return {
    context,
    stepMs: median(samples.flatMap((s) => s.steps)),
    ttfsMs: median(samples.flatMap((s) => s.ttfs)),
    stateBytes: samples[0].stateBytes,
  };
}

export async function measureContext(
  session: ModelSession,
  context: number,
  reps: number,
  suggestionTokens = 16,
): Promise<ContextPoint> {
  return toPoint(context, [await sampleContext(session, context, reps, suggestionTokens)]);
}

/** Tokens per second of prefill in chunks of `chunk` from an empty state. */
export async function measurePrefill(
  session: ModelSession,
  ids: readonly number[],
  chunk: number,
): Promise<number> {
  const memory = await session.nullMemory();
  let state: DecoderState = session.initState();
  await session.run(ids.slice(0, Math.min(chunk, ids.length)), state, memory); // warm-up
  const t = now();
  for (let i = 0; i < ids.length; i += chunk) {
    state = (await session.run(ids.slice(i, i + chunk), state, memory)).state;
  }
  return ids.length / ((now() - t) / 1000);
}
