// `linea`: the engine from the command line — complete a file, benchmark the models, evaluate.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_MODEL_ID, listModels, resolveModel } from '../engine/models';
import { DEFAULT_MIN_CONFIDENCE } from '../engine/defaults';
import { describePlan } from '../engine/core/session';
import { installWebGpu } from '../engine/runtime/webgpu';
import { EngineClient } from '../worker/client';
import { parseArgs, intFlag, recallFlag, UsageError } from './args';
import { backendOptions } from './backendFlags';
import { runBench } from './bench';
import { modelRoots, workerPath, wasmPaths } from './paths';
import { runEval } from './evaluate';

const USAGE = `usage: linea <command> [options]

  complete FILE --line N --col M   print the suggestion at line N, column M (both 1-based) and its timings
      [--model ID|DIR] [--multiline] [--max-tokens N] [--threads N] [--json] [--recall on|off]
      [--backend wasm|auto|webgpu] (default wasm; auto times both) [--dawn FLAGS]
  bench        per-token latency against context length, time to first suggestion, prefill, state size
      [--models ID,ID] [--contexts 256,1024,4096,16384,65536] [--reps N] [--threads N] [--out FILE] [--quick]
      [--int8] (also the int8 step graph where a model has one) [--scenarios] (with --quick)
      [--backends wasm,webgpu] (default: WebGPU too where a hardware GPU answers)
      [--prefill-tokens N] [--dawn FLAGS]
  eval DIR     line-completion exact match, edit similarity and latency over a seeded sample of files
      [--model ID|DIR] [--files N] [--seed S] [--threads N] [--json]
      [--recall on|off] [--kappa K] [--order-decay G] [--kappa-far K] [--order-decay-far G] [--order N]
      [--distinct-power A] [--distinct-power-far A]
      (recall's constants) [--baseline copy] (no model) [--dump FILE] (with --bpb: inputs for fit_recall.py)
      [--workspace N] (recall also reads N files of the same package, as recently edited files)
      [--first-line] (cut each file's first line: does the suggestion stay in the file's language?)
      [--min-confidence P] (hide suggestions whose first line has probability < P; default ${DEFAULT_MIN_CONFIDENCE}, 0: show all)
  models       list the installed models
  gpu          the WebGPU adapter Linea would use, or why there is none [--dawn FLAGS] [--json]

  FLAGS are Dawn's, comma-separated: backend=opengles runs on Mesa's software rasterizer
  (headless Linux, for tests). LINEA_DAWN in the environment does the same for the extension.
`;

async function gpu(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { dawn: 'value', json: 'bool' });
  const { webgpu } = backendOptions(args);
  const json = args.flags.has('json');
  try {
    const info = await installWebGpu(webgpu);
    if (json) console.log(JSON.stringify(info, null, 2));
    else {
      console.log(`${info.description}${info.software ? ' (software rasterizer)' : ''}`);
      console.log(
        `shader-f16: ${info.features.includes('shader-f16') ? 'yes' : 'no'}; Dawn: ${info.addon}`,
      );
    }
    return 0;
  } catch (e) {
    const msg = (e as Error).message;
    console.log(json ? JSON.stringify({ error: msg }) : msg);
    return 1;
  }
}

/** 1-based line and column to an offset; a position past the end is clamped to it. */
export function offsetAt(text: string, line: number, col: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return text.length;
    offset = nl + 1;
  }
  const eol = text.indexOf('\n', offset);
  const lineEnd = eol < 0 ? text.length : eol;
  return Math.min(offset + Math.max(0, col - 1), lineEnd);
}

