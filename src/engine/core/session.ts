// What the engine needs from a model runtime. The engine holds these as opaque values; only
// runtime/runtime.ts knows they wrap onnxruntime tensors. The manifest's shape is declared here too
// (runtime/manifest.ts reads and checks the file): the core reads its ids and limits.
import type { BackendKind } from '../defaults';

export type StateDtype = 'float32' | 'int64';

export interface StateEntry {
  name: string;
  input: string;
  output: string;
  /** Shape of the initial state; a growing axis (KV caches) starts at 0. */
  shape: number[];
  dtype: StateDtype;
  grows_axis: number | null;
}

export interface GraphEntry {
  file: string;
  inputs: string[];
  outputs: string[];
  external_data: string[];
}

/** A model folder's manifest.json (read and checked by readManifest in runtime/manifest.ts). */
export interface Manifest {
  format: 1;
  id: string;
  name?: string;
  variant: string;
  constant_state: boolean;
  parameters: number;
  config: Record<string, number | string>;
  tokenizer: { file: string; sha256: string; eos: number; hole: number; pad: number };
  graphs: Record<string, GraphEntry>;
  /** The graphs entry for chunks of 1..max_chunk tokens (prefill, catch-up). */
  decoder: string;
  /** The fixed T = 1 graph for decoding steps (fewer nodes: no shape arithmetic), when exported. */
  step?: string;
  /** The fixed T = limits.prefill_chunk graph for long reads, where the chunk graph is capped short
   *  (gated delta: 16 tokens per run); it leaves the same state as the chunk graph would. */
  prefill?: string;
  files: Record<string, { sha256: string; bytes: number }>;
  state: StateEntry[];
  state_bytes: { fixed: number; per_token: number };
  memory: { input: string; shape: number[] } | null;
  /** prefill_chunk: exactly this many tokens per run of the prefill graph (with `prefill` only). */
  limits: { max_chunk: number; max_encoder_tokens: number; prefill_chunk?: number };
  /** The language header's format ("<|{}|>"), when the model was trained to read one before each file. */
  languageHeader?: string;
  metrics: Record<string, unknown>;
}

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

export interface RunOptions {
  /** The state will only be fed back into run() or released (decoding): it may stay on the GPU. */
  transient?: boolean;
}

export type { BackendKind };

/** Where each kind of run goes, and why. */
export interface BackendReport {
  /** For the status bar: "WASM", "WebGPU", "WebGPU + WASM". */
  label: string;
  /** The GPU adapter in use or tried; null when WebGPU was not tried. */
  gpu: string | null;
  step: BackendKind;
  prefill: BackendKind;
  encoder: BackendKind;
  /** The WebGPU step replays a captured graph (capture.ts). */
  capture: boolean;
  /** Median ms per run where each was timed: wasm, webgpu and, for steps, webgpu+capture. */
  timings: Partial<Record<'step' | 'prefill' | 'encoder', Record<string, number>>>;
  /** ms to read a decoding state back from the GPU (moving it to WASM), when timed. */
  transferMs: number | null;
  /** Why WebGPU is not (or no longer) used, or what the measurement decided. */
  note: string | null;
}

const KIND_NAMES: Record<'step' | 'prefill' | 'encoder', string> = {
  step: 'next token',
  prefill: 'reading text',
  encoder: 'file memory',
};

const TIMING_NAMES: Record<string, string> = {
  wasm: 'WASM',
  webgpu: 'WebGPU',
  'webgpu+capture': 'WebGPU captured',
};

/** One line per kind of run: where it goes and, when measured, each backend's ms. */
export function describePlan(r: BackendReport): string[] {
  const lines = (['step', 'prefill', 'encoder'] as const).map((k) => {
    const where =
      r[k] === 'webgpu'
        ? k === 'step' && r.capture
          ? 'WebGPU (graph capture)'
          : 'WebGPU'
        : 'WASM';
    const t = Object.entries(r.timings[k] ?? {});
    const ms =
      t.length > 1
        ? ` (${t.map(([b, v]) => `${TIMING_NAMES[b] ?? b} ${v.toFixed(1)} ms`).join(', ')})`
        : '';
    return `${KIND_NAMES[k]}: ${where}${ms}`;
  });
  if (r.transferMs !== null) lines.push(`state GPU to CPU: ${r.transferMs.toFixed(2)} ms`);
  if (r.gpu) lines.push(`GPU: ${r.gpu}`);
  return lines;
}

export interface ModelSession {
  readonly manifest: Manifest;
  /** Short label of where the model runs ("WASM", "WebGPU + WASM"). */
  readonly backend: string;
  initState(): DecoderState;
  /** A state of the right shape for a context of n tokens, filled with small random values: per-token
   *  cost depends on the shapes alone, so benchmarks at 64k tokens need not read 64k tokens first. */
  syntheticState(n: number): DecoderState;
  /** Feeds 1..max_chunk tokens after `state`, or exactly limits.prefill_chunk where the model has
   *  a prefill graph. */
  run(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
    opts?: RunOptions,
  ): Promise<StepResult>;
  /** Whether runAll() can run (the model folder has the all-positions decoder graph). */
  readonly canRunAll?: boolean;
  /** Feeds 1..max_chunk tokens after `state`; the logits after each of them (row i: after ids[i]). */
  runAll?(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
  ): Promise<{ rows: Float32Array[]; state: DecoderState }>;
  /** Frees a transient state's GPU buffers now rather than when it is collected. */
  releaseState?(state: DecoderState): void;
  /** Times the backends and picks one per kind of run (after the WASM warm-up). */
  calibrate?(lock: <T>(fn: () => Promise<T>) => Promise<T>, stop: () => boolean): Promise<void>;
  report?(): BackendReport;
  /** File context (with <hole> at the cursor) -> memory; null when the model has no encoder. */
  encode(ids: readonly number[]): Promise<EncoderMemory | null>;
  /** The memory when no file context is known (cached). */
  nullMemory(): Promise<EncoderMemory | null>;
  release(): Promise<void>;
}
