// Exact recall: the matcher's candidates and mixture on hand-made token arrays, and the copy rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logSumExp } from '../../src/engine/core/sampling';
import {
  copyRule,
  DEFAULT_RECALL_OPTIONS,
  RecallMatcher,
  softmax,
} from '../../src/engine/core/recall';

const uniform = (v: number) => new Float32Array(v).fill(1 / v);
// The nesting itself, without the distinct-token term (its own test below).
const opts = {
  ...DEFAULT_RECALL_OPTIONS,
  maxOrder: 4,
  kappa: 1,
  orderDecay: 1,
  distinctPower: 0,
  distinctPowerFar: 0,
};

test('the mixture is nested from order 1 up: λ = c / (c + κ) at each order', () => {
  //          0  1  2  3  4  5  6  7
  const ids = [1, 2, 3, 1, 2, 4, 9, 9];
  // context ...1 2: positions 2 and 5 follow "1 2" (order 2) and predict 3 and 4.
  const m = new RecallMatcher([{ ids }], [1, 2], opts);
  const p = uniform(10);
  const vote = m.mix(p);
  assert.equal(vote.order, 2);
  assert.equal(vote.count, 2);
  // order 1 ("2" precedes positions 2 and 5): p <- (n1 + p) / (2 + 1); order 2: the same two.
  const expect = (n: number) => (n + (n + 0.1) / 3) / 3;
  assert.ok(Math.abs(p[3] - expect(1)) < 1e-6);
  assert.ok(Math.abs(p[4] - expect(1)) < 1e-6);
  assert.ok(Math.abs(p[0] - expect(0)) < 1e-6);
  const sum = p.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `sums to ${sum}`);
});

test('a context followed by different tokens defers to the model (κ·u^α); one followed by the same token does not', () => {
  const o = { ...opts, distinctPower: 1 };
  // "1 2" was followed by 3 and by 4: u = 2 at orders 1 and 2, so κ = 2 at both
  const split = uniform(10);
  new RecallMatcher([{ ids: [1, 2, 3, 1, 2, 4, 9, 9] }], [1, 2], o).mix(split);
  assert.ok(Math.abs(split[3] - (1 + 2 * ((1 + 2 * 0.1) / 4)) / 4) < 1e-6, `p[3] = ${split[3]}`);
  assert.ok(Math.abs(split[0] - (2 * ((2 * 0.1) / 4)) / 4) < 1e-6, `p[0] = ${split[0]}`);
  // "1 2" was followed by 3 both times: u = 1, κ stays 1, the same as without the term
  const same = uniform(10);
  const plain = uniform(10);
  new RecallMatcher([{ ids: [1, 2, 3, 1, 2, 3, 9, 9] }], [1, 2], o).mix(same);
  new RecallMatcher([{ ids: [1, 2, 3, 1, 2, 3, 9, 9] }], [1, 2], opts).mix(plain);
  for (let t = 0; t < 10; t++) assert.ok(Math.abs(same[t] - plain[t]) < 1e-7);
  assert.ok(same[3] > 0.8);
});

test('κ shrinks with the order (γ); recent files are mixed in before the document, which has the final say', () => {
  const o = { ...opts, orderDecay: 0.5, kappaFar: 4, orderDecayFar: 1 };
  const m = new RecallMatcher([{ ids: [1, 2, 3] }, { ids: [1, 2, 4], distance: 2 }], [1, 2], o);
  const p = uniform(10);
  m.mix(p);
  // far (κ 4 at both orders): 4 -> (1 + 4·0.1)/5 = 0.28 -> (1 + 4·0.28)/5 = 0.424, others 0.064
  // document (κ 1, then 0.5): 3 -> (1 + 0.064)/2 = 0.532 -> (1 + 0.5·0.532)/1.5 = 0.844
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
  assert.ok(near(p[3], 0.844), `p[3] = ${p[3]}`);
  assert.ok(near(p[4], (0.5 * (0.424 / 2)) / 1.5), `p[4] = ${p[4]}`);
  assert.ok(near(p[0], (0.5 * (0.064 / 2)) / 1.5), `p[0] = ${p[0]}`);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  // the same counts from the document itself would weigh more than from a recent file
  const asDoc = new RecallMatcher([{ ids: [1, 2, 4] }], [1, 2], o);
  const q = uniform(10);
  asDoc.mix(q);
  const far = new RecallMatcher([{ ids: [1, 2, 4], distance: 2 }], [1, 2], o);
  const r = uniform(10);
  far.mix(r);
  assert.ok(q[4] > r[4] && r[4] > 0.1);
});

test('advancing keeps the occurrences that continue with the token, one longer', () => {
  const ids = [5, 6, 7, 8, 5, 6, 7, 2, 5, 6, 3];
  const m = new RecallMatcher([{ ids }], [5, 6], opts);
  assert.equal(m.candidates, 3); // after each "5 6"
  m.advance(7);
  assert.equal(m.candidates, 2);
  const p = uniform(10);
  const vote = m.mix(p);
  assert.equal(vote.order, 3); // "5 6 7"
  assert.ok(p[8] > 0.3 && p[2] > 0.3);
});

