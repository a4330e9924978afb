// Extension-host glue that needs no editor: gating, debounce, typing through, statistics.
import assert from 'node:assert/strict';
import {
  confidenceFloor,
  debounceDelay,
  shouldComplete,
  typeThrough,
} from '../../src/vscode/gating';
import { CompletionStats } from '../../src/vscode/stats';

describe('gating', () => {
  it('completes at the end of a line or before closing punctuation only', () => {
    assert.equal(shouldComplete('    return fo', 13, false), true);
    assert.equal(shouldComplete('print(', 6, false), true);
    assert.equal(shouldComplete('print()', 6, false), true);
    assert.equal(shouldComplete('x = [a, b]);', 9, false), true);
    assert.equal(shouldComplete('    return foo', 12, false), false); // mid-word
    assert.equal(shouldComplete('a = b + c', 2, false), false);
    assert.equal(shouldComplete('a = b + c', 2, true), true); // explicit request
  });
});

describe('confidence gate', () => {
  it('applies the setting while typing and nothing when the user asked', () => {
    assert.equal(confidenceFloor(0.15, false), 0.15);
    assert.equal(confidenceFloor(0.15, true), 0);
    assert.equal(confidenceFloor(0, false), 0);
  });
});

describe('adaptive debounce', () => {
  it('waits less for a fast engine and more while the user types fast', () => {
    assert.equal(debounceDelay({ baseMs: 60, engineMs: NaN, keystrokeMs: NaN }), 60);
    assert.equal(debounceDelay({ baseMs: 60, engineMs: 20, keystrokeMs: NaN }), 30);
    assert.equal(debounceDelay({ baseMs: 60, engineMs: 200, keystrokeMs: 120 }), 180);
    assert.equal(debounceDelay({ baseMs: 60, engineMs: NaN, keystrokeMs: 1000 }), 60);
    assert.equal(debounceDelay({ baseMs: 60, engineMs: NaN, keystrokeMs: 200 }), 240); // capped at 4x
  });
});

describe('typing through a suggestion', () => {
  const cached = {
    uri: 'a',
    prefix: '3:  x = ',
    suggestion: 'compute(value)',
    origin: 'recall' as const,
  };
  it('returns the rest while the typed text matches', () => {
    assert.equal(typeThrough(cached, 'a', '3:  x = comp'), 'ute(value)');
    assert.equal(typeThrough(cached, 'a', '3:  x = compute(value'), ')');
  });
  it('asks the model again when the text diverges, is complete, or is elsewhere', () => {
    assert.equal(typeThrough(cached, 'a', '3:  x = compt'), null);
    assert.equal(typeThrough(cached, 'a', '3:  x = compute(value)'), null);
    assert.equal(typeThrough(cached, 'b', '3:  x = comp'), null);
    assert.equal(typeThrough(cached, 'a', '3:  x = '), null);
  });
});

describe('statistics', () => {
  it('counts, rates and percentiles stay local and bounded', () => {
    const s = new CompletionStats();
    for (let i = 1; i <= 600; i++) {
      s.request();
      s.shown(i);
    }
    s.accepted();
    const snap = s.snapshot();
    assert.equal(snap.shown, 600);
    assert.equal(snap.latencies.length, 500); // rolling window
    assert.match(s.summary(), /Accepted: 1 \(0\.2%\)/);
    assert.match(s.summary(), /never sent anywhere/);
    const restored = new CompletionStats(snap);
    assert.equal(restored.snapshot().accepted, 1);
  });

  it('counts acceptance by origin, also from statistics kept before origins existed', () => {
    const s = new CompletionStats({ shown: 3, accepted: 1, requests: 4, latencies: [5] });
    s.shown(10, 'recall');
    s.shown(12, 'model');
    s.accepted('recall');
    const snap = s.snapshot();
    assert.deepEqual(snap.byOrigin?.recall, { shown: 1, accepted: 1 });
    assert.deepEqual(snap.byOrigin?.model, { shown: 1, accepted: 0 });
    assert.equal(snap.accepted, 2);
    assert.match(s.summary(), /From recall: 1 of 1 accepted/);
    assert.deepEqual(new CompletionStats(snap).snapshot().byOrigin, snap.byOrigin);
  });

  it('counts what the confidence gate held back, also from statistics kept before it existed', () => {
    const s = new CompletionStats({ shown: 3, accepted: 1, requests: 4, latencies: [5] });
    assert.match(s.summary(), /Held back as unsure: 0 /);
    s.heldBack();
    s.heldBack();
    assert.equal(s.snapshot().heldBack, 2);
    assert.match(s.summary(), /Held back as unsure: 2 /);
    assert.equal(new CompletionStats(s.snapshot()).snapshot().heldBack, 2);
  });
});
