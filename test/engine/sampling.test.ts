// Choosing the next token: greedy, temperature, top-k, top-p, the allowed filter, the seeded PRNG.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  GREEDY,
  pickToken,
  seededRandom,
  type SamplingOptions,
} from '../../src/engine/core/sampling';

const logits = (...v: number[]) => new Float32Array(v);
/** Logits whose softmax at temperature 1 is exactly `probs`. */
const fromProbs = (...probs: number[]) => logits(...probs.map(Math.log));
const sample = (o: Partial<SamplingOptions>): SamplingOptions => ({
  ...GREEDY,
  temperature: 1,
  ...o,
});

/** The set of ids picked over many seeded draws. */
function picked(l: Float32Array, opts: SamplingOptions, n = 2000): Set<number> {
  const random = seededRandom(opts.seed);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) seen.add(pickToken(l, null, opts, random));
  return seen;
}

test('greedy picks the argmax, whatever the random source says', () => {
  assert.equal(
    pickToken(logits(0.1, 3, -2, 2.9), null, GREEDY, () => 0.999),
    1,
  );
  assert.equal(
    pickToken(logits(-5, -1, -3), null, GREEDY, () => 0),
    1,
  );
});

test('top-k never returns a token outside the k best', () => {
  const l = logits(1, 5, 0, 4, 2, 3, -1);
  // flat at high temperature, so without the cut every token would come up
  assert.deepEqual([...picked(l, sample({ temperature: 50 }))].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...picked(l, sample({ temperature: 50, topK: 3 }))].sort(), [1, 3, 5]);
  assert.deepEqual([...picked(l, sample({ temperature: 50, topK: 1 }))], [1]);
});

test('top-p never returns a token outside the nucleus', () => {
  const l = fromProbs(0.1, 0.5, 0.05, 0.3, 0.05);
  // 0.5 < 0.7 <= 0.5 + 0.3: the nucleus is {1, 3}
  assert.deepEqual([...picked(l, sample({ topP: 0.7 }))].sort(), [1, 3]);
  assert.deepEqual([...picked(l, sample({ topP: 0.4 }))], [1]);
  assert.deepEqual([...picked(l, sample({ topP: 0.85 }))].sort(), [0, 1, 3]);
  assert.equal(picked(l, sample({ topP: 1 })).size, 5);
});

test('temperature flattens or sharpens the distribution', () => {
  // p(1) : p(0) is 3 : 1 at temperature 1, so token 1 takes draws below 0.75 ...
  const l = logits(0, Math.log(3));
  assert.equal(
    pickToken(l, null, sample({}), () => 0.7),
    1,
  );
  assert.equal(
    pickToken(l, null, sample({}), () => 0.8),
    0,
  );
  // ... and at temperature 2 it is √3 : 1, so only below 0.634
  assert.equal(
    pickToken(l, null, sample({ temperature: 2 }), () => 0.7),
    0,
  );
  // near zero it is almost greedy
  assert.equal(
    pickToken(l, null, sample({ temperature: 0.01 }), () => 0.999),
    1,
  );
});

test('the seeded PRNG is deterministic', () => {
  const draw = (seed: number) => Array.from({ length: 8 }, seededRandom(seed));
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
  for (const x of draw(7)) assert.ok(x >= 0 && x < 1, `${x}`);
  // so are sampled picks with the same seed
  const picks = (seed: number) => {
    const random = seededRandom(seed);
    const l = logits(0, 0, 0, 0, 0, 0, 0, 0);
    return Array.from({ length: 20 }, () => pickToken(l, null, sample({ seed }), random));
  };
  assert.deepEqual(picks(5), picks(5));
  assert.notDeepEqual(picks(5), picks(6));
});

test('disallowed tokens are never picked, greedy or sampled; none allowed gives -1', () => {
  const l = logits(9, 1, 8, 0);
  const banned = new Set([0, 2]);
  const allowed = (id: number) => !banned.has(id);
  assert.equal(pickToken(l, allowed, GREEDY, Math.random), 1);
  const random = seededRandom(1);
  const opts = sample({ temperature: 100 });
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) seen.add(pickToken(l, allowed, opts, random));
  assert.deepEqual([...seen].sort(), [1, 3]);
  assert.equal(
    pickToken(l, () => false, GREEDY, Math.random),
    -1,
  );
  assert.equal(
    pickToken(l, () => false, opts, Math.random),
    -1,
  );
});
