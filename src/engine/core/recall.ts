// Exact recall of what the code already says, mixed into every decoding step.
//
// A constant-state decoder cannot recall an exact earlier token sequence (Zoology, Based, DeltaNet all
// trace most of the small-scale gap to softmax to this). A cache does, at no training cost: Tu et al.
// 2014 and Hellendoorn & Devanbu 2017 (SLP-Core) mix nested n-gram caches of the file with the model.
// Here the cache is the documents' own token arrays, searched at the cursor rather than indexed: one
// pass finds every position whose preceding tokens match the context's tail (up to maxOrder), and each
// generated token narrows those positions in O(candidates). So nothing is stored per document and
// nothing is updated per edit; a completion pays one linear pass over at most scanBudget tokens.

import { logSumExp } from './sampling';

export interface RecallOptions {
  /** Longest context (tokens) matched; the highest order has the final say. */
  maxOrder: number;
  /** κ in λ = c / (c + κ): how many matching occurrences it takes for recall to out-vote the model. */
  kappa: number;
  /** κ for order 0, the tokens that complete a partial word at the cursor: one such name in the
   *  file is strong evidence, since the user has typed its first letters. */
  kappaPartial: number;
  /** Positions kept after a scan (the longest matches first, then the nearest to the cursor). */
  maxCandidates: number;
  /** Most tokens one completion scans, over all sources. */
  scanBudget: number;
  /** Rescans allowed per completion when every candidate has been ruled out. */
  maxRescans: number;
  /** Most tokens a rescan visits (the nearest to the cursor). */
  rescanBudget: number;
  /** Copy drafts: the shortest match (tokens) whose continuation is verified in one run. */
  draftMinOrder: number;
  /** γ: order k uses κ·γ^(k-1), so a long match needs fewer occurrences to have its say. */
  orderDecay: number;
  /** κ and γ for recently edited files (distance 2), weaker evidence than what is open. */
  kappaFar: number;
  orderDecayFar: number;
  /** α: order k's κ is also multiplied by u_k^α, u_k the distinct tokens that followed its matches
   *  (Witten-Bell's idea): a context always followed by the same token keeps κ, one followed by many
   *  different tokens says less about which comes next. 0 turns it off. */
  distinctPower: number;
  distinctPowerFar: number;
}

const NO_VOTE: RecallVote = { order: -1, count: 0, top: -1 };
const IDENTIFIER_PIECE = /^[ \t]?[A-Za-z_$][\w$]*$/;

// The longest order was chosen on the validation split (150 line-completion cuts, linea-deltanet; EM /
// edit similarity): κ 4, order 8: 17.3 / 39.0; κ 4, order 16: 19.3 / 39.0; κ 4, order 32: 19.3 / 38.9.
// κ and γ were then fitted on the validation split's bits/byte (models/training/fit_recall.py over 29k
// tokens of 40 files, with 20 files of the same package as the recently edited ones): κ 8 everywhere
// -12.2% against the model alone. For the document, bits/byte alone would pick κ 32 γ 0.8, but that
// lets the model out-vote a line written once before (`this.visit([` -> `this.visit(this.` instead of
// the earlier line): κ 8 γ 0.9 keeps those copies. Open editors, which the user chose to have beside
// the code, count as the document. Then α (κ times u_k^α, u_k the distinct tokens that followed the
// order-k matches): a line written once has u = 1 and keeps κ 8 γ 0.9, while a context followed by many
// different tokens (`(`, `self.`) defers to the model. α 1: val bits/byte -9.8% -> -13.3% with the
// document alone, -21.0% -> -28.0% with 20 recent files (far κ 1024 γ 0.6 -> κ 32 γ 0.8, refitted with
// α); val line EM/edit similarity 19.0/39.5 -> 21.0/41.1 (200 cuts), 19.5/40.6 -> 22.5/42.3 with the
// recent files. α 1.5 fitted bits/byte 0.2 points better but lost a point of line EM.
export const DEFAULT_RECALL_OPTIONS: RecallOptions = {
  maxOrder: 16,
  kappa: 8,
  kappaPartial: 1,
  maxCandidates: 2048,
  scanBudget: 4_000_000,
  maxRescans: 4,
  rescanBudget: 65_536,
  draftMinOrder: 2,
  orderDecay: 0.9,
  kappaFar: 32,
  orderDecayFar: 0.8,
  distinctPower: 1,
  distinctPowerFar: 1,
};

/** A token array to recall from; positions in [skipFrom, skipTo) are never predicted from (the cursor's own text). */
export interface RecallSource {
  ids: ArrayLike<number>;
  /**
   * How far from the cursor's document: 0 the document (the default), 1 another open editor, 2 a
   * recently edited file. The mixture is nested from the farthest to the document, which has the
   * final say, so counts from far files never out-vote what the document itself says.
   */
  distance?: number;
  skipFrom?: number;
  skipTo?: number;
}