async function complete(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    line: 'value',
    col: 'value',
    model: 'value',
    multiline: 'bool',
    'max-tokens': 'value',
    threads: 'value',
    json: 'bool',
    backend: 'value',
    dawn: 'value',
    recall: 'value',
  });
  const file = args.positional[0];
  if (!file) throw new UsageError('complete needs a FILE');
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  const text = readFileSync(file, 'utf8');
  const line = intFlag(args, 'line', 1, 1);
  const col = intFlag(args, 'col', 1, 1);
  const offset = offsetAt(text, line, col);
  const folder = resolveModel(
    (args.flags.get('model') as string) ?? DEFAULT_MODEL_ID,
    modelRoots(),
  );
  const uri = path.resolve(file);
  const client = new EngineClient({
    workerPath: workerPath(),
    documents: () => [{ uri, text, cursor: offset }],
  });
  try {
    const t0 = performance.now();
    const info = await client.load({
      folder,
      runtime: {
        threads: intFlag(args, 'threads', 2, 1),
        wasmPaths: wasmPaths(),
        ...backendOptions(args),
      },
      engine: { syncReadLimit: Number.MAX_SAFE_INTEGER }, // the CLI reads the whole prefix exactly
    });
    await client.open(uri, text);
    const tEnc = performance.now();
    await client.encode(uri, offset); // the completion below then reads the whole prefix itself

    const encodeMs = performance.now() - tEnc;
    const r = await client.complete(uri, offset, {
      multiline: args.flags.has('multiline'),
      maxTokens: intFlag(args, 'max-tokens', 48, 1),
      timeBudgetMs: 60_000,
      recall: recallFlag(args),
    });
    if (args.flags.has('json')) {
      console.log(
        JSON.stringify(
          {
            variant: info.manifest.variant,
            file,
            line,
            col,
            offset,
            encodeMs,
            loadMs: info.loadMs,
            backendReport: info.report,
            ...r,
          },
          null,
          2,
        ),
      );
    } else {
      const steps = r.timings.stepMs;
      const perToken = steps.length ? steps.reduce((a, b) => a + b, 0) / steps.length : 0;
      console.log(r.text ?? `(no suggestion: ${r.declined ?? 'no reason given'})`);
      console.error(
        `\n${info.manifest.id} (${info.manifest.variant}, ${info.backend}) at ${file}:${line}:${col}: ` +
          `${r.tokens} tokens from ${r.origin === 'both' ? 'model and recall' : r.origin}, stop=${r.stop}, ` +
          `first line's probability ${r.confidence.toFixed(2)}${r.confidence < DEFAULT_MIN_CONFIDENCE ? ` (the editor would wait for Trigger Inline Suggestion: < ${DEFAULT_MIN_CONFIDENCE})` : ''}; load ${info.loadMs.toFixed(0)} ms, encoder ${encodeMs.toFixed(0)} ms, ` +
          `prefill ${r.timings.prefillMs.toFixed(0)} ms (${r.reread} tokens read), ` +
          `${perToken.toFixed(1)} ms/token, completion ${r.timings.totalMs.toFixed(0)} ms, total ${(performance.now() - t0).toFixed(0)} ms`,
      );
      const rep = info.report;
      if (rep && (rep.gpu || rep.note)) {
        console.error(describePlan(rep).join('\n') + (rep.note ? `\n${rep.note}` : ''));
      }
    }
    return 0;
  } finally {
    await client.dispose();
  }
}

function models(): number {
  for (const m of listModels(modelRoots())) {
    if (m.error) console.log(`${path.basename(m.folder)}\tERROR ${m.error}`);
    else {
      const man = m.manifest!;
      const bpb = (man.metrics as Record<string, unknown>).val_bpb;
      console.log(
        `${man.id}\t${man.variant}\t${(man.parameters / 1e6).toFixed(2)}M params\tval ${bpb ?? '?'} bits/byte`,
      );
    }
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'complete':
        return await complete(rest);
      case 'bench':
        return await runBench(rest);
      case 'eval':
        return await runEval(rest);
      case 'models':
        return models();
      case 'gpu':
        return await gpu(rest);
      case undefined:
      case 'help':
      case '--help':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`linea: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`linea: ${(e as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  // Exit once stdout has drained: a piped `--json` report is larger than the pipe's buffer.
  main(process.argv.slice(2)).then((code) => process.stdout.write('', () => process.exit(code)));
}
