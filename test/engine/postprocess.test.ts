// The rules that shape a suggestion's text, each on the cases it exists for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  autoClosedSpan,
  detectIndent,
  dropBlank,
  echoedLine,
  matchIndentation,
  postprocess,
  type SuggestionContext,
  stopRepetition,
  trimFollowingLines,
  trimLineSuffix,
  trimTrailing,
} from '../../src/engine/core/postprocess';

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

test('trimTrailing: trailing blank lines and the spaces ending the last line go', () => {
  assert.equal(trimTrailing('foo()  \n'), 'foo()');
  assert.equal(trimTrailing('a \nb\t\n\n'), 'a\nb');
  assert.equal(trimTrailing('x'), 'x');
});

test('trimTrailing: spaces and tabs ending inner lines go too, indentation stays (issue 14)', () => {
  // the bug: only the end of the whole text was trimmed, so "foo()  " kept its two spaces
  assert.equal(trimTrailing('foo()  \nbar'), 'foo()\nbar');
  assert.equal(trimTrailing('if x:\t\n    y = 1 \n\tz'), 'if x:\n    y = 1\n\tz');
  // a whitespace-only inner line becomes empty; CRLF line ends keep their \r
  assert.equal(trimTrailing('a\n    \n  b'), 'a\n\n  b');
  assert.equal(trimTrailing('a \r\n  b'), 'a\r\n  b');
});

test('dropBlank: a whitespace-only suggestion shows nothing', () => {
  assert.equal(dropBlank(' \n\t'), null);
  assert.equal(dropBlank(' x'), ' x');
});

test('stopRepetition: a repeated line cuts everything after it; short or inner runs stay', () => {
  // the cut is at the first back-to-back repeat, so what follows the loop goes too
  assert.equal(stopRepetition('a()\na()\nb()'), 'a()');
  // the same line, not back to back, is no loop
  assert.equal(stopRepetition('a()\nb()\na()'), 'a()\nb()\na()');
  // runs shorter than 4 characters, or repeated only twice, or not at the end of the line stay
  assert.equal(stopRepetition('x = 000000'), 'x = 000000');
  assert.equal(stopRepetition('.foo.foo'), '.foo.foo');
  assert.equal(stopRepetition('.foo.foo.foo;'), '.foo.foo.foo;');
});

test('trimLineSuffix: closers after the cursor are not written twice', () => {
  // `if (|) {`: the suffix is more than auto-closed text, so the suggestion's own ")" goes
  assert.equal(trimLineSuffix('x > 0)', ') {'), 'x > 0');
  // a closer the suggestion opens itself stays
  assert.equal(trimLineSuffix('f(x)', ') {'), 'f(x)');
  // the suffix alone is not trimmed to nothing, and multi-line suggestions are left alone
  assert.equal(trimLineSuffix('+ 1', ' + 1'), '+ 1');
  assert.equal(trimLineSuffix('x + 1\ny + 1', ' + 1'), 'x + 1\ny + 1');
});

test('trimFollowingLines: only a tail that is the start of the following code is cut', () => {
  // blank lines do not count when matching
  assert.equal(
    trimFollowingLines('x = 1\n\n  return x\n}', ['', '  return x', '}', 'f()']),
    'x = 1',
  );
  // the first line is never cut: it completes the cursor's line
  assert.equal(trimFollowingLines('  return x\n}', ['  return x', '}']), '  return x\n}');
  // a tail that runs past the following lines is new code
  assert.equal(trimFollowingLines('x = 1\n  return x\n}', ['  return x']), 'x = 1\n  return x\n}');
});

test("matchIndentation: the file's unit wins, the first line is never touched", () => {
  assert.equal(matchIndentation('\tx\n\t\ty', '  '), '\tx\n    y');
  // spaces to tabs counts columns: 6 spaces are one tab and 2 spaces, "  \t" is one tab
  assert.equal(matchIndentation('a\n      b\n  \tc', '\t'), 'a\n\t  b\n\tc');
  // indentation already in the file's style is left as is
  assert.equal(matchIndentation('a\n\t\tb', '\t'), 'a\n\t\tb');
});

