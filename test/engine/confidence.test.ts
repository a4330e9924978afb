// The confidence gate's number: each token's probability where it was picked, and the first line's
// probability the gate compares with linea.minConfidence.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstLineProbability } from '../../src/engine/core/confidence';
import { logProbability } from '../../src/engine/core/sampling';

test('logProbability is the softmax among the allowed tokens', () => {
  const logits = new Float32Array([2, 1, 0, -1]);
  const z = Math.exp(2) + Math.exp(1) + Math.exp(0) + Math.exp(-1);
  assert.ok(Math.abs(logProbability(logits, 1, null) - (1 - Math.log(z))) < 1e-6);
  // only ids 1 and 2 allowed: id 1 gets e / (e + 1)
  const some = (i: number) => i === 1 || i === 2;
  assert.ok(Math.abs(logProbability(logits, 1, some) - (1 - Math.log(Math.E + 1))) < 1e-6);
  // large logits do not overflow
  const big = new Float32Array([1000, 1000]);
  assert.ok(Math.abs(logProbability(big, 0, null) - Math.log(0.5)) < 1e-6);
});

const BYTES = ['x', ' = ', '1', '\n', '\n    ', 'y', ')\n', ',\n    '];
const lp = (...ps: number[]) => ps.map(Math.log);

test('firstLineProbability multiplies the first line through the token that ends it', () => {
  // "x = 1\n" then "y": the second line does not count
  const p = firstLineProbability([0, 1, 2, 3, 5], lp(0.9, 0.5, 0.8, 0.7, 0.01), BYTES);
  assert.ok(Math.abs(p - 0.9 * 0.5 * 0.8 * 0.7) < 1e-9, `${p}`);
  // a token that ends the line with text before the newline ends it too
  const q = firstLineProbability([5, 6, 5], lp(0.5, 0.5, 0.01), BYTES);
  assert.ok(Math.abs(q - 0.25) < 1e-9, `${q}`);
});

test('a leading newline starts the first line rather than ending it', () => {
  // "\n    y)\n" (a suggestion that opens the next line): newline, y, ")\n"
  const p = firstLineProbability([4, 5, 6, 0], lp(0.5, 0.5, 0.5, 0.01), BYTES);
  assert.ok(Math.abs(p - 0.125) < 1e-9, `${p}`);
});

test('typed bytes re-read by the first token are not the first line', () => {
  // the cursor after a typed ",": the token ",\n    " re-reads it and opens the suggestion's line
  const ids = [7, 5, 6, 0];
  const lps = lp(0.5, 0.5, 0.5, 0.01);
  assert.ok(Math.abs(firstLineProbability(ids, lps, BYTES, ',') - 0.125) < 1e-9);
  // without the healed bytes the same tokens would end the line at once
  assert.ok(Math.abs(firstLineProbability(ids, lps, BYTES) - 0.5) < 1e-9);
});

test('nothing generated is certain, and a single line is all first line', () => {
  assert.equal(firstLineProbability([], [], BYTES), 1);
  const p = firstLineProbability([0, 1, 2], lp(0.5, 0.5, 0.5), BYTES);
  assert.ok(Math.abs(p - 0.125) < 1e-9);
});
