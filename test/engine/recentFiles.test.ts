// The recently edited files recall keeps: bounded by count and by text size, least recent out first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentFiles } from '../../src/engine/core/recentFiles';

test('recent files stay within their count and size, the least recent leaving first', () => {
  const recent = new RecentFiles({ maxFiles: 3, maxBytes: 100 });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < 5; i++) recent.remember(`f${i}.ts`, '.ts', ids(4), 10);
  assert.equal(recent.size, 3);
  assert.deepEqual(
    recent.sources('.ts', () => false).map((s) => s.ids.length),
    [4, 4, 4],
  );
  assert.ok(!recent.has('f0.ts') && !recent.has('f1.ts') && recent.has('f4.ts'));
  recent.remember('f2.ts', '.ts', ids(5), 10); // refreshed: now the most recent
  assert.equal(recent.sources('.ts', () => false)[0].ids.length, 5);
  recent.remember('big.ts', '.ts', ids(9), 60);
  recent.remember('big2.ts', '.ts', ids(9), 60); // 130 bytes > 100: the older ones go
  assert.ok(recent.has('big2.ts') && !recent.has('big.ts') && recent.size <= 3);
  recent.remember('huge.ts', '.ts', ids(9), 101);
  assert.ok(!recent.has('huge.ts'), 'a file larger than the whole budget is not kept');
  assert.deepEqual(
    recent.sources('.py', () => false),
    [],
    'other file types are not given out',
  );
  assert.equal(recent.sources('.ts', (u) => u === 'big2.ts').length, recent.size - 1);
  assert.equal(
    recent.bytes,
    [...recent.sources('.ts', () => false)].reduce((a, s) => a + 4 * s.ids.length, 0),
  );
  new RecentFiles({ maxFiles: 0, maxBytes: 100 }).remember('a.ts', '.ts', ids(3), 3);
  recent.setLimits({ maxFiles: 1, maxBytes: 100 });
  assert.equal(recent.size, 1);
  recent.clear();
  assert.equal(recent.size, 0);
});
