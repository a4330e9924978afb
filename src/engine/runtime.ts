// The only module that imports onnxruntime-web: sessions, tensors, backend configuration.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import type { GraphEntry, Manifest } from './manifest';
import { ModelError, readManifest, verifyFiles } from './manifest';
import type { DecoderState, EncoderMemory, ModelSession, StepResult } from './session';

export interface RuntimeOptions {
  /** WASM threads (0 = onnxruntime's default: half the cores). */
  threads: number;
  /** Folder holding ort-wasm-simd-threaded.{mjs,wasm} when running from a bundle. */
  wasmPaths?: string;
}

let configured = false;

/** onnxruntime's env is global and fixed once the WASM module starts: configure it once. */
export function configureRuntime(opts: RuntimeOptions): void {
  if (configured) return;
  configured = true;
  ort.env.logLevel = 'error';
  if (opts.threads > 0) ort.env.wasm.numThreads = opts.threads;
  if (opts.wasmPaths) {
    const dir = opts.wasmPaths.endsWith(path.sep) ? opts.wasmPaths : opts.wasmPaths + path.sep;
    ort.env.wasm.wasmPaths = 'file://' + dir;
  }
}

class OrtState implements DecoderState {
  readonly bytes: number;
  constructor(
    readonly pos: number,
    readonly tensors: ort.Tensor[],
  ) {
    let b = 0;
    for (const t of tensors) b += t.size * (t.type === 'int64' ? 8 : 4);
    this.bytes = b;
  }
}

class OrtMemory implements EncoderMemory {
  readonly bytes: number;
  constructor(readonly tensor: ort.Tensor) {
    this.bytes = tensor.size * 4;
  }
}

function zeros(dtype: string, shape: number[]): ort.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return dtype === 'int64'
    ? new ort.Tensor('int64', new BigInt64Array(n), shape)
    : new ort.Tensor('float32', new Float32Array(n), shape);
}

function int64(ids: readonly number[]): ort.Tensor {
  const data = new BigInt64Array(ids.length);
  for (let i = 0; i < ids.length; i++) data[i] = BigInt(ids[i]);
  return new ort.Tensor('int64', data, [1, ids.length]);
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

async function createSession(
  folder: string,
  entry: GraphEntry,
  manifest: Manifest,
): Promise<ort.InferenceSession> {
  const file = path.join(folder, entry.file);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
    externalData: entry.external_data.map((name) => ({
      path: name,
      data: new Uint8Array(readFileSync(path.join(folder, name))),
    })),
  };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(new Uint8Array(readFileSync(file)), options);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new ModelError(`${file}: onnxruntime could not load it (${msg.split('\n')[0]})`, file);
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

export class OrtModel implements ModelSession {
  readonly backend = 'wasm';
  private nullMem: Promise<EncoderMemory | null> | undefined;

  private constructor(
    readonly manifest: Manifest,
    private readonly decoder: ort.InferenceSession,
    private readonly step: ort.InferenceSession | null,
    private readonly encoder: ort.InferenceSession | null,
  ) {}

  /**
   * Validates the folder (manifest, sha256 of every file, graph names) and opens its sessions.
   * `stepGraph` overrides the manifest's step graph (the bench compares fp32 and int8 steps).
   */
  static async load(
    folder: string,
    opts: RuntimeOptions,
    verify = true,
    stepGraph?: string,
  ): Promise<OrtModel> {
    configureRuntime(opts);
    const manifest = readManifest(folder);
    if (stepGraph !== undefined) {
      if (!manifest.graphs[stepGraph])
        throw new ModelError(`${folder}/manifest.json: no graph "${stepGraph}"`);
      manifest.step = stepGraph;
    }
    if (verify) verifyFiles(folder, manifest);
    const decoder = await createSession(folder, manifest.graphs[manifest.decoder], manifest);
    const step = manifest.step
      ? await createSession(folder, manifest.graphs[manifest.step], manifest)
      : null;
    const enc = manifest.graphs.encoder;
    const encoder = enc && manifest.memory ? await createSession(folder, enc, manifest) : null;
    return new OrtModel(manifest, decoder, step, encoder);
  }

  initState(): DecoderState {
    return new OrtState(
      0,
      this.manifest.state.map((s) => zeros(s.dtype, s.shape)),
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
        return new ort.Tensor('int64', BigInt64Array.from([BigInt(n)]), s.shape);
      const shape = s.shape.map((d, i) => (i === s.grows_axis ? grown(s.name) : d));
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = Math.abs(rand()); // >= 0: valid linear-attention sums
      return new ort.Tensor('float32', data, shape);
    });
    return new OrtState(n, tensors);
  }

  async run(
    ids: readonly number[],
    state: DecoderState,
    memory: EncoderMemory | null,
  ): Promise<StepResult> {
    const max = this.manifest.limits.max_chunk;
    if (ids.length < 1 || ids.length > max) {
      throw new RangeError(`a run takes 1..${max} tokens, got ${ids.length}`);
    }
    const st = state as OrtState;
    const feeds: Record<string, ort.Tensor> = { input_ids: int64(ids) };
    if (this.manifest.memory) {
      const mem = memory ?? (await this.nullMemory());
      if (!mem) throw new Error(`${this.manifest.id}: no memory for a model with an encoder`);
      feeds[this.manifest.memory.input] = (mem as OrtMemory).tensor;
    }
    this.manifest.state.forEach((s, i) => (feeds[s.input] = st.tensors[i]));
    const session = ids.length === 1 && this.step ? this.step : this.decoder;
    const out = await session.run(feeds);
    const tensors = this.manifest.state.map((s) => out[s.output]);
    return {
      logits: out.logits.data as Float32Array,
      state: new OrtState(st.pos + ids.length, tensors),
    };
  }

  async encode(ids: readonly number[]): Promise<EncoderMemory | null> {
    if (!this.encoder) return null;
    if (ids.length === 0) throw new RangeError('encoder input is empty');
    const out = await this.encoder.run({ context_ids: int64(ids) });
    return new OrtMemory(out.memory);
  }

  nullMemory(): Promise<EncoderMemory | null> {
    this.nullMem ??= this.encode([this.manifest.tokenizer.hole]);
    return this.nullMem;
  }

  async release(): Promise<void> {
    await this.decoder.release();
    await this.step?.release();
    await this.encoder?.release();
  }
}
