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
export function shuffledIndices(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Seeded choice of files and cut points; mirrors evaluate.py's choose_cuts exactly. */
export function chooseCuts(
  files: string[],
  texts: string[],
  tok: BpeTokenizer,
  n: number,
  seed: number,
): Cut[] {
  const random = seededRandom(seed);
  const order = shuffledIndices(files.length, random);
  const cuts: Cut[] = [];
  for (const i of order) {
    if (cuts.length >= n) break;
    const text = texts[i];
    const lines: Array<[number, number]> = [];
    let start = 0;
    for (const line of text.split('\n')) {
      if (line.trim().length >= 4) lines.push([start, start + line.length]);
      start += line.length + 1;
    }
    if (lines.length === 0) continue;
    const [ls, le] = lines[Math.floor(random() * lines.length)];
    const indentEnd = ls + (/^\s*/.exec(text.slice(ls, le))?.[0].length ?? 0);
    const boundaries: number[] = [];
    for (const p of tok.pretokenize(text.slice(ls, le))) {
      const at = ls + p.start;
      if (at >= indentEnd && at < le) boundaries.push(at);
    }
    if (boundaries.length === 0) continue;
    const offset = boundaries[Math.floor(random() * boundaries.length)];
    const target = text.slice(offset, le).replace(/\r$/, '');
    if (target.trim() === '') continue;
    cuts.push({ file: files[i], offset, target });
  }
  return cuts;
}

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
