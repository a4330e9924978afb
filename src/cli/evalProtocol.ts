// The line-completion protocol shared with models/training/evaluate.py, so the engine's numbers and
// the Python evaluator's can be compared: the same files, the same cut points, the same metrics.
// Cut: a random token boundary after the indentation of a random non-trivial line; target: the rest
// of that line. Exact match compares stripped strings; edit similarity is 100 * (1 - lev / max len).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { seededRandom } from '../engine/core/sampling';
import type { BpeTokenizer } from '../engine/core/tokenizer';

export const EVAL_EXTENSIONS = [
  '.py',
  '.ts',
  '.tsx',
  '.js',
  '.jsx',
  '.mjs',
  '.cjs',
  '.mts',
  '.cts',
];

export function listSourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (EVAL_EXTENSIONS.includes(path.extname(name)) && st.size <= 1_000_000) out.push(p);
    }
  };
  walk(dir);
  // Sorted by the whole path, as evaluate.py's list_dir does: "utils.py" before "utils/a.py" ('.' < '/').
  return out.sort();
}

export interface Cut {
  file: string;
  offset: number;
  target: string;
}

/** 0..n-1 in a seeded Fisher-Yates order (the file order both evaluators visit). */
function shuffledIndices(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Where in a file a cut goes: the line [start, end) to cut, drawing from `random` as
 * evaluate.py draws (so both evaluators pick the same cuts), or null to skip the file. */
export type LinePicker = (text: string, random: () => number) => [number, number] | null;

/**
 * Seeded cuts, one per file in the seeded file order until `n`: on the line `pickLine` chooses, at a
 * random token boundary after its indentation; a line without one is cut at its start when
 * `atLineStart`, else the file is skipped. The target is the rest of the line.
 */
export function cutsOnLines(
  files: string[],
  texts: string[],
  tok: BpeTokenizer,
  n: number,
  seed: number,
  pickLine: LinePicker,
  atLineStart: boolean,
): Cut[] {
  const random = seededRandom(seed);
  const order = shuffledIndices(files.length, random);
  const cuts: Cut[] = [];
  for (const i of order) {
    if (cuts.length >= n) break;
    const text = texts[i];
    const line = pickLine(text, random);
    if (line === null) continue;
    const [ls, le] = line;
    const indentEnd = ls + (/^\s*/.exec(text.slice(ls, le))?.[0].length ?? 0);
    const boundaries = tok
      .pretokenize(text.slice(ls, le))
      .map((p) => ls + p.start)
      .filter((at) => at >= indentEnd && at < le);
    if (boundaries.length === 0 && !atLineStart) continue;
    const offset = boundaries.length ? boundaries[Math.floor(random() * boundaries.length)] : ls;
    const target = text.slice(offset, le).replace(/\r$/, '');
    if (target.trim() === '') continue;
    cuts.push({ file: files[i], offset, target });
  }
  return cuts;
}

/** A random line with at least 4 non-space characters (evaluate.py's line protocol). */
const randomLine: LinePicker = (text, random) => {
  const lines: Array<[number, number]> = [];
  let start = 0;
  for (const line of text.split('\n')) {
    if (line.trim().length >= 4) lines.push([start, start + line.length]);
    start += line.length + 1;
  }
  return lines.length === 0 ? null : lines[Math.floor(random() * lines.length)];
};

/** Seeded cuts over files: the files, their texts, the tokenizer, how many cuts, the seed. */
export type CutChooser = (
  files: string[],
  texts: string[],
  tok: BpeTokenizer,
  n: number,
  seed: number,
) => Cut[];

/** Seeded choice of files and cut points; mirrors evaluate.py's choose_cuts exactly. */
export const chooseCuts: CutChooser = (files, texts, tok, n, seed) =>
  cutsOnLines(files, texts, tok, n, seed, randomLine, false);

export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur.push(
        Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)),
      );
    }
    prev = cur;
  }
  return prev[b.length];
}

export function editSimilarity(pred: string, target: string): number {
  const a = pred.trim();
  const b = target.trim();
  const m = Math.max(a.length, b.length);
  return m === 0 ? 100 : 100 * (1 - levenshtein(a, b) / m);
}

export function exactMatch(pred: string, target: string): boolean {
  return pred.trim() === target.trim();
}

export function readTexts(files: string[]): string[] {
  return files.map((f) => readFileSync(f, 'utf8'));
}
