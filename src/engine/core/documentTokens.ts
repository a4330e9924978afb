// Keeps a document's token ids equal to tok.encode(text) across edits by re-tokenizing only a
// window around each edit.
import { BpeTokenizer, cleanText } from './tokenizer';

/** Replace the UTF-16 range [start, end) of the old text by `text`. */
export interface TokenEdit {
  start: number;
  end: number;
  text: string;
}

export interface TokenEditResult {
  /** Index of the first id that differs; ids before it are untouched. */
  firstChanged: number;
  /** ids [firstChanged, firstChanged + removed) were replaced by `added` new ones. */
  removed: number;
  added: number;
  /** Characters of the new text that were split and encoded again. */
  retokenizedChars: number;
}

/**
 * UTF-16 units of slack around an edit and at the end of a window. The pre-tokenizer pattern
 * decides where a piece ends from at most two code points past it (a lookahead after whitespace),
 * which is at most four units; twice that costs nothing.
 */
const MARGIN = 8;
/** How far past the edit the first re-split window reaches; it doubles when a piece runs past it. */
const WINDOW = 256;

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Array splice that survives huge insertions (spreading them would overflow the call stack). */
function splice(arr: number[], start: number, remove: number, items: readonly number[]): number[] {
  if (items.length <= 8192) {
    arr.splice(start, remove, ...items);
    return arr;
  }
  return arr.slice(0, start).concat(items, arr.slice(start + remove));
}

export class DocumentTokens {
  private _text: string;
  private _ids: number[] = [];
  /** Pieces of the regex split, in order: their lengths (UTF-16) and token counts (each >= 1). */
  private pieceLen: number[] = [];
  private pieceCount: number[] = [];
  /**
   * Prefix sums over pieces, valid for indices 0..startOf.length-1 and extended on demand: an edit
   * only truncates them at its first re-split piece, so edits near the cursor stay cheap.
   */
  private startOf: number[] = [0];
  private tokenAt: number[] = [0];

  constructor(
    private readonly tok: BpeTokenizer,
    text: string,
  ) {
    this._text = text;
    const clean = cleanText(text);
    this.tok.forEachPiece(clean, 0, (start, end) => {
      this.pushPiece(clean.slice(start, end), this.pieceLen, this.pieceCount, this._ids);
    });
  }

  get text(): string {
    return this._text;
  }

  /** Equal to tok.encode(text). A large edit may replace the array, so read it again after one. */
  get ids(): readonly number[] {
    return this._ids;
  }

  get length(): number {
    return this._ids.length;
  }

  applyEdit(edit: TokenEdit): TokenEditResult {
    const { start, end, text: inserted } = edit;
    const old = this._text;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end) {
      throw new RangeError(`edit range [${start}, ${end}) is not valid`);
    }
    if (end > old.length) {
      throw new RangeError(`edit range [${start}, ${end}) is past the end (${old.length})`);
    }
    const text = old.slice(0, start) + inserted + old.slice(end);
    const delta = inserted.length - (end - start);
    const editEnd = start + inserted.length;
    const n = this.pieceLen.length;

    // Pieces that end MARGIN units before the edit cannot change; restart at one of their ends.
    const first = n === 0 ? 0 : Math.min(this.pieceAt(Math.max(0, start - MARGIN)), n - 1);
    this.extendTo(first);
    const from = this.startOf[first];
    const tokenFrom = this.tokenAt[first];

    const lens: number[] = [];
    const counts: number[] = [];
    const ids: number[] = [];
    let done = from; // end of the last piece accepted in the new text
    let oldPiece = first; // old pieces [first, oldPiece) are covered by the new ones
    let oldEnd = from;
    let synced = false;
    let windowSize = editEnd - from + WINDOW;
    while (!synced && done < text.length) {
      let windowEnd = Math.min(text.length, done + windowSize);
      if (windowEnd < text.length && isHighSurrogate(text.charCodeAt(windowEnd - 1))) windowEnd++;
      const complete = windowEnd === text.length;
      const base = done;
      const window = cleanText(text.slice(base, windowEnd));
      this.tok.forEachPiece(window, 0, (a, b) => {
        const pieceEnd = base + b;
        // A piece this close to the window's end might continue past it: re-split with more text.
        if (!complete && pieceEnd + MARGIN > windowEnd) return false;
        this.pushPiece(window.slice(a, b), lens, counts, ids);
        done = pieceEnd;
        if (pieceEnd < editEnd) return true;
        // Past the edit the texts agree, so a boundary both splits share makes the rest agree.
        const target = pieceEnd - delta;
        while (oldPiece < n && oldEnd < target) oldEnd += this.pieceLen[oldPiece++];
        synced = oldEnd === target;
        return !synced;
      });
      windowSize *= 2;
    }
    if (!synced) oldPiece = n; // the new text ended (or is empty): everything from `first` goes

