// One model on two backends: each kind of run (single-token step, prefill chunk, encoder) goes to
// the backend measured faster for it on this machine. WASM always works; WebGPU is used only while
// it does, and any failure moves everything back to WASM for good.
import { median } from '../numbers';
import { argmax, warmUp } from './warmUp';
import { CapturedStep } from './capture';
import type { Manifest } from './manifest';
import {
  OrtModel,
  isGpuState,
  releaseState,
  stateOnCpu,
  webGpuDevice,
  withBaselineWasm,
  type RuntimeOptions,
} from './runtime';
import type {
  BackendKind,
  BackendReport,
  DecoderState,
  EncoderMemory,
  ModelSession,
  RunOptions,
  StepResult,
} from '../core/session';
import { installWebGpu, type GpuInfo } from './webgpu';

type RunKind = 'step' | 'prefill' | 'encoder';
type Lock = <T>(fn: () => Promise<T>) => Promise<T>;

/** A backend must beat the other by this factor to take a kind of run: ties stay on WASM. */
const MARGIN = 0.9;
/** The greedy next token and the logits within this distance: WebGPU against WASM at load. */
const PARITY_MAX_ABS = 1e-2;

const now = () => performance.now();
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

export class ScheduledModel implements ModelSession {
  private plan: Record<RunKind, BackendKind>;
  private timings: BackendReport['timings'] = {};
  private transfer: number | null = null;
  private note: string | null;
  private nullMem: Promise<EncoderMemory | null> | undefined;
  private released = false;
  /** Called when the plan changes (measurement done, WebGPU failed). */
  onChange: ((report: BackendReport) => void) | null = null;

  private constructor(
    private readonly wasm: OrtModel,
    private gpu: OrtModel | null,
    private readonly mode: 'auto' | 'wasm' | 'webgpu',
    private readonly gpuInfo: GpuInfo | null,
    note: string | null,
  ) {
    const start: BackendKind = gpu && mode === 'webgpu' ? 'webgpu' : 'wasm';
    this.plan = { step: start, prefill: start, encoder: start };
    this.note = note;
    webGpuDevice()
      ?.lost.then((info) =>
        this.fallBack(`the GPU device was lost (${info.message || 'no reason given'})`),
      )
      .catch(() => {});
  }

  /**
   * Opens the model on WASM and, unless the backend is `wasm`, on WebGPU too. A WebGPU failure at
   * any point (no addon, no adapter, a graph it cannot run, results that differ from WASM) leaves
   * WASM alone in charge, with the reason in the report.
   */
  static async open(
    folder: string,
    runtime: RuntimeOptions,
    verify = true,
  ): Promise<ScheduledModel> {
    const mode = runtime.backend ?? 'wasm';
    const wasm = await OrtModel.load(folder, runtime, { verify });
    if (mode === 'wasm') return new ScheduledModel(wasm, null, mode, null, null);
    let info: GpuInfo;
    try {
      info = await installWebGpu(runtime.webgpu);
    } catch (e) {
      return new ScheduledModel(wasm, null, mode, null, `WebGPU unavailable: ${message(e)}`);
    }
    let opened: Awaited<ReturnType<typeof openWebGpu>>;
    try {
      opened = await openWebGpu(folder, runtime, wasm, info.description);
    } catch (e) {
      const why = `WebGPU could not load the model: ${message(e)}`;
      return new ScheduledModel(wasm, null, mode, info, why);
    }
    const model = new ScheduledModel(wasm, opened.model, mode, info, opened.captureNote);
    if (opened.mismatch) model.fallBack(opened.mismatch);
    return model;
  }

  /** Sends kinds of run to a backend regardless of measurement (tests, the bench's backend column). */
  pin(plan: Partial<Record<RunKind, BackendKind>>): void {
    for (const [k, v] of Object.entries(plan)) {
      if (v === 'webgpu' && !this.gpu) throw new Error(`WebGPU is not available: ${this.note}`);
      this.plan[k as RunKind] = v;
    }
  }

