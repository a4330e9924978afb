// onnxruntime-web's WebGPU provider against the PyTorch fixtures and against WASM, on a real Dawn
// adapter: Mesa's llvmpipe through Dawn's OpenGL ES backend (no GPU needed; speed means nothing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CapturedStep } from '../../src/engine/runtime/capture';
import { readManifest } from '../../src/engine/runtime/manifest';
import { openEngine } from '../../src/engine/models';
import {
  isGpuState,
  OrtModel,
  releaseState,
  stateOnCpu,
  withBaselineWasm,
  type RuntimeOptions,
} from '../../src/engine/runtime/runtime';
import { ScheduledModel } from '../../src/engine/runtime/scheduler';
import type { DecoderState } from '../../src/engine/core/session';
import { installWebGpu } from '../../src/engine/runtime/webgpu';
import { expected, FIXTURE_MODELS, fixtureFolder, maxAbsDiff } from './helpers';

export const SOFTWARE_GPU = { dawn: ['backend=opengles'] };
const runtime = (backend: RuntimeOptions['backend']): RuntimeOptions => ({
  threads: 1,
  backend,
  webgpu: SOFTWARE_GPU,
});
// fp32 on a different device: the fixtures agree to ~4e-5 there; 1e-3 leaves room for drivers.
const TOL = 1e-3;

test('a software WebGPU adapter is found through Dawn', async () => {
  const info = await installWebGpu(SOFTWARE_GPU);
  assert.match(info.description, /llvmpipe/i);
  assert.equal(info.software, true);
  // The WebGPU build's WASM compiles in the baseline tier, as ScheduledModel.open does it.
  await withBaselineWasm(async () => {
    const m = await OrtModel.load(fixtureFolder('linear'), runtime('webgpu'), {
      backend: 'webgpu',
    });
    assert.equal(
      (await m.run([1, 2], m.initState(), await m.nullMemory())).logits.length,
      m.manifest.config.vocab_size,
    );
    await m.release();
  });
});

for (const variant of FIXTURE_MODELS) {
  test(`${variant}: WebGPU logits and memory match PyTorch, decoding state kept on the GPU`, async () => {
    await installWebGpu(SOFTWARE_GPU);
    const model = await OrtModel.load(fixtureFolder(variant), runtime('webgpu'), {
      backend: 'webgpu',
    });
    const exp = expected(variant);
    const memory = await model.encode(exp.context_ids);
    const memData = (memory as unknown as { tensor: { data: Float32Array } }).tensor.data;
    assert.ok(maxAbsDiff(memData, exp.memory) <= TOL, 'encoder memory differs');
    let state: DecoderState = model.initState();
    let at = 0;
    let resident = 0;
    for (const [i, size] of exp.schedule.entries()) {
      // Single steps as decoding runs them: the state stays in GPU buffers into the next run.
      const r = await model.run(exp.ids.slice(at, at + size), state, memory, {
        transient: size === 1,
      });
      if (isGpuState(r.state)) resident++;
      releaseState(state);
      state = r.state;
      at += size;
      const diff = maxAbsDiff(r.logits, exp.runs[i].logits);
      assert.ok(diff <= TOL, `logits after ${at} tokens differ by ${diff}`);
    }
    const steps = exp.schedule.filter((n) => n === 1).length;
    assert.equal(resident, model.manifest.step ? steps : 0, 'transient step states on the GPU');
    releaseState(state);
    await model.release();
  });
}

const CONSTANT = FIXTURE_MODELS.filter((v) => readManifest(fixtureFolder(v)).constant_state);

for (const variant of CONSTANT) {
  test(`${variant}: graph-captured WebGPU steps match PyTorch`, async () => {
    await installWebGpu(SOFTWARE_GPU);
    const folder = fixtureFolder(variant);
    const model = await OrtModel.load(folder, runtime('webgpu'), { backend: 'webgpu' });
    model.setStepRunner(await CapturedStep.create(folder, model.manifest));
    const exp = expected(variant);
    const memory = await model.encode(exp.context_ids);
    let state: DecoderState = model.initState();
    let at = 0;
    for (const [i, size] of exp.schedule.entries()) {
      const r = await model.run(exp.ids.slice(at, at + size), state, memory, {
        transient: size === 1,
      });
      state = r.state;
      at += size;
      const diff = maxAbsDiff(r.logits, exp.runs[i].logits);
      assert.ok(diff <= TOL, `logits after ${at} tokens (run of ${size}) differ by ${diff}`);
    }
    // Reading a state back (moving it to WASM) leaves the replay's own buffers alone.
    const wasm = await OrtModel.load(folder, runtime('wasm'));
    const onCpu = await stateOnCpu(state);
    const want = await wasm.run([7], onCpu, memory);
    const again = await model.run([7], state, memory, { transient: true });
    assert.ok(maxAbsDiff(again.logits, want.logits) <= TOL, 'the step after a read-back');
    state = again.state;
    await wasm.release();
    // A captured state lasts until the next captured step: using it later is an error, not garbage.
    const step = await model.run([1], state, memory, { transient: true });
    assert.equal(isGpuState(step.state), true);
    await assert.rejects(
      model.run([1], state, memory, { transient: true }),
      /used after the next step/,
    );
    await model.release();
  });
}

