// The inference worker: owns the engine (tokenizer, onnxruntime sessions, document states) so that
// tokenizing a 20 MB file or running the model never blocks the extension host's event loop.
import { parentPort } from 'node:worker_threads';
import type { BackendReport } from '../engine/core/session';
import type { CompletionResult, Engine } from '../engine/engine';
import { compareModels } from './compare';
import { openEngine } from '../engine/models';
import { installNetworkGuard } from '../engine/runtime/networkGuard';
import { ScheduledModel } from '../engine/runtime/scheduler';
import { answerProbe } from '../engine/runtime/webgpu';
import type {
  Envelope,
  Kind,
  LoadParams,
  ModelInfo,
  Reply,
  Request,
  Response,
  WireBackendReport,
  WireCompletionResult,
  WorkerEvent,
} from './protocol';

// Run as a process with --probe-webgpu: the crash-safe WebGPU check (see probeWebGpu).
if (!parentPort && process.argv.includes('--probe-webgpu')) void answerProbe();
else if (!parentPort) throw new Error('inferenceWorker.js must run in a worker thread');
// The worker is Linea's alone: under the offline guard every network call in it throws.
if (process.env.LINEA_NETWORK_GUARD === '1') installNetworkGuard(null);
const port = parentPort!;

let engine: Engine | null = null;
const inflight = new Set<number>();
const cancelled = new Set<number>();

// Engine values are copied field by field into their wire types: posting the engine's object would
// clone all it holds (the manifest's graphs and checksums, a report built from a spread), not just
// what protocol.ts declares. The wire's options are a subset of the engine's (protocol.ts checks it)
// and go to the engine as they are.

function wireReport(r: BackendReport): WireBackendReport {
  const { label, gpu, step, prefill, encoder, capture, timings, transferMs, note } = r;
  return { label, gpu, step, prefill, encoder, capture, timings, transferMs, note };
}

function wireResult(r: CompletionResult): WireCompletionResult {
  const { totalMs, prefillMs, firstTokenMs, stepMs } = r.timings;
  return {
    text: r.text,
    declined: r.declined,
    raw: r.raw,
    model: r.model,
    reread: r.reread,
    source: r.source,
    memory: r.memory,
    stop: r.stop,
    tokens: r.tokens,
    origin: r.origin,
    runs: r.runs,
    drafted: r.drafted,
    confidence: r.confidence,
    logprobs: r.logprobs,
    timings: { totalMs, prefillMs, firstTokenMs, stepMs },
  };
}

async function load(params: LoadParams): Promise<ModelInfo> {
  const t0 = performance.now();
  const next = await openEngine(params.folder, params.runtime, params.engine);
  const session = next.session;
  next.onBackgroundError = (e) => console.error('linea worker: background job failed:', e);
  if (session instanceof ScheduledModel) {
    session.onChange = (report) => {
      if (engine !== next) return;
      port.postMessage({ event: 'backend', report: wireReport(report) } satisfies WorkerEvent);
    };
  }
  const old = engine;
  engine = next;
  await old?.dispose();
  const { id, variant, parameters } = session.manifest;
  const report = session.report?.();
  return {
    manifest: { id, variant, parameters },
    backend: session.backend,
    report: report ? wireReport(report) : null,
    loadMs: performance.now() - t0,
  };
}

// Test hooks exist where the tests run this file (tsc's out/); esbuild defines the flag false in the
// production bundle, where the hook's code is then dropped as unreachable.
declare global {
  var __LINEA_TEST_HOOKS__: boolean | undefined;
}

function needEngine(): Engine {
  if (!engine) throw new Error('no model is loaded');
  return engine;
}

/** One handler per message; the table's type ties each to its request and response (protocol.ts). */
const handlers: {
  [K in Kind]: (msg: Request<K> & { id: number }) => Promise<Response<K>> | Response<K>;
} = {
  load: (msg) => load(msg.params),
  unload: async () => {
    await engine?.dispose();
    engine = null;
    return null;
  },
  open: (msg) => (needEngine().open(msg.uri, msg.text, msg.languageId), null),
  edit: (msg) => (needEngine().edit(msg.uri, msg.edits), null),
  close: (msg) => (engine?.close(msg.uri), null),
  remember: (msg) => (engine?.remember(msg.uri, msg.text), null),
  forget: (msg) => (engine?.forget(msg.uri), null),
  cursor: (msg) => (engine?.setCursor(msg.uri, msg.offset), null),
  complete: async (msg) => {
    inflight.add(msg.id);
    try {
      const result = await needEngine().complete(msg.uri, msg.offset, msg.options, () =>
        cancelled.has(msg.id),
      );
      return wireResult(result);
    } finally {
      inflight.delete(msg.id);
      cancelled.delete(msg.id);
    }
  },
  encode: async (msg) => {
    await needEngine().flushEncoder(msg.uri, msg.offset);
    return null;
  },
  cancel: (msg) => {
    if (inflight.has(msg.target)) cancelled.add(msg.target); // a late cancel must not leak an id
    return null;
  },
  idle: async () => {
    await engine?.idle();
    return null;
  },
  stats: () => (engine ? engine.stats() : null),
  compare: (msg) => compareModels(msg.params),
  crash: () => {
    // For tests of the client's restart path: die at once, as a WASM abort would.
    if (globalThis.__LINEA_TEST_HOOKS__ ?? true) process.exit(70);
    throw new Error('"crash" is a test hook; this build has none');
  },
};

async function handle(msg: Envelope): Promise<unknown> {
  const handler = handlers[msg.kind] as ((m: Envelope) => unknown) | undefined;
  if (!handler) throw new Error(`unknown request ${JSON.stringify(msg.kind)}`);
  return handler(msg);
}

parentPort?.on('message', (msg: Envelope) => {
  handle(msg).then(
    (value) => port.postMessage({ id: msg.id, ok: true, value } satisfies Reply),
    (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      port.postMessage({
        id: msg.id,
        ok: false,
        error: { name: err.name, message: err.message },
      } satisfies Reply);
    },
  );
});
