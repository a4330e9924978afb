import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { seededRandom as rng } from '../../src/engine/core/sampling';
import { BpeTokenizer } from '../../src/engine/core/tokenizer';

const ROOT = path.resolve(__dirname, '../../..');
const FIXTURES = path.join(ROOT, 'test/fixtures');
const TOKENIZER = path.join(FIXTURES, 'tokenizer/tokenizer.json');

interface Vector {
  text: string;
  ids: number[];
  decoded: string;
}
interface Vectors {
  special: { eos: number; hole: number; pad: number };
  vectors: Vector[];
}

const tok = BpeTokenizer.load(TOKENIZER);
const tokenizerJson = JSON.parse(readFileSync(TOKENIZER, 'utf8'));
const vectors: Vectors = JSON.parse(
  readFileSync(path.join(FIXTURES, 'tokenizer/vectors.json'), 'utf8'),
);

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

/** Repository sources read at test time, as realistic code. */
function repoSources(): string[] {
  const dir = path.join(ROOT, 'models/training');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.py'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'));
}

/** The textbook BPE loop (rescan every pair each step), to check the heap version against. */
function referenceBpe(piece: string): number[] {
  const vocab: Record<string, number> = tokenizerJson.model.vocab;
  const ranks = new Map<string, number>();
  (tokenizerJson.model.merges as Array<[string, string]>).forEach(([a, b], i) => {
    ranks.set(`${a} ${b}`, i);
  });
  // GPT-2's bytes_to_unicode, written out as in tokenizer.py's _byte_table.
  const byteChar: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const keep = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    byteChar.push(String.fromCharCode(keep ? b : 256 + extra++));
  }
  const symbols = [...new TextEncoder().encode(piece)].map((b) => byteChar[b]);
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        best = i;
        bestRank = rank;
      }
    }
    if (best < 0) return symbols.map((s) => vocab[s]);
    symbols.splice(best, 2, symbols[best] + symbols[best + 1]);
  }
}

