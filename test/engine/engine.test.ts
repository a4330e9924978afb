// The engine's incremental state against a from-scratch run, plus the bad-input contract.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { DocumentClosedError } from '../../src/engine/engine';
import { maxAbsDiff, ROOT, rng, tinyEngine, VARIANTS } from './helpers';

const SOURCE = readFileSync(path.join(ROOT, 'models', 'training', 'model.py'), 'utf8').slice(
  0,
  5000,
);
const SMALL = { checkpointEvery: 16, syncReadLimit: 48, coldWindow: 24, encoderDebounceMs: 1 };

function randomEdit(text: string, r: () => number): { start: number; end: number; text: string } {
  const at = Math.floor(r() * (text.length + 1));
  const kind = r();
  if (kind < 0.4)
    return {
      start: at,
      end: at,
      text: ['x', ' ', '\n    ', 'foo(', ')', 'é', '\t'][Math.floor(r() * 7)],
    };
  if (kind < 0.7)
    return { start: at, end: Math.min(text.length, at + Math.floor(r() * 20)), text: '' };
  const from = Math.floor(r() * text.length);
  return {
    start: at,
    end: Math.min(text.length, at + 5),
    text: text.slice(from, from + Math.floor(r() * 40)),
  };
}

for (const variant of VARIANTS) {
  test(`${variant}: incremental state after random edits equals a from-scratch run`, async () => {
    const engine = await tinyEngine(variant, SMALL);
    const fresh = await tinyEngine(variant, { ...SMALL, syncReadLimit: 1e9 }); // always reads from the start
    const r = rng(variant.length * 7919);
    engine.open('doc', SOURCE);
    let text = SOURCE;
    let cursor = 0;
    for (let i = 0; i < 40; i++) {
      const op = r();
      if (op < 0.45) {
        const e = randomEdit(text, r);
        engine.edit('doc', [e]);
        text = text.slice(0, e.start) + e.text + text.slice(e.end);
        cursor = e.start + e.text.length;
      } else if (op < 0.7) {
        cursor = Math.floor(r() * (text.length + 1)); // a jump
      } else {
        for (const ch of 'ab(c) ') {
          engine.edit('doc', [{ start: cursor, end: cursor, text: ch }]); // typing
          text = text.slice(0, cursor) + ch + text.slice(cursor);
          cursor++;
        }
      }
      engine.setCursor('doc', cursor);
      if (i % 4 === 0) await engine.complete('doc', cursor, { maxTokens: 4 }); // served from whatever is best
      if (i % 10 === 9) {
        await engine.idle();
        await engine.flushEncoder('doc'); // the memory at this cursor, as the fresh run will have it
        const got = await engine.nextLogits('doc', cursor);
        fresh.open('ref', text);
        fresh.setCursor('ref', cursor);
        await fresh.flushEncoder('ref');
        const want = await fresh.nextLogits('ref', cursor);
        assert.equal(engine.documentText('doc'), text);
        assert.equal(got.source, 'exact', 'after catch-up the state must be exact');
        const diff = maxAbsDiff(got.logits, want.logits);
        assert.ok(diff <= 1e-4, `step ${i}: logits differ from a fresh run by ${diff}`);
      }
    }
    await engine.dispose();
    await fresh.dispose();
  });
}

test('typing after a warm completion re-reads only the new tokens', async () => {
  const engine = await tinyEngine('linear', { ...SMALL, syncReadLimit: 4096 });
  engine.open('doc', SOURCE);
  let cursor = SOURCE.indexOf('\n', 3000) + 1;
  const warm = await engine.complete('doc', cursor, { maxTokens: 2 });
  assert.ok(warm.reread > 100, 'the first completion reads the prefix');
  for (const ch of 'return x') {
    engine.edit('doc', [{ start: cursor, end: cursor, text: ch }]);
    cursor++;
    const r = await engine.complete('doc', cursor, { maxTokens: 2 });
    assert.equal(r.source, 'exact');
    assert.ok(r.reread <= 4, `typing '${ch}' re-read ${r.reread} tokens`);
  }
  await engine.dispose();
});

test('the background warm-up runs the model and yields to a completion', async () => {
  const engine = await tinyEngine('deltanet', { ...SMALL, warmUpMs: 400 });
  engine.open('doc', SOURCE);
  // A completion asked for while the warm-up runs is served (it waits for one run at most).
  const r = await engine.complete('doc', 200, { maxTokens: 2 });
  assert.notEqual(r.stop, 'cancelled');
  assert.ok(r.timings.totalMs < 5000, `completion took ${r.timings.totalMs} ms`);
  await engine.idle();
  const w = engine.warmUpResult;
  assert.ok(w && w.runs >= 9 && Number.isFinite(w.lastMs), JSON.stringify(w));
  await engine.dispose();
});