test('steps on WebGPU with prefill on WASM (and the reverse) decode what WASM alone decodes', async () => {
  const folder = fixtureFolder('decay');
  const exp = expected('decay');
  const wasm = await ScheduledModel.open(folder, runtime('wasm'));
  const mixed = await ScheduledModel.open(folder, runtime('webgpu'));
  assert.equal(mixed.report().label, 'WebGPU', mixed.report().note ?? '');
  const decode = async (m: ScheduledModel) => {
    const memory = await m.encode(exp.context_ids);
    let r = await m.run(exp.ids.slice(0, 13), m.initState(), memory);
    const out: number[][] = [Array.from(r.logits)];
    for (let i = 0; i < 6; i++) {
      const next = await m.run([exp.ids[13 + i]], r.state, memory, { transient: true });
      m.releaseState(r.state);
      r = next;
      out.push(Array.from(r.logits));
    }
    // back to a chunk from a GPU-resident state
    r = await m.run(exp.ids.slice(19, 27), r.state, memory);
    out.push(Array.from(r.logits));
    return out;
  };
  const want = await decode(wasm);
  for (const plan of [
    { step: 'webgpu', prefill: 'wasm', encoder: 'wasm' },
    { step: 'wasm', prefill: 'webgpu', encoder: 'webgpu' },
  ] as const) {
    mixed.pin(plan);
    assert.equal(mixed.report().label, 'WebGPU + WASM');
    const got = await decode(mixed);
    for (let i = 0; i < want.length; i++) {
      const d = maxAbsDiff(got[i], want[i]);
      assert.ok(d <= TOL, `${JSON.stringify(plan)}: run ${i} differs by ${d}`);
    }
  }
  await wasm.release();
  await mixed.release();
});

test('the engine completes the same text on WebGPU as on WASM', async () => {
  const text =
    'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n\n\ndef sub(a, b):\n    ';
  const complete = async (backend: RuntimeOptions['backend']) => {
    const engine = await openEngine(fixtureFolder('linear'), runtime(backend));
    engine.open('file:///a.py', text);
    await engine.flushEncoder('file:///a.py', text.length);
    // (a time budget no busy machine reaches: both backends must decode all 12 tokens)
    const r = await engine.complete('file:///a.py', text.length, {
      maxTokens: 12,
      timeBudgetMs: 60_000,
    });
    const label = engine.session.backend;
    await engine.dispose();
    return { raw: r.raw, tokens: r.tokens, label };
  };
  const gpu = await complete('webgpu');
  const cpu = await complete('wasm');
  assert.equal(gpu.label, 'WebGPU');
  assert.equal(cpu.label, 'WASM');
  assert.ok(cpu.tokens > 0);
  assert.deepEqual(gpu, { ...cpu, label: 'WebGPU' });
});

test('auto times both backends and keeps single steps on WASM against a software rasterizer', async () => {
  const model = await ScheduledModel.open(fixtureFolder('linear'), runtime('auto'));
  assert.equal(model.report().label, 'WASM', 'WASM until measured');
  let changed = 0;
  model.onChange = () => changed++;
  await model.calibrate();
  const r = model.report();
  assert.equal(changed, 1);
  const t = r.timings.step!;
  assert.ok(t.wasm > 0 && t.webgpu > 0 && t['webgpu+capture'] > 0, JSON.stringify(r.timings));
  // llvmpipe pays a dispatch per op on the CPU: tens of ms against well under a ms.
  assert.equal(r.step, 'wasm', JSON.stringify(r.timings));
  assert.ok(t.webgpu > t.wasm);
  assert.ok(r.transferMs !== null && r.transferMs >= 0);
  await model.release();
});
