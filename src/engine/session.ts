// What the engine needs from a model runtime. The engine holds these as opaque values; only
// runtime.ts knows they wrap onnxruntime tensors.
import type { Manifest } from './manifest';

/** The decoder state after `pos` tokens. Immutable: a run returns a new one. */
export interface DecoderState {
  readonly pos: number;
  readonly bytes: number;
}

/** The encoder's fixed-size memory of the file context. */
export interface EncoderMemory {
  readonly bytes: number;
}

export interface StepResult {
  /** Next-token logits after the last fed token (length = vocabulary). */
  logits: Float32Array;
  state: DecoderState;
}

export interface ModelSession {
  readonly manifest: Manifest;
  readonly backend: string;
  initState(): DecoderState;
  /** A state of the right shape for a context of n tokens, filled with small random values: per-token
   *  cost depends on the shapes alone, so benchmarks at 64k tokens need not read 64k tokens first. */
  syntheticState(n: number): DecoderState;
  /** Feeds 1..max_chunk tokens after `state`. */
  run(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
  ): Promise<StepResult>;
  /** File context (with <hole> at the cursor) -> memory; null when the model has no encoder. */
  encode(ids: readonly number[]): Promise<EncoderMemory | null>;
  /** The memory when no file context is known (cached). */
  nullMemory(): Promise<EncoderMemory | null>;
  release(): Promise<void>;
}