interface Candidate {
  src: number;
  /** Index of the token this occurrence predicts next. */
  pos: number;
  /** Tokens before pos that equal the context's tail (1..maxOrder); 0: only its token fits the healed text. */
  len: number;
}

/** The text the first tokens must reproduce (token healing) and every token's bytes. */
export interface RecallHeal {
  bytes: string;
  tokenBytes: readonly string[];
}

/** What recall contributed to one decoding step. */
export interface RecallVote {
  /** Highest order with a candidate (0: only the healed piece matched; -1: nothing). */
  order: number;
  /** Occurrences matching at that order. */
  count: number;
  /** The token they predict most often. */
  top: number;
}

export class RecallMatcher {
  private cands: Candidate[] = [];
  private context: number[];
  private rescans = 0;

  /** Tokens that fit the healed text, while the cursor's piece is being re-read (null after). */
  private healIds: Set<number> | null = null;

  /**
   * With `heal`, the cursor stands in a piece the decoder re-reads (`return h|`): occurrences of any
   * token that fits it take part as order 0, so `hash` from the next line is found though nothing
   * before it matches the context.
   */
  constructor(
    private readonly sources: readonly RecallSource[],
    context: readonly number[],
    readonly options: RecallOptions = DEFAULT_RECALL_OPTIONS,
    heal?: RecallHeal,
  ) {
    this.context = context.slice(-options.maxOrder);
    // Only a partial identifier: a lone space or an indentation fits most of the vocabulary, and
    // their counts in the file would out-vote the model on what comes next.
    if (heal && IDENTIFIER_PIECE.test(heal.bytes)) {
      this.healIds = new Set();
      heal.tokenBytes.forEach((tb, id) => {
        if (tb.length > 0 && (tb.startsWith(heal.bytes) || heal.bytes.startsWith(tb)))
          this.healIds!.add(id);
      });
    }
    this.scan();
  }

  get candidates(): number {
    return this.cands.length;
  }

  /** One pass over the sources: every position whose preceding tokens match the context's tail. */
  private scan(): void {
    const { maxOrder, maxCandidates } = this.options;
    const ctx = this.context;
    const last = ctx.length - 1;
    const byLen: Candidate[][] = Array.from({ length: maxOrder + 1 }, () => []);
    const heal = this.healIds;
    // A rescan (mid-suggestion) looks only near the cursor: it must not cost a pass over every file.
    let budget = this.rescans > 0 ? this.options.rescanBudget : this.options.scanBudget;
    if (last < 0 && !heal) return;
    const tail = last >= 0 ? ctx[last] : -1;
    const visit = (s: number, ids: ArrayLike<number>, pos: number) => {
      if (ids[pos - 1] !== tail) {
        if (heal?.has(ids[pos]) && byLen[0].length < maxCandidates)
          byLen[0].push({ src: s, pos, len: 0 });
        return;
      }
      let len = 1;
      while (len < maxOrder && len <= last && pos - 1 - len >= 0) {
        if (ids[pos - 1 - len] !== ctx[last - len]) break;
        len++;
      }
      const bucket = byLen[len];
      if (bucket.length < maxCandidates) bucket.push({ src: s, pos, len });
    };
    for (let s = 0; s < this.sources.length && budget > 0; s++) {
      const { ids, skipFrom, skipTo } = this.sources[s];
      // Nearest first, so full buckets keep what is close: back from the cursor, then on after it.
      const from = skipFrom ?? ids.length;
      const to = skipTo ?? ids.length;
      for (let pos = Math.min(from, ids.length) - 1; pos >= 1 && budget > 0; pos--, budget--)
        visit(s, ids, pos);
      for (let pos = Math.max(1, to); pos < ids.length && budget > 0; pos++, budget--)
        visit(s, ids, pos);
    }
    const out: Candidate[] = [];
    for (let len = maxOrder; len >= 0 && out.length < maxCandidates; len--)
      for (const c of byLen[len]) {
        if (out.length >= maxCandidates) break;
        out.push(c);
      }
    this.cands = out;
  }

