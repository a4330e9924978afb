// The single-token step on WebGPU with graph capture: onnxruntime records the step's GPU commands
// once and replays them, which removes the per-run dispatch cost (~13 ms per run on an H100 in
// Node without it, 1.9 ms with it, as measured when capture was added). A replay binds the buffers
// it was recorded with, so the token, the memory and the state live in fixed GPU buffers: the state
// after a step is copied GPU-to-GPU into the input buffers, and only the logits are read back.
import type * as ort from 'onnxruntime-web';
import type { Manifest } from './manifest';
import { createSession, ortFor, OrtMemory, OrtState } from './runtime';
import type { EncoderMemory, StepResult } from '../core/session';
import type { StepRunner } from './runtime';

// WebGPU's buffer usage and map mode bits (GPUBufferUsage / GPUMapMode)
const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const STORAGE = 0x80;

interface GpuBuffer {
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

interface GpuDevice {
  createBuffer(d: { size: number; usage: number }): GpuBuffer;
  createCommandEncoder(): {
    copyBufferToBuffer(src: GpuBuffer, so: number, dst: GpuBuffer, d: number, n: number): void;
    finish(): unknown;
  };
  queue: {
    writeBuffer(b: GpuBuffer, offset: number, data: ArrayBufferView): void;
    submit(cmds: unknown[]): void;
  };
}

interface Fixed {
  buffer: GpuBuffer;
  bytes: number;
  /** The tensor the session is fed: it must stay a GPU tensor for every replay. */
  tensor: ort.Tensor;
  /** A new tensor over the same buffer, for a state handed out (reading one back makes it a CPU
   *  tensor for good, so the feed tensor is never handed out). */
  wrap(): ort.Tensor;
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** A state held in a CapturedStep's input buffers: valid until that step runs again. */
class CapturedState extends OrtState {
  constructor(
    readonly runner: CapturedStep,
    readonly gen: number,
    pos: number,
    tensors: ort.Tensor[],
  ) {
    super(pos, tensors);
  }

  valid(): boolean {
    return this.runner.generation === this.gen;
  }
}

export class CapturedStep implements StepRunner {
  /** Bumped by every run: older CapturedStates no longer match their buffers. */
  generation = 0;
  private lastMemory: EncoderMemory | null = null;
  private readonly logitsBytes: number;

  private constructor(
    private readonly manifest: Manifest,
    private readonly device: GpuDevice,
    private readonly session: ort.InferenceSession,
    private readonly ids: Fixed,
    private readonly memory: Fixed | null,
    private readonly state: Fixed[],
    private readonly logitsStage: GpuBuffer,
  ) {
    this.logitsBytes = (manifest.config.vocab_size as number) * 4;
  }

  /** For constant-state models with a step graph, after a WebGPU session made the device. */
  static async create(folder: string, manifest: Manifest): Promise<CapturedStep> {
    if (!manifest.step || !manifest.constant_state)
      throw new Error('graph capture needs a fixed-shape step graph and a constant-size state');
    const m = ortFor('webgpu');
    const device = m.env.webgpu.device as unknown as GpuDevice | undefined;
    if (!device) throw new Error('no WebGPU device yet');
    const outputs = ['logits', ...manifest.state.map((s) => s.output)];
    // The provider option only reaches the provider as an object ('webgpu' as a string drops it).
    const session = await createSession(
      folder,
      manifest.graphs[manifest.step],
      manifest,
      'webgpu',
      outputs,
      {
        executionProviders: [{ name: 'webgpu' }],
        enableGraphCapture: true,
      },
    );
    const fixed = (type: 'int64' | 'float32', dims: number[]): Fixed => {
      const bytes = numel(dims) * (type === 'int64' ? 8 : 4);
      const size = Math.max(16, Math.ceil(bytes / 16) * 16);
      const buffer = device.createBuffer({ size, usage: STORAGE | COPY_SRC | COPY_DST });
      const download = async () => {
        const data = await readBuffer(device, buffer, bytes);
        return (type === 'int64' ? new BigInt64Array(data) : new Float32Array(data)) as never;
      };
      const wrap = () =>
        m.Tensor.fromGpuBuffer(buffer as never, { dataType: type, dims, download });
      return { buffer, bytes, tensor: wrap(), wrap };
    };
    const vocab = manifest.config.vocab_size as number;
    return new CapturedStep(
      manifest,
      device,
      session,
      fixed('int64', [1, 1]),
      manifest.memory ? fixed('float32', manifest.memory.shape) : null,
      manifest.state.map((s) => fixed(s.dtype === 'int64' ? 'int64' : 'float32', s.shape)),
      device.createBuffer({ size: vocab * 4, usage: MAP_READ | COPY_DST }),
    );
  }

