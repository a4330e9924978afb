// onnxruntime-web (WASM) against the golden fixtures PyTorch wrote: same logits, state and memory.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ModelError } from '../../src/engine/runtime/manifest';
import { OrtModel } from '../../src/engine/runtime/runtime';
import { expected, FIXTURE_MODELS, FIXTURES, fixtureFolder, maxAbsDiff } from './helpers';

const TOL = 1e-4;

for (const variant of FIXTURE_MODELS) {
  test(`${variant}: logits, memory and state match PyTorch`, async () => {
    const model = await OrtModel.load(fixtureFolder(variant), { threads: 1 });
    const exp = expected(variant);
    const memory = await model.encode(exp.context_ids);
    assert.ok(memory);
    const memData = (memory as unknown as { tensor: { data: Float32Array } }).tensor.data;
    assert.ok(maxAbsDiff(memData, exp.memory) <= TOL, 'encoder memory differs');
    const nullMem = (await model.nullMemory()) as unknown as { tensor: { data: Float32Array } };
    assert.ok(maxAbsDiff(nullMem.tensor.data, exp.null_memory) <= TOL, 'null memory differs');

    let state = model.initState();
    let at = 0;
    for (const [i, size] of exp.schedule.entries()) {
      const r = await model.run(exp.ids.slice(at, at + size), state, memory);
      at += size;
      state = r.state;
      const diff = maxAbsDiff(r.logits, exp.runs[i].logits);
      assert.ok(diff <= TOL, `logits after ${at} tokens differ by ${diff}`);
    }
    assert.equal(state.pos, at);
    const tensors = (
      state as unknown as {
        tensors: Array<{ data: ArrayLike<number | bigint>; dims: readonly number[] }>;
      }
    ).tensors;
    const names = Object.keys(exp.final_state);
    for (const [i, name] of names.entries()) {
      const want = exp.final_state[name];
      assert.deepEqual([...tensors[i].dims], want.shape, `${name} shape`);
      const data = Array.from(tensors[i].data, Number);
      const sum = data.reduce((a, b) => a + b, 0);
      assert.ok(
        Math.abs(sum - want.sum) <= TOL * Math.max(1, Math.abs(want.abs_sum)),
        `${name} sum`,
      );
      assert.ok(maxAbsDiff(data.slice(0, want.head.length), want.head) <= TOL, `${name} values`);
    }
    await model.release();
  });
}

function brokenCopy(variant: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'linea-broken-'));
  for (const f of readdirSync(fixtureFolder(variant)))
    copyFileSync(path.join(fixtureFolder(variant), f), path.join(dir, f));
  return dir;
}

test('a missing, corrupt or mismatched model file is named in the error', async () => {
  const dir = brokenCopy('linear');
  writeFileSync(path.join(dir, 'weights.bin'), 'garbage');
  await assert.rejects(OrtModel.load(dir, { threads: 1 }), (e: Error) => {
    assert.ok(e instanceof ModelError);
    assert.match(
      e.message,
      /weights\.bin: is 7 bytes, manifest\.json says \d+ \(corrupt or truncated\)/,
    );
    return true;
  });
  await assert.rejects(
    OrtModel.load(path.join(dir, 'nope'), { threads: 1 }),
    /manifest\.json: missing/,
  );
  const dir2 = brokenCopy('linear');
  writeFileSync(path.join(dir2, 'manifest.json'), '{"format": 1, "id": 3}');
  await assert.rejects(
    OrtModel.load(dir2, { threads: 1 }),
    /manifest\.json: "id" must be a string/,
  );
});

test('a graph onnxruntime cannot load is named, not a stack trace', async () => {
  const dir = brokenCopy('linear');
  // Valid sha256/size in the manifest but not an ONNX file: skip verification to reach onnxruntime.
  writeFileSync(path.join(dir, 'decoder.onnx'), 'this is not onnx');
  await assert.rejects(
    OrtModel.load(dir, { threads: 1 }, { verify: false }),
    /decoder\.onnx: onnxruntime could not load it/,
  );
});

test('a state shape that disagrees with the graph is named', async () => {
  const dir = brokenCopy('linear');
  const file = path.join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  m.state[1].shape = [4, 9, 9];
  writeFileSync(file, JSON.stringify(m));
  await assert.rejects(
    OrtModel.load(dir, { threads: 1 }),
    /decoder\.onnx: input past\.l0\.S is float32\[4, 8, 8\] in the graph, manifest\.json says float32\[4, 9, 9\]/,
  );
});

test('an op the runtime does not have is named with the file', async () => {
  const dir = brokenCopy('linear');
  copyFileSync(
    path.join(FIXTURES, 'models', 'unsupported-op.onnx'),
    path.join(dir, 'decoder.onnx'),
  );
  await assert.rejects(OrtModel.load(dir, { threads: 1 }, { verify: false }), (e: Error) => {
    assert.match(e.message, /decoder\.onnx: onnxruntime could not load it/);
    assert.match(e.message, /LineaNoSuchOp/);
    return true;
  });
});

test('models loading and running at once give what each gives alone', async () => {
  // The comparison view's engines share the worker's onnxruntime with the editor's engine (each engine
  // has its own lock, and sessions are also created lazily): a session created while another ran broke
  // it ("Reading data from non-tensor typed value is not supported", then the comparison hung), and two
  // created at once failed ("Can't create a session").
  const variants = ['softmax', 'deltanet', 'linear'];
  const job = (model: OrtModel, m: number, n: number) => async () => {
    const ids = expected(FIXTURE_MODELS[0]).ids.slice(m, m + n);
    const r = await model.run(ids, model.initState(), await model.nullMemory());
    return { logits: r.logits.slice(), pos: r.state.pos };
  };
  const first = [];
  for (const v of variants) first.push(await OrtModel.load(fixtureFolder(v), { threads: 1 }));
  const jobs = first.flatMap((model, m) => [1, 3, 8, 16].map((n) => job(model, m, n)));
  const alone = [];
  for (const j of jobs) alone.push(await j());
  for (let round = 0; round < 3; round++) {
    const loading = variants.map((v) => OrtModel.load(fixtureFolder(v), { threads: 1 }));
    const together = await Promise.all(jobs.map((j) => j()));
    for (const [i, got] of together.entries()) {
      assert.equal(got.pos, alone[i].pos);
      assert.ok(
        maxAbsDiff(got.logits, alone[i].logits) <= TOL,
        `job ${i} differs when run at once`,
      );
    }
    const loaded = await Promise.all(loading);
    const again = await Promise.all(
      loaded.flatMap((model, m) => [1, 16].map((n) => job(model, m, n)())),
    );
    for (const [k, got] of again.entries()) {
      const want = alone[Math.floor(k / 2) * 4 + (k % 2) * 3];
      assert.ok(
        maxAbsDiff(got.logits, want.logits) <= TOL,
        `a model loaded meanwhile differs (${k})`,
      );
    }
    for (const model of loaded) await model.release();
  }
  for (const model of first) await model.release();
});