  get manifest(): Manifest {
    return this.wasm.manifest;
  }

  get backend(): string {
    return this.report().label;
  }

  report(): BackendReport {
    const used = new Set(Object.values(this.plan));
    const label = used.size === 2 ? 'WebGPU + WASM' : used.has('webgpu') ? 'WebGPU' : 'WASM';
    return {
      label,
      gpu: this.gpuInfo?.description ?? null,
      ...this.plan,
      capture: this.plan.step === 'webgpu' && this.gpu !== null && this.gpu.stepRunnerOn,
      timings: this.timings,
      transferMs: this.transfer,
      note: this.note,
    };
  }

  private where(kind: RunKind): OrtModel {
    return this.plan[kind] === 'webgpu' && this.gpu ? this.gpu : this.wasm;
  }

  initState(): DecoderState {
    return this.wasm.initState();
  }

  syntheticState(n: number): DecoderState {
    return this.wasm.syntheticState(n);
  }

  async run(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
    opts: RunOptions = {},
  ): Promise<StepResult> {
    const kind: RunKind = ids.length === 1 ? 'step' : 'prefill';
    const model = this.where(kind);
    if (model === this.gpu) {
      try {
        return await withinLimit(model.run(ids, state, memory, opts));
      } catch (e) {
        this.fallBack(`WebGPU ${kind} failed: ${message(e)}`);
      }
    }
    // A state still in GPU buffers is read back first, which a hung device would never answer.
    const run = this.wasm.run(ids, state, memory, opts);
    return isGpuState(state) ? withinLimit(run) : run;
  }

  get canRunAll(): boolean {
    return this.wasm.canRunAll;
  }

  /** Copy drafts run on WASM: the all-positions graph is opened there only. */
  runAll(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
  ): Promise<{ rows: Float32Array[]; state: DecoderState }> {
    const run = this.wasm.runAll(ids, state, memory);
    return isGpuState(state) ? withinLimit(run) : run;
  }

  releaseState(state: DecoderState): void {
    releaseState(state);
  }

  async encode(ids: readonly number[]): Promise<EncoderMemory | null> {
    const model = this.where('encoder');
    if (model === this.gpu) {
      try {
        return await withinLimit(model.encode(ids));
      } catch (e) {
        this.fallBack(`WebGPU encoder failed: ${message(e)}`);
      }
    }
    return this.wasm.encode(ids);
  }

  nullMemory(): Promise<EncoderMemory | null> {
    this.nullMem ??= this.encode([this.manifest.tokenizer.hole]);
    return this.nullMem;
  }

  /** WASM from now on: logged once through onChange; the GPU sessions are released. */
  private fallBack(reason: string): void {
    const gpu = this.gpu;
    if (!gpu || this.released) return;
    this.gpu = null;
    this.plan = { step: 'wasm', prefill: 'wasm', encoder: 'wasm' };
    this.note = `${reason}; using WASM`;
    this.onChange?.(this.report());
    // not awaited: on a hung device releasing would hang too
    gpu.release().catch(() => {});
  }

