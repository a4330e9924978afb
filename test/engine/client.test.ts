// The worker client: requests go to a real worker running the engine; a crashed worker is restarted,
// the model and documents are restored, and the request in flight is retried once.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { EngineClient } from '../../src/worker/client';
import { fixtureFolder } from './helpers';

const WORKER = path.resolve(__dirname, '../../src/worker/inferenceWorker.js');
const TEXT = 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return ';

test('completions run in the worker, and survive a worker crash', async () => {
  const docs = new Map<string, string>([['doc', TEXT]]);
  const logs: string[] = [];
  const client = new EngineClient({
    workerPath: WORKER,
    documents: () => [...docs].map(([uri, text]) => ({ uri, text })),
    log: (m) => logs.push(m),
  });
  try {
    const info = await client.load({
      folder: fixtureFolder('decay'),
      runtime: { threads: 1 },
      engine: {},
    });
    assert.equal(info.manifest.variant, 'decay');
    await client.open('doc', TEXT);
    // (a time budget no busy machine reaches: the retry below must decode as far as this did)
    const first = await client.complete('doc', TEXT.length, { maxTokens: 6, timeBudgetMs: 60_000 });
    assert.equal(first.model, 'tiny-decay');
    assert.ok(first.tokens >= 1);

    // The worker dies with a request in flight: it is restarted and the request retried once.
    const crash = client.crashForTest();
    const during = client.complete('doc', TEXT.length, { maxTokens: 6, timeBudgetMs: 60_000 });
    await assert.rejects(crash, /the inference worker crashed \(exit code 70\)/);
    const retried = await during;
    assert.equal(retried.raw, first.raw, 'the retried completion sees the restored document');
    assert.equal(client.restartCount, 1);
    assert.match(logs.join('\n'), /exited \(code 70\); restarting/);

    // Cancelling through an AbortSignal ends the request as cancelled.
    const ac = new AbortController();
    const pending = client.complete(
      'doc',
      TEXT.length,
      { maxTokens: 40, timeBudgetMs: 60_000 },
      ac.signal,
    );
    ac.abort();
    const cancelled = await pending;
    assert.equal(cancelled.stop, 'cancelled');
    assert.equal(cancelled.text, null);

    // Errors in the worker come back as errors that name the problem.
    await assert.rejects(client.complete('nope', 0, {}), /document nope is not open/);

    // Unload frees the model and its documents; a later load starts over.
    await client.unload();
    await assert.rejects(client.complete('doc', TEXT.length, {}), /no model is loaded/);
  } finally {
    await client.dispose();
  }
});

test('the production worker bundle has no test hooks', (t) => {
  const bundle = path.resolve(__dirname, '../../../dist/worker.js');
  if (!existsSync(bundle)) return t.skip('dist/worker.js is not built (npm run build)');
  const code = readFileSync(bundle, 'utf8');
  assert.ok(code.includes('no model is loaded'), 'this is the worker bundle');
  assert.ok(!code.includes('exit(70)'), 'the crash hook was compiled in');
});
