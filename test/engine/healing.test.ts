// Token healing: the prompt ends at the last stable token, and the bytes between it and the cursor
// (`heal`) must be reproduced by the first generated tokens. A scripted model prefers tokens that
// break them; decoding must never pick one, and the suggestion starts after the healed bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type GenerateParams, generate } from '../../src/engine/core/decode';
import { GREEDY, type SamplingOptions } from '../../src/engine/core/sampling';
import type { DecoderState, StepResult } from '../../src/engine/core/session';

const VOCAB = ['<eos>', 'x', 'r', 're', 'return', 'eturn', ' ', '\n', 'rx'];
const id = (piece: string) => VOCAB.indexOf(piece);
const EOS = 0;

/** Logits by piece before one generated token; pieces not named get -10. */
type Step = Record<string, number>;

interface FakeState extends DecoderState {
  ctx: number[];
}

/** The logits before the n-th generated token are `script[n]`; past the script, <eos>. */
function model(script: Step[]) {
  const logitsAt = (n: number) => {
    const l = new Float32Array(VOCAB.length).fill(-10);
    for (const [piece, v] of Object.entries(script[n] ?? { '<eos>': 10 })) l[id(piece)] = v;
    return l;
  };
  const start: FakeState = { pos: 0, bytes: 0, ctx: [] };
  return {
    first: { logits: logitsAt(0), state: start },
    step: async (next: number, s: DecoderState): Promise<StepResult> => {
      const ctx = [...(s as FakeState).ctx, next];
      return {
        logits: logitsAt(ctx.length),
        state: { pos: ctx.length, bytes: 0, ctx } as FakeState,
      };
    },
  };
}

function params(script: Step[], heal: string, sampling: SamplingOptions = GREEDY): GenerateParams {
  return {
    ...model(script),
    memory: null,
    tokenBytes: VOCAB.map((p, i) => (i === EOS ? '' : p)),
    banned: new Set(),
    eos: EOS,
    heal,
    rules: { multiline: false, maxLines: 1, baseIndent: 0, tabSize: 4 },
    maxTokens: 8,
    deadline: Infinity,
    sampling,
    cancelled: () => false,
    now: () => 0,
  };
}

// After healing the model writes " x" and ends the line.
const tail: Step[] = [{ ' ': 9 }, { x: 9 }, { '\n': 9 }];

test('one token reproduces the healed bytes; the text starts after them', async () => {
  // "x", "rx" and <eos> beat every token that starts with "re"
  const first = { x: 10, rx: 9, '<eos>': 8, return: 5, re: 3, r: 2 };
  const g = await generate(params([first, ...tail], 're'));
  assert.equal(g.ids[0], id('return'));
  assert.equal(g.text, 'turn x');
  assert.equal(g.stop, 'rule');
  // its probability is among the tokens that fit "re" (r, re, return), not the whole vocabulary
  const fit = Math.exp(5) + Math.exp(3) + Math.exp(2);
  assert.ok(Math.abs(g.logprobs[0] - (5 - Math.log(fit))) < 1e-5, `${g.logprobs[0]}`);
  // past the healed text every token counts: " " at 9 against eight others at -10
  assert.ok(Math.abs(g.logprobs[1] - -Math.log1p(8 * Math.exp(-19))) < 1e-6, `${g.logprobs[1]}`);
  assert.equal(g.logprobs.length, g.ids.length);
});

test('healing over two tokens: each must stay compatible with what is left', async () => {
  // "r" leaves "e" to heal: then "eturn" (not "x", not <eos>) must follow
  const script: Step[] = [{ rx: 10, r: 6, return: 1 }, { x: 10, '<eos>': 9, eturn: 4 }, ...tail];
  const g = await generate(params(script, 're'));
  assert.deepEqual(g.ids.slice(0, 2), [id('r'), id('eturn')]);
  assert.equal(g.text, 'turn x');
  // a banned token is no way to heal either
  const noEturn = { ...params(script, 're'), banned: new Set([id('eturn')]) };
  const h = await generate(noEturn);
  assert.equal(h.stop, 'no-token');
  assert.equal(h.text, '');
});

test('with no heal the favourite is taken as it is', async () => {
  const g = await generate(params([{ x: 10, return: 5 }, ...tail.slice(2)], ''));
  assert.equal(g.text, 'x');
});

test('sampled: every seed reproduces the healed bytes first and never repeats them', async () => {
  const first = { x: 3, rx: 3, '<eos>': 3, return: 2, re: 2, r: 2 };
  const second = { x: 3, '<eos>': 3, eturn: 2, ' ': 2 };
  const firsts = new Set<number>();
  for (let seed = 0; seed < 30; seed++) {
    const g = await generate(
      params([first, second, ...tail], 're', { ...GREEDY, temperature: 1, seed }),
    );
    const written = g.ids.map((i) => VOCAB[i]).join('');
    firsts.add(g.ids[0]);
    assert.ok(written.startsWith('re'), `seed ${seed}: ${JSON.stringify(written)}`);
    assert.ok(written.startsWith('re' + g.text), `seed ${seed}: ${JSON.stringify(g.text)}`);
    assert.ok(!g.text.startsWith('re'), `seed ${seed}: ${JSON.stringify(g.text)}`);
  }
  // the draws did explore: more than one healing token came up
  assert.ok(firsts.size > 1, `${[...firsts]}`);
});
