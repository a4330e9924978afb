// Recall under input a user can produce: a 2 MB single-line file, 200 open editors of one language,
// and 1,000 random edits. Nothing may throw, hang or grow without bound, and after the edits a
// suggestion must be what a freshly opened copy of the same text gets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Engine } from '../../src/engine/engine';
import { DEFAULT_MODEL_ID, openEngine } from '../../src/engine/models';
import { seededRandom } from '../../src/engine/core/sampling';
import { ROOT } from './helpers';

let engine: Engine;
before(async () => {
  engine = await openEngine(path.join(ROOT, 'models', DEFAULT_MODEL_ID), { threads: 1 });
});
after(() => engine.dispose());

const CODE = readFileSync(path.join(ROOT, 'src', 'engine', 'core', 'recall.ts'), 'utf8');
const ask = { maxTokens: 12, timeBudgetMs: 60_000 };

test('a 2 MB file on one line (minified) completes within its time budget', async () => {
  const line = CODE.replace(/\s+/g, ' ');
  let text = '';
  while (text.length < 2_000_000) text += line;
  engine.open('file:///w/min.js', text);
  const t0 = performance.now();
  const r = await engine.complete('file:///w/min.js', text.length, {
    maxTokens: 12,
    timeBudgetMs: 3_000,
  });
  assert.ok(performance.now() - t0 < 60_000);
  assert.notEqual(r.stop, 'cancelled');
  engine.close('file:///w/min.js');
});

test('200 open editors of one language: a suggestion still comes, recalled from them', async () => {
  const uris: string[] = [];
  for (let i = 0; i < 200; i++) {
    const uri = `file:///w/many/f${i}.ts`;
    engine.open(uri, CODE.replace(/RecallMatcher/g, `RecallMatcher${i}`));
    uris.push(uri);
  }
  const main = 'file:///w/many/main.ts';
  const text = 'export class RecallMatcher19 {\n  private cands: Cand';
  engine.open(main, text);
  const r = await engine.complete(main, text.length, ask);
  assert.ok(r.text?.startsWith('idate[]'), r.text ?? '(none)');
  assert.notEqual(r.origin, 'model');
  for (const uri of [...uris, main]) engine.close(uri);
  assert.equal(engine.recentFiles, 20, 'closed editors become recent files, 20 at most');
  for (const uri of [...uris, main]) engine.forget(uri);
});

test('after 1,000 random edits a suggestion is the one a fresh copy of the text gets', async () => {
  const uri = 'file:///w/edited.ts';
  let text = CODE.slice(0, 6000);
  engine.open(uri, text);
  const random = seededRandom(7);
  const pieces = ['x', 'const ', '\n', '(', ')', 'recall', '  ', ';', 'this.cands', ''];
  for (let i = 0; i < 1000; i++) {
    const at = Math.floor(random() * (text.length + 1));
    const del = Math.min(text.length - at, Math.floor(random() * 6));
    const ins = pieces[Math.floor(random() * pieces.length)];
    engine.edit(uri, [{ start: at, end: at + del, text: ins }]);
    text = text.slice(0, at) + ins + text.slice(at + del);
    if (i % 250 === 249) await engine.complete(uri, at + ins.length, ask); // completions between edits
  }
  const cursor = text.lastIndexOf('\n', text.length - 200);
  const edited = await engine.complete(uri, cursor, ask);
  engine.close(uri);
  engine.forget(uri); // else the closed copy would be a recent file the fresh one recalls from
  engine.open('file:///w/fresh.ts', text);
  const fresh = await engine.complete('file:///w/fresh.ts', cursor, ask);
  engine.close('file:///w/fresh.ts');
  assert.equal(edited.raw, fresh.raw);
});
