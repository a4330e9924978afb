// The language header: a model trained with one reads <eos> <|ts|> before the file, in the engine as in
// training; the header never moves the document's own positions (edits, exact states, window reads).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerLanguage, headerText } from '../../src/engine/core/languageHeader';
import { maxAbsDiff, tinyEngine } from './helpers';

const FORMAT = '<|{}|>';
const SMALL = { checkpointEvery: 16, syncReadLimit: 48, coldWindow: 24, encoderDebounceMs: 1 };
const TS = 'export function add(a: number, b: number): number {\n  return a + b;\n}\n'.repeat(6);

test('header language: the editor language id, else the extension, else txt', () => {
  assert.equal(headerLanguage('file:///a/b.py'), 'py');
  assert.equal(headerLanguage('untitled:Untitled-1', 'typescriptreact'), 'ts');
  assert.equal(headerLanguage('file:///x/lib.MJS'), 'js');
  assert.equal(
    headerLanguage('file:///x/main.rs', 'rust'),
    'rs',
    'an unseen language keeps its own name',
  );
  assert.equal(headerLanguage('file:///x/Makefile', 'makefile'), 'makefile');
  assert.equal(headerLanguage('file:///x/notes', 'Plain Text!'), 'txt');
  assert.equal(headerLanguage('vscode-notebook-cell:/a/b.ts?x=1#c2'), 'ts');
  assert.equal(headerText(FORMAT, 'py'), '<|py|>');
  assert.equal(headerText(undefined, 'py'), '', 'a model trained without a header gets none');
});

test('a model with a header reads <eos> and the header before the file', async () => {
  const engine = await tinyEngine('deltanet', SMALL);
  const plain = await tinyEngine('deltanet', SMALL);
  engine.manifest.languageHeader = FORMAT;
  const { session, tokenizer } = engine;
  const lead = [tokenizer.eos, ...tokenizer.encode('<|ts|>')];
  assert.ok(lead.length > 1);

  engine.open('a.ts', TS);
  const atStart = await engine.nextLogits('a.ts', 0);
  const want = await session.run(lead, session.initState(), null);
  assert.ok(maxAbsDiff(atStart.logits, want.logits) <= 1e-5, 'offset 0 predicts from the header');

  // Mid-file: the same as feeding lead + the file's tokens by hand.
  const offset = TS.indexOf('return') + 3;
  const ids = tokenizer.encode(TS.slice(0, TS.lastIndexOf(' ', offset) + 1));
  const stream = [...lead, ...ids];
  const max = engine.manifest.limits.max_chunk;
  let state = session.initState();
  let logits: Float32Array = new Float32Array(0);
  for (let i = 0; i < stream.length; i += max) {
    const r = await session.run(stream.slice(i, i + max), state, null);
    state = r.state;
    logits = r.logits;
  }
  const at = await engine.nextLogits('a.ts', TS.lastIndexOf(' ', offset) + 1);
  assert.ok(maxAbsDiff(at.logits, logits) <= 1e-4);

  // The header is seen: the plain model (no header in its manifest) predicts otherwise at offset 0.
  plain.open('a.ts', TS);
  const noHeader = await plain.nextLogits('a.ts', 0);
  assert.ok(maxAbsDiff(noHeader.logits, atStart.logits) > 1e-3);
  await engine.dispose();
  await plain.dispose();
});

test('with a header, edits (at the very start too) keep the state exact', async () => {
  const engine = await tinyEngine('deltanet', SMALL);
  const fresh = await tinyEngine('deltanet', { ...SMALL, syncReadLimit: 1e9 });
  engine.manifest.languageHeader = FORMAT;
  fresh.manifest.languageHeader = FORMAT;
  engine.open('doc.py', TS);
  let text = TS;
  const edits = [
    { start: 0, end: 0, text: '# head\n' },
    { start: 40, end: 45, text: '' },
    { start: 0, end: 3, text: 'x' },
    { start: 120, end: 120, text: '\n    foo(bar)' },
  ];
  for (const e of edits) {
    engine.edit('doc.py', [e]);
    text = text.slice(0, e.start) + e.text + text.slice(e.end);
    const cursor = e.start + e.text.length;
    engine.setCursor('doc.py', cursor);
    await engine.complete('doc.py', cursor, { maxTokens: 3 }); // served from a stale or windowed state
    await engine.idle();
    await engine.flushEncoder('doc.py'); // the memory at this cursor, as the fresh run will have it
    const got = await engine.nextLogits('doc.py', cursor);
    fresh.open('ref.py', text);
    fresh.setCursor('ref.py', cursor);
    await fresh.flushEncoder('ref.py');
    const ref = await fresh.nextLogits('ref.py', cursor);
    assert.equal(got.source, 'exact');
    assert.ok(
      maxAbsDiff(got.logits, ref.logits) <= 1e-4,
      `after editing at ${e.start}: ${maxAbsDiff(got.logits, ref.logits)} ${JSON.stringify(got.source)}`,
    );
  }
  await engine.dispose();
  await fresh.dispose();
});
