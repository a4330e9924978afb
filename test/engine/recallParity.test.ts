// Recall's mixture in TypeScript against the golden cases in test/fixtures/recall-parity.json, which
// models/training/recall.py must reproduce too (models/training/tests/test_recall.py): the evaluator's
// bits/byte with recall and the engine's are the same computation.
// LINEA_REGEN=1 rewrites the file from this implementation (then both sides must pass again).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  DEFAULT_RECALL_OPTIONS,
  RecallMatcher,
  type RecallOptions,
} from '../../src/engine/core/recall';
import { FIXTURES, rng } from './helpers';

const FILE = path.join(FIXTURES, 'recall-parity.json');
const V = 12;

interface Case {
  sources: Array<{ ids: number[]; distance: number; skipFrom?: number; skipTo?: number }>;
  context: number[];
  options: Partial<RecallOptions>;
  /** The model's distribution before each step; the step's token is `advance[i]`. */
  probs: number[][];
  advance: number[];
  /** The mixed distribution at each step. */
  expected: number[][];
}

function run(c: Case): number[][] {
  const m = new RecallMatcher(c.sources, c.context, { ...DEFAULT_RECALL_OPTIONS, ...c.options });
  const out: number[][] = [];
  c.probs.forEach((p, i) => {
    const q = Float32Array.from(p);
    m.mix(q);
    out.push([...q]);
    m.advance(c.advance[i]);
  });
  return out;
}

function makeCases(): Case[] {
  const r = rng(20261203);
  const tokens = (n: number, vocab: number) =>
    Array.from({ length: n }, () => Math.floor(r() * vocab));
  const cases: Case[] = [];
  const optionSets: Array<Partial<RecallOptions>> = [
    {},
    { kappa: 1, orderDecay: 1, maxOrder: 4 },
    { kappa: 8, orderDecay: 0.5, kappaFar: 4, orderDecayFar: 0.9, maxOrder: 6 },
    { maxCandidates: 3, maxOrder: 3 },
    { distinctPower: 0, distinctPowerFar: 0 },
    { distinctPower: 2, distinctPowerFar: 0.5, kappaFar: 1024, orderDecayFar: 0.6, maxOrder: 5 },
  ];
  for (let i = 0; i < 24; i++) {
    const vocab = 3 + (i % 6); // small vocabularies repeat, so long matches happen
    const n = 20 + Math.floor(r() * 60);
    const doc = tokens(n, vocab);
    const cursor = 5 + Math.floor(r() * (n - 5));
    const sources: Case['sources'] = [
      { ids: doc, distance: 0, skipFrom: cursor, skipTo: Math.min(n, cursor + 3) },
    ];
    if (i % 2) sources.push({ ids: tokens(40, vocab), distance: 1 });
    if (i % 3) sources.push({ ids: tokens(50, vocab), distance: 2 });
    const steps = 4;
    const probs = Array.from({ length: steps }, () => {
      const w = Array.from({ length: V }, () => r() + 0.01);
      const s = w.reduce((a, b) => a + b, 0);
      return w.map((x) => x / s);
    });
    cases.push({
      sources,
      context: doc.slice(Math.max(0, cursor - 20), cursor),
      options: optionSets[i % optionSets.length],
      probs,
      advance: tokens(steps, vocab),
      expected: [],
    });
  }
  for (const c of cases) c.expected = run(c);
  return cases;
}

test('recall mixture reproduces the golden cases shared with recall.py', () => {
  if (process.env.LINEA_REGEN === '1' || !existsSync(FILE)) {
    if (process.env.LINEA_REGEN !== '1') assert.fail(`${FILE} is missing; LINEA_REGEN=1 writes it`);
    writeFileSync(FILE, JSON.stringify(makeCases()) + '\n');
  }
  const cases = JSON.parse(readFileSync(FILE, 'utf8')) as Case[];
  assert.ok(cases.length >= 20);
  let worst = 0;
  let recalled = 0;
  for (const c of cases) {
    const got = run(c);
    c.expected.forEach((want, step) => {
      for (let t = 0; t < V; t++) worst = Math.max(worst, Math.abs(got[step][t] - want[t]));
      if (want.some((x, t) => Math.abs(x - c.probs[step][t]) > 1e-3)) recalled++;
    });
  }
  assert.ok(worst <= 1e-6, `largest difference ${worst}`);
  assert.ok(recalled > 40, `only ${recalled} steps where recall changed anything`);
});