    let oldCount = 0;
    for (let i = first; i < oldPiece; i++) oldCount += this.pieceCount[i];
    const change = tokenChange(this._ids, tokenFrom, oldCount, ids);
    this._ids = splice(this._ids, change.firstChanged, change.removed, change.items);
    this.pieceLen = splice(this.pieceLen, first, oldPiece - first, lens);
    this.pieceCount = splice(this.pieceCount, first, oldPiece - first, counts);
    this.startOf.length = Math.min(this.startOf.length, first + 1);
    this.tokenAt.length = Math.min(this.tokenAt.length, first + 1);
    this._text = text;
    const { firstChanged, removed, items } = change;
    return { firstChanged, removed, added: items.length, retokenizedChars: done - from };
  }

  tokenOffset(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i > this._ids.length) {
      throw new RangeError(`token index ${i} is not in 0..${this._ids.length}`);
    }
    if (i === this._ids.length) return this._text.length;
    const n = this.pieceLen.length;
    while (this.tokenAt.length <= n && this.tokenAt[this.tokenAt.length - 1] <= i) {
      this.extendTo(this.tokenAt.length);
    }
    return this.startOf[lastAtMost(this.tokenAt, i)];
  }

  tokensBefore(offset: number): number {
    const piece = this.pieceAt(Math.max(0, offset));
    this.extendTo(piece);
    return this.tokenAt[piece];
  }

  /** The piece that contains `offset`, or the piece count when offset is at or past the end. */
  private pieceAt(offset: number): number {
    if (offset >= this._text.length) return this.pieceLen.length;
    const n = this.pieceLen.length;
    while (this.startOf.length <= n && this.startOf[this.startOf.length - 1] <= offset) {
      this.extendTo(this.startOf.length);
    }
    return lastAtMost(this.startOf, offset);
  }

  /** Makes the prefix sums valid up to piece index `i` (at most the piece count). */
  private extendTo(i: number): void {
    const { startOf, tokenAt, pieceLen, pieceCount } = this;
    for (let k = startOf.length - 1; k < i; k++) {
      startOf.push(startOf[k] + pieceLen[k]);
      tokenAt.push(tokenAt[k] + pieceCount[k]);
    }
  }

  private pushPiece(piece: string, lens: number[], counts: number[], ids: number[]): void {
    const pieceIds = this.tok.pieceIds(piece);
    lens.push(piece.length);
    counts.push(pieceIds.length);
    for (const id of pieceIds) ids.push(id);
  }
}

/**
 * The smallest splice turning `old` into old[0, from) + ids + old[from + count, ...). It may reach
 * past the re-split window: an inserted token can equal the ones after it (one more space in a run
 * of spaces), and firstChanged must be the first id that really differs.
 */
function tokenChange(
  old: readonly number[],
  from: number,
  count: number,
  ids: readonly number[],
): { firstChanged: number; removed: number; items: number[] } {
  const shift = ids.length - count;
  const newLength = old.length + shift;
  const at = (j: number): number =>
    j < from ? old[j] : j < from + ids.length ? ids[j - from] : old[j - shift];
  const common = Math.min(old.length, newLength);
  let first = from;
  while (first < common && old[first] === at(first)) first++;
  // Everything after the window is shared; look for more shared ids inside it.
  let tail = Math.min(old.length - (from + count), common - first);
  while (tail < common - first && old[old.length - 1 - tail] === at(newLength - 1 - tail)) tail++;
  const items: number[] = [];
  for (let j = first; j < newLength - tail; j++) items.push(at(j));
  return { firstChanged: first, removed: old.length - first - tail, items };
}

/** Index of the last element <= value in an ascending array whose first element is <= value. */
function lastAtMost(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sorted[mid] <= value) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