test('detectIndent: tabs or the most common step between indented lines', () => {
  assert.equal(detectIndent('a\n\tb\n\t\tc\n\td'), '\t');
  assert.equal(detectIndent('a\n  b\n    c\n  d\ne'), '  ');
  // a stray tab line does not outvote spaces
  assert.equal(detectIndent('a\n  b\n    c\n\td'), '  ');
  // nothing indented: 4 spaces
  assert.equal(detectIndent('a\nb'), '    ');
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

/** A cursor on an empty line between empty lines. */
const NOWHERE: SuggestionContext = {
  linePrefix: '',
  lineSuffix: '',
  prevLines: [],
  nextLines: [],
  indentUnit: '    ',
};

test('matchIndentation and postprocess', () => {
  assert.equal(matchIndentation('if x:\n\tpass', '    '), 'if x:\n    pass');
  assert.equal(matchIndentation('if x:\n    pass', '\t'), 'if x:\n\tpass');
  assert.equal(postprocess('foo()  \n', { ...NOWHERE, indentUnit: '  ' }).text, 'foo()');
  assert.deepEqual(postprocess('   \n', { ...NOWHERE, indentUnit: '  ' }), {
    text: null,
    declined: 'nothing left after clean-up',
  });
});

test('postprocess: the rules run in order on one suggestion', () => {
  const ctx = { ...NOWHERE, nextLines: ['}'], indentUnit: '  ' };
  // the closing brace already below dropped, tabs made spaces, trailing spaces gone
  assert.equal(postprocess('if (a) {  \n\tb();\n}', ctx).text, 'if (a) {\n  b();');
  // a loop cut before the rest is looked at
  assert.equal(postprocess('b();\nb();\nb();\n}', ctx).text, 'b();');
  assert.equal(postprocess('y\n}', ctx).text, 'y');
  assert.equal(postprocess('\n}', ctx).text, null);
  // `if (|) {`: the ")" the line already has is not written again
  assert.equal(postprocess('x > 0)', { ...ctx, lineSuffix: ') {' }).text, 'x > 0');
});

test('echoedLine: a suggestion that writes a copy of the line above or below shows nothing', () => {
  // a new line opened between two lines of a block (blank lines between are skipped)
  const between: SuggestionContext = {
    ...NOWHERE,
    linePrefix: '    ',
    prevLines: ['    with open(path) as f:', '        data = f.read()', ''],
    nextLines: ['', '    config = parse(data)', '    return config'],
  };
  assert.equal(echoedLine('    data = f.read()', between), 'above');
  assert.equal(echoedLine('config = parse(data)', between), 'below');
  assert.deepEqual(postprocess('config = parse(data)', between), {
    text: null,
    declined: 'it copies the line below',
  });
  assert.equal(echoedLine('text = data.strip()', between), null);
  // the line so far and what the editor keeps after the cursor count
  const typed = { ...between, linePrefix: '    config = ', lineSuffix: ')' };
  assert.equal(echoedLine('parse(data', typed), 'below');
  assert.equal(echoedLine('load(data', typed), null);
  // a multi-line suggestion is judged by its first line (the suffix follows its last)
  assert.equal(echoedLine('config = parse(data)\n    x = 1', between), 'below');
  assert.equal(echoedLine('x = 1\n    config = parse(data)', between), null);
  // closers, closing tags and short keywords repeat in real code
  for (const [above, text] of [
    ['  }', '}'],
    ['  });', '});'],
    ['    </div>', '</div>'],
    ['  end', 'end'],
    ['    pass', 'pass'],
  ]) {
    assert.equal(echoedLine(text, { ...NOWHERE, prevLines: [above] }), null);
  }
});
