// Byte-level BPE that reproduces models/training/tokenizer.py (Hugging Face `tokenizers`) id for id.
import { readFileSync } from 'node:fs';

/** Special tokens follow the BPE vocabulary: eos, hole, pad. */
const N_SPECIAL = 3;
/** Pieces longer than this are not cached: they are rare and would pin a lot of memory. */
const MAX_CACHED_PIECE = 128;
/** The cache is dropped when it reaches this many pieces, which bounds its memory. */
const CACHE_LIMIT = 1 << 16;
/** Heap keys pack (rank, position) as rank * 2^32 + position, so one number orders both. */
const POS_SPAN = 2 ** 32;

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;

/** Lone UTF-16 surrogates become U+FFFD (same length, so offsets hold), as Python's clean() does. */
export function cleanText(text: string): string {
  return LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATES, '\uFFFD') : text;
}

/** GPT-2's bytes_to_unicode: the printable character that stands for each byte in the vocabulary. */
function byteToChar(): string[] {
  const table: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const keep = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table.push(String.fromCharCode(keep ? b : 256 + extra++));
  }
  return table;
}

/** Rust's from_utf8_lossy and WHATWG's decoder both replace maximal invalid subparts by one U+FFFD. */
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Merge ranks in an open-addressing table: a Map keyed by pair would box keys above 2^31. */
class MergeTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rank: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.left = new Int32Array(size).fill(-1);
    this.right = new Int32Array(size);
    this.rank = new Int32Array(size);
    this.mask = size - 1;
  }

  private slot(a: number, b: number): number {
    let i = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) & this.mask;
    while (this.left[i] !== -1 && (this.left[i] !== a || this.right[i] !== b)) {
      i = (i + 1) & this.mask;
    }
    return i;
  }

  /** A later duplicate overwrites an earlier one, as in HF's merge map. */
  set(a: number, b: number, rank: number): void {
    const i = this.slot(a, b);
    this.left[i] = a;
    this.right[i] = b;
    this.rank[i] = rank;
  }

  /** The rank of merging a then b, or -1. */
  get(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.left[i] === -1 ? -1 : this.rank[i];
  }
}

/** A binary min-heap of numbers in a growable Float64Array. */
class NumberHeap {
  private items: Float64Array;
  size = 0;

  constructor(capacity: number) {
    this.items = new Float64Array(Math.max(capacity, 4));
  }

  push(value: number): void {
    if (this.size === this.items.length) {
      const grown = new Float64Array(this.items.length * 2);
      grown.set(this.items);
      this.items = grown;
    }
    const items = this.items;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent] <= value) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = value;
  }

  pop(): number {
    const items = this.items;
    const top = items[0];
    const last = items[--this.size];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && items[child + 1] < items[child]) child++;
      if (items[child] >= last) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = last;
    return top;
  }
}

interface Parsed {
  vocab: Map<string, number>;
  merges: Array<[string, string]>;
  pattern: string;
}

function parseTokenizerJson(json: unknown, source: string): Parsed {
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  if (!isObject(json)) fail('not a tokenizer.json object');
  const root = json as Json;
  const model = root.model;
  if (!isObject(model)) fail('missing "model"');
  const m = model as Json;
  if (m.type !== 'BPE') fail(`model type is ${JSON.stringify(m.type)}, expected "BPE"`);
  // Options that change ids; tokenizer.py never sets them, so refusing beats silently diverging.
  for (const key of ['dropout', 'continuing_subword_prefix', 'end_of_word_suffix']) {
    if (m[key] !== undefined && m[key] !== null) fail(`unsupported BPE option "${key}"`);
  }
  for (const key of ['byte_fallback', 'ignore_merges']) {
    if (m[key] !== undefined && m[key] !== false) fail(`unsupported BPE option "${key}"`);
  }
  if (root.normalizer !== undefined && root.normalizer !== null)
    fail('normalizer is not supported');
  if (Array.isArray(root.added_tokens) && root.added_tokens.length > 0) {
    fail('added_tokens are not supported (special ids follow the BPE vocabulary)');
  }

  if (!isObject(m.vocab)) fail('model.vocab is missing or not an object');
  const vocab = new Map<string, number>();
  const entries = Object.entries(m.vocab as Json);
  const seen = new Uint8Array(entries.length);
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length) {
      fail(`model.vocab id of ${JSON.stringify(token)} is not in 0..${entries.length - 1}`);
    }
    const n = id as number;
    if (seen[n]) fail(`model.vocab id ${n} is used twice`);
    seen[n] = 1;
    vocab.set(token, n);
  }

  if (!Array.isArray(m.merges)) fail('model.merges is missing or not an array');
  const merges: Array<[string, string]> = [];
  for (const [i, merge] of (m.merges as unknown[]).entries()) {
    // tokenizers writes ["a", "b"] pairs since 0.20 and "a b" strings before.
    const pair = typeof merge === 'string' ? merge.split(' ') : merge;
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((s) => typeof s !== 'string')) {
      fail(`model.merges[${i}] is not a pair of tokens`);
    }
    const [a, b] = pair as [string, string];
    for (const token of [a, b, a + b]) {
      if (!vocab.has(token)) fail(`model.merges[${i}] uses ${JSON.stringify(token)}, not in vocab`);
    }
    merges.push([a, b]);
  }

  const pre = root.pre_tokenizer;
  const expected =
    'pre_tokenizer must be Sequence[Split(Regex, "Isolated"), ByteLevel(add_prefix_space=false, use_regex=false)]';
  if (!isObject(pre) || pre.type !== 'Sequence' || !Array.isArray(pre.pretokenizers)) {
    fail(expected);
  }
  const steps = (pre as Json).pretokenizers as unknown[];
  const [split, byteLevel] = steps;
  if (steps.length !== 2 || !isObject(split) || !isObject(byteLevel)) fail(expected);
  const s = split as Json;
  const b = byteLevel as Json;
  if (s.type !== 'Split' || s.behavior !== 'Isolated' || s.invert === true) fail(expected);
  if (b.type !== 'ByteLevel' || b.add_prefix_space === true || b.use_regex === true) fail(expected);
  const pattern = isObject(s.pattern) ? s.pattern.Regex : undefined;
  if (typeof pattern !== 'string') fail('pre_tokenizer Split has no pattern.Regex string');

  const decoder = root.decoder;
  if (!isObject(decoder) || decoder.type !== 'ByteLevel') fail('decoder must be ByteLevel');
  return { vocab, merges, pattern: pattern as string };
}