  /**
   * Recall's share of the mixture, nested from order 1 up within each distance and from the farthest
   * distance to the document: at order k with c_k occurrences of which n_k(t) continue with t,
   * p(t) <- (n_k(t) + κ p(t)) / (c_k + κ). Unrolled, the result is scale * p_model(t) + add(t), with
   * add non-zero only for the tokens the occurrences continue with.
   */
  private weights(): { scale: number; add: Map<number, number>; vote: RecallVote } | null {
    if (this.cands.length === 0) return null;
    const byDistance = new Map<number, Candidate[]>();
    for (const c of this.cands) {
      const d = this.sources[c.src].distance ?? 0;
      const group = byDistance.get(d);
      if (group) group.push(c);
      else byDistance.set(d, [c]);
    }
    const o = this.options;
    if (byDistance.size === 1) {
      const [[d, cands]] = byDistance;
      return d < 2
        ? this.level(cands, o.kappa, o.orderDecay, o.distinctPower)
        : this.level(cands, o.kappaFar, o.orderDecayFar, o.distinctPowerFar);
    }
    let scale = 1;
    let add = new Map<number, number>();
    let vote = NO_VOTE;
    for (const d of [...byDistance.keys()].sort((x, y) => y - x)) {
      const level =
        d < 2
          ? this.level(byDistance.get(d)!, o.kappa, o.orderDecay, o.distinctPower)
          : this.level(byDistance.get(d)!, o.kappaFar, o.orderDecayFar, o.distinctPowerFar);
      // p <- s·p + a applied to p = scale·p_model + add: the earlier add is scaled too
      const next = new Map<number, number>();
      for (const [t, a] of add) next.set(t, a * level.scale);
      for (const [t, a] of level.add) next.set(t, (next.get(t) ?? 0) + a);
      add = next;
      scale *= level.scale;
      if (level.vote.order >= vote.order) vote = level.vote; // nearer wins a tie
    }
    return { scale, add, vote };
  }

  /** One distance's nested mixture over its occurrences, as p <- scale·p + add. */
  private level(
    cands: readonly Candidate[],
    kappa: number,
    decay: number,
    power: number,
  ): { scale: number; add: Map<number, number>; vote: RecallVote } {
    const { maxOrder } = this.options;
    // c_k: occurrences matching at least k tokens (suffix sums of the length histogram)
    const atLeast = new Float64Array(maxOrder + 2);
    const byLen: number[][] = Array.from({ length: maxOrder + 1 }, () => []);
    let order = 0;
    for (const c of cands) {
      atLeast[c.len]++;
      byLen[c.len].push(this.sources[c.src].ids[c.pos]);
      if (c.len > order) order = c.len;
    }
    for (let k = maxOrder - 1; k >= 0; k--) atLeast[k] += atLeast[k + 1];
    const lowest = atLeast[0] > atLeast[1] ? 0 : 1; // order 0 only where the healed piece put candidates
    // u_k: distinct tokens after the occurrences matching at least k tokens
    const distinct = new Float64Array(maxOrder + 2);
    const seen = new Set<number>();
    for (let k = order; k >= 0; k--) {
      for (const t of byLen[k]) seen.add(t);
      distinct[k] = seen.size;
    }
    // Unrolled: p = scale·p_model + Σ_k w_k n_k(t), w_k = Π_{j>k} keep_j / (c_k + κ); an occurrence
    // matching L tokens counts in every n_k with k <= L, so it adds W(L) = Σ_{k<=L} w_k to its token.
    const w = new Float64Array(maxOrder + 2);
    let scale = 1;
    for (let k = order; k >= lowest; k--) {
      const kk =
        k === 0
          ? this.options.kappaPartial
          : kappa * decay ** (k - 1) * Math.max(1, distinct[k]) ** power;
      w[k] = scale / (atLeast[k] + kk);
      scale *= kk / (atLeast[k] + kk);
    }
    for (let k = lowest + 1; k <= order; k++) w[k] += w[k - 1];
    const add = new Map<number, number>();
    const best = new Map<number, number>(); // token -> occurrences at the highest order
    for (const c of cands) {
      const t = this.sources[c.src].ids[c.pos];
      add.set(t, (add.get(t) ?? 0) + w[c.len]);
      if (c.len === order) best.set(t, (best.get(t) ?? 0) + 1);
    }
    let top = -1;
    let topCount = 0;
    for (const [t, n] of best)
      if (n > topCount) {
        top = t;
        topCount = n;
      }
    return { scale, add, vote: { order, count: atLeast[order], top } };
  }

  /**
   * The mixture's inputs for one token, for fitting its constants offline: by distance d (0..2),
   * occurrences matching at least k tokens (atLeast[d][k]) and those that continue with `t` (hits).
   */
  orderCounts(t: number): { atLeast: number[][]; hits: number[][]; distinct: number[][] } {
    const row = () => new Array<number>(this.options.maxOrder + 1).fill(0);
    const atLeast = [row(), row(), row()];
    const hits = [row(), row(), row()];
    const seen = [0, 1, 2].map(() =>
      Array.from({ length: this.options.maxOrder + 1 }, () => new Set<number>()),
    );
    for (const c of this.cands) {
      const src = this.sources[c.src];
      const d = Math.min(2, src.distance ?? 0);
      const next = src.ids[c.pos];
      for (let k = 0; k <= c.len; k++) {
        atLeast[d][k]++;
        if (next === t) hits[d][k]++;
        seen[d][k].add(next);
      }
    }
    return { atLeast, hits, distinct: seen.map((r) => r.map((set) => set.size)) };
  }

