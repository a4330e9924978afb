// Sessions, tensors, backend configuration: with capture.ts, the only modules that touch onnxruntime-web.
// Two builds of it: the plain one runs the WASM provider (it is 2-4x faster on the CPU than the
// WebGPU build's asyncify WASM), the WebGPU build (loaded only when asked for) runs the GPU sessions.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as ort from 'onnxruntime-web';
import type { GraphEntry, Manifest } from './manifest';
import { ModelError, readManifest, verifyFiles } from './manifest';
import type {
  BackendKind,
  DecoderState,
  EncoderMemory,
  ModelSession,
  RunOptions,
  StepResult,
} from '../core/session';
import type { WebGpuOptions } from './webgpu';

/** The same as core's BackendKind (one definition, in defaults.ts). */
export type BackendName = BackendKind;

export interface RuntimeOptions {
  /** WASM threads (0 = onnxruntime's default: half the cores). */
  threads: number;
  /** Folder holding onnxruntime's .mjs/.wasm files when running from a bundle. */
  wasmPaths?: string;
  /** auto: WebGPU for the operations it runs faster, measured at load; default wasm. */
  backend?: 'auto' | 'wasm' | 'webgpu';
  webgpu?: WebGpuOptions;
}

type Ort = typeof ort;
let gpuOrt: Ort | null = null;
let runtimeOptions: RuntimeOptions | null = null;

/** onnxruntime's env is global and fixed once the WASM module starts: configure it once. */
export function configureRuntime(opts: RuntimeOptions): void {
  if (runtimeOptions) return;
  runtimeOptions = opts;
  configure(ort, opts.threads);
}

function configure(m: Ort, threads: number): void {
  m.env.logLevel = 'error';
  if (threads > 0) m.env.wasm.numThreads = threads;
  const dir = runtimeOptions?.wasmPaths;
  if (dir) m.env.wasm.wasmPaths = 'file://' + (dir.endsWith(path.sep) ? dir : dir + path.sep);
}

export function ortFor(backend: BackendName): Ort {
  if (backend === 'wasm') return ort;
  if (!gpuOrt) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    gpuOrt = require('onnxruntime-web/webgpu') as Ort;
    // Its WASM side only runs the few shape ops the GPU provider leaves on the CPU.
    configure(gpuOrt, 1);
  }
  return gpuOrt;
}

/**
 * Runs `fn` (loading the WebGPU build's WASM and its first runs) with V8's optimizing tier off.
 * That WASM is asyncify-instrumented: TurboFan took 36-60 s over its first run on a 2-core
 * machine, Liftoff ~0.1 s, and it only runs shape ops. A module keeps the tiering it was compiled
 * with, so the plain build (the WASM provider, compiled before) still tiers up afterwards.
 */
export async function withBaselineWasm<T>(fn: () => Promise<T>): Promise<T> {
  v8.setFlagsFromString('--liftoff-only');
  try {
    return await fn();
  } finally {
    v8.setFlagsFromString('--no-liftoff-only');
  }
}

/** The WebGPU device onnxruntime created (after the first WebGPU session), for its `lost` promise. */
export function webGpuDevice(): { lost: Promise<{ message: string }>; destroy(): void } | null {
  const dev = gpuOrt?.env.webgpu.device as unknown;
  return (dev as ReturnType<typeof webGpuDevice>) ?? null;
}

const tensorBytes = (t: ort.Tensor) => t.size * (t.type === 'int64' ? 8 : 4);

/** Whether the sessions that made GPU tensors are still open (their buffers die with them). */
interface Owner {
  open: boolean;
}

function disposeGpu(tensors: readonly ort.Tensor[], owner: Owner): void {
  if (!owner.open) return;
  for (const t of tensors) {
    if (t.location !== 'gpu-buffer') continue;
    try {
      t.dispose();
    } catch {
      // a lost device has freed it already
    }
  }
}

// GPU-resident states free their buffers when collected, unless released first.
const gpuStates = new FinalizationRegistry<{ tensors: ort.Tensor[]; owner: Owner }>((h) =>
  disposeGpu(h.tensors, h.owner),
);

