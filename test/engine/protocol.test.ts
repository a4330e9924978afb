// The worker protocol's wire types (src/worker/protocol.ts): what a real worker answers has exactly
// their fields, and an engine type that drifts from them fails to compile.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import type { RecallOptions } from '../../src/engine/core/recall';
import type { BackendReport } from '../../src/engine/core/session';
import type { CompleteOptions, CompletionResult, EngineOptions } from '../../src/engine/engine';
import { EngineClient } from '../../src/worker/client';
import type {
  Assert,
  Equals,
  ModelInfo,
  WireBackendReport,
  WireCompleteOptions,
  WireCompletionResult,
  WireEngineOptions,
  WireManifest,
  WireRecallOptions,
  WireStats,
  WireTimings,
  Within,
} from '../../src/worker/protocol';
import { fixtureFolder } from './helpers';

const WORKER = path.resolve(__dirname, '../../src/worker/inferenceWorker.js');
const TEXT = 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return ';

// Each wire type's fields, listed once: `satisfies` rejects a missing or an extra key, so a list can
// only change together with its type.
const RESULT_FIELDS = {
  text: true,
  declined: true,
  raw: true,
  model: true,
  reread: true,
  source: true,
  memory: true,
  stop: true,
  tokens: true,
  origin: true,
  runs: true,
  drafted: true,
  confidence: true,
  logprobs: true,
  timings: true,
} satisfies Record<keyof WireCompletionResult, true>;
const TIMINGS_FIELDS = {
  totalMs: true,
  prefillMs: true,
  firstTokenMs: true,
  stepMs: true,
} satisfies Record<keyof WireTimings, true>;
const MODEL_INFO_FIELDS = {
  manifest: true,
  backend: true,
  report: true,
  loadMs: true,
} satisfies Record<keyof ModelInfo, true>;
const MANIFEST_FIELDS = {
  id: true,
  variant: true,
  parameters: true,
} satisfies Record<keyof WireManifest, true>;
const REPORT_FIELDS = {
  label: true,
  gpu: true,
  step: true,
  prefill: true,
  encoder: true,
  capture: true,
  timings: true,
  transferMs: true,
  note: true,
} satisfies Record<keyof WireBackendReport, true>;
const STATS_FIELDS = {
  documents: true,
  stateBytes: true,
  budgetBytes: true,
  checkpoints: true,
} satisfies Record<keyof WireStats, true>;

const keys = (o: object) => Object.keys(o).sort();

test("what the worker answers has exactly the wire types' fields, as plain data", async () => {
  const client = new EngineClient({ workerPath: WORKER, documents: () => [] });
  try {
    const info = await client.load({
      folder: fixtureFolder('decay'),
      runtime: { threads: 1 },
      engine: {},
    });
    assert.deepEqual(keys(info), keys(MODEL_INFO_FIELDS));
    // The engine's manifest also holds graphs, checksums and metrics; none of that crosses.
    assert.deepEqual(keys(info.manifest), keys(MANIFEST_FIELDS));
    assert.ok(info.report, 'a scheduled model reports its backends');
    assert.deepEqual(keys(info.report), keys(REPORT_FIELDS));

    await client.open('doc', TEXT);
    await client.edit('doc', [{ start: TEXT.length, end: TEXT.length, text: 'a' }]);
    const r = await client.complete('doc', TEXT.length + 1, { maxTokens: 4 });
    assert.ok(r.tokens >= 1);
    assert.deepEqual(keys(r), keys(RESULT_FIELDS));
    assert.deepEqual(keys(r.timings), keys(TIMINGS_FIELDS));
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r, 'a result survives JSON unchanged');

    const stats = await client.stats();
    assert.ok(stats);
    assert.deepEqual(keys(stats), keys(STATS_FIELDS));
  } finally {
    await client.dispose();
  }
});

// The assertions protocol.ts makes, against engine types planted with one field changed: each must
// fail to compile (an unused @ts-expect-error fails the build). Every planted type is rebuilt the same
// way as the controls, which compile, so what fails is the changed field and not the rebuilding.

/** T's fields as one object type (an intersection is never `Equals` to an interface). */
type Flat<T> = { [K in keyof T]: T[K] };
type Replace<T, K extends keyof T, F> = Flat<Omit<T, K> & F>;

// Engine types as they would be after a change that the wire has not followed.
type ResultWithNewField = Flat<CompletionResult & { entropy: number }>;
type ResultWithRenamedField = Replace<CompletionResult, 'reread', { rereadTokens: number }>;
type ResultWithRetypedField = Replace<CompletionResult, 'tokens', { tokens: string }>;
type ReportWithNewField = Flat<BackendReport & { adapter: string }>;
type EngineOptionsWithRenamedField = Replace<EngineOptions, 'warmUpMs', { warmupMs: number }>;
type CompleteOptionsWithRetypedField = Replace<CompleteOptions, 'maxTokens', { maxTokens: bigint }>;
type RecallWithNewConstant = Flat<RecallOptions & { kappaNear: number }>;

export type PlantedDrift = [
  // Controls: the engine's types rebuilt unchanged.
  Assert<Equals<WireCompletionResult, Replace<CompletionResult, 'reread', { reread: number }>>>,
  Assert<Within<WireEngineOptions, Replace<EngineOptions, 'warmUpMs', { warmUpMs: number }>>>,
  Assert<Within<WireCompleteOptions, Replace<CompleteOptions, 'maxTokens', { maxTokens: number }>>>,
  Assert<Equals<WireRecallOptions, Replace<RecallOptions, 'kappa', { kappa: number }>>>,
  // An option the engine gains is not carried until a caller needs it: that is no drift.
  Assert<Within<WireEngineOptions, Flat<EngineOptions & { newKnob: number }>>>,

  // @ts-expect-error the engine's result gained a field the wire does not carry
  Assert<Equals<WireCompletionResult, ResultWithNewField>>,
  // @ts-expect-error a result field renamed in the engine
  Assert<Equals<WireCompletionResult, ResultWithRenamedField>>,
  // @ts-expect-error a result field retyped in the engine
  Assert<Equals<WireCompletionResult, ResultWithRetypedField>>,
  // @ts-expect-error the backend report gained a field
  Assert<Equals<WireBackendReport, ReportWithNewField>>,
  // @ts-expect-error an engine option the extension sends, renamed in the engine
  Assert<Within<WireEngineOptions, EngineOptionsWithRenamedField>>,
  // @ts-expect-error a completion option retyped in the engine
  Assert<Within<WireCompleteOptions, CompleteOptionsWithRetypedField>>,
  // @ts-expect-error recall gained a constant that `linea eval` would not send
  Assert<Equals<WireRecallOptions, RecallWithNewConstant>>,
];
