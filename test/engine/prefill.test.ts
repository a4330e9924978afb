// Gated delta's prefill graph (a fixed run of limits.prefill_chunk tokens) against the chunk graph's
// runs of 1..max_chunk: the same logits and the same state, in the runtime and through the engine.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readManifest, type Manifest } from '../../src/engine/runtime/manifest';
import { OrtModel, type OrtState } from '../../src/engine/runtime/runtime';
import type { DecoderState, EncoderMemory, StepResult } from '../../src/engine/core/session';
import { expected, fixtureFolder, maxAbsDiff, ROOT, tinyEngine } from './helpers';
import { openEngine } from '../../src/engine/models';

const TOL = 1e-4;
const SOURCE = readFileSync(path.join(ROOT, 'models', 'training', 'model.py'), 'utf8').slice(
  0,
  6000,
);

/** A copy of the tiny deltanet fixture with its manifest edited. */
function editedCopy(edit: (m: Manifest) => void): string {
  const from = fixtureFolder('deltanet');
  const dir = mkdtempSync(path.join(tmpdir(), 'linea-prefill-'));
  for (const f of readdirSync(from)) copyFileSync(path.join(from, f), path.join(dir, f));
  const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  edit(m);
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
  return dir;
}

/** The fixture as a folder exported before prefill graphs: the chunk graph alone. */
function withoutPrefill(): string {
  return editedCopy((m) => {
    delete m.graphs[m.prefill!];
    delete m.prefill;
    delete m.limits.prefill_chunk;
  });
}

test('a manifest has both the prefill graph and its length, or neither', () => {
  assert.equal(readManifest(fixtureFolder('deltanet')).limits.prefill_chunk, 128);
  assert.equal(readManifest(withoutPrefill()).prefill, undefined);
  const cases: Array<[(m: Manifest) => void, RegExp]> = [
    [(m) => delete m.limits.prefill_chunk, /"prefill" and limits\.prefill_chunk go together/],
    [(m) => (m.prefill = 'nope'), /prefill graph "nope" is not in "graphs"/],
    [(m) => (m.limits.prefill_chunk = 8), /limits\.prefill_chunk must be an integer above/],
  ];
  for (const [edit, message] of cases) {
    assert.throws(() => readManifest(editedCopy(edit)), message);
  }
});

function stateDiff(a: DecoderState, b: DecoderState): number {
  const ta = (a as OrtState).tensors;
  const tb = (b as OrtState).tensors;
  let d = 0;
  for (let i = 1; i < ta.length; i++) {
    d = Math.max(d, maxAbsDiff(ta[i].data as Float32Array, tb[i].data as Float32Array));
  }
  return d;
}

test('deltanet: a prefill run leaves the logits and state of its 16-token chunks', async () => {
  const model = await OrtModel.load(fixtureFolder('deltanet'), { threads: 1 });
  const n = model.manifest.limits.prefill_chunk!;
  const max = model.manifest.limits.max_chunk;
  assert.equal(n, 128);
  const ids = expected('deltanet').ids;
  const memory: EncoderMemory | null = await model.nullMemory();
  // a few tokens first: the prefill run starts from a state that is not the initial one
  const start = (await model.run(ids.slice(0, 3), model.initState(), memory)).state;
  let chunked: StepResult = { logits: new Float32Array(0), state: start };
  for (let at = 3; at < 3 + n; at += max) {
    chunked = await model.run(ids.slice(at, at + max), chunked.state, memory);
  }
  const prefilled = await model.run(ids.slice(3, 3 + n), start, memory);
  assert.equal(prefilled.state.pos, 3 + n);
  const logits = maxAbsDiff(prefilled.logits, chunked.logits);
  assert.ok(logits <= TOL, `logits differ by ${logits}`);
  const state = stateDiff(prefilled.state, chunked.state);
  assert.ok(state <= TOL, `state differs by ${state}`);
  // and the chunk graph and step go on from the prefill's state as from their own
  const next = await model.run(ids.slice(3 + n, 3 + n + 5), prefilled.state, memory);
  const nextRef = await model.run(ids.slice(3 + n, 3 + n + 5), chunked.state, memory);
  assert.ok(maxAbsDiff(next.logits, nextRef.logits) <= TOL);
  await assert.rejects(model.run(ids.slice(0, 100), start, memory), /1\.\.16 or exactly 128/);
  await model.release();
});

test('deltanet: a document read through the prefill graph gives the logits of the chunk path', async () => {
  let prefillRuns = 0;
  const run = OrtModel.prototype.run;
  OrtModel.prototype.run = function (this: OrtModel, ids, ...rest) {
    if (ids.length === this.manifest.limits.prefill_chunk) prefillRuns++;
    return run.call(this, ids, ...rest);
  };
  const folder = withoutPrefill();
  try {
    // exact (checkpoints every 256, saved) and windowed (a cold read that saves nothing) paths
    for (const options of [{}, { syncReadLimit: 64, coldWindow: 300 }]) {
      const engine = await tinyEngine('deltanet', { encoderDebounceMs: 1, ...options });
      const chunks = await openEngine(folder, { threads: 1 }, { encoderDebounceMs: 1, ...options });
      for (const offset of [SOURCE.length, 2500]) {
        const before = prefillRuns;
        engine.open('doc', SOURCE);
        chunks.open('doc', SOURCE);
        const got = await engine.nextLogits('doc', offset);
        assert.ok(prefillRuns > before, 'the prefill graph was not used');
        const want = await chunks.nextLogits('doc', offset);
        assert.equal(got.source, want.source);
        const diff = maxAbsDiff(got.logits, want.logits);
        assert.ok(diff <= TOL, `${got.source} at ${offset}: logits differ by ${diff}`);
        engine.close('doc');
        chunks.close('doc');
      }
      await engine.dispose();
      await chunks.dispose();
    }
  } finally {
    OrtModel.prototype.run = run;
  }
});