export class OrtState implements DecoderState {
  readonly bytes: number;
  /** Some tensors live in GPU buffers (a transient step's output on WebGPU). */
  readonly onGpu: boolean;
  constructor(
    readonly pos: number,
    readonly tensors: ort.Tensor[],
    private readonly owner: Owner | null = null,
  ) {
    let b = 0;
    for (const t of tensors) b += tensorBytes(t);
    this.bytes = b;
    this.onGpu = tensors.some((t) => t.location === 'gpu-buffer');
    if (this.onGpu && owner) gpuStates.register(this, { tensors, owner }, this);
  }

  release(): void {
    if (this.owner && gpuStates.unregister(this)) disposeGpu(this.tensors, this.owner);
  }

  /** Whether the tensors still hold this state (a captured step's state lasts until the next step). */
  valid(): boolean {
    return true;
  }
}

export class OrtMemory implements EncoderMemory {
  readonly bytes: number;
  constructor(readonly tensor: ort.Tensor) {
    this.bytes = tensor.size * 4;
  }
}

function zeros(m: Ort, dtype: string, shape: number[]): ort.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return dtype === 'int64'
    ? new m.Tensor('int64', new BigInt64Array(n), shape)
    : new m.Tensor('float32', new Float32Array(n), shape);
}

function int64(m: Ort, ids: readonly number[]): ort.Tensor {
  const data = new BigInt64Array(ids.length);
  for (let i = 0; i < ids.length; i++) data[i] = BigInt(ids[i]);
  return new m.Tensor('int64', data, [1, ids.length]);
}

/** A CPU tensor as the given build's own Tensor (the data is shared, not copied). */
function adopt(m: Ort, t: ort.Tensor): ort.Tensor {
  if (t.location === 'gpu-buffer' || t instanceof m.Tensor) return t;
  return new m.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
}

/** The state, unless a later captured step has overwritten the buffers it lived in. */
function requireValid(state: DecoderState): OrtState {
  const st = state as OrtState;
  if (!st.valid()) throw new Error('a decoding state was used after the next step replaced it');
  return st;
}

/** A state with every tensor on the CPU (reads GPU-resident ones back). */
export async function stateOnCpu(state: DecoderState): Promise<DecoderState> {
  const st = requireValid(state);
  if (!st.onGpu) return st;
  const tensors = await Promise.all(
    st.tensors.map(async (t) =>
      // (releaseData: the tensor becomes a CPU one and frees its GPU buffer, if it owns one)
      t.location === 'gpu-buffer'
        ? new ort.Tensor(t.type as 'float32', (await t.getData(true)) as Float32Array, t.dims)
        : t,
    ),
  );
  return new OrtState(st.pos, tensors);
}

export function releaseState(state: DecoderState): void {
  (state as OrtState).release();
}

export function isGpuState(state: DecoderState): boolean {
  return (state as OrtState).onGpu;
}

/** The graph's declared input types and static sizes against the manifest's state and memory. */
function checkShapes(
  session: ort.InferenceSession,
  manifest: Manifest,
  file: string,
): string | null {
  const want = new Map<string, { type: string; shape: Array<number | null> }>();
  for (const s of manifest.state) {
    want.set(s.input, {
      type: s.dtype,
      shape: s.shape.map((d, i) => (i === s.grows_axis ? null : d)),
    });
  }
  if (manifest.memory)
    want.set(manifest.memory.input, { type: 'float32', shape: manifest.memory.shape });
  for (const meta of session.inputMetadata) {
    const w = want.get(meta.name);
    if (!w || !meta.isTensor) continue;
    const dims = meta.shape;
    const same =
      meta.type === w.type &&
      dims.length === w.shape.length &&
      dims.every((d, i) => typeof d !== 'number' || w.shape[i] === null || d === w.shape[i]);
    if (!same) {
      const fmt = (t: string, sh: ReadonlyArray<number | string | null>) =>
        `${t}[${sh.map((d) => d ?? '*').join(', ')}]`;
      return `${file}: input ${meta.name} is ${fmt(meta.type, dims)} in the graph, manifest.json says ${fmt(w.type, w.shape)}`;
    }
  }
  return null;
}

