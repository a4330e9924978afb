import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import { DocumentTokens, TokenEdit } from '../../src/engine/core/documentTokens';
import { seededRandom as rng } from '../../src/engine/core/sampling';
import { BpeTokenizer } from '../../src/engine/core/tokenizer';

const ROOT = path.resolve(__dirname, '../../..');
const tok = BpeTokenizer.load(path.join(ROOT, 'test/fixtures/tokenizer/tokenizer.json'));

function int(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[int(random, items.length)];
}

/** Real source files of this repository, read at test time. */
function sourceFiles(): Array<{ name: string; text: string }> {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(py|ts)$/.test(entry.name)) files.push(full);
    }
  };
  walk(path.join(ROOT, 'models/training'));
  walk(path.join(ROOT, 'src'));
  files.push(path.join(ROOT, 'test/fixtures/sample.py'));
  // Sorted and thinned to at most 12 so the run stays reproducible and short as the repo grows.
  const kept = files.filter((f) => !f.includes(`${path.sep}tests${path.sep}`)).sort();
  const step = Math.max(1, Math.ceil(kept.length / 12));
  return kept
    .filter((_, i) => i % step === 0)
    .map((f) => ({ name: path.relative(ROOT, f), text: readFileSync(f, 'utf8') }));
}

const SNIPPETS = [
  'x',
  ' ',
  '  ',
  '    ',
  '\t',
  '\n',
  '\r\n',
  '\r',
  '\n    ',
  '\n\t\t',
  '(',
  ')',
  '{}',
  '=>',
  ' = ',
  'foo',
  ' bar',
  '_baz9',
  '$el',
  '42',
  '3.14',
  '"str"',
  "'",
  '#',
  '//',
  '/* c */',
  'é',
  'ж',
  '日本',
  '😀',
  '👩\u200d💻',
  '\u00a0',
  '\ufeff',
  '\ud83d',
  '\ude00',
  'return ',
  'def f(x):\n    ',
];

/** One random edit; `typing` queues single-character inserts so words get typed letter by letter. */
function randomEdit(random: () => number, text: string, typing: TokenEdit[]): TokenEdit {
  const queued = typing.shift();
  if (queued) return queued;
  const len = text.length;
  const at = int(random, len + 1);
  switch (int(random, 11)) {
    case 0: // insert a snippet
      return { start: at, end: at, text: pick(random, SNIPPETS) };
    case 1: {
      // delete a few characters (maybe half a surrogate pair or a CR of a CRLF)
      const end = Math.min(len, at + 1 + int(random, 6));
      return { start: at, end, text: '' };
    }
    case 2: {
      // replace a range with a snippet
      const end = Math.min(len, at + int(random, 12));
      return { start: at, end, text: pick(random, SNIPPETS) };
    }
    case 3: {
      // type a word (or a line) character by character
      const word = pick(random, ['hello', ' world', 'self.value', '\n    if x:', '\r\n\tok();']);
      for (let i = 1; i < word.length; i++)
        typing.push({ start: at + i, end: at + i, text: word[i] });
      return { start: at, end: at, text: word[0] };
    }
    case 4: {
      // backspace at a random place
      const start = Math.max(0, at - 1 - int(random, 3));
      return { start, end: at, text: '' };
    }
    case 5: {
      // paste a few lines copied from elsewhere in the document
      const from = text.lastIndexOf('\n', int(random, len + 1)) + 1;
      let to = from;
      for (let k = 0, lines = 1 + int(random, 5); k < lines && to < len; k++) {
        const nl = text.indexOf('\n', to);
        to = nl < 0 ? len : nl + 1;
      }
      return { start: at, end: at, text: text.slice(from, to) };
    }
    case 6: // edit at the start
      return { start: 0, end: Math.min(len, int(random, 3)), text: pick(random, SNIPPETS) };
    case 7: // edit at the end
      return { start: Math.max(0, len - int(random, 3)), end: len, text: pick(random, SNIPPETS) };
    case 8: {
      // change indentation just after a newline
      const line = text.indexOf('\n', at);
      const start = line < 0 ? at : line + 1;
      const end = Math.min(len, start + int(random, 5));
      return { start, end, text: pick(random, ['', ' ', '    ', '\t', '        ']) };
    }
    case 9: {
      // turn LF into CRLF or back
      const nl = text.indexOf('\n', at);
      if (nl < 0) return { start: len, end: len, text: '\r\n' };
      return text[nl - 1] === '\r'
        ? { start: nl - 1, end: nl, text: '' }
        : { start: nl, end: nl, text: '\r' };
    }
    default: {
      // split a word in the middle
      return { start: at, end: at, text: pick(random, [' ', '_', '.', '1', 'Q']) };
    }
  }
}

