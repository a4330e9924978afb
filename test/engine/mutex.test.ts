// PriorityMutex: one holder at a time, waiting completions before encoder runs before background.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Priority, PriorityMutex } from '../../src/engine/core/mutex';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('one holder at a time', async () => {
  const lock = new PriorityMutex();
  let active = 0;
  let most = 0;
  const task = (p: Priority) =>
    lock.with(p, async () => {
      most = Math.max(most, ++active);
      await tick(); // give the others every chance to get in
      await tick();
      active--;
    });
  await Promise.all(
    [Priority.Completion, Priority.Background, Priority.Encoder, Priority.Completion].map(task),
  );
  assert.equal(most, 1);
  assert.equal(lock.pending, 0);
});

test('a waiting higher priority runs first; equal priorities in arrival order', async () => {
  const lock = new PriorityMutex();
  const release = await lock.acquire(Priority.Background);
  const order: string[] = [];
  const wait = (p: Priority, name: string) => lock.with(p, async () => void order.push(name));
  const all = Promise.all([
    wait(Priority.Background, 'bg1'),
    wait(Priority.Encoder, 'enc'),
    wait(Priority.Background, 'bg2'),
    wait(Priority.Completion, 'c1'),
    wait(Priority.Completion, 'c2'),
  ]);
  assert.equal(lock.pending, 5);
  assert.deepEqual(order, []); // nothing runs while the lock is held
  release();
  await all;
  assert.deepEqual(order, ['c1', 'c2', 'enc', 'bg1', 'bg2']);
});

test('a task that throws still releases the lock', async () => {
  const lock = new PriorityMutex();
  const failing = lock.with(Priority.Completion, async () => {
    await tick();
    throw new Error('model run failed');
  });
  let ran = false;
  const next = lock.with(Priority.Background, async () => void (ran = true));
  await assert.rejects(failing, /model run failed/);
  await tick();
  assert.ok(ran, 'the waiter never got the lock');
  await next;
  // and the lock is free again: a new acquire is granted at once
  const release = await lock.acquire(Priority.Background);
  assert.equal(lock.pending, 0);
  release();
});
