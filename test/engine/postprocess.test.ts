// The rules that shape a suggestion's text, each on the cases it exists for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  autoClosedSpan,
  matchIndentation,
  postprocess,
  stopRepetition,
  trimFollowingLines,
  trimLineSuffix,
  trimTrailing,
} from '../../src/engine/postprocess';

/** What the line reads after accepting `text` at `|` with the range autoClosedSpan gives. */
function accept(line: string, text: string): string {
  const at = line.indexOf('|');
  const suffix = line.slice(at + 1);
  const covered = autoClosedSpan(text, suffix);
  return line.slice(0, at) + text + suffix.slice(covered);
}

test('autoClosedSpan: the auto-inserted closer is replaced, not doubled', () => {
  assert.equal(
    accept('if (|)', 'this.isObject(this._type)) {'),
    'if (this.isObject(this._type)) {',
  );
  assert.equal(accept('foo(|)', 'a, b)'), 'foo(a, b)');
  assert.equal(accept('xs = [|]', '1, 2]'), 'xs = [1, 2]');
  assert.equal(accept('const o = {|}', ' a: 1 };'), 'const o = { a: 1 };');
  assert.equal(accept('f(g(|))', 'x));'), 'f(g(x));');
});

test('autoClosedSpan: a closer the suggestion opens itself is its own', () => {
  assert.equal(accept('bar(|)', 'foo(a)'), 'bar(foo(a))');
  assert.equal(accept('bar(|)', 'foo(a), [1])'), 'bar(foo(a), [1])');
  assert.equal(accept('bar(|)', 'a'), 'bar(a)');
});

test('autoClosedSpan: quotes end the string the cursor is in', () => {
  assert.equal(accept('print("|")', 'hello")'), 'print("hello")');
  assert.equal(accept('print("|")', 'hello'), 'print("hello")');
  assert.equal(accept("x = '|'", "a(b'"), "x = 'a(b'");
  assert.equal(accept('s = "|"', 'a\\"b"'), 's = "a\\"b"');
  assert.equal(accept('f(|)', '"a)", b)'), 'f("a)", b)');
});

test('autoClosedSpan: nothing to cover', () => {
  assert.equal(autoClosedSpan('abc', ''), 0);
  assert.equal(autoClosedSpan('abc)', ' + 1'), 0);
  assert.equal(autoClosedSpan('x]', ')'), 0);
  assert.equal(accept('foo(|) + 1', 'a)'), 'foo(a) + 1');
  // only the first line of a block suggestion takes part
  assert.equal(autoClosedSpan('a\n)', ')'), 0);
});

test('trimTrailing: spaces at the end of any trailing line go, inner lines are kept', () => {
  assert.equal(trimTrailing('foo()  \n'), 'foo()');
  assert.equal(trimTrailing('a \nb\t\n\n'), 'a \nb');
  assert.equal(trimTrailing('x'), 'x');
});

test('stopRepetition: loops are cut once', () => {
  assert.equal(stopRepetition('a = 1\na = 1\na = 1'), 'a = 1');
  assert.equal(stopRepetition('x.foo.foo.foo.foo'), 'x.foo');
  assert.equal(stopRepetition('a\n\n\nb'), 'a\n\n\nb');
});

test('trimLineSuffix and trimFollowingLines: text already in the document is not repeated', () => {
  assert.equal(trimLineSuffix('x + 1', ' + 1'), 'x ');
  // auto-closed text is left to the item's range (autoClosedSpan)
  assert.equal(trimLineSuffix('foo(a)', ')'), 'foo(a)');
  assert.equal(accept('bar(|);', 'foo(a));'), 'bar(foo(a));');
  assert.equal(accept('bar(|);', 'foo(a))'), 'bar(foo(a));');
  assert.equal(trimFollowingLines('x = 1\n  return x', ['  return x']), 'x = 1');
  assert.equal(trimFollowingLines('x = 1\n  y = 2', ['  return x']), 'x = 1\n  y = 2');
});

test('matchIndentation and postprocess', () => {
  assert.equal(matchIndentation('if x:\n\tpass', '    '), 'if x:\n    pass');
  assert.equal(matchIndentation('if x:\n    pass', '\t'), 'if x:\n\tpass');
  assert.equal(
    postprocess('foo()  \n', { lineSuffix: '', nextLines: [], indentUnit: '  ' }),
    'foo()',
  );
  assert.equal(postprocess('   \n', { lineSuffix: '', nextLines: [], indentUnit: '  ' }), null);
});