export class BpeTokenizer {
  readonly bpeSize: number;
  readonly eos: number;
  readonly hole: number;
  readonly pad: number;
  readonly vocabSize: number;

  /** The Split pattern: 'gu' finds the next match, 'uy' tests for one at a given offset. */
  private readonly regex: RegExp;
  private readonly sticky: RegExp;
  private readonly merges: MergeTable;
  /** The id a merge of rank r produces. */
  private readonly mergeResult: Int32Array;
  /** The id of each single byte, or -1 (HF drops bytes missing from the vocabulary). */
  private readonly byteId: Int32Array;
  private readonly bytesOf: Uint8Array[];
  private readonly cache = new Map<string, readonly number[]>();

  private constructor(parsed: Parsed, source: string) {
    let regex: RegExp;
    try {
      regex = new RegExp(parsed.pattern, 'gu');
    } catch (err) {
      throw new Error(
        `${source}: pre_tokenizer regex does not compile in JavaScript: ${(err as Error).message}`,
      );
    }
    this.regex = regex;
    this.sticky = new RegExp(parsed.pattern, 'uy');
    this.bpeSize = parsed.vocab.size;
    this.eos = this.bpeSize;
    this.hole = this.bpeSize + 1;
    this.pad = this.bpeSize + 2;
    this.vocabSize = this.bpeSize + N_SPECIAL;

    const chars = byteToChar();
    const charByte = new Map(chars.map((c, b) => [c, b]));
    this.byteId = new Int32Array(256).map((_, b) => parsed.vocab.get(chars[b]) ?? -1);
    this.bytesOf = new Array<Uint8Array>(this.bpeSize);
    for (const [token, id] of parsed.vocab) {
      const bytes = Array.from(token, (c) => charByte.get(c));
      // HF's ByteLevel decoder falls back to the token's own UTF-8 when a char is not a byte stand-in.
      this.bytesOf[id] = bytes.every((x) => x !== undefined)
        ? Uint8Array.from(bytes as number[])
        : new TextEncoder().encode(token);
    }

    this.merges = new MergeTable(parsed.merges.length);
    this.mergeResult = new Int32Array(parsed.merges.length);
    parsed.merges.forEach(([a, b], rank) => {
      this.merges.set(parsed.vocab.get(a)!, parsed.vocab.get(b)!, rank);
      this.mergeResult[rank] = parsed.vocab.get(a + b)!;
    });
  }

  static fromJSON(json: unknown, source = 'tokenizer.json'): BpeTokenizer {
    return new BpeTokenizer(parseTokenizerJson(json, source), source);
  }