describe('BpeTokenizer', () => {
  test('special ids follow the BPE vocabulary', () => {
    assert.equal(tok.bpeSize, 512);
    assert.deepEqual(
      { eos: tok.eos, hole: tok.hole, pad: tok.pad },
      { eos: vectors.special.eos, hole: vectors.special.hole, pad: vectors.special.pad },
    );
    assert.equal(tok.vocabSize, tok.bpeSize + 3);
  });

  test('golden vectors: encode and decode match Python', () => {
    assert.ok(vectors.vectors.length >= 10);
    for (const v of vectors.vectors) {
      const label = JSON.stringify(v.text.slice(0, 40));
      assert.deepEqual(tok.encode(v.text), v.ids, `encode ${label}`);
      assert.equal(tok.decode(v.ids), v.decoded, `decode ${label}`);
    }
  });

  test('golden vectors with merges stored as "a b" strings', () => {
    const legacy = structuredClone(tokenizerJson);
    legacy.model.merges = legacy.model.merges.map(([a, b]: [string, string]) => `${a} ${b}`);
    const old = BpeTokenizer.fromJSON(legacy, 'legacy.json');
    for (const v of vectors.vectors) assert.deepEqual(old.encode(v.text), v.ids);
  });

  test('shipped models: listed files encode to the recorded ids', (t) => {
    const file = path.join(FIXTURES, 'shipped-vectors.json');
    if (!existsSync(file)) {
      t.skip('test/fixtures/shipped-vectors.json is absent: no shipped tokenizer to check');
      return;
    }
    const shipped: {
      texts: Array<{ name: string; text: string }>;
      tokenizers: Record<string, number[][]>;
    } = JSON.parse(readFileSync(file, 'utf8'));
    assert.ok(shipped.texts.length >= 8 && Object.keys(shipped.tokenizers).length >= 1);
    for (const [tokenizerPath, ids] of Object.entries(shipped.tokenizers)) {
      const shippedTok = BpeTokenizer.load(path.join(ROOT, tokenizerPath));
      shipped.texts.forEach((t, i) =>
        assert.deepEqual(shippedTok.encode(t.text), ids[i], `${tokenizerPath}: ${t.name}`),
      );
    }
  });

  test('pretokenize tiles the text and encode is the BPE of each piece', () => {
    const texts = [...vectors.vectors.map((v) => v.text), ...repoSources()];
    for (const text of texts) {
      const spans = tok.pretokenize(text);
      let at = 0;
      const ids: number[] = [];
      for (const { start, end } of spans) {
        assert.equal(start, at);
        assert.ok(end > start);
        ids.push(...tok.encodePiece(text.slice(start, end)));
        at = end;
      }
      assert.equal(at, text.length);
      assert.deepEqual(ids, tok.encode(text));
      if (spans.length > 2) {
        const from = spans[Math.floor(spans.length / 2)].start;
        assert.deepEqual(
          tok.pretokenize(text, from),
          spans.filter((s) => s.start >= from),
        );
      }
    }
  });

  test('the pre-tokenizer keeps code structure together', () => {
    const text = 'if x:\n    return  foo_bar(1)';
    const pieces = tok.pretokenize(text).map(({ start, end }) => text.slice(start, end));
    assert.deepEqual(pieces, ['if', ' x', ':', '\n    ', 'return', ' ', ' foo_bar', '(', '1', ')']);
  });

  test('BPE merges lowest rank first, leftmost on ties (checked against a reference loop)', () => {
    const random = rng(7);
    const alphabets = ['ab', 'aeiou', ' \t', 'abcdefghijklmnopqrstuvwxyz_', 'the', '=->'];
    for (let i = 0; i < 300; i++) {
      const letters = pick(random, alphabets);
      const n = 1 + Math.floor(random() * (i < 20 ? 400 : 40));
      let piece = '';
      for (let k = 0; k < n; k++) piece += pick(random, [...letters]);
      assert.deepEqual(tok.encodePiece(piece), referenceBpe(piece), JSON.stringify(piece));
    }
    const long = 'a'.repeat(3000);
    assert.deepEqual(tok.encodePiece(long), referenceBpe(long));
  });

  test('tokenBytes are the exact UTF-8 bytes; specials have none', () => {
    const text = 'naïve 😀 \ud800 x\r\n\tdone';
    const bytes = tok.encode(text).flatMap((id) => [...tok.tokenBytes(id)]);
    assert.deepEqual(bytes, [...new TextEncoder().encode(text)]);
    assert.equal(tok.tokenBytes(tok.eos).length, 0);
    assert.equal(tok.tokenText(tok.eos), '<|endoftext|>');
    assert.equal(tok.tokenText(tok.encode('(')[0]), '(');
    assert.throws(() => tok.tokenBytes(-1), RangeError);
  });

  test('decode skips specials and replaces invalid UTF-8 like Python', () => {
    const vocab: Record<string, number> = tokenizerJson.model.vocab;
    const lead = vocab['Ã']; // byte 0xC3: the first byte of "é" alone
    const a = vocab['a'];
    assert.equal(tok.decode([lead]), '\uFFFD');
    assert.equal(tok.decode([lead, a]), '\uFFFDa');
    assert.equal(tok.decode([a, tok.eos, tok.hole, tok.pad, a]), 'aa');
    assert.equal(tok.decode(tok.encode('\uFEFFbom first')), '\uFEFFbom first');
    const emoji = tok.encode('😀');
    assert.equal(tok.decode(emoji.slice(0, -1)), '\uFFFD');
  });

  test('lone surrogates become U+FFFD, keeping offsets', () => {
    const text = 'a\ud800b\udc00 \ud83d';
    assert.deepEqual(tok.encode(text), tok.encode('a\uFFFDb\uFFFD \uFFFD'));
    const spans = tok.pretokenize(text);
    assert.equal(spans[spans.length - 1].end, text.length);
    assert.equal(tok.decode(tok.encode(text)), 'a\uFFFDb\uFFFD \uFFFD');
  });

  test('round trip: decode(encode(x)) === x for random valid strings', () => {
    const random = rng(42);
    const parts = [
      'def ',
      'return ',
      'const x = ',
      '=>',
      '();',
      '{',
      '}',
      '[',
      ']',
      ' ',
      '  ',
      '    ',
      '\t',
      '\r\n',
      '\n',
      '\r',
      '0x1F',
      '3.14',
      '"str"',
      "'c'",
      '`t${v}`',
      '//',
      '#',
      'é',
      'ß',
      'ж',
      'λ',
      '日本語',
      '한국어',
      'ﬁ',
      '😀',
      '👩\u200d💻',
      '🇫🇷',
      '\u00a0',
      '\u2028',
      '\u3000',
      '\ufeff',
      '\u0301',
      '\u0000',
      '½',
      'Ⅻ',
      '٣',
      '$',
      '_',
      '\\',
      '\f',
      '\v',
    ];
    for (let i = 0; i < 500; i++) {
      let text = '';
      const n = Math.floor(random() * 60);
      for (let k = 0; k < n; k++) {
        text +=
          random() < 0.3
            ? String.fromCharCode(0x20 + Math.floor(random() * 95))
            : pick(random, parts);
      }
      assert.equal(tok.decode(tok.encode(text)), text, JSON.stringify(text));
    }
    for (const source of repoSources()) assert.equal(tok.decode(tok.encode(source)), source);
  });

  describe('errors name the file and the problem', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'linea-tok-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, content: string): string => {
      const file = path.join(dir, name);
      writeFileSync(file, content);
      return file;
    };
    const broken = (change: (json: Record<string, unknown>) => void): string => {
      const json = structuredClone(tokenizerJson);
      change(json);
      return JSON.stringify(json);
    };
    const cases: Array<[string, string, RegExp]> = [
      ['not-json.json', '{ "model": ', /not valid JSON/],
      ['no-model.json', broken((j) => delete j.model), /missing "model"/],
      [
        'wordpiece.json',
        broken((j) => ((j.model as { type: string }).type = 'WordPiece')),
        /model type is "WordPiece"/,
      ],
      [
        'bad-regex.json',
        broken((j) => {
          (
            j.pre_tokenizer as { pretokenizers: Array<{ pattern: object }> }
          ).pretokenizers[0].pattern = { Regex: '[a-' };
        }),
        /regex does not compile/,
      ],
      [
        'no-regex.json',
        broken((j) => {
          (
            j.pre_tokenizer as { pretokenizers: Array<{ pattern: object }> }
          ).pretokenizers[0].pattern = { String: ' ' };
        }),
        /no pattern.Regex/,
      ],
      ['no-pre.json', broken((j) => (j.pre_tokenizer = null)), /pre_tokenizer must be/],
      [
        'bad-merge.json',
        broken((j) => ((j.model as { merges: unknown[] }).merges[0] = ['Ġ', 'nope'])),
        /merges\[0\] uses "nope"/,
      ],
      ['array.json', '[]', /not a tokenizer.json object/],
    ];
    for (const [name, content, problem] of cases) {
      test(name, () => {
        const file = write(name, content);
        assert.throws(
          () => BpeTokenizer.load(file),
          (err: Error) => err.message.includes(file) && problem.test(err.message),
        );
      });
    }
    test('missing file', () => {
      const file = path.join(dir, 'absent.json');
      assert.throws(
        () => BpeTokenizer.load(file),
        (err: Error) => err.message.includes(file),
      );
    });
    test('fromJSON names its source', () => {
      assert.throws(() => BpeTokenizer.fromJSON({}, 'models/x/tokenizer.json'), {
        message: 'models/x/tokenizer.json: missing "model"',
      });
    });
  });

  // No timing asserts: the per-test timeout only turns a quadratic regression into a failure.
  describe('performance sanity', { timeout: 120_000 }, () => {
    test('a 2 MB single line of minified-looking JS', () => {
      const random = rng(3);
      const names = ['a', 'b', 'e', 't', 'n', 'r', 'i', 'o', '_0x3f', 'fn', 'exports', 'this'];
      const puncts = ['(', ')', '{', '}', ';', ',', '.', '=', '==', '!', '&&', '||', '?', ':', '+'];
      let line = '';
      while (line.length < 2_000_000) {
        line += pick(random, names) + pick(random, puncts);
        if (random() < 0.05) line += String(Math.floor(random() * 1e6));
        if (random() < 0.01) line += 'x'.repeat(Math.floor(random() * 3000));
      }
      const ids = tok.encode(line);
      assert.ok(ids.length > 100_000);
      assert.equal(tok.decode(ids), line);
    });

    test('a 20 MB file', () => {
      const random = rng(5);
      const sources = repoSources();
      const chunks: string[] = [];
      let size = 0;
      while (size < 20_000_000) {
        // Random identifiers defeat the piece cache some of the time, as a real large file would.
        const chunk = `${pick(random, sources)}\nvar_${Math.floor(random() * 1e9).toString(36)} = 1\n`;
        chunks.push(chunk);
        size += chunk.length;
      }
      const ids = tok.encode(chunks.join(''));
      assert.ok(ids.length > 2_000_000);
    });

    test('a 1 MB identifier (one piece) is not quadratic', () => {
      const ids = tok.encodePiece('ab'.repeat(500_000));
      assert.equal(tok.decode(ids), 'ab'.repeat(500_000));
    });
  });
});
