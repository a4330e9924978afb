// WebGPU for onnxruntime-web in Node: Dawn's N-API addon (npm `webgpu`) installed as navigator.gpu.
// Node has no WebGPU of its own; every failure here is a reason to stay on WASM, never a crash.
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export interface WebGpuOptions {
  /** Folders searched for `<platform>-<arch>/dawn.node` (the VSIX ships it in dist/webgpu). */
  addonDirs?: string[];
  /** Dawn toggles for create(), e.g. ['backend=opengles'] for Mesa's software rasterizer in CI. */
  dawn?: string[];
}

export interface GpuInfo {
  /** What the adapter calls itself, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  vendor: string;
  architecture: string;
  /** A CPU rasterizer (Mesa llvmpipe, SwiftShader): correct, far slower than WASM. */
  software: boolean;
  features: string[];
  addon: string;
}

/** Why WebGPU is not used: shown in the status bar tooltip and the log. */
export class WebGpuUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebGpuUnavailable';
  }
}

interface DawnAdapter {
  info: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter?: boolean;
  };
  features: ReadonlySet<string>;
  isFallbackAdapter?: boolean;
}

interface DawnInstance {
  requestAdapter(options?: Record<string, unknown>): Promise<DawnAdapter | null>;
  getPreferredCanvasFormat(): string;
  wgslLanguageFeatures: unknown;
}

interface DawnAddon {
  create(flags: string[]): DawnInstance;
  globals: Record<string, unknown>;
}

const usesGl = (flags: readonly string[]) =>
  flags.some((f) => f === 'backend=opengles' || f === 'backend=opengl');

/**
 * Mesa's EGL needs a platform without a display, read when Dawn first opens EGL. A worker thread's
 * process.env is its own copy: call this on the main thread before the worker loads Dawn.
 */
export function prepareDawnEnv(flags: readonly string[] = []): void {
  if (usesGl(flags)) process.env.EGL_PLATFORM ??= 'surfaceless';
}

/** Dawn flags written comma-separated (`--dawn`, LINEA_DAWN), e.g. backend=opengles. */
export function parseDawnFlags(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f);
}

/** Dawn flags from LINEA_DAWN, e.g. backend=opengles on a headless machine. */
export function dawnFlagsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return parseDawnFlags(env.LINEA_DAWN);
}

/** The Dawn binary's folder name for this machine, as the `webgpu` package lays them out. */
export function dawnPlatform(platform = process.platform, arch = process.arch): string {
  return platform === 'darwin' ? 'darwin-universal' : `${platform}-${arch}`;
}

/** The first dawn.node found: next to the bundle (a platform VSIX), then the `webgpu` npm package. */
export function findDawnAddon(dirs: readonly string[] = []): string | null {
  const plat = dawnPlatform();
  const candidates = dirs.map((d) => path.join(d, plat, 'dawn.node'));
  try {
    const pkg = require.resolve('webgpu/package.json');
    candidates.push(path.join(path.dirname(pkg), 'dist', plat, 'dawn.node'));
  } catch {
    // not installed (the universal VSIX, or npm skipped the optional dependency)
  }
  return candidates.find((c) => existsSync(c)) ?? null;
}

const installed = new Map<string, Promise<GpuInfo>>();

/**
 * Loads Dawn, requests an adapter and defines navigator.gpu for onnxruntime-web (once per thread
 * and options). Rejects with WebGpuUnavailable: no addon for this platform, no adapter, a load error.
 */
export function installWebGpu(opts: WebGpuOptions = {}): Promise<GpuInfo> {
  const key = JSON.stringify([opts.addonDirs ?? [], opts.dawn ?? []]);
  let p = installed.get(key);
  if (!p) installed.set(key, (p = install(opts)));
  return p;
}

