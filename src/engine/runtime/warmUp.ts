// Warm-up of a model session, run by the engine in the background after loading, by the scheduler
// before it times the backends, and by `linea bench` before it measures.
import { GREEDY, pickToken } from '../core/sampling';
import type { ModelSession } from '../core/session';
import { median } from '../numbers';

const now = () => performance.now();

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
  const prefill = session.manifest.limits.prefill_chunk;
  const t0 = now();
  if (prefill !== undefined && !stop()) {
    // Once: opens the prefill graph's session before the first long read needs it.
    const ids = new Array<number>(prefill).fill(token);
    await lock(() => session.run(ids, session.initState(), memory));
  }
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
