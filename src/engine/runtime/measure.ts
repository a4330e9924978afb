// Measurements shared by `linea bench` and the comparison view: per-token step latency against
// context length, time to a 16-token suggestion, prefill throughput and state size.
import type { DecoderState, ModelSession } from '../core/session';
import { median } from '../numbers';
import { argmax } from './warmUp';

export interface ContextPoint {
  context: number;
  /** Median ms of one single-token decoder run with a state of this context. */
  stepMs: number;
  /** ms from a warm state at this context to a 16-token suggestion (prompt token + 16 steps). */
  ttfsMs: number;
  stateBytes: number;
}

const now = () => performance.now();

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

/**
 * Tokens per second of prefill from an empty state, read as the engine reads a document: runs of the
 * prefill graph's length where the model has one, the rest in chunks of `chunk`.
 */
export async function measurePrefill(
  session: ModelSession,
  ids: readonly number[],
  chunk: number,
): Promise<number> {
  const memory = await session.nullMemory();
  const prefill = session.manifest.limits.prefill_chunk ?? Infinity;
  const runs: Array<readonly number[]> = [];
  for (let i = 0; i < ids.length;) {
    const n = ids.length - i >= prefill ? prefill : Math.min(chunk, ids.length - i);
    runs.push(ids.slice(i, i + n));
    i += n;
  }
  let state: DecoderState = session.initState();
  // warm-up: each graph the runs use (the prefill graph first, the chunk graph last)
  for (const run of [runs[0], runs[runs.length - 1]]) await session.run(run, state, memory);
  const t = now();
  for (const run of runs) state = (await session.run(run, state, memory)).state;
  return ids.length / ((now() - t) / 1000);
}