  /**
   * Times a step, a prefill chunk and the encoder on both backends and gives each kind of run to the
   * faster one. `auto` only; runs each timed call under `lock` so completions can cut in between.
   */
  async calibrate(lock: Lock = (fn) => fn(), stop: () => boolean = () => false): Promise<void> {
    if (this.mode !== 'auto' || !this.gpu) return;
    // WASM's first runs are V8's baseline code: time it only once it has tiered up.
    await warmUp(this.wasm, 1500, 200, lock, stop);
    const m = this.manifest;
    // (the prefill graph's run where the model has one: long reads are made of those)
    const chunk = Array.from(
      { length: m.limits.prefill_chunk ?? Math.min(m.limits.max_chunk, 256) },
      (_, i) => 100 + (i % 50),
    );
    const encIds = Array.from({ length: m.limits.max_encoder_tokens }, (_, i) => 100 + (i % 50));
    const timings: BackendReport['timings'] = { step: {}, prefill: {}, encoder: {} };
    try {
      for (const [name, model] of [
        ['wasm', this.wasm],
        ['webgpu', this.gpu],
      ] as const) {
        const memory = await lock(() => withinLimit(model.nullMemory()));
        timings.prefill![name] = await time(lock, stop, () =>
          model.run(chunk, model.initState(), memory).then(() => undefined),
        );
        const steps = async () => {
          let state = (await lock(() => withinLimit(model.run(chunk, model.initState(), memory))))
            .state;
          const ms = await time(lock, stop, async () => {
            const r = await model.run([chunk[0]], state, memory, { transient: true });
            releaseState(state);
            state = r.state;
          });
          releaseState(state);
          return ms;
        };
        if (model.hasStepRunner) {
          model.useStepRunner(true);
          timings.step!['webgpu+capture'] = await steps();
          model.useStepRunner(false);
        }
        timings.step![name] = await steps();
        if (m.memory) {
          timings.encoder![name] = await time(lock, stop, () =>
            model.encode(encIds).then(() => undefined),
          );
        }
        if (stop() || !this.gpu) return;
      }
    } catch (e) {
      return this.fallBack(`WebGPU failed while being timed: ${message(e)}`);
    }
    const st = timings.step!;
    const captured = st['webgpu+capture'] !== undefined && st['webgpu+capture'] < st.webgpu;
    this.gpu.useStepRunner(captured);
    const gpuStep = captured ? st['webgpu+capture'] : st.webgpu;
    const pick = (t: Record<string, number> | undefined, gpuMs = t?.webgpu): BackendKind =>
      gpuMs !== undefined && t?.wasm !== undefined && gpuMs < MARGIN * t.wasm ? 'webgpu' : 'wasm';
    this.transfer = await withinLimit(this.transferMs()).catch(() => null);
    this.plan = {
      step: pick(st, gpuStep),
      prefill: pick(timings.prefill),
      encoder: pick(timings.encoder),
    };
    this.timings = timings;
    const used = Object.values(this.plan).includes('webgpu');
    this.note = used ? null : `WASM measured faster than WebGPU for every kind of run here`;
    if (!used) {
      const gpu = this.gpu;
      this.gpu = null; // nothing left for it: give its memory back
      gpu.release().catch(() => {});
    }
    this.onChange?.(this.report());
  }

  /** Reads back a GPU-resident state (what moving a state from WebGPU to WASM costs), in ms. */
  private async transferMs(): Promise<number | null> {
    if (!this.gpu) return null;
    const memory = await this.gpu.nullMemory();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      // a fresh state each time: a tensor keeps what it downloaded
      const r = await this.gpu.run([1], this.gpu.initState(), memory, { transient: true });
      const t = now();
      await stateOnCpu(r.state);
      times.push(now() - t);
      releaseState(r.state);
    }
    return median(times);
  }

  async release(): Promise<void> {
    this.released = true;
    await this.wasm.release();
    await this.gpu?.release();
  }
}

/**
 * The model on WebGPU (installWebGpu() first) as the extension runs it: graph capture for the step
 * where the model allows one, then the first runs checked against `reference` (the same model on
 * WASM). If they disagree, capture goes first (the newer path: WebGPU without it before WebGPU not
 * at all); a `mismatch` that remains means WebGPU must not be used. The one place capture is wired.
 */