async function install(opts: WebGpuOptions): Promise<GpuInfo> {
  const file = findDawnAddon(opts.addonDirs);
  if (!file) {
    throw new WebGpuUnavailable(
      `no WebGPU runtime for ${dawnPlatform()} in this build (install the VSIX for your platform)`,
    );
  }
  const flags = opts.dawn ?? [];
  const gles = usesGl(flags);
  prepareDawnEnv(flags);
  let addon: DawnAddon;
  try {
    const mod = { exports: {} as DawnAddon };
    process.dlopen(mod, file);
    addon = mod.exports;
  } catch (e) {
    throw new WebGpuUnavailable(`could not load ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  patchWriteBuffer(addon.globals);
  const dawn = addon.create(flags);
  // OpenGL ES adapters only offer WebGPU's compatibility profile; real GPUs get the core one.
  const extra = gles ? { featureLevel: 'compatibility' } : { powerPreference: 'high-performance' };
  const requestAdapter = (o: Record<string, unknown> = {}) =>
    dawn.requestAdapter({ ...o, ...extra });
  let adapter: DawnAdapter | null;
  try {
    adapter = await requestAdapter();
  } catch (e) {
    throw new WebGpuUnavailable(`requesting a GPU adapter failed: ${(e as Error).message}`);
  }
  if (!adapter) {
    throw new WebGpuUnavailable(
      gles ? 'no OpenGL ES adapter (Dawn flags: ' + flags.join(' ') + ')' : 'no WebGPU adapter',
    );
  }
  // onnxruntime-web's JS glue uses GPUBufferUsage, GPUMapMode, ... as globals.
  for (const [k, v] of Object.entries(addon.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true });
  }
  // onnxruntime's WebGPU provider asks navigator.gpu for its own adapter: give it the same options.
  const gpu = {
    requestAdapter,
    getPreferredCanvasFormat: () => dawn.getPreferredCanvasFormat(),
    get wgslLanguageFeatures() {
      return dawn.wgslLanguageFeatures;
    },
  };
  const g = globalThis as { navigator?: object };
  // Node 21+ has a global navigator (read-only): define a property on it instead of replacing it.
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
  }
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  const { info } = adapter;
  // Vulkan/Metal/D3D name the GPU in `description`; OpenGL ES puts the driver's version there and
  // the renderer ("llvmpipe-llvm-15-0-6-256-bits-") in `device`.
  const names = [info.device, info.description].filter((x) => x);
  const description =
    (gles ? names : names.reverse()).join(', ') || info.vendor || 'unknown adapter';
  return {
    description,
    vendor: info.vendor,
    architecture: info.architecture,
    software:
      info.isFallbackAdapter === true ||
      adapter.isFallbackAdapter === true ||
      /llvmpipe|swiftshader|lavapipe|softpipe/i.test(description),
    features: [...adapter.features].sort(),
    addon: file,
  };
}

/**
 * installWebGpu() in a child process first: a driver that crashes in Dawn takes that process down,
 * not the extension host. `script` must call answerProbe() when run with --probe-webgpu.
 */
export function probeWebGpu(
  script: string,
  opts: WebGpuOptions,
  timeoutMs = 20_000,
): Promise<GpuInfo> {
  prepareDawnEnv(opts.dawn);
  return new Promise((resolve, reject) => {
    const child = fork(script, ['--probe-webgpu'], {
      env: { ...process.env, LINEA_PROBE: JSON.stringify(opts) },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    let answered = false;
    const timer = setTimeout(() => {
      child.kill();
      finish(new WebGpuUnavailable(`the WebGPU check did not answer in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const finish = (r: GpuInfo | Error) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    child.on('message', (m: { info?: GpuInfo; error?: string }) =>
      finish(m.info ?? new WebGpuUnavailable(m.error ?? 'unknown')),
    );
    child.on('error', (e) =>
      finish(new WebGpuUnavailable(`the WebGPU check failed: ${e.message}`)),
    );
    child.on('exit', (code, signal) =>
      finish(
        new WebGpuUnavailable(
          `the WebGPU check crashed (${signal ?? `exit code ${code}`}); the GPU driver may be at fault`,
        ),
      ),
    );
  });
}

/** The child side of probeWebGpu(): answers over IPC, then exits. */
export async function answerProbe(): Promise<void> {
  const opts = JSON.parse(process.env.LINEA_PROBE ?? '{}') as WebGpuOptions;
  try {
    process.send?.({ info: await installWebGpu(opts) });
  } catch (e) {
    process.send?.({ error: (e as Error).message });
  }
  process.disconnect?.();
  process.exit(0);
}

/**
 * onnxruntime's threaded WASM heap is a SharedArrayBuffer and dawn.node's writeBuffer rejects views
 * of one ("Invalid argument"): copy such data into a plain buffer first.
 */
function patchWriteBuffer(globals: Record<string, unknown>): void {
  const queue = globals.GPUQueue as { prototype: Record<string, unknown> } | undefined;
  if (!queue || queue.prototype.lineaPatched) return;
  const original = queue.prototype.writeBuffer as (...a: unknown[]) => unknown;
  const shared = (x: unknown): x is SharedArrayBuffer =>
    typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer;
  queue.prototype.writeBuffer = function (
    buffer: unknown,
    offset: number,
    data: ArrayBufferView | ArrayBufferLike,
    dataOffset?: number,
    size?: number,
  ) {
    if (shared(data)) {
      const start = dataOffset ?? 0;
      const bytes = new Uint8Array(data, start, size ?? data.byteLength - start).slice();
      return original.call(this, buffer, offset, bytes);
    }
    if (ArrayBuffer.isView(data) && shared(data.buffer)) {
      const bpe = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const start = (dataOffset ?? 0) * bpe;
      const count = size !== undefined ? size * bpe : data.byteLength - start;
      const bytes = new Uint8Array(data.buffer, data.byteOffset + start, count).slice();
      return original.call(this, buffer, offset, bytes);
    }
    // eslint-disable-next-line prefer-rest-params
    return original.apply(this, arguments as unknown as unknown[]);
  };
  queue.prototype.lineaPatched = true;
}
