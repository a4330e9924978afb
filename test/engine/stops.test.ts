// Where a suggestion ends: the stop rules on text as it grows, token by token.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkStop, indentWidth, type StopRules } from '../../src/engine/core/stops';

const single: StopRules = { multiline: false, maxLines: 10, baseIndent: 0, tabSize: 4 };
const block = (o: Partial<StopRules> = {}): StopRules => ({ ...single, multiline: true, ...o });

test('single line: ends at the newline after the first line with content', () => {
  assert.equal(checkStop('foo(', single), null);
  assert.equal(checkStop('foo()\n', single), 'foo()');
  assert.equal(checkStop('foo()\nbar', single), 'foo()');
  // the cursor line may be complete: the suggestion starts on the next line
  assert.equal(checkStop('\n  bar', single), null);
  assert.equal(checkStop('\n  bar\n', single), '\n  bar');
  // nothing but blank lines: give up
  assert.equal(checkStop('\n \n', single), '\n ');
});

test('multi line: goes on over lines until a rule says stop', () => {
  const rules = block({ baseIndent: 2 });
  assert.equal(checkStop('x = 1\n  y = 2\n    z = 3\n', rules), null);
  // one blank line is part of the block, two end it (before the first of them)
  assert.equal(checkStop('a\n\n  b\n', rules), null);
  assert.equal(checkStop('a\n  b\n\n\n', rules), 'a\n  b');
});

test('multi line: a line indented less than the cursor line ends the block before it', () => {
  const rules = block({ baseIndent: 4 });
  assert.equal(checkStop('x = 1\n    y = 2\nreturn', rules), 'x = 1\n    y = 2');
  // as soon as its first character shows, and the cursor line itself never counts
  assert.equal(checkStop('x\n  r', rules), 'x');
  assert.equal(checkStop('x\n    ', rules), null);
});

test('multi line: at most maxLines lines', () => {
  const rules = block({ maxLines: 2 });
  assert.equal(checkStop('a\nb\n', rules), null);
  assert.equal(checkStop('a\nb\nc', rules), 'a\nb');
  assert.equal(checkStop('a\nb\nc', block({ maxLines: 3 })), null);
});

test('tabs and spaces compare by columns with tabSize', () => {
  assert.equal(indentWidth('\tx', 4), 4);
  assert.equal(indentWidth('  \tx', 4), 4); // a tab goes to the next tab stop
  assert.equal(indentWidth(' \t x', 8), 9);
  assert.equal(indentWidth('x  ', 4), 0);
  // a tab line under a 4-space cursor line: inside the block with tabSize 4, out with tabSize 2
  assert.equal(checkStop('x\n\ty', block({ baseIndent: 4, tabSize: 4 })), null);
  assert.equal(checkStop('x\n\ty', block({ baseIndent: 4, tabSize: 2 })), 'x');
});
