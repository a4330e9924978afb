// Recall in the engine with the shipped default model: across open editors, at a partial identifier,
// and the contract that the same request without recall is the model alone.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Engine } from '../../src/engine/engine';
import { DEFAULT_MODEL_ID, openEngine } from '../../src/engine/models';
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
