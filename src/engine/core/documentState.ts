// Per-document state store: the document's tokens and the decoder states known to be exact for them.
//
// Stream positions count tokens of [...lead, ...document ids], the lead being <eos> and the model's
// language header if it has one: the state at position k has read the first k. Edits drop the states they invalidate; the best dropped state near the cursor is kept as
// "stale" (shifted by the edit's token delta) so completions can be served from it while the
// background catch-up rebuilds exact states.
import { DocumentTokens, type TokenEdit } from './documentTokens';
import type { DecoderState, EncoderMemory } from './session';
import type { BpeTokenizer } from './tokenizer';

export interface PositionedState {
  pos: number;
  state: DecoderState;
}

export class DocumentState {
  readonly tokens: DocumentTokens;
  version = 0;
  cursor = 0;
  lastUsed = 0;
  closed = false;
  stale: PositionedState | null = null;
  memory: { mem: EncoderMemory; version: number; offset: number } | null = null;
  encodeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly states = new Map<number, DecoderState>();
  private sorted: number[] = [];

  constructor(
    tok: BpeTokenizer,
    text: string,
    readonly lead: readonly number[],
  ) {
    if (lead.length === 0) throw new Error('a document stream needs a lead (at least <eos>)');
    this.tokens = new DocumentTokens(tok, text);
  }

  get text(): string {
    return this.tokens.text;
  }

  /** Tokens in the stream: the lead plus the document's. */
  get streamLength(): number {
    return this.tokens.length + this.lead.length;
  }

  streamAt(i: number): number {
    return i < this.lead.length ? this.lead[i] : this.tokens.ids[i - this.lead.length];
  }

  streamSlice(from: number, to: number): number[] {
    const out: number[] = [];
    for (let i = from; i < to; i++) out.push(this.streamAt(i));
    return out;
  }

  applyEdit(edit: TokenEdit): { firstChanged: number; delta: number } {
    const r = this.tokens.applyEdit(edit);
    this.version++;
    const keepUpTo = r.firstChanged + this.lead.length; // states that read only unchanged stream tokens
    const delta = r.added - r.removed;
    let bestDropped: PositionedState | null = null;
    for (const pos of this.sorted) {
      if (pos <= keepUpTo) continue;
      const state = this.states.get(pos)!;
      if (!bestDropped || pos > bestDropped.pos) bestDropped = { pos, state };
      this.states.delete(pos);
    }
    this.sorted = this.sorted.filter((p) => p <= keepUpTo);
    // A stale state past the edit moves with the text after it; one before the edit stays put.
    if (this.stale && this.stale.pos > keepUpTo)
      this.stale = { ...this.stale, pos: this.stale.pos + delta };
    if (bestDropped && bestDropped.pos + delta > keepUpTo) {
      if (!this.stale || bestDropped.pos + delta > this.stale.pos) {
        this.stale = { pos: bestDropped.pos + delta, state: bestDropped.state };
      }
    }
    return { firstChanged: r.firstChanged, delta };
  }

  put(pos: number, state: DecoderState): void {
    if (pos > this.streamLength || this.states.has(pos)) return;
    this.states.set(pos, state);
    const i = this.sorted.findIndex((p) => p > pos);
    if (i < 0) this.sorted.push(pos);
    else this.sorted.splice(i, 0, pos);
  }

  /** The exact state with the largest position <= target (position 0 is always available to callers). */
  bestAtMost(target: number): PositionedState | null {
    let lo = 0;
    let hi = this.sorted.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid] <= target) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return null;
    const pos = this.sorted[found];
    return { pos, state: this.states.get(pos)! };
  }

  get positions(): readonly number[] {
    return this.sorted;
  }

  get bytes(): number {
    let b = this.memory?.mem.bytes ?? 0;
    for (const s of this.states.values()) b += s.bytes;
    if (this.stale) b += this.stale.state.bytes;
    return b;
  }

  /** Drops one state to save memory: the one farthest from the cursor's position (never the nearest below it). */
  dropFarthest(cursorPos: number): boolean {
    if (this.stale) {
      this.stale = null;
      return true;
    }
    if (this.sorted.length === 0) return false;
    const keep = this.bestAtMost(cursorPos)?.pos;
    let far = -1;
    let farDist = -1;
    for (const p of this.sorted) {
      const d = Math.abs(p - cursorPos);
      if (p !== keep && d > farDist) [far, farDist] = [p, d];
    }
    if (far < 0) far = this.sorted[0];
    this.states.delete(far);
    this.sorted = this.sorted.filter((p) => p !== far);
    return true;
  }

  clearStates(): void {
    this.states.clear();
    this.sorted = [];
    this.stale = null;
    this.memory = null;
  }
}
