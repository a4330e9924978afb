// The line-completion protocol against test/fixtures/eval-protocol.json, which evaluate.py must
// reproduce too (models/training/tests/test_eval_protocol.py): the same files in the same order, the
// same cuts, so `linea eval` and the Python evaluator score the same completions.
// LINEA_REGEN=1 rewrites the file from this implementation (then both sides must pass again).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { chooseCuts, editSimilarity, listSourceFiles, readTexts } from '../../src/cli/evalProtocol';
import { BpeTokenizer } from '../../src/engine/core/tokenizer';
import { FIXTURES, ROOT } from './helpers';

const FILE = path.join(FIXTURES, 'eval-protocol.json');
const TOKENIZER = 'models/linea-deltanet/tokenizer.json';

interface Golden {
  tokenizer: string;
  seed: number;
  n: number;
  files: Record<string, string>;
  order: string[];
  cuts: Array<{ file: string; offset: number; target: string }>;
  similarity: Array<{ pred: string; target: string; value: number }>;
}

// Names that sort differently depth-first than by whole path, and files the walk must skip.
const FILES: Record<string, string> = {
  'pkg/utils.py': 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n',
  'pkg/utils/__init__.py': 'from .core import run, stop  # noqa\n__all__ = ["run", "stop"]\n',
  'pkg/utils/core.py':
    'import os\n\n\ndef run(path):\n    with open(path) as f:\n        return f.read()\n',
  'pkg/a-b.ts':
    'export const answer: number = 42;\nexport function twice(x: number): number {\n  return 2 * x;\n}\n',
  'pkg/a/b.ts': "import { twice } from '../a-b';\n\nconsole.log(twice(21));\n",
  'pkg/Z.js': 'module.exports = function zed(list) {\n\treturn list.filter(Boolean).length;\n};\n',
  'pkg/node_modules/dep/index.js': 'module.exports = 1;\n',
  'pkg/.hidden/x.py': 'x = 1\n',
  'pkg/notes.md': '# notes\n',
  'pkg/tiny.py': 'x\n',
};

function layout(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'linea-protocol-'));
  for (const [name, text] of Object.entries(FILES)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function compute(dir: string, tok: BpeTokenizer, seed: number, n: number) {
  const files = listSourceFiles(dir);
  const cuts = chooseCuts(files, readTexts(files), tok, n, seed);
  const rel = (f: string) => path.relative(dir, f).split(path.sep).join('/');
  return {
    order: files.map(rel),
    cuts: cuts.map((c) => ({ file: rel(c.file), offset: c.offset, target: c.target })),
  };
}

test('file order and cuts reproduce the golden protocol file shared with evaluate.py', () => {
  const tok = BpeTokenizer.load(path.join(ROOT, TOKENIZER));
  const dir = layout();
  try {
    if (process.env.LINEA_REGEN === '1') {
      const pairs: Array<[string, string]> = [
        [' return x ', 'return x'],
        ['', 'abc'],
        ['foo(a, b)', 'foo(a, c)'],
        ['kitten', 'sitting'],
      ];
      const golden: Golden = {
        tokenizer: TOKENIZER,
        seed: 3,
        n: 12,
        files: FILES,
        ...compute(dir, tok, 3, 12),
        similarity: pairs.map(([pred, target]) => ({
          pred,
          target,
          value: editSimilarity(pred, target),
        })),
      };
      writeFileSync(FILE, JSON.stringify(golden, null, 1) + '\n');
    }
    assert.ok(existsSync(FILE), `${FILE} is missing; LINEA_REGEN=1 writes it`);
    const golden = JSON.parse(readFileSync(FILE, 'utf8')) as Golden;
    assert.deepEqual(golden.files, FILES);
    const got = compute(dir, tok, golden.seed, golden.n);
    assert.deepEqual(got.order, golden.order);
    assert.ok(
      golden.order.indexOf('pkg/utils.py') < golden.order.indexOf('pkg/utils/core.py'),
      'sorted by the whole path',
    );
    assert.ok(!golden.order.some((f) => /node_modules|\.hidden|\.md$/.test(f)));
    assert.deepEqual(got.cuts, golden.cuts);
    assert.ok(golden.cuts.length >= 5);
    for (const s of golden.similarity) assert.equal(editSimilarity(s.pred, s.target), s.value);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
