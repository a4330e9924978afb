// `linea eval DIR`: line completion with the real engine in the loop (state, encoder memory,
// post-processing), the same cuts and metrics as models/training/evaluate.py.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { percentile } from '../engine/numbers';
import { chooseCuts, editSimilarity, exactMatch, listSourceFiles, readTexts } from './evalProtocol';
import { headerLanguage, headerText } from '../engine/core/languageHeader';
import { DEFAULT_MODEL_ID, openEngine, resolveModel } from '../engine/models';
import { DEFAULT_MIN_CONFIDENCE } from '../engine/defaults';
import { readManifest } from '../engine/runtime/manifest';
import { BpeTokenizer } from '../engine/core/tokenizer';
import { EngineClient } from '../worker/client';
import {
  DEFAULT_RECALL_OPTIONS,
  RecallMatcher,
  copyRule,
  softmax,
  type RecallOptions,
} from '../engine/core/recall';
import { seededRandom } from '../engine/core/sampling';
import { chooseFirstLineCuts, familyOf, looksLike } from './languageCheck';
import { intFlag, parseArgs, recallFlag, UsageError, type ParsedArgs } from './args';
import { modelRoots, wasmPaths, workerPath } from './paths';

export async function runEval(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    model: 'value',
    files: 'value',
    seed: 'value',
    threads: 'value',
    json: 'bool',
    recall: 'value',
    kappa: 'value',
    'order-decay': 'value',
    'kappa-far': 'value',
    'order-decay-far': 'value',
    'distinct-power': 'value',
    'distinct-power-far': 'value',
    order: 'value',
    baseline: 'value',
    bpb: 'value',
    'first-line': 'bool',
    workspace: 'value',
    dump: 'value',
    'min-confidence': 'value',
  });
  const dir = args.positional[0];
  if (!dir) throw new UsageError('eval needs a DIR of source files');
  if (args.flags.has('bpb')) return runBitsPerByte(args, dir);
  const recall = recallFlag(args);
  const workspace = intFlag(args, 'workspace', 0, 0);
  const minConfidence = numFlag(args, 'min-confidence', DEFAULT_MIN_CONFIDENCE);
  const baseline = args.flags.get('baseline') as string | undefined;
  if (baseline !== undefined && baseline !== 'copy')
    throw new UsageError(`--baseline takes "copy", not ${JSON.stringify(baseline)}`);

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
  const cuts = (args.flags.has('first-line') ? chooseFirstLineCuts : chooseCuts)(
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
    /** Why post-processing showed nothing (the raw suggestion is kept for reading), null otherwise. */
    declined: string | null;
    raw: string;
    /** The probability decoding gave the first line, and each token's log-probability (copy rule: 1, []). */
    confidence: number;
    logprobs: number[];
    origin: string;
    em: boolean;
    es: number;
    ms: number;
    prefillMs: number;
    stepMs: number;
    /** The suggestion could be code of the file's language (languageCheck.ts); null when empty. */
    sameLanguage: boolean | null;
  }> = [];
  try {
    await client.load({
      folder,
      runtime: { threads: intFlag(args, 'threads', 2, 1), wasmPaths: wasmPaths() },
      engine: {
        syncReadLimit: Number.MAX_SAFE_INTEGER,
        recall: recallConstants(args),
      },
    });
    for (const cut of cuts) {
      const text = texts[files.indexOf(cut.file)];
      const lineEnd = text.indexOf('\n', cut.offset);
      // The editor's view while typing that line: the rest of it is not written yet, the lines after are.
      const doc = text.slice(0, cut.offset) + (lineEnd < 0 ? '' : text.slice(lineEnd));
      if (baseline === 'copy') {
        const pred = copyRule(doc.slice(0, cut.offset));
        rows.push({
          file: path.relative(dir, cut.file),
          target: cut.target,
          pred,
          declined: null,
          raw: pred,
          confidence: 1,
          logprobs: [],
          origin: 'recall',
          sameLanguage: sameLanguage(cut.file, pred),
          em: exactMatch(pred, cut.target),
          es: editSimilarity(pred, cut.target),
          ms: 0,
          prefillMs: 0,
          stepMs: 0,
        });
        continue;
      }
      const uri = `eval${path.extname(cut.file)}`; // the extension names the language header
      const nearby = workspace ? siblings(dir, files, texts, cut.file, workspace) : [];
      for (const i of nearby) await client.remember(files[i], texts[i]);
      await client.open(uri, doc);
      await client.encode(uri, cut.offset);
      const r = await client.complete(uri, cut.offset, {
        maxTokens: 48,
        timeBudgetMs: 60_000,
        recall,
        minConfidence,
      });
      await client.close(uri);
      for (const u of [uri, ...nearby.map((i) => files[i])]) await client.forget(u);
      const pred = r.text ?? '';
      const steps = r.timings.stepMs;
      rows.push({
        file: path.relative(dir, cut.file),
        target: cut.target,
        pred,
        declined: r.declined,
        raw: r.raw,
        confidence: r.confidence,
        logprobs: r.logprobs,
        origin: r.origin,
        sameLanguage: sameLanguage(cut.file, pred),
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
  const byOrigin = (o: string) => {
    const rs = rows.filter((r) => r.origin === o);
    return {
      cuts: rs.length,
      exactMatch: (100 * rs.filter((r) => r.em).length) / Math.max(1, rs.length),
    };
  };
  const checked = rows.filter((r) => r.sameLanguage !== null);
  const shown = rows.filter((r) => r.pred !== '');
  const summary = {
    model: baseline === 'copy' ? 'copy rule' : manifest.id,
    cutsAt: args.flags.has('first-line') ? 'first line' : 'random line',
    recall: baseline === 'copy' ? 'only' : recall ? 'on' : 'off',
    workspaceFiles: workspace,
    origins: { model: byOrigin('model'), recall: byOrigin('recall'), both: byOrigin('both') },
    files: n,
    minConfidence: baseline === 'copy' ? 0 : minConfidence,
    exactMatch: (100 * rows.filter((r) => r.em).length) / n,
    /** Cuts with a suggestion, and the exact share of those: what a user sees and how much of it is right. */
    shown: shown.length,
    shownExact: (100 * shown.filter((r) => r.em).length) / Math.max(1, shown.length),
    sameLanguage: {
      suggestions: checked.length,
      percent: (100 * checked.filter((r) => r.sameLanguage).length) / Math.max(1, checked.length),
    },
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
    console.log(
      `${summary.model} (recall ${summary.recall}${workspace ? `, ${workspace} workspace files` : ''}) on ${n} cuts under ${dir}`,
    );
    console.log(
      `exact match ${summary.exactMatch.toFixed(1)}  edit similarity ${summary.editSimilarity.toFixed(1)}`,
    );
    console.log(
      `shown ${summary.shown} of ${n} (confidence gate ${summary.minConfidence}), ${summary.shownExact.toFixed(1)}% of them exact`,
    );
    console.log(
      `same language as the file: ${summary.sameLanguage.percent.toFixed(1)}% of ${summary.sameLanguage.suggestions} non-empty suggestions (${summary.cutsAt})`,
    );
    const o = summary.origins;
    console.log(
      `by origin: model ${o.model.cuts} cuts (EM ${o.model.exactMatch.toFixed(1)}), recall ${o.recall.cuts} (EM ${o.recall.exactMatch.toFixed(1)}), both ${o.both.cuts} (EM ${o.both.exactMatch.toFixed(1)})`,
    );
    console.log(
      `completion ms (cold prefix read included) p50 ${summary.completionMs.p50.toFixed(0)} p90 ${summary.completionMs.p90.toFixed(0)} p99 ${summary.completionMs.p99.toFixed(0)}; ms/token p50 ${summary.stepMs.p50.toFixed(1)}`,
    );
  }
  return 0;
}

/**
 * The recently edited workspace files a cut's file would have beside it: up to `max` other files of
 * the same package (the first folder under DIR) and file type, nearest by path, at most 2 MB of text.
 */
function siblings(
  dir: string,
  files: string[],
  texts: string[],
  file: string,
  max: number,
): number[] {
  const pkg = (f: string) => path.relative(dir, f).split(path.sep)[0];
  const parts = file.split(path.sep);
  const shared = (f: string) => {
    const p = f.split(path.sep);
    let k = 0;
    while (k < p.length && k < parts.length && p[k] === parts[k]) k++;
    return k;
  };
  const out: number[] = [];
  let bytes = 0;
  const candidates = files
    .map((_, i) => i)
    .filter((i) => files[i] !== file && pkg(files[i]) === pkg(file))
    .filter((i) => path.extname(files[i]) === path.extname(file))
    .sort((a, b) => shared(files[b]) - shared(files[a]) || (files[a] < files[b] ? -1 : 1));
  for (const i of candidates) {
    if (out.length >= max || bytes + texts[i].length > 2 * 1024 * 1024) break;
    out.push(i);
    bytes += texts[i].length;
  }
  return out;
}

function sameLanguage(file: string, pred: string): boolean | null {
  const family = familyOf(file);
  return family && pred.trim() ? looksLike(family, pred) : null;
}

/** { p50: ..., p90: ... } of `xs` for the given percentiles. */
function percentiles<P extends number>(xs: number[], ps: readonly P[]): Record<`p${P}`, number> {
  return Object.fromEntries(ps.map((p) => [`p${p}`, percentile(xs, p)])) as Record<`p${P}`, number>;
}

/** Recall's constants: the defaults, with --kappa, --kappa-far, --order-decay, --order-decay-far,
 * --distinct-power, --distinct-power-far and --order in their place (for fitting and ablations on the validation split). */
function recallConstants(args: ParsedArgs): RecallOptions {
  return {
    ...DEFAULT_RECALL_OPTIONS,
    kappa: numFlag(args, 'kappa', DEFAULT_RECALL_OPTIONS.kappa),
    kappaFar: numFlag(args, 'kappa-far', DEFAULT_RECALL_OPTIONS.kappaFar),
    orderDecay: numFlag(args, 'order-decay', DEFAULT_RECALL_OPTIONS.orderDecay),
    orderDecayFar: numFlag(args, 'order-decay-far', DEFAULT_RECALL_OPTIONS.orderDecayFar),
    maxOrder: intFlag(args, 'order', DEFAULT_RECALL_OPTIONS.maxOrder, 1),
    distinctPower: numFlag(args, 'distinct-power', DEFAULT_RECALL_OPTIONS.distinctPower),
    distinctPowerFar: numFlag(args, 'distinct-power-far', DEFAULT_RECALL_OPTIONS.distinctPowerFar),
  };
}

function numFlag(args: ParsedArgs, name: string, fallback: number): number {
  const raw = args.flags.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0)
    throw new UsageError(`--${name} takes a number >= 0, not ${String(raw)}`);
  return v;
}

/**
 * `linea eval DIR --bpb N`: bits per byte of the first N tokens of each sampled file, the model alone
 * and with recall, as a completion at each position would see it: the recall sources are the tokens
 * before that position (nothing after it), the model state carried exactly, the null memory.
 */
async function runBitsPerByte(args: ParsedArgs, dir: string): Promise<number> {
  const folder = resolveModel(
    (args.flags.get('model') as string) ?? DEFAULT_MODEL_ID,
    modelRoots(),
  );
  const maxTokens = intFlag(args, 'bpb', 1024, 16);
  const workspace = intFlag(args, 'workspace', 0, 0);
  // --dump FILE: per token, the model's p and entropy and recall's counts by order (for fitting the mixture)
  const dumpFile = args.flags.get('dump') as string | undefined;
  const dump: string[] | null = dumpFile ? [] : null;
  const files = listSourceFiles(dir);
  const texts = readTexts(files);
  const random = seededRandom(intFlag(args, 'seed', 0));
  const picked = files
    .map((f) => [random(), f] as const)
    .sort((a, b) => a[0] - b[0])
    .slice(0, intFlag(args, 'files', 40, 1))
    .map(([, f]) => f);
  const recall = recallConstants(args);
  const engine = await openEngine(folder, {
    threads: intFlag(args, 'threads', 2, 1),
    wasmPaths: wasmPaths(),
  });
  const tok = engine.tokenizer;
  const bytesOf = (id: number) => tok.tokenBytes(id).length;
  let bits = 0;
  let bitsRecall = 0;
  let bytes = 0;
  let tokens = 0;
  try {
    for (const file of picked) {
      const ids = tok.encode(texts[files.indexOf(file)]).slice(0, maxTokens);
      const nearby = workspace
        ? siblings(dir, files, texts, file, workspace).map((i) => tok.encode(texts[i]))
        : [];
      const header = headerText(engine.manifest.languageHeader, headerLanguage(file));
      const lead = [tok.eos, ...(header ? tok.encode(header) : [])];
      let state = engine.session.initState();
      if (lead.length > 1) state = (await engine.session.run(lead.slice(0, -1), state, null)).state;
      let prev = lead[lead.length - 1];
      for (let i = 0; i < ids.length; i++) {
        const r = await engine.session.run([prev], state, null);
        state = r.state;
        const target = ids[i];
        bits += -Math.log2(softmax(r.logits)[target]);
        const m = new RecallMatcher(
          [
            { ids, skipFrom: i, skipTo: ids.length },
            ...nearby.map((n) => ({ ids: n, distance: 2 })),
          ],
          ids.slice(Math.max(0, i - recall.maxOrder), i),
          recall,
        );
        const mixed = m.mixLogits(r.logits).logits;
        bitsRecall += -Math.log2(softmax(mixed)[target]);
        if (dump) {
          const p = softmax(r.logits);
          let h = 0;
          for (const q of p) if (q > 0) h -= q * Math.log(q);
          const { atLeast, hits, distinct } = m.orderCounts(target);
          dump.push(
            JSON.stringify({
              p: p[target],
              h,
              b: bytesOf(target),
              c: atLeast,
              n: hits,
              u: distinct,
            }),
          );
        }
        bytes += bytesOf(target);
        tokens++;
        prev = target;
      }
    }
  } finally {
    await engine.dispose();
  }
  if (dumpFile && dump) writeFileSync(dumpFile, dump.join('\n') + '\n');
  const summary = {
    model: engine.manifest.id,
    files: picked.length,
    tokens,
    bpb: bits / bytes,
    bpbWithRecall: bitsRecall / bytes,
    change: bitsRecall / bits - 1,
    workspaceFiles: workspace,
    recall,
  };
  if (args.flags.has('json')) console.log(JSON.stringify(summary, null, 2));
  else
    console.log(
      `${summary.model}: ${tokens} tokens of ${picked.length} files under ${dir}\n` +
        `bits/byte ${summary.bpb.toFixed(3)} alone, ${summary.bpbWithRecall.toFixed(3)} with recall (${(100 * summary.change).toFixed(1)}%)`,
    );
  return 0;
}
