// `linea bench`: per-token latency against context length for every shipped model, the time to a
// 16-token suggestion, prefill throughput, state size; then the typing and many-documents scenarios.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { median } from '../engine/numbers';
import {
  measurePrefill,
  sampleContext,
  toPoint,
  type ContextPoint,
  type ContextSamples,
} from '../engine/runtime/measure';
import { warmUp } from '../engine/runtime/warmUp';
import { DEFAULT_MODEL_ID, listModels, openEngine, resolveModel } from '../engine/models';
import { OrtModel, type BackendName } from '../engine/runtime/runtime';
import { openWebGpu } from '../engine/runtime/scheduler';
import { DEFAULT_RECALL_OPTIONS, RecallMatcher, type RecallSource } from '../engine/core/recall';
import { readManifest } from '../engine/runtime/manifest';
import { BpeTokenizer } from '../engine/core/tokenizer';
import { installWebGpu, type GpuInfo, type WebGpuOptions } from '../engine/runtime/webgpu';
import { intFlag, listFlag, parseArgs, UsageError } from './args';
import { backendOptions } from './backendFlags';
import { modelRoots, repoRoot, wasmPaths } from './paths';

interface ModelRow {
  id: string;
  variant: string;
  parameters: number;
  backend: string;
  points: ContextPoint[];
  prefillTokPerS: number;
  /** stepMs at the longest context over stepMs at the shortest. */
  ratio: number;
  stateBytesFixed: number;
  stateBytesPerToken: number;
}

/** Real code to read: TypeScript's own compiler (from node_modules), else this repo's sources. */
export function realCode(lines: number): string {
  const ts = path.join(repoRoot(), 'node_modules', 'typescript', 'lib', 'typescript.js');
  const text = existsSync(ts)
    ? readFileSync(ts, 'utf8')
    : readFileSync(path.join(repoRoot(), 'models', 'training', 'model.py'), 'utf8').repeat(200);
  return text.split('\n').slice(0, lines).join('\n');
}

const ROUNDS = 4;
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

