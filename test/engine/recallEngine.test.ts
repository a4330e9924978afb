// Recall in the engine with the shipped default model: across open editors, at a partial identifier,
// and the contract that the same request without recall is the model alone.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Engine } from '../../src/engine/engine';
import { DEFAULT_MODEL_ID, openEngine } from '../../src/engine/models';
import { DEFAULT_RECALL_OPTIONS } from '../../src/engine/core/recall';
import { ROOT } from './helpers';

let engine: Engine;
before(async () => {
  engine = await openEngine(path.join(ROOT, 'models', DEFAULT_MODEL_ID), { threads: 1 });
});
after(() => engine.dispose());

const OTHER = `import { Widget } from './widget';

export function summarise(items: Widget[]): string {
  const checksum = computeWidgetChecksum(items, { seed: 17 });
  return items.map((w) => w.name).join(', ') + checksum;
}
`;
const MAIN = `import { Widget } from './widget';

export function audit(items: Widget[]): void {
  const checksum = comp`;

test('an identifier used only in another open editor is completed from it', async () => {
  engine.open('file:///w/summary.ts', OTHER);
  engine.open('file:///w/audit.ts', MAIN);
  const r = await engine.complete('file:///w/audit.ts', MAIN.length, {
    maxTokens: 24,
    timeBudgetMs: 60_000,
  });
  assert.equal(r.text, 'uteWidgetChecksum(items, { seed: 17 });');
  assert.notEqual(r.origin, 'model');
  const alone = await engine.complete('file:///w/audit.ts', MAIN.length, {
    maxTokens: 24,
    timeBudgetMs: 60_000,
    recallOpenEditors: false,
  });
  assert.ok(
    !alone.text?.startsWith('uteWidgetChecksum'),
    `without the other editor: ${alone.text}`,
  );
  engine.close('file:///w/summary.ts');
  engine.close('file:///w/audit.ts');
  engine.forget('file:///w/summary.ts'); // closing made it a recently edited file
});

test('a recently edited file that is not open is recalled from, a closed one too', async () => {
  // The fitted constants make one recent file weak evidence (κ far 1024): the plumbing is tested with
  // recent files weighed as the document is, so that one occurrence can decide.
  const engine = await openEngine(
    path.join(ROOT, 'models', DEFAULT_MODEL_ID),
    {
      threads: 1,
    },
    {
      recall: {
        ...DEFAULT_RECALL_OPTIONS,
        kappaFar: DEFAULT_RECALL_OPTIONS.kappa,
        orderDecayFar: DEFAULT_RECALL_OPTIONS.orderDecay,
      },
    },
  );
  const opts = { maxTokens: 24, timeBudgetMs: 60_000 };
  engine.remember('file:///w/summary.ts', OTHER);
  engine.open('file:///w/audit.ts', MAIN);
  const r = await engine.complete('file:///w/audit.ts', MAIN.length, opts);
  assert.equal(r.text, 'uteWidgetChecksum(items, { seed: 17 });');
  const off = await engine.complete('file:///w/audit.ts', MAIN.length, {
    ...opts,
    recallRecentFiles: false,
  });
  assert.ok(!off.text?.startsWith('uteWidgetChecksum'), `without recent files: ${off.text}`);
  engine.forget('file:///w/summary.ts');
  const forgotten = await engine.complete('file:///w/audit.ts', MAIN.length, opts);
  assert.equal(forgotten.text, off.text, 'a forgotten (deleted) file is not recalled from');
  // an editor that closes leaves its text to recall
  engine.open('file:///w/closed.ts', OTHER);
  engine.close('file:///w/closed.ts');
  assert.equal(engine.recentFiles, 1);
  const closed = await engine.complete('file:///w/audit.ts', MAIN.length, opts);
  assert.equal(closed.text, r.text);
  engine.forget('file:///w/closed.ts');
  engine.close('file:///w/audit.ts');
  engine.forget('file:///w/audit.ts');
  assert.equal(engine.recentFiles, 0);
  await engine.dispose();
});

test('other file types are not recalled from', async () => {
  engine.open('file:///w/summary.py', OTHER);
  engine.open('file:///w/audit.ts', MAIN);
  const r = await engine.complete('file:///w/audit.ts', MAIN.length, {
    maxTokens: 24,
    timeBudgetMs: 60_000,
  });
  assert.ok(!r.text?.startsWith('uteWidgetChecksum'), r.text ?? '');
  engine.close('file:///w/summary.py');
  engine.close('file:///w/audit.ts');
  engine.forget('file:///w/summary.py');
  engine.forget('file:///w/audit.ts');
});

test("a partial word is completed from the document's later lines", async () => {
  const text = `def digest(data):\n    return h\n    total = hash_value * 31\n`;
  const at = text.indexOf('return h') + 'return h'.length;
  engine.open('file:///w/d.py', text.slice(0, at) + text.slice(text.indexOf('\n', at)));
  const r = await engine.complete('file:///w/d.py', at, { maxTokens: 8, timeBudgetMs: 60_000 });
  // the model alone says `.get(...`; the file's ` hash` completes the typed ` h`
  assert.ok(r.text?.startsWith('ash'), r.text ?? '(none)');
  assert.notEqual(r.origin, 'model');
  engine.close('file:///w/d.py');
});

test('recall off is the model alone', async () => {
  engine.open('file:///w/audit.ts', MAIN);
  const off = await engine.complete('file:///w/audit.ts', MAIN.length, {
    recall: false,
    timeBudgetMs: 60_000,
  });
  assert.equal(off.origin, 'model');
  engine.close('file:///w/audit.ts');
});