test('a far edit serves the next completion at once from a stale state, then catches up', async () => {
  const engine = await tinyEngine('decay', { ...SMALL, syncReadLimit: 64 });
  engine.open('doc', SOURCE);
  const cursor = SOURCE.length - 10;
  await engine.complete('doc', cursor, { maxTokens: 1 });
  await engine.idle();
  engine.edit('doc', [{ start: 10, end: 10, text: '# an edit far above\n' }]);
  const r = await engine.complete('doc', cursor + 20, { maxTokens: 1 });
  assert.equal(r.source, 'stale');
  assert.ok(r.reread <= 64);
  await engine.idle();
  const again = await engine.complete('doc', cursor + 20, { maxTokens: 1 });
  assert.equal(again.source, 'exact');
  await engine.dispose();
});

test('bad input gets a defined result', async () => {
  const engine = await tinyEngine('linear', SMALL);
  engine.open('empty', '');
  const empty = await engine.complete('empty', 0, { maxTokens: 3 });
  assert.equal(empty.stop === 'cancelled', false);
  engine.open('crlf', 'a = 1\r\nb = 2\r\n\r\nif x:\r\n\ty = "\uD800"\r\n');
  const past = await engine.complete('crlf', 10_000, { maxTokens: 3 }); // cursor past the end: clamped
  const atEnd = await engine.complete(
    'crlf',
    'a = 1\r\nb = 2\r\n\r\nif x:\r\n\ty = "\uD800"\r\n'.length,
    {
      maxTokens: 3,
    },
  );
  assert.notEqual(past.stop, 'cancelled');
  assert.equal(past.raw, atEnd.raw);
  engine.open('binary', '\u0000\u0001\u0002\uFFFD\u0000'.repeat(2000));
  const bin = await engine.complete('binary', 5000, { maxTokens: 3 });
  assert.ok(bin.tokens <= 3);
  await assert.rejects(engine.complete('never-opened', 0), DocumentClosedError);
  // closed mid-request: the request ends as cancelled, nothing hangs
  engine.open('gone', SOURCE);
  const pending = engine.complete('gone', SOURCE.length, { maxTokens: 40 });
  engine.close('gone');
  const gone = await pending;
  assert.equal(gone.text, null);
  // a thousand requests cancelled in a row: all return, none leaves work behind
  engine.open('many', SOURCE);
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      engine.complete('many', 100 + i, { maxTokens: 5 }, () => true),
    ),
  );
  assert.ok(results.every((x) => x.stop === 'cancelled' && x.text === null));
  await engine.dispose();
});

test('100 open documents stay within the memory budget', async () => {
  const engine = await tinyEngine('softmax', { ...SMALL, memoryBudgetBytes: 2_000_000 });
  for (let i = 0; i < 100; i++) {
    engine.open(`doc${i}`, SOURCE.slice(0, 1500));
    await engine.complete(`doc${i}`, 1400, { maxTokens: 1 });
    await engine.idle();
    assert.ok(engine.stats().stateBytes <= 2_000_000, `over budget after ${i + 1} documents`);
  }
  assert.equal(engine.stats().documents, 100);
  engine.close('doc0');
  assert.equal(engine.stats().documents, 99);
  await engine.dispose();
});

test('timings: the first suggestion character is decided after the prefill, before the end', async () => {
  const engine = await tinyEngine('linear', SMALL);
  engine.open('t', SOURCE);
  for (const offset of [100, 2000, SOURCE.length]) {
    const r = await engine.complete('t', offset, { maxTokens: 6 });
    const { prefillMs, firstTokenMs, totalMs } = r.timings;
    assert.ok(prefillMs <= firstTokenMs && firstTokenMs <= totalMs, JSON.stringify(r.timings));
  }
  await engine.dispose();
});

test('the confidence gate hides what the first line is less likely than, with the reason', async () => {
  const engine = await tinyEngine('deltanet', SMALL);
  engine.open('doc', SOURCE);
  // the first cursor (a line's end) where the tiny model has something to show
  let offset = SOURCE.indexOf('\n', 200);
  let shown = await engine.complete('doc', offset, { maxTokens: 8 });
  while (shown.text === null) {
    offset = SOURCE.indexOf('\n', offset + 1);
    shown = await engine.complete('doc', offset, { maxTokens: 8 });
  }
  assert.ok(shown.confidence > 0 && shown.confidence <= 1, `${shown.confidence}`);
  assert.equal(shown.logprobs.length, shown.tokens);
  const below = await engine.complete('doc', offset, {
    maxTokens: 8,
    minConfidence: shown.confidence / 2,
  });
  assert.equal(below.text, shown.text);
  const above = await engine.complete('doc', offset, {
    maxTokens: 8,
    minConfidence: Math.min(1, shown.confidence * 2),
  });
  assert.equal(above.text, null);
  assert.match(above.declined ?? '', /the model is unsure of it \(p 0\.\d{3} < /);
  assert.equal(above.raw, shown.raw); // the same suggestion, not shown
  await engine.dispose();
});