/**
 * One onnxruntime-web module runs or creates one session at a time. Its run() keeps the output
 * pointers on the WASM stack across its awaits, so a run or a create in between corrupts it: outputs
 * read as "Reading data from non-tensor typed value is not supported", and two creates at once fail
 * with "Can't create a session". An engine's lock orders its own runs, but the comparison view's
 * engines and sessions created lazily share the worker's module, so runs and creates take the
 * module's queue. Release is synchronous there and stays outside it (a dispose must not wait behind a
 * hung run). The WebGPU build is a module of its own: a GPU run that never answers holds only its
 * queue, and WASM takes over.
 */
const moduleQueues = new WeakMap<Ort, Promise<unknown>>();

function exclusive<T>(m: Ort, fn: () => Promise<T>): Promise<T> {
  const result = (moduleQueues.get(m) ?? Promise.resolve()).then(fn);
  moduleQueues.set(
    m,
    result.catch(() => undefined),
  );
  return result;
}

/** The session with run() taking its module's queue. */
function queued(m: Ort, session: ort.InferenceSession): ort.InferenceSession {
  const run = session.run.bind(session) as (
    ...args: unknown[]
  ) => Promise<ort.InferenceSession.OnnxValueMapType>;
  return Object.assign(session, {
    run: (...args: unknown[]) => exclusive(m, () => run(...args)),
  });
}

export async function createSession(
  folder: string,
  entry: GraphEntry,
  manifest: Manifest,
  backend: BackendName,
  gpuOutputs: string[] = [],
  extra: ort.InferenceSession.SessionOptions = {},
): Promise<ort.InferenceSession> {
  const file = path.join(folder, entry.file);
  const m = ortFor(backend);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [backend],
    graphOptimizationLevel: 'all',
    // (warning level would print "some nodes were not assigned to the preferred provider": ORT keeps
    // shape ops on the CPU on purpose)
    logSeverityLevel: 3,
    ...(gpuOutputs.length > 0
      ? { preferredOutputLocation: Object.fromEntries(gpuOutputs.map((o) => [o, 'gpu-buffer'])) }
      : {}),
    ...extra,
    externalData: entry.external_data.map((name) => ({
      path: name,
      data: new Uint8Array(readFileSync(path.join(folder, name))),
    })),
  };
  let session: ort.InferenceSession;
  try {
    const bytes = new Uint8Array(readFileSync(file));
    session = queued(m, await exclusive(m, () => m.InferenceSession.create(bytes, options)));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const on = backend === 'wasm' ? '' : ` on ${backend}`;
    throw new ModelError(
      `${file}: onnxruntime could not load it${on} (${msg.split('\n')[0]})`,
      file,
    );
  }
  const same = (a: readonly string[], b: readonly string[]) =>
    a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(session.inputNames, entry.inputs) || !same(session.outputNames, entry.outputs)) {
    await session.release();
    throw new ModelError(
      `${file}: inputs/outputs [${session.inputNames.join(', ')}] -> [${session.outputNames.join(', ')}] ` +
        `do not match manifest.json`,
      file,
    );
  }
  const mismatch = checkShapes(session, manifest, file);
  if (mismatch) {
    await session.release();
    throw new ModelError(mismatch, file);
  }
  return session;
}

/** A run's new state, read back from the GPU (and its buffers freed) when it is there. */
async function onCpu(next: OrtState): Promise<DecoderState> {
  return next.onGpu ? stateOnCpu(next).finally(() => next.release()) : next;
}

/** The decoder graph with logits at every position (export.py writes it beside the last-position one). */
const FULL_GRAPH = 'decoder_full';

/** Another way to run the single-token step (capture.ts: WebGPU graph capture). */
export interface StepRunner {
  run(id: number, state: OrtState, memory: EncoderMemory | null): Promise<StepResult>;
  release(): Promise<void>;
}

export interface OrtLoadOptions {
  verify?: boolean;
  stepGraph?: string;
  backend?: BackendName;
}

export class OrtModel implements ModelSession {
  private nullMem: Promise<EncoderMemory | null> | undefined;
  /** Runs transient single steps instead of the step session while set. */
  private fastStep: StepRunner | null = null;
  private fastStepOn = false;
  private readonly ort: Ort;
  private readonly owner: Owner = { open: true };
  /** The all-positions decoder (copy drafts), opened on first use. */
  private full: Promise<ort.InferenceSession> | null = null;
  /** The fixed-length prefill decoder, opened on first use (the warm-up's first run opens it). */
  private prefill: Promise<ort.InferenceSession> | null = null;

