// Copy drafts (speculative decoding with recall as the draft): the suggestion must be exactly what
// step-by-step greedy decoding gives, with fewer model runs. First against a scripted model, where
// every accept/reject path is forced; then with the shipped default on real source files.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { type DraftRunner, type GenerateParams, generate } from '../../src/engine/core/decode';
import type { Engine } from '../../src/engine/engine';
import { DEFAULT_MODEL_ID, openEngine } from '../../src/engine/models';
import { RecallMatcher } from '../../src/engine/core/recall';
import { GREEDY } from '../../src/engine/core/sampling';
import type { DecoderState, StepResult } from '../../src/engine/core/session';
import { ROOT } from './helpers';

// A scripted "model" over a 6-token vocabulary: the next token is a fixed function of the last two,
// so its greedy output is known, and recall (from `source`) sometimes agrees and sometimes not.
const V = 6;
interface FakeState extends DecoderState {
  ctx: number[];
}
const nextOf = (ctx: number[]) =>
  ctx.length < 2 ? 1 : (ctx[ctx.length - 1] * 3 + ctx[ctx.length - 2]) % 5;
const logitsFor = (ctx: number[]) => {
  const l = new Float32Array(V).fill(0);
  l[nextOf(ctx)] = 5; // confident enough that a few recall votes never outweigh it
  return l;
};
const feed = (ids: number[], s: DecoderState): FakeState => {
  const ctx = [...(s as FakeState).ctx, ...ids];
  return { pos: ctx.length, bytes: 0, ctx };
};

function params(
  source: number[],
  context: number[],
  draft: DraftRunner | undefined,
  counts: { step: number; all: number; run: number },
): GenerateParams {
  const start = feed(context, { pos: 0, bytes: 0, ctx: [] } as FakeState);
  return {
    first: { logits: logitsFor(start.ctx), state: start },
    memory: null,
    step: async (id, s): Promise<StepResult> => {
      counts.step++;
      const n = feed([id], s);
      return { logits: logitsFor(n.ctx), state: n };
    },
    tokenBytes: ['', 'a', 'b', 'c', 'd', 'e'],
    banned: new Set(),
    eos: 0,
    heal: '',
    rules: { multiline: true, maxLines: 100, baseIndent: 0, tabSize: 4 },
    maxTokens: 24,
    deadline: Infinity,
    sampling: GREEDY,
    cancelled: () => false,
    now: () => 0,
    recall: new RecallMatcher([{ ids: source }], context),
    draft,
  };
}

function scriptedDraft(counts: { step: number; all: number; run: number }): DraftRunner {
  return {
    runAll: async (ids, s) => {
      counts.all++;
      const rows = ids.map((_, i) => logitsFor(feed(ids.slice(0, i + 1), s).ctx));
      return { rows, state: feed(ids, s) };
    },
    run: async (ids, s) => {
      counts.run++;
      const n = feed(ids, s);
      return { logits: logitsFor(n.ctx), state: n };
    },
    maxChunk: 6,
    minOrder: 1,
  };
}

test('copy drafts give exactly the step-by-step tokens, accepting and rejecting', async () => {
  // the greedy sequence from [1, 2], then the same with a few tokens changed: recall proposes the
  // sequence it saw, the model disagrees where it was changed
  const ctx = [1, 2];
  const truth: number[] = [...ctx];
  for (let i = 0; i < 30; i++) truth.push(nextOf(truth));
  const variants = [
    truth,
    truth.map((t, i) => (i % 7 === 5 ? (t + 1) % 5 : t)),
    truth.map((t, i) => (i === 9 ? 4 - (t % 5) : t)),
  ];
  for (const source of variants) {
    const plain = { step: 0, all: 0, run: 0 };
    const want = await generate(params(source, ctx, undefined, plain));
    const withDrafts = { step: 0, all: 0, run: 0 };
    const got = await generate(params(source, ctx, scriptedDraft(withDrafts), withDrafts));
    assert.deepEqual(got.ids, want.ids);
    assert.equal(got.text, want.text);
    assert.equal(want.runs, plain.step);
    assert.equal(got.runs, withDrafts.step + withDrafts.all + withDrafts.run);
    assert.ok(withDrafts.all > 0, 'no draft was tried');
    assert.ok(got.runs < want.runs, `${got.runs} runs with drafts, ${want.runs} without`);
    assert.ok(want.ids.length > 12, `only ${want.ids.length} tokens`);
  }
});

test('a draft run that fails turns drafts off and decoding goes on step by step', async () => {
  const ctx = [1, 2];
  const truth: number[] = [...ctx];
  for (let i = 0; i < 30; i++) truth.push(nextOf(truth));
  const counts = { step: 0, all: 0, run: 0 };
  const errors: unknown[] = [];
  const draft: DraftRunner = {
    ...scriptedDraft(counts),
    runAll: async () => {
      counts.all++;
      throw new Error('no such graph');
    },
    onError: (e) => errors.push(e),
  };
  const want = await generate(params(truth, ctx, undefined, { step: 0, all: 0, run: 0 }));
  const got = await generate(params(truth, ctx, draft, counts));
  assert.deepEqual(got.ids, want.ids);
  assert.equal(counts.all, 1);
  assert.equal(errors.length, 1);
});

let engine: Engine;
before(async () => {
  engine = await openEngine(path.join(ROOT, 'models', DEFAULT_MODEL_ID), { threads: 1 });
});
after(() => engine.dispose());

test('with the shipped default on real code: the same suggestions, fewer model runs', async (t) => {
  const files = ['src/engine/core/recall.ts', 'models/training/train.py'];
  let runsOn = 0;
  let runsOff = 0;
  let drafted = 0;
  for (const file of files) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    const uri = `file:///w/${path.basename(file)}`;
    const lines = text.split('\n');
    // the start of every 9th non-blank line in the second half, after its indentation
    let offset = 0;
    const cuts: number[] = [];
    lines.forEach((line, i) => {
      if (i > lines.length / 2 && i % 9 === 0 && line.trim()) cuts.push(offset + line.search(/\S/));
      offset += line.length + 1;
    });
    for (const at of cuts.slice(0, 8)) {
      engine.open(uri, text.slice(0, at) + text.slice(text.indexOf('\n', at)));
      const ask = { maxTokens: 24, timeBudgetMs: 60_000, multiline: true, maxLines: 3 };
      const on = await engine.complete(uri, at, { ...ask, copyDrafts: true });
      const off = await engine.complete(uri, at, { ...ask, copyDrafts: false });
      assert.equal(on.raw, off.raw, `${file} at ${at}`);
      assert.equal(off.drafted, 0);
      runsOn += on.runs;
      runsOff += off.runs;
      drafted += on.drafted;
      engine.close(uri);
    }
  }
  t.diagnostic(
    `${runsOff} model runs step by step, ${runsOn} with copy drafts (${drafted} tokens drafted)`,
  );
  assert.ok(drafted > 0, 'no drafted token was accepted');
  assert.ok(runsOn < runsOff, `${runsOn} runs with drafts, ${runsOff} without`);
});