  /** Mixes recall into `probs` (a distribution, changed in place). */
  mix(probs: Float32Array): RecallVote {
    const w = this.weights();
    if (!w) return NO_VOTE;
    for (let t = 0; t < probs.length; t++) probs[t] *= w.scale;
    for (const [t, a] of w.add) if (t < probs.length) probs[t] += a;
    return w.vote;
  }

  /**
   * The same mixture on logits, for the samplers: log(scale·softmax(l) + add) up to a constant, which
   * leaves every token recall does not name at its own logit, so one pass (the log-sum-exp) suffices.
   * `logSumExp` is the output's own, for the chosen token's probability at no second pass.
   */
  mixLogits(logits: Float32Array): { logits: Float32Array; vote: RecallVote; logSumExp?: number } {
    const w = this.weights();
    if (!w) return { logits, vote: NO_VOTE };
    const lse = logSumExp(logits);
    // l'(t) = log(exp(l(t)) + add(t) · exp(lse) / scale), as log-add-exp so nothing overflows
    const out = logits.slice();
    let added = 0; // Σ add/scale: the output's normaliser is exp(lse)·(1 + added), no second pass
    for (const [t, a] of w.add) {
      if (t >= out.length || a <= 0) continue;
      const extra = Math.log(a / w.scale) + lse; // log of add·e^lse/scale
      const hi = Math.max(logits[t], extra);
      out[t] = hi + Math.log(Math.exp(logits[t] - hi) + Math.exp(extra - hi));
      added += a / w.scale;
    }
    return { logits: out, vote: w.vote, logSumExp: lse + Math.log1p(added) };
  }

  /**
   * A copy draft: what followed the nearest occurrence matching the longest context, up to `max`
   * tokens (none when no occurrence matches at least `minOrder` tokens). Decoding verifies it in
   * one run rather than guessing with it: a draft never changes what is generated, only how fast.
   */
  draft(max: number, minOrder: number): number[] {
    let best: Candidate | null = null;
    for (const c of this.cands) if (!best || c.len > best.len) best = c; // nearest first within a length
    if (!best || best.len < minOrder) return [];
    const { ids, skipFrom } = this.sources[best.src];
    let end = Math.min(ids.length, best.pos + max);
    // never copy the cursor's own text (scan and advance keep candidates out of it; a draft stops there)
    if (skipFrom !== undefined && best.pos < skipFrom) end = Math.min(end, skipFrom);
    return Array.from({ length: Math.max(0, end - best.pos) }, (_, i) => ids[best.pos + i]);
  }

  /** The decoder emitted `id`: keep the occurrences that continue with it, one token longer. */
  advance(id: number): void {
    const { maxOrder } = this.options;
    this.healIds = null;
    this.context.push(id);
    if (this.context.length > maxOrder) this.context.shift();
    const next: Candidate[] = [];
    for (const c of this.cands) {
      const src = this.sources[c.src];
      if (src.ids[c.pos] !== id || c.pos + 1 >= src.ids.length) continue;
      const pos = c.pos + 1;
      if (src.skipFrom !== undefined && pos >= src.skipFrom && pos < (src.skipTo ?? 0)) continue;
      next.push({ src: c.src, pos, len: Math.min(maxOrder, c.len + 1) });
    }
    this.cands = next;
    if (next.length === 0 && this.rescans < this.options.maxRescans) {
      this.rescans++;
      this.scan();
    }
  }
}

/** Softmax of logits into a new distribution (max-shifted, so large logits do not overflow). */
export function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < logits.length; i++) out[i] /= sum;
  return out;
}

/**
 * The model-free baseline recall is measured against: the latest earlier occurrence of the longest
 * text (at most maxChars) that ends at the cursor, and what followed it to the end of that line.
 */
export function copyRule(before: string, maxChars = 60): string {
  for (let n = Math.min(maxChars, before.length - 1); n >= 1; n--) {
    const at = before.lastIndexOf(before.slice(before.length - n), before.length - n - 1);
    if (at < 0) continue;
    const eol = before.indexOf('\n', at + n);
    return before.slice(at + n, eol < 0 ? before.length : eol);
  }
  return '';
}