function firstDifference(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Applies an edit and checks everything the result promises against a full re-encode. */
function checkEdit(doc: DocumentTokens, edit: TokenEdit, label: string): void {
  const before = [...doc.ids];
  const safeTokens = doc.tokensBefore(Math.max(0, edit.start - 4));
  const result = doc.applyEdit(edit);
  const expected = tok.encode(doc.text);
  const where = `${label}: edit ${JSON.stringify(edit).slice(0, 120)}`;
  assert.deepEqual(doc.ids, expected, where);
  const { firstChanged, removed, added } = result;
  // The splice it reports rebuilds the new ids from the old ones.
  assert.deepEqual(
    [
      ...before.slice(0, firstChanged),
      ...expected.slice(firstChanged, firstChanged + added),
      ...before.slice(firstChanged + removed),
    ],
    expected,
    `${where}: splice`,
  );
  if (removed > 0 || added > 0) {
    // Exactly the first id that differs: never later (stale ids) and never needlessly earlier.
    assert.equal(firstChanged, firstDifference(before, expected), `${where}: firstChanged`);
  } else {
    assert.deepEqual(before, expected, `${where}: nothing changed`);
  }
  // Pieces ending a few units before the edit cannot change (the pattern looks at most two code
  // points past a piece), so their tokens must never be reported as changed.
  assert.ok(firstChanged >= safeTokens, `${where}: firstChanged ${firstChanged} < ${safeTokens}`);
}

/** tokensBefore / tokenOffset checked against the pieces of a full split. */
function checkIndex(doc: DocumentTokens, random: () => number): void {
  const text = doc.text;
  const starts: number[] = [];
  const tokensAtPieceEnd: number[] = [];
  let count = 0;
  for (const { start, end } of tok.pretokenize(text)) {
    const n = tok.encodePiece(text.slice(start, end)).length;
    for (let k = 0; k < n; k++) starts.push(start);
    count += n;
    tokensAtPieceEnd.push(end, count);
  }
  for (let k = 0; k < 20 && doc.length > 0; k++) {
    const i = int(random, doc.length);
    assert.equal(doc.tokenOffset(i), starts[i], `tokenOffset(${i})`);
  }
  assert.equal(doc.tokenOffset(doc.length), text.length);
  for (let k = 0; k < 20; k++) {
    const offset = int(random, text.length + 1);
    let expected = 0;
    for (let p = 0; p < tokensAtPieceEnd.length; p += 2) {
      if (tokensAtPieceEnd[p] <= offset) expected = tokensAtPieceEnd[p + 1];
    }
    assert.equal(doc.tokensBefore(offset), expected, `tokensBefore(${offset})`);
  }
}

// The timeout turns a runaway loop into a failure instead of a hung run.
describe('DocumentTokens', { timeout: 120_000 }, () => {
  test('starts equal to encode', () => {
    for (const { name, text } of sourceFiles()) {
      const doc = new DocumentTokens(tok, text);
      assert.deepEqual(doc.ids, tok.encode(text), name);
      assert.equal(doc.length, doc.ids.length);
      assert.equal(doc.text, text);
    }
  });

  test('random edit sequences over repository sources', () => {
    const files = sourceFiles();
    assert.ok(files.length >= 5, 'expected several source files to edit');
    for (const [index, { name, text }] of files.entries()) {
      const random = rng(1000 + index);
      const doc = new DocumentTokens(tok, text);
      const typing: TokenEdit[] = [];
      const edits = text.length > 20_000 ? 150 : 300;
      for (let k = 0; k < edits; k++) {
        const edit = randomEdit(random, doc.text, typing);
        checkEdit(doc, edit, `${name} #${k}`);
        if (k % 50 === 0) checkIndex(doc, random);
      }
      checkIndex(doc, random);
    }
  });

  test('edits stay local in a big document', () => {
    const random = rng(99);
    const sources = sourceFiles().map((f) => f.text);
    let big = '';
    while (big.length < 1_000_000) big += pick(random, sources);
    const doc = new DocumentTokens(tok, big);
    const typing: TokenEdit[] = [];
    for (let k = 0; k < 200; k++) {
      let edit = randomEdit(random, doc.text, typing);
      if (edit.text.length > 200) edit = { ...edit, text: edit.text.slice(0, 200) };
      const result = doc.applyEdit(edit);
      const size = edit.text.length + (edit.end - edit.start);
      assert.ok(
        result.retokenizedChars <= size + 1000,
        `edit ${k} re-split ${result.retokenizedChars} chars for a ${size}-char edit`,
      );
      if (k % 40 === 39) assert.deepEqual(doc.ids, tok.encode(doc.text), `after edit ${k}`);
    }
    assert.deepEqual(doc.ids, tok.encode(doc.text));
    checkIndex(doc, random);
  });

  test('typing a surrogate pair one half at a time', () => {
    const doc = new DocumentTokens(tok, 'let s = "";\n');
    checkEdit(doc, { start: 9, end: 9, text: '\ud83d' }, 'high half');
    checkEdit(doc, { start: 10, end: 10, text: '\ude00' }, 'low half');
    assert.equal(doc.text, 'let s = "😀";\n');
    checkEdit(doc, { start: 9, end: 10, text: '' }, 'delete high half');
    checkEdit(doc, { start: 9, end: 9, text: '\ud83d' }, 'restore high half');
  });

  test('empty documents, clearing and refilling', () => {
    const doc = new DocumentTokens(tok, '');
    assert.equal(doc.length, 0);
    assert.equal(doc.tokensBefore(0), 0);
    assert.equal(doc.tokenOffset(0), 0);
    checkEdit(doc, { start: 0, end: 0, text: 'def f():\n    pass\n' }, 'fill');
    checkEdit(doc, { start: 0, end: doc.text.length, text: '' }, 'clear');
    assert.equal(doc.length, 0);
    checkEdit(doc, { start: 0, end: 0, text: 'x' }, 'one char');
    checkEdit(doc, { start: 1, end: 1, text: 'y\r\n' }, 'append');
    checkEdit(doc, { start: 0, end: 0, text: '\t' }, 'prepend');
    checkEdit(doc, { start: 2, end: 2, text: '' }, 'no-op');
  });

  test('a huge paste', () => {
    const source = sourceFiles()[0].text;
    const doc = new DocumentTokens(tok, 'start\nend\n');
    checkEdit(doc, { start: 6, end: 6, text: source.repeat(20) }, 'paste');
  });

  test('tokenOffset and tokensBefore follow the pieces', () => {
    const doc = new DocumentTokens(tok, 'if x:\n    return  foo_bar(1)');
    // Pieces: "if" " x" ":" "\n    " "return" " " " foo_bar" "(" "1" ")".
    assert.equal(doc.tokensBefore(0), 0);
    assert.equal(doc.tokensBefore(4), tok.encode('if x').length);
    assert.equal(doc.tokensBefore(5), tok.encode('if x:').length);
    assert.equal(doc.tokensBefore(9), tok.encode('if x:').length); // inside "\n    "
    assert.equal(doc.tokensBefore(10), tok.encode('if x:\n    ').length);
    assert.equal(doc.tokensBefore(1000), doc.length);
    assert.equal(doc.tokenOffset(doc.tokensBefore(9)), 5);
    assert.equal(doc.tokenOffset(doc.tokensBefore(10)), 10);
    assert.equal(doc.tokenOffset(doc.length - 1), doc.text.length - 1);
    assert.throws(() => doc.tokenOffset(-1), RangeError);
    assert.throws(() => doc.tokenOffset(doc.length + 1), RangeError);
  });

  test('invalid edits are rejected', () => {
    const doc = new DocumentTokens(tok, 'abc');
    assert.throws(() => doc.applyEdit({ start: 2, end: 1, text: '' }), RangeError);
    assert.throws(() => doc.applyEdit({ start: 0, end: 4, text: '' }), RangeError);
    assert.throws(() => doc.applyEdit({ start: -1, end: 0, text: '' }), RangeError);
    assert.equal(doc.text, 'abc');
  });
});