  private constructor(
    private readonly folder: string,
    readonly manifest: Manifest,
    readonly backend: BackendName,
    private readonly decoder: ort.InferenceSession,
    private readonly step: ort.InferenceSession | null,
    private readonly encoder: ort.InferenceSession | null,
  ) {
    this.ort = ortFor(backend);
  }

  /**
   * Validates the folder (manifest, sha256 of every file, graph names) and opens its sessions on
   * `backend` (default WASM; WebGPU needs installWebGpu() first). `verify: false` skips the sha256
   * (a caller that verified already); `stepGraph` overrides the manifest's step graph.
   */
  static async load(
    folder: string,
    opts: RuntimeOptions,
    { verify = true, stepGraph, backend = 'wasm' }: OrtLoadOptions = {},
  ): Promise<OrtModel> {
    configureRuntime(opts);
    const manifest = readManifest(folder);
    if (stepGraph !== undefined) {
      if (!manifest.graphs[stepGraph])
        throw new ModelError(`${folder}/manifest.json: no graph "${stepGraph}"`);
      manifest.step = stepGraph;
    }
    if (verify) verifyFiles(folder, manifest);
    const open = (entry: GraphEntry, gpuOutputs?: string[]) =>
      createSession(folder, entry, manifest, backend, gpuOutputs);
    const sessions: ort.InferenceSession[] = [];
    try {
      const decoder = await open(manifest.graphs[manifest.decoder]);
      sessions.push(decoder);
      // On WebGPU a step's state stays in GPU buffers: decoding feeds it straight back in.
      const floatState = manifest.state.filter((s) => s.dtype === 'float32').map((s) => s.output);
      const step = manifest.step
        ? await open(manifest.graphs[manifest.step], backend === 'webgpu' ? floatState : [])
        : null;
      if (step) sessions.push(step);
      const enc = manifest.graphs.encoder;
      const encoder = enc && manifest.memory ? await open(enc) : null;
      return new OrtModel(folder, manifest, backend, decoder, step, encoder);
    } catch (e) {
      for (const s of sessions) await s.release();
      throw e;
    }
  }

  initState(): DecoderState {
    return new OrtState(
      0,
      this.manifest.state.map((s) => zeros(this.ort, s.dtype, s.shape)),
    );
  }

  syntheticState(n: number): DecoderState {
    const cfg = this.manifest.config;
    const grown = (name: string): number => {
      if (this.manifest.variant !== 'sparse') return n;
      const b = cfg.sparse_block as number;
      const c = cfg.sparse_summary as number;
      return name.endsWith('sum_k') || name.endsWith('sum_v') ? Math.floor(n / b) * c : n % b;
    };
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1;
    const tensors = this.manifest.state.map((s) => {
      if (s.name === 'pos')
        return new this.ort.Tensor('int64', BigInt64Array.from([BigInt(n)]), s.shape);
      const shape = s.shape.map((d, i) => (i === s.grows_axis ? grown(s.name) : d));
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = Math.abs(rand()); // >= 0: valid linear-attention sums
      return new this.ort.Tensor('float32', data, shape);
    });
    return new OrtState(n, tensors);
  }

  async run(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
    opts: RunOptions = {},
  ): Promise<StepResult> {
    const { st, mem } = await this.inputs(ids, state, memory, true);
    if (ids.length === 1 && opts.transient && this.fastStep && this.fastStepOn) {
      return this.fastStep.run(ids[0], st, mem);
    }
    const session =
      ids.length === 1 && this.step
        ? this.step
        : ids.length > this.manifest.limits.max_chunk
          ? await this.prefillSession()
          : this.decoder;
    const { out, next } = await this.feed(session, ids, st, mem);
    // Only a transient state (one decoding will feed straight back in) stays on the GPU.
    return {
      logits: out.logits.data as Float32Array,
      state: opts.transient ? next : await onCpu(next),
    };
  }

  /** Whether runAll() can run: the folder has the all-positions decoder graph. */
  get canRunAll(): boolean {
    return this.manifest.graphs[FULL_GRAPH] !== undefined;
  }

