// `linea eval DIR`: line completion with the real engine in the loop (state, encoder memory,
// post-processing), the same cuts and metrics as models/training/evaluate.py.
import * as path from 'node:path';
import { percentile } from '../engine/bench';
import {
  chooseCuts,
  editSimilarity,
  exactMatch,
  listSourceFiles,
  readTexts,
} from '../engine/evalProtocol';
import { DEFAULT_MODEL_ID, resolveModel } from '../engine/models';
import { readManifest } from '../engine/manifest';
import { BpeTokenizer } from '../engine/tokenizer';
import { EngineClient } from '../worker/client';
import { intFlag, parseArgs, UsageError } from './args';
import { modelRoots, wasmPaths, workerPath } from './main';

export async function runEval(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    model: 'value',
    files: 'value',
    seed: 'value',
    threads: 'value',
    json: 'bool',
  });
  const dir = args.positional[0];
  if (!dir) throw new UsageError('eval needs a DIR of source files');
  const folder = resolveModel(
    (args.flags.get('model') as string) ?? DEFAULT_MODEL_ID,
    modelRoots(),
  );
  const manifest = readManifest(folder);
  const tok = BpeTokenizer.load(path.join(folder, manifest.tokenizer.file));
  const files = listSourceFiles(dir);
  if (files.length === 0)
    throw new UsageError(`${dir}: no source files (${['.py', '.ts', '.js'].join(', ')}, ...)`);
  const texts = readTexts(files);
  const cuts = chooseCuts(
    files,
    texts,
    tok,
    intFlag(args, 'files', 100, 1),
    intFlag(args, 'seed', 0),
  );
  const client = new EngineClient({ workerPath: workerPath(), documents: () => [] });
  const rows: Array<{
    file: string;
    target: string;
    pred: string;
    em: boolean;
    es: number;
    ms: number;
    prefillMs: number;
    stepMs: number;
  }> = [];
  try {
    await client.load({
      folder,
      runtime: { threads: intFlag(args, 'threads', 2, 1), wasmPaths: wasmPaths() },
      engine: { syncReadLimit: Number.MAX_SAFE_INTEGER },
    });
    for (const cut of cuts) {
      const text = texts[files.indexOf(cut.file)];
      const lineEnd = text.indexOf('\n', cut.offset);
      // The editor's view while typing that line: the rest of it is not written yet, the lines after are.
      const doc = text.slice(0, cut.offset) + (lineEnd < 0 ? '' : text.slice(lineEnd));
      await client.open('eval', doc);
      await client.encode('eval', cut.offset);
      const r = await client.complete('eval', cut.offset, { maxTokens: 48, timeBudgetMs: 60_000 });
      await client.close('eval');
      const pred = r.text ?? '';
      const steps = r.timings.stepMs;
      rows.push({
        file: path.relative(dir, cut.file),
        target: cut.target,
        pred,
        em: exactMatch(pred, cut.target),
        es: editSimilarity(pred, cut.target),
        ms: r.timings.totalMs,
        prefillMs: r.timings.prefillMs,
        stepMs: steps.length ? steps.reduce((a, b) => a + b, 0) / steps.length : 0,
      });
    }
  } finally {
    await client.dispose();
  }
  const n = rows.length;
  const summary = {
    model: manifest.id,
    files: n,
    exactMatch: (100 * rows.filter((r) => r.em).length) / n,
    editSimilarity: rows.reduce((a, r) => a + r.es, 0) / n,
    completionMs: percentiles(
      rows.map((r) => r.ms),
      [50, 90, 99] as const,
    ),
    stepMs: percentiles(
      rows.map((r) => r.stepMs),
      [50, 90] as const,
    ),
  };
  if (args.flags.has('json')) console.log(JSON.stringify({ summary, rows }, null, 2));
  else {
    console.log(`${summary.model} on ${n} cuts under ${dir}`);
    console.log(
      `exact match ${summary.exactMatch.toFixed(1)}  edit similarity ${summary.editSimilarity.toFixed(1)}`,
    );
    console.log(
      `completion ms (cold prefix read included) p50 ${summary.completionMs.p50.toFixed(0)} p90 ${summary.completionMs.p90.toFixed(0)} p99 ${summary.completionMs.p99.toFixed(0)}; ms/token p50 ${summary.stepMs.p50.toFixed(1)}`,
    );
  }
  return 0;
}

/** { p50: ..., p90: ... } of `xs` for the given percentiles. */
function percentiles<P extends number>(xs: number[], ps: readonly P[]): Record<`p${P}`, number> {
  return Object.fromEntries(ps.map((p) => [`p${p}`, percentile(xs, p)])) as Record<`p${P}`, number>;
}