export async function runBench(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    models: 'value',
    contexts: 'value',
    reps: 'value',
    threads: 'value',
    out: 'value',
    quick: 'bool',
    int8: 'bool',
    scenarios: 'bool',
    backends: 'value',
    dawn: 'value',
    'prefill-tokens': 'value',
  });
  const quick = args.flags.has('quick');
  const contexts = listFlag(
    args,
    'contexts',
    quick ? [256, 4096] : [256, 1024, 4096, 16384, 65536],
  );
  const reps = intFlag(args, 'reps', quick ? 5 : 20, 1);
  const threads = intFlag(args, 'threads', 2, 1);
  // (bench takes no --backend: only --dawn counts here)
  const runtime = { threads, wasmPaths: wasmPaths(), webgpu: backendOptions(args).webgpu };
  const { backends, gpu } = await pickBackends(args.flags.get('backends'), runtime.webgpu);
  const prefillTokens = intFlag(args, 'prefill-tokens', 4096, 16);
  const wanted = args.flags.get('models');
  const folders =
    typeof wanted === 'string'
      ? wanted.split(',').map((id) => resolveModel(id.trim(), modelRoots()))
      : listModels(modelRoots())
          .filter((m) => m.manifest)
          .map((m) => m.folder);
  const code = realCode(4000);
  const rows: ModelRow[] = [];
  // With --int8, a model that has an int8 step graph is measured twice: fp32 step, then int8 step.
  const runs: Array<{ folder: string; step?: string }> = [];
  for (const folder of folders) {
    const hasInt8 = listModels([path.dirname(folder)]).some(
      (e) => e.folder === folder && e.manifest?.graphs.decoder_step_int8,
    );
    runs.push({ folder, step: args.flags.has('int8') && hasInt8 ? 'decoder_step' : undefined });
    if (args.flags.has('int8') && hasInt8) runs.push({ folder, step: 'decoder_step_int8' });
  }
  for (const { folder, step } of runs)
    for (const backend of backends) {
      const wasmSession = await OrtModel.load(folder, runtime, { stepGraph: step });
      let session = wasmSession;
      if (backend === 'webgpu') {
        // as the extension opens it: graph capture where the model allows it, checked against WASM
        const opened = await openWebGpu(
          folder,
          runtime,
          wasmSession,
          gpu?.description ?? 'WebGPU',
          step,
        );
        await wasmSession.release();
        if (opened.captureNote) console.error(`bench: ${folder}: ${opened.captureNote}`);
        if (opened.mismatch) {
          console.error(`bench: ${folder}: webgpu skipped: ${opened.mismatch}`);
          await opened.model.release();
          continue;
        }
        session = opened.model;
      }
      const m = session.manifest;
      const tok = BpeTokenizer.load(path.join(folder, m.tokenizer.file));
      const warm = await warmUp(session, 8000, 3000);
      console.error(
        `bench: ${m.id} on ${backend} warm-up ${warm.runs} runs, step ${fmt(warm.firstMs, 2)} -> ${fmt(warm.lastMs, 2)} ms`,
      );
      // Contexts are visited round-robin, so a slow minute on a shared machine lands on all of them
      // instead of tilting the long/short ratio.
      const samples: ContextSamples[][] = contexts.map(() => []);
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, n] of contexts.entries()) {
          // A growing state (KV cache) is copied in and out of every run: fewer reps where it is huge.
          const r = m.state_bytes.per_token * n > 64e6 ? Math.max(3, Math.floor(reps / 4)) : reps;
          samples[i].push(await sampleContext(session, n, Math.max(1, Math.ceil(r / ROUNDS))));
        }
      }
      const points = contexts.map((n, i) => toPoint(n, samples[i]));
      const ids = tok.encode(code).slice(0, prefillTokens);
      const prefill = await measurePrefill(session, ids, m.limits.max_chunk);
      rows.push({
        id: step?.endsWith('int8') ? `${m.id} (int8 step)` : m.id,
        variant: m.variant,
        parameters: m.parameters,
        backend: session.hasStepRunner ? 'webgpu+capture' : session.backend,
        points,
        prefillTokPerS: prefill,
        ratio: points[points.length - 1].stepMs / points[0].stepMs,
        stateBytesFixed: m.state_bytes.fixed,
        stateBytesPerToken: m.state_bytes.per_token,
      });
      await session.release();
      console.error(`bench: ${m.id} on ${backend} done`);
    }

  const head = [
    'model',
    'variant',
    'backend',
    ...contexts.map((c) => `step@${c}`),
    'ratio',
    ...[contexts[0], contexts[contexts.length - 1]].map((c) => `ttfs16@${c}`),
    'prefill tok/s',
    `state@${contexts[contexts.length - 1]}`,
  ];
  const table = rows.map((r) => [
    r.id,
    r.variant,
    r.backend,
    ...r.points.map((p) => fmt(p.stepMs, 2)),
    fmt(r.ratio, 2),
    fmt(r.points[0].ttfsMs),
    fmt(r.points[r.points.length - 1].ttfsMs),
    fmt(r.prefillTokPerS, 0),
    `${fmt(r.points[r.points.length - 1].stateBytes / 1024, 0)} KiB`,
  ]);
  console.log(
    '\nPer-token decoder step (ms, median) against context length; ttfs16 = warm state to a 16-token suggestion (ms)\n',
  );
  printTable([head, ...table]);
  if (gpu) {
    console.log(
      `\nWebGPU adapter: ${gpu.description}${gpu.software ? ' (software: correctness only)' : ''}`,
    );
    for (const r of rows.filter((x) => x.backend.startsWith('webgpu'))) {
      const w = rows.find((x) => x.id === r.id && x.backend === 'wasm');
      if (!w) continue;
      console.log(
        `${r.id}: WebGPU/WASM prefill ${fmt(r.prefillTokPerS / w.prefillTokPerS, 2)}x, ` +
          `step@${contexts[0]} ${fmt(w.points[0].stepMs / r.points[0].stepMs, 2)}x`,
      );
    }
  }

  const scenarios: Record<string, unknown> = {};
  if (!quick || args.flags.has('scenarios')) {
    const folder = resolveModel(DEFAULT_MODEL_ID, modelRoots());
    scenarios.typing = await typingScenario(folder, runtime);
    scenarios.documents = await documentsScenario(folder, runtime);
    const stepMs = rows.find((r) => r.id === DEFAULT_MODEL_ID && r.backend === 'wasm')?.points;
    scenarios.recall = recallScenario(folder, stepMs?.[stepMs.length - 1]?.stepMs ?? NaN);
    scenarios.copyDrafts = await copyDraftsScenario(folder, runtime);
    console.log('\nScenarios (default model):');
    console.log(JSON.stringify(scenarios, null, 2));
  }
  const out = (args.flags.get('out') as string) ?? 'bench-results.json';
  writeFileSync(
    out,
    JSON.stringify(
      { date: new Date().toISOString(), threads, contexts, prefillTokens, gpu, rows, scenarios },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${out}`);
  return 0;
}

/** --backends wasm,webgpu | auto (default: WebGPU too where a hardware adapter answers). */
async function pickBackends(
  flag: string | true | undefined,
  webgpu: WebGpuOptions,
): Promise<{ backends: BackendName[]; gpu: GpuInfo | null }> {
  const asked = typeof flag === 'string' && flag !== 'auto' ? flag.split(',') : null;
  for (const b of asked ?? []) {
    if (b !== 'wasm' && b !== 'webgpu') throw new UsageError(`--backends: unknown backend "${b}"`);
  }
  if (asked && !asked.includes('webgpu')) return { backends: ['wasm'], gpu: null };
  try {
    const gpu = await installWebGpu(webgpu);
    if (gpu.software && !asked) {
      console.error(
        `bench: webgpu skipped: ${gpu.description} is a software rasterizer (--backends wasm,webgpu to time it anyway)`,
      );
      return { backends: ['wasm'], gpu: null };
    }
    return { backends: asked ? (asked as BackendName[]) : ['wasm', 'webgpu'], gpu };
  } catch (e) {
    if (asked) throw e;
    console.error(`bench: webgpu skipped: ${(e as Error).message}`);
    return { backends: ['wasm'], gpu: null };
  }
}

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const [k, r] of rows.entries()) {
    console.log(r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
    if (k === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

/** Typing one character at the end of a warm 50,000-line file re-reads only the new tokens. */
async function typingScenario(folder: string, runtime: { threads: number; wasmPaths?: string }) {
  const engine = await openEngine(folder, runtime, { syncReadLimit: Number.MAX_SAFE_INTEGER });
  const text = realCode(50_000) + '\nfunction ';
  engine.open('big', text);
  let cursor = text.length;
  const t0 = performance.now();
  const cold = await engine.complete('big', cursor, { maxTokens: 16 });
  const coldMs = performance.now() - t0;
  const typed: Array<{ char: string; reread: number; ttfsMs: number }> = [];
  for (const ch of 'parse') {
    engine.edit('big', [{ start: cursor, end: cursor, text: ch }]);
    cursor++;
    const r = await engine.complete('big', cursor, { maxTokens: 16 });
    typed.push({ char: ch, reread: r.reread, ttfsMs: r.timings.totalMs });
  }
  const stats = engine.documentStats('big');
  await engine.dispose();
  return {
    lines: 50_000,
    tokens: stats.tokens,
    coldReadTokens: cold.reread,
    coldMs,
    typed,
    medianTypedTtfsMs: median(typed.map((t) => t.ttfsMs)),
    maxReread: Math.max(...typed.map((t) => t.reread)),
  };
}

/** 100 open documents with completions in each: total state memory against the budget. */
async function documentsScenario(folder: string, runtime: { threads: number; wasmPaths?: string }) {
  const budget = 64 * 1024 * 1024;
  const engine = await openEngine(folder, runtime, { memoryBudgetBytes: budget });
  const code = realCode(20_000).split('\n');
  let peak = 0;
  for (let i = 0; i < 100; i++) {
    const text = code.slice(i * 150, i * 150 + 150).join('\n');
    engine.open(`doc${i}`, text);
    await engine.complete(`doc${i}`, text.length, { maxTokens: 4 });
    await engine.idle();
    peak = Math.max(peak, engine.stats().stateBytes);
  }
  const stats = engine.stats();
  await engine.dispose();
  return {
    documents: stats.documents,
    budgetBytes: budget,
    peakStateBytes: peak,
    withinBudget: peak <= budget,
  };
}

/**
 * Copy drafts on real code: the same suggestions (checked) at 40 line starts of a 3,000-line file,
 * with recall's continuation verified in one run against step-by-step decoding.
 */
export async function copyDraftsScenario(
  folder: string,
  runtime: { threads: number; wasmPaths?: string },
) {
  const engine = await openEngine(folder, runtime, { syncReadLimit: Number.MAX_SAFE_INTEGER });
  const lines = realCode(3_000).split('\n');
  const starts: number[] = [];
  let offset = 0;
  lines.forEach((line, i) => {
    if (i >= 1_000 && i % 50 === 0 && line.trim()) starts.push(offset + line.search(/\S/));
    offset += line.length + 1;
  });
  const text = lines.join('\n');
  const side = {
    on: { ms: [] as number[], runs: 0, tokens: 0 },
    off: { ms: [] as number[], runs: 0, tokens: 0 },
  };
  let same = 0;
  for (const at of starts) {
    const doc = text.slice(0, at) + text.slice(text.indexOf('\n', at));
    engine.open('drafts', doc);
    // a first completion brings the state to the cursor, so both timings below are decoding alone
    await engine.complete('drafts', at, { maxTokens: 1 });
    const ask = { maxTokens: 32, timeBudgetMs: 60_000, multiline: true, maxLines: 4 };
    const raw: Record<string, string> = {};
    for (const mode of ['off', 'on'] as const) {
      const t0 = performance.now();
      const r = await engine.complete('drafts', at, { ...ask, copyDrafts: mode === 'on' });
      side[mode].ms.push(performance.now() - t0);
      side[mode].runs += r.runs;
      side[mode].tokens += r.tokens;
      raw[mode] = r.raw;
    }
    if (raw.on === raw.off) same++;
    engine.close('drafts');
  }
  engine.dispose();
  return {
    cuts: starts.length,
    identicalSuggestions: same,
    tokens: side.on.tokens,
    runsStepByStep: side.off.runs,
    runsWithDrafts: side.on.runs,
    msP50StepByStep: median(side.off.ms),
    msP50WithDrafts: median(side.on.ms),
    msTotalStepByStep: side.off.ms.reduce((a, b) => a + b, 0),
    msTotalWithDrafts: side.on.ms.reduce((a, b) => a + b, 0),
  };
}

/**
 * Recall's cost on a 50,000-line file: the scan at the start of a suggestion and the mixture at each
 * of 16 steps (following the file's own next tokens), against the model's decoding step. Recall keeps
 * no index, so an edit costs it nothing and it holds no memory per token between suggestions.
 */
export function recallScenario(folder: string, modelStepMs: number) {
  const manifest = readManifest(folder);
  const tok = BpeTokenizer.load(path.join(folder, manifest.tokenizer.file));
  const ids = tok.encode(realCode(50_000));
  const vocab = manifest.config.vocab_size as number;
  const logits = new Float32Array(vocab).map((_, i) => Math.sin(i * 12.9898) * 4);
  // The workspace case: 3 open editors and 20 recent files of 2,000 lines each beside the document
  // (the same code, so they match often: the mixture's worst case).
  const other = tok.encode(realCode(2_000));
  const workspace: RecallSource[] = [
    ...Array.from({ length: 3 }, () => ({ ids: other, distance: 1 })),
    ...Array.from({ length: 20 }, () => ({ ids: other, distance: 2 })),
  ];
  const run = (extra: RecallSource[]) => {
    const scanMs: number[] = [];
    const mixMs: number[] = [];
    let peak = 0;
    for (let k = 0; k < 40; k++) {
      const cursor = Math.floor(ids.length * (0.5 + k / 80));
      const t0 = performance.now();
      const m = new RecallMatcher(
        [{ ids, skipFrom: cursor, skipTo: cursor + 1 }, ...extra],
        ids.slice(cursor - DEFAULT_RECALL_OPTIONS.maxOrder, cursor),
      );
      scanMs.push(performance.now() - t0);
      for (let i = 0; i < 16; i++) {
        peak = Math.max(peak, m.candidates);
        const t1 = performance.now();
        m.mixLogits(logits);
        m.advance(ids[cursor + i]);
        mixMs.push(performance.now() - t1);
      }
    }
    return { scanMs, mixMs, peak };
  };
  const alone = run([]);
  const withWorkspace = run(workspace);
  const scanMs = alone.scanMs;
  const peakCandidates = alone.peak;
  const mix = median(alone.mixMs);
  const mixWorkspace = median(withWorkspace.mixMs);
  return {
    tokens: ids.length,
    scanMsP50: median(scanMs),
    scanMsMax: Math.max(...scanMs),
    mixMsPerStepP50: mix,
    modelStepMs: modelStepMs,
    stepWithRecallOverStep: (modelStepMs + mix) / modelStepMs,
    workspaceScanMsP50: median(withWorkspace.scanMs),
    workspaceMixMsPerStepP50: mixWorkspace,
    workspaceStepOverStep: (modelStepMs + mixWorkspace) / modelStepMs,
    peakCandidates,
    indexBytesPerToken: 0,
    editUpdateMs: 0,
  };
}