  /** Feeds 1..max_chunk tokens after `state` and returns the logits after each of them (row i: after ids[i]). */
  async runAll(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
  ): Promise<{ rows: Float32Array[]; state: DecoderState }> {
    const entry = this.manifest.graphs[FULL_GRAPH];
    if (!entry) throw new ModelError(`${this.manifest.id}: no "${FULL_GRAPH}" graph`, this.folder);
    const { st, mem } = await this.inputs(ids, state, memory);
    this.full ??= createSession(this.folder, entry, this.manifest, this.backend);
    const { out, next } = await this.feed(await this.full, ids, st, mem);
    const all = out.logits.data as Float32Array;
    const v = all.length / ids.length;
    const rows = ids.map((_, i) => all.subarray(i * v, (i + 1) * v));
    return { rows, state: await onCpu(next) };
  }

  /** The prefill graph's session (inputs() has checked that the model has one). */
  private prefillSession(): Promise<ort.InferenceSession> {
    const entry = this.manifest.graphs[this.manifest.prefill!];
    this.prefill ??= createSession(this.folder, entry, this.manifest, this.backend);
    return this.prefill;
  }

  /** Checks a run's length and brings its state and memory to where this backend can read them. */
  private async inputs(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
    allowPrefill = false,
  ): Promise<{ st: OrtState; mem: EncoderMemory | null }> {
    const { max_chunk: max, prefill_chunk: prefill } = this.manifest.limits;
    const fits = ids.length >= 1 && ids.length <= max;
    if (!fits && !(allowPrefill && prefill !== undefined && ids.length === prefill)) {
      const or = allowPrefill && prefill !== undefined ? ` or exactly ${prefill}` : '';
      throw new RangeError(`a run takes 1..${max}${or} tokens, got ${ids.length}`);
    }
    let st = requireValid(state);
    // GPU buffers belong to the WebGPU build's device: anywhere else, read them back first.
    if (st.onGpu && this.backend !== 'webgpu') st = (await stateOnCpu(st)) as OrtState;
    const mem = this.manifest.memory ? (memory ?? (await this.nullMemory())) : null;
    if (this.manifest.memory && !mem)
      throw new Error(`${this.manifest.id}: no memory for a model with an encoder`);
    return { st, mem };
  }

  private async feed(
    session: ort.InferenceSession,
    ids: readonly number[],
    st: OrtState,
    mem: EncoderMemory | null,
  ): Promise<{ out: ort.InferenceSession.OnnxValueMapType; next: OrtState }> {
    const feeds: Record<string, ort.Tensor> = { input_ids: int64(this.ort, ids) };
    if (this.manifest.memory) {
      feeds[this.manifest.memory.input] = adopt(this.ort, (mem as OrtMemory).tensor);
    }
    this.manifest.state.forEach((s, i) => (feeds[s.input] = adopt(this.ort, st.tensors[i])));
    const out = await session.run(feeds);
    const next = new OrtState(
      st.pos + ids.length,
      this.manifest.state.map((s) => out[s.output]),
      this.owner,
    );
    return { out, next };
  }

  releaseState(state: DecoderState): void {
    releaseState(state);
  }

  /** Hands transient steps to `runner` (owned from now on; null: back to the step session). */
  setStepRunner(runner: StepRunner | null): void {
    if (runner !== this.fastStep) void this.fastStep?.release();
    this.fastStep = runner;
    this.fastStepOn = runner !== null;
  }

  useStepRunner(use: boolean): void {
    this.fastStepOn = use && this.fastStep !== null;
  }

  get hasStepRunner(): boolean {
    return this.fastStep !== null;
  }

  get stepRunnerOn(): boolean {
    return this.fastStepOn;
  }

  async encode(ids: readonly number[]): Promise<EncoderMemory | null> {
    if (!this.encoder) return null;
    if (ids.length === 0) throw new RangeError('encoder input is empty');
    const out = await this.encoder.run({ context_ids: int64(this.ort, ids) });
    return new OrtMemory(out.memory);
  }

  nullMemory(): Promise<EncoderMemory | null> {
    this.nullMem ??= this.encode([this.manifest.tokenizer.hole]);
    return this.nullMem;
  }

  async release(): Promise<void> {
    this.owner.open = false;
    await this.fastStep?.release();
    await this.decoder.release();
    await this.step?.release();
    await this.encoder?.release();
    if (this.full) await (await this.full).release();
    // (a session that failed to open has nothing to release)
    await this.prefill?.then(
      (session) => session.release(),
      () => {},
    );
  }
}