export async function openWebGpu(
  folder: string,
  runtime: RuntimeOptions,
  reference: OrtModel,
  gpuDescription: string,
  stepGraph?: string,
): Promise<{ model: OrtModel; mismatch: string | null; captureNote: string | null }> {
  const ids = parityIds(reference.manifest);
  const want = await trace(reference, ids);
  // (a first load compiles every shader: minutes on a slow software adapter at worst)
  return withBaselineWasm(async () => {
    const load = async () => {
      const model = await OrtModel.load(folder, runtime, {
        verify: false,
        backend: 'webgpu',
        stepGraph,
      });
      let captureNote = await attachCapture(model, folder);
      const check = async () => {
        const got = await trace(model, ids).catch((e: Error) => e);
        return got instanceof Error
          ? `WebGPU failed its first runs: ${message(got)}`
          : disagreement(got, want, gpuDescription);
      };
      let mismatch = await check();
      if (mismatch && model.hasStepRunner) {
        captureNote = `graph capture off: ${mismatch}`;
        model.setStepRunner(null);
        mismatch = await check();
      }
      return { model, mismatch, captureNote };
    };
    return withinLimit(load(), 10 * GPU_RUN_LIMIT_MS);
  });
}

/** Graph capture for the model's step where it can have one; null, or why not. */
async function attachCapture(m: OrtModel, folder: string): Promise<string | null> {
  if (!m.manifest.constant_state || !m.manifest.step) return null;
  try {
    m.setStepRunner(await CapturedStep.create(folder, m.manifest));
    return null;
  } catch (e) {
    return `graph capture unavailable: ${message(e)}`;
  }
}

/** Longest a WebGPU run may take before it counts as hung (a slow software adapter's encoder run
 *  takes ~2 s; a working GPU, milliseconds). */
export const GPU_RUN_LIMIT_MS = 20_000;

/** `p`, or a rejection once it has taken GPU_RUN_LIMIT_MS. */
export function withinLimit<T>(p: Promise<T>, ms = GPU_RUN_LIMIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Token ids for the load-time parity check: a chunk, then two greedy steps. */
function parityIds(m: Manifest): number[] {
  return Array.from({ length: Math.min(8, m.limits.max_chunk) }, (_, i) => 100 + 17 * i);
}

/** The logits of a chunk then two greedy steps from the initial state (with the chunk's memory),
 *  and of a prefill graph's run where the model has one. */
async function trace(model: OrtModel, ids: number[]): Promise<Float32Array[]> {
  const memory = await model.encode(ids);
  const out: Float32Array[] = [];
  const prefill = model.manifest.limits.prefill_chunk;
  if (prefill !== undefined) {
    const long = Array.from({ length: prefill }, (_, i) => ids[i % ids.length]);
    out.push((await model.run(long, model.initState(), memory)).logits);
  }
  let r = await model.run(ids, model.initState(), memory);
  out.push(r.logits);
  for (let i = 0; i < 2; i++) {
    const next = await model.run([argmax(r.logits)], r.state, memory, { transient: true });
    releaseState(r.state);
    r = next;
    out.push(r.logits);
  }
  releaseState(r.state);
  return out;
}

/** Why WebGPU's logits cannot stand in for WASM's, or null when they agree. */
function disagreement(got: Float32Array[], want: Float32Array[], gpu: string): string | null {
  for (let i = 0; i < want.length; i++) {
    const d = maxAbsDiff(got[i], want[i]);
    if (!(d <= PARITY_MAX_ABS) || argmax(got[i]) !== argmax(want[i])) {
      return `WebGPU's logits differ from WASM's by ${d.toExponential(1)} on ${gpu}`;
    }
  }
  return null;
}

/** Median ms of `fn` after one untimed run (shader compilation, first allocations): at least three
 *  timed runs, more while under 300 ms in all, at most nine. */
async function time(lock: Lock, stop: () => boolean, run: () => Promise<void>): Promise<number> {
  // under the engine's lock: a hung device must not keep completions waiting
  const fn = () => withinLimit(run());
  await lock(fn);
  const times: number[] = [];
  const t0 = now();
  while (!stop() && times.length < 9 && (times.length < 3 || now() - t0 < 300)) {
    await lock(async () => {
      const t = now();
      await fn();
      times.push(now() - t);
    });
  }
  return median(times);
}
