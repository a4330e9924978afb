// The language check of `linea eval --first-line`: it must tell a language switch from plain code.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { chooseFirstLineCuts, familyOf, looksLike } from '../../src/cli/languageCheck';
import { BpeTokenizer } from '../../src/engine/core/tokenizer';
import { ROOT } from './helpers';

test('suggestions in the other language fail, neutral and same-language ones pass', () => {
  // the switches seen at the top of files
  assert.equal(looksLike('ts', 'def test_array(self):'), false);
  assert.equal(looksLike('py', 'import {'), false);
  assert.equal(looksLike('py', "import { createGradient } from './Gradient';"), false);
  assert.equal(looksLike('js', 'export interface Options {'), false, 'TypeScript in a .js file');
  // the file's own language, and code either could be
  assert.equal(looksLike('py', 'import numpy as np'), true);
  assert.equal(looksLike('py', 'from .cli import main'), true);
  assert.equal(looksLike('ts', "import { add } from './math';"), true);
  assert.equal(looksLike('js', 'const x = require("y");'), true);
  assert.equal(looksLike('ts', 'foo(bar, baz)'), true);
  assert.equal(looksLike('py', 'foo(bar, baz)'), true);
  assert.deepEqual(['a/b.py', 'x.TSX', 'y.mjs', 'README.md'].map(familyOf), [
    'py',
    'ts',
    'js',
    null,
  ]);
});

test('first-line cuts land on the first non-trivial line, seeded', () => {
  const tok = BpeTokenizer.load(path.join(ROOT, 'models', 'linea-deltanet', 'tokenizer.json'));
  const texts = [
    '\n\n#!/usr/bin/env python\nimport os\n',
    '  \nexport const a = 1;\nlet b;\n',
    '\n',
  ];
  const files = ['a.py', 'b.ts', 'c.js'];
  const cuts = chooseFirstLineCuts(files, texts, tok, 10, 3);
  assert.equal(cuts.length, 2, 'a file without a non-trivial line has no cut');
  for (const c of cuts) {
    const text = texts[files.indexOf(c.file)];
    const lineStart = text.lastIndexOf('\n', c.offset - 1) + 1;
    assert.equal(text.slice(0, lineStart).trim(), '', 'nothing but blank lines above the cut');
    assert.ok(text.slice(lineStart).startsWith(text.slice(lineStart, c.offset)));
    assert.equal(c.target, text.slice(c.offset, text.indexOf('\n', c.offset)));
  }
  assert.deepEqual(chooseFirstLineCuts(files, texts, tok, 10, 3), cuts);
});