  async run(id: number, state: OrtState, memory: EncoderMemory | null): Promise<StepResult> {
    // (OrtModel.run has refused a state whose buffers a later step overwrote)
    const resident = state instanceof CapturedState && state.runner === this;
    if (!resident) await this.upload(state); // else its values are in the input buffers already
    const q = this.device.queue;
    if (this.memory && memory !== this.lastMemory) {
      if (!memory) throw new Error(`${this.manifest.id}: no memory for a model with an encoder`);
      q.writeBuffer(this.memory.buffer, 0, (memory as OrtMemory).tensor.data as Float32Array);
      this.lastMemory = memory;
    }
    q.writeBuffer(this.ids.buffer, 0, BigInt64Array.from([BigInt(id)]));
    const feeds: Record<string, ort.Tensor> = { input_ids: this.ids.tensor };
    if (this.memory && this.manifest.memory) feeds[this.manifest.memory.input] = this.memory.tensor;
    this.manifest.state.forEach((s, i) => (feeds[s.input] = this.state[i].tensor));
    const out = await this.session.run(feeds);
    // The replay's outputs are its own fixed buffers: copy the state into the inputs for the next
    // step and the logits into the staging buffer, in one submission.
    const enc = this.device.createCommandEncoder();
    this.manifest.state.forEach((s, i) => {
      const src = out[s.output].gpuBuffer as unknown as GpuBuffer;
      enc.copyBufferToBuffer(src, 0, this.state[i].buffer, 0, this.state[i].bytes);
    });
    const logits = out.logits.gpuBuffer as unknown as GpuBuffer;
    enc.copyBufferToBuffer(logits, 0, this.logitsStage, 0, this.logitsBytes);
    q.submit([enc.finish()]);
    this.generation++;
    await this.logitsStage.mapAsync(MAP_READ);
    const data = new Float32Array(this.logitsStage.getMappedRange().slice(0));
    this.logitsStage.unmap();
    const tensors = this.state.map((f) => f.wrap());
    return {
      logits: data,
      state: new CapturedState(this, this.generation, state.pos + 1, tensors),
    };
  }

  /** A state from elsewhere into the input buffers: CPU data written, GPU buffers copied. */
  private async upload(state: OrtState): Promise<void> {
    const enc = this.device.createCommandEncoder();
    let copies = 0;
    state.tensors.forEach((t, i) => {
      if (t.location === 'gpu-buffer') {
        const src = t.gpuBuffer as unknown as GpuBuffer;
        enc.copyBufferToBuffer(src, 0, this.state[i].buffer, 0, this.state[i].bytes);
        copies++;
      } else {
        this.device.queue.writeBuffer(this.state[i].buffer, 0, t.data as Float32Array);
      }
    });
    if (copies > 0) this.device.queue.submit([enc.finish()]);
  }

  async release(): Promise<void> {
    this.generation++;
    await this.session.release();
    for (const f of [this.ids, this.memory, ...this.state]) f?.buffer.destroy();
    this.logitsStage.destroy();
  }
}

async function readBuffer(device: GpuDevice, src: GpuBuffer, bytes: number): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const stage = device.createBuffer({ size, usage: MAP_READ | COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, stage, 0, size);
  device.queue.submit([enc.finish()]);
  await stage.mapAsync(MAP_READ);
  const data = stage.getMappedRange().slice(0, bytes);
  stage.unmap();
  stage.destroy();
  return data;
}