  static load(path: string): BpeTokenizer {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`${path}: cannot read tokenizer: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
    }
    return BpeTokenizer.fromJSON(json, path);
  }

  encode(text: string): number[] {
    const clean = cleanText(text);
    const ids: number[] = [];
    this.forEachPiece(clean, 0, (start, end) => {
      for (const id of this.pieceIds(clean.slice(start, end))) ids.push(id);
    });
    return ids;
  }

  pretokenize(text: string, from = 0): Array<{ start: number; end: number }> {
    const spans: Array<{ start: number; end: number }> = [];
    this.forEachPiece(cleanText(text), from, (start, end) => {
      spans.push({ start, end });
    });
    return spans;
  }

  /**
   * Calls onPiece with each piece span of `text` (already cleaned) from `from`, which must be a
   * piece boundary; stops early when onPiece returns false. Text between matches is a piece too
   * (HF's "Isolated" behaviour), though the shipped pattern matches every character.
   */
  forEachPiece(
    text: string,
    from: number,
    onPiece: (start: number, end: number) => boolean | void,
  ): void {
    const { regex, sticky } = this;
    let pos = from;
    let searchFrom = from;
    while (pos < text.length) {
      // Fast path: a match right at pos is what the searching regex would find too, and test()
      // allocates no match array (that allocation dominated encoding large files).
      sticky.lastIndex = pos;
      if (searchFrom === pos && sticky.test(text) && sticky.lastIndex > pos) {
        const end = sticky.lastIndex;
        if (onPiece(pos, end) === false) return;
        pos = searchFrom = end;
        continue;
      }
      regex.lastIndex = searchFrom;
      const m = regex.exec(text);
      if (m === null) {
        onPiece(pos, text.length);
        return;
      }
      const start = m.index;
      const end = start + m[0].length;
      if (end === start) {
        searchFrom = start + (text.codePointAt(start)! > 0xffff ? 2 : 1);
        continue;
      }
      if (start > pos && onPiece(pos, start) === false) return;
      if (onPiece(start, end) === false) return;
      pos = searchFrom = end;
    }
  }

  encodePiece(piece: string): number[] {
    return [...this.pieceIds(cleanText(piece))];
  }

  /** BPE of one cleaned piece; the array may be shared with the cache, so it must not be mutated. */
  pieceIds(piece: string): readonly number[] {
    const cached = this.cache.get(piece);
    if (cached !== undefined) return cached;
    const ids = this.merge(this.byteSymbols(piece));
    if (piece.length <= MAX_CACHED_PIECE) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(piece, ids);
    }
    return ids;
  }

  decode(ids: number[]): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.bpeSize) continue;
      parts.push(this.bytesOf[id]);
      total += this.bytesOf[id].length;
    }
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    return UTF8.decode(bytes);
  }

  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0) throw new RangeError(`token id ${id} is not valid`);
    // Like Python's token_bytes, the special tokens have no bytes.
    return id < this.bpeSize ? this.bytesOf[id].slice() : new Uint8Array(0);
  }

  tokenText(id: number): string {
    if (id === this.eos) return '<|endoftext|>';
    if (id === this.hole) return '<|hole|>';
    if (id === this.pad) return '<|pad|>';
    return UTF8.decode(this.tokenBytes(id));
  }

  /** The single-byte ids of the UTF-8 encoding of a cleaned piece. */
  private byteSymbols(piece: string): number[] {
    const out: number[] = [];
    const push = (byte: number): void => {
      const id = this.byteId[byte];
      if (id >= 0) out.push(id);
    };
    for (let i = 0; i < piece.length; i++) {
      let c = piece.charCodeAt(i);
      if (c < 0x80) {
        push(c);
        continue;
      }
      if (c < 0x800) {
        push(0xc0 | (c >> 6));
      } else {
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < piece.length) {
          const low = piece.charCodeAt(i + 1);
          if (low >= 0xdc00 && low <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
            i++;
            push(0xf0 | (c >> 18));
            push(0x80 | ((c >> 12) & 0x3f));
            push(0x80 | ((c >> 6) & 0x3f));
            push(0x80 | (c & 0x3f));
            continue;
          }
        }
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // unpaired: as TextEncoder would
        push(0xe0 | (c >> 12));
        push(0x80 | ((c >> 6) & 0x3f));
      }
      push(0x80 | (c & 0x3f));
    }
    return out;
  }

  /**
   * HF's Word::merge_all: merge the adjacent pair of lowest rank, leftmost on ties, until none is
   * in the merges. A heap of (rank, position) plus a linked list keeps long pieces O(n log n).
   */
  private merge(symbols: number[]): number[] {
    const n = symbols.length;
    if (n < 2) return symbols;
    const sym = Int32Array.from(symbols); // -1 marks a symbol merged into its left neighbour
    const prev = new Int32Array(n);
    const next = new Int32Array(n); // n means none
    const heap = new NumberHeap(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1;
      if (i + 1 < n) {
        const rank = this.merges.get(sym[i], sym[i + 1]);
        if (rank >= 0) heap.push(rank * POS_SPAN + i);
      }
    }
    let alive = n;
    while (heap.size > 0) {
      const key = heap.pop();
      const rank = Math.floor(key / POS_SPAN);
      const pos = key - rank * POS_SPAN;
      const right = next[pos];
      // Entries go stale when either side has merged since; ranks name pairs uniquely.
      if (sym[pos] < 0 || right >= n || this.merges.get(sym[pos], sym[right]) !== rank) continue;
      sym[pos] = this.mergeResult[rank];
      sym[right] = -1;
      alive--;
      const after = next[right];
      next[pos] = after;
      if (after < n) prev[after] = pos;
      const before = prev[pos];
      if (before >= 0) {
        const r = this.merges.get(sym[before], sym[pos]);
        if (r >= 0) heap.push(r * POS_SPAN + before);
      }
      if (after < n) {
        const r = this.merges.get(sym[pos], sym[after]);
        if (r >= 0) heap.push(r * POS_SPAN + pos);
      }
    }
    const out = new Array<number>(alive);
    for (let i = 0, k = 0; i < n; i = next[i]) out[k++] = sym[i];
    return out;
  }
}