test('nothing left to follow: a rescan with the new context, at most maxRescans times', () => {
  const ids = [1, 2, 3, 7, 8, 1, 2];
  const m = new RecallMatcher([{ ids }], [1, 2], { ...opts, maxRescans: 1 });
  m.advance(7); // no "1 2 7": rescan finds "7 -> 8"
  assert.equal(m.candidates, 1);
  assert.equal(m.mix(uniform(10)).top, 8);
  m.advance(0);
  m.advance(0);
  assert.equal(m.candidates, 0);
  assert.equal(m.mix(uniform(10)).order, -1);
});

test("the cursor's own text is never a candidate", () => {
  const ids = [1, 2, 3, 4, 1, 2, 5];
  const m = new RecallMatcher([{ ids, skipFrom: 6, skipTo: 7 }], [1, 2], opts);
  const p = uniform(10);
  m.mix(p);
  assert.ok(p[3] > p[5]);
  assert.ok(Math.abs(p[5] - p[0]) < 1e-7, 'position 6 predicted itself');
});

test('other documents take part after the current one', () => {
  const here = [1, 2, 9];
  const other = [4, 1, 2, 6, 6];
  const m = new RecallMatcher(
    [{ ids: here, skipFrom: 2, skipTo: 3 }, { ids: other }],
    [1, 2],
    opts,
  );
  assert.equal(m.mix(uniform(10)).top, 6);
});

test('a partial identifier at the cursor finds tokens that complete it (order 0)', () => {
  const bytes = ['', ' return', ' h', ' hash', ' x', '\n', ' hello', '='];
  //           return  h   \n  hash =  x
  const ids = [1, 5, 3, 7, 4];
  const m = new RecallMatcher([{ ids }], [9], opts, { bytes: ' h', tokenBytes: bytes });
  const p = uniform(8);
  const vote = m.mix(p);
  assert.equal(vote.order, 0);
  assert.equal(vote.top, 3);
  // a lone space fits too much of the vocabulary to be worth recalling from
  const blank = new RecallMatcher([{ ids }], [9], opts, { bytes: ' ', tokenBytes: bytes });
  assert.equal(blank.candidates, 0);
});

test('a million identical tokens: candidates and scan stay bounded', () => {
  const ids = new Array<number>(1_000_000).fill(7);
  const t0 = performance.now();
  const m = new RecallMatcher([{ ids }], [7, 7, 7], { ...DEFAULT_RECALL_OPTIONS, maxOrder: 8 });
  assert.ok(m.candidates <= DEFAULT_RECALL_OPTIONS.maxCandidates);
  const p = uniform(16);
  assert.equal(m.mix(p).top, 7);
  m.advance(7);
  assert.ok(m.candidates <= DEFAULT_RECALL_OPTIONS.maxCandidates);
  assert.ok(performance.now() - t0 < 5000);
  const small = new RecallMatcher([{ ids }], [7], { ...DEFAULT_RECALL_OPTIONS, scanBudget: 1000 });
  assert.ok(small.candidates <= 1000);
});

test('mixLogits is log(mix(softmax(logits))) up to a constant, without a pass per order', () => {
  const ids = [1, 2, 3, 1, 2, 4, 9, 1, 2, 3, 5];
  const logits = new Float32Array([0.5, -1, 2, 30, 1, -40, 0, 3, 1, 2]);
  const a = new RecallMatcher([{ ids }], [1, 2], opts);
  const b = new RecallMatcher([{ ids }], [1, 2], opts);
  const p = softmax(logits);
  b.mix(p);
  const { logits: mixed, vote, logSumExp: lse } = a.mixLogits(logits);
  assert.equal(vote.top, 3);
  const shift = mixed[0] - Math.log(p[0]);
  for (let t = 0; t < 10; t++)
    assert.ok(Math.abs(mixed[t] - Math.log(p[t]) - shift) < 1e-4, `token ${t}`);
  // its normaliser is the mixed logits' own: mixed - lse is log p for every token
  assert.ok(Math.abs(lse! - logSumExp(mixed)) < 1e-5, `${lse} vs ${logSumExp(mixed)}`);
  for (let t = 0; t < 10; t++)
    assert.ok(Math.abs(mixed[t] - lse! - Math.log(p[t])) < 1e-4, `token ${t}`);
  // no candidates: the logits come back as they are
  const none = new RecallMatcher([{ ids }], [42], opts);
  assert.equal(none.mixLogits(logits).logits, logits);
});

test('softmax is a distribution and keeps the order of the logits', () => {
  const p = softmax(new Float32Array([1000, 999, -5]));
  assert.ok(Math.abs(p[0] + p[1] + p[2] - 1) < 1e-6);
  assert.ok(p[0] > p[1] && p[1] > p[2]);
});

test('copyRule: what followed the latest longest match, to the end of its line', () => {
  assert.equal(copyRule('x = foo(a, b)\ny = 2\nz = foo('), 'a, b)');
  assert.equal(copyRule('abc\nxyz'), '');
  assert.equal(copyRule('ab\nq ab x\nab'), ' x');
});
