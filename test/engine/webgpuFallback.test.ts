// WebGPU failures leave WASM in charge with the reason in the report, and lose no completion:
// no adapter at all, and a device lost between runs (destroyed for real, not simulated).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { openEngine } from '../../src/engine/models';
import { webGpuDevice } from '../../src/engine/runtime/runtime';
import { ScheduledModel, withinLimit } from '../../src/engine/runtime/scheduler';
import type { BackendReport } from '../../src/engine/core/session';
import { probeWebGpu } from '../../src/engine/runtime/webgpu';
import { expected, fixtureFolder, maxAbsDiff, ROOT } from './helpers';

const WORKER = path.join(ROOT, 'out', 'src', 'worker', 'inferenceWorker.js');

test('the child-process check finds the software adapter, or says why there is none', async () => {
  const info = await probeWebGpu(WORKER, { dawn: ['backend=opengles'] });
  assert.match(info.description, /llvmpipe/);
  await assert.rejects(probeWebGpu(WORKER, { dawn: ['backend=d3d11'] }), /no WebGPU adapter/);
});

test('a check that crashes (as a bad GPU driver would) is a reason, not a crash', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'linea-probe-'));
  const script = path.join(dir, 'crash.js');
  writeFileSync(script, "process.kill(process.pid, 'SIGSEGV');\n");
  await assert.rejects(probeWebGpu(script, {}), /the WebGPU check crashed \(SIGSEGV\)/);
  writeFileSync(script, 'setInterval(() => {}, 1000);\n');
  await assert.rejects(probeWebGpu(script, {}, 1500), /did not answer in 1.5 s/);
});

test('a WebGPU run that never answers counts as failed once the limit has passed', async () => {
  await assert.rejects(withinLimit(new Promise<number>(() => {}), 50), /no answer in 0.05 s/);
  assert.equal(await withinLimit(Promise.resolve(3), 50), 3);
});

test('no adapter: auto runs on WASM and says why', async () => {
  // Dawn's D3D11 backend exists only on Windows: an adapter request that finds nothing anywhere else.
  const runtime = {
    threads: 1,
    backend: 'auto' as const,
    webgpu: { dawn: process.platform === 'win32' ? ['backend=null'] : ['backend=d3d11'] },
  };
  const engine = await openEngine(fixtureFolder('linear'), runtime);
  const report = (engine.session as ScheduledModel).report();
  assert.equal(report.label, 'WASM');
  assert.match(report.note ?? '', /^WebGPU unavailable: no WebGPU adapter/);
  const text = 'def add(a, b):\n    return ';
  engine.open('file:///a.py', text);
  const r = await engine.complete('file:///a.py', text.length, { maxTokens: 8 });
  assert.ok(r.tokens > 0);
  await engine.dispose();
});

test('a device lost between runs moves the model to WASM and the next runs still agree', async () => {
  const exp = expected('decay');
  const folder = fixtureFolder('decay');
  const runtime = { threads: 1, webgpu: { dawn: ['backend=opengles'] } };
  const gpu = await ScheduledModel.open(folder, { ...runtime, backend: 'webgpu' });
  const wasm = await ScheduledModel.open(folder, { ...runtime, backend: 'wasm' });
  assert.equal(gpu.report().label, 'WebGPU', gpu.report().note ?? '');
  const reports: BackendReport[] = [];
  gpu.onChange = (r) => reports.push(r);
  const memory = await wasm.encode(exp.context_ids);
  const a = await gpu.run(exp.ids.slice(0, 8), gpu.initState(), memory);
  const b = await wasm.run(exp.ids.slice(0, 8), wasm.initState(), memory);
  assert.ok(maxAbsDiff(a.logits, b.logits) <= 1e-3);

  webGpuDevice()!.destroy();
  const a2 = await gpu.run(exp.ids.slice(8, 16), a.state, memory);
  const b2 = await wasm.run(exp.ids.slice(8, 16), b.state, memory);
  assert.ok(maxAbsDiff(a2.logits, b2.logits) <= 1e-4, 'the run after the loss is WASM-exact');
  const step = await gpu.run([exp.ids[16]], a2.state, memory, { transient: true });
  assert.ok(
    maxAbsDiff(step.logits, (await wasm.run([exp.ids[16]], b2.state, memory)).logits) <= 1e-4,
  );
  assert.equal(gpu.report().label, 'WASM');
  assert.match(gpu.report().note ?? '', /(lost|failed).*; using WASM$/);
  assert.equal(reports.length, 1, 'one change reported');
  await gpu.release();
  await wasm.release();
});
