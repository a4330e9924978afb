// The generation loop: token healing, sampling, stop rules, token and time budgets, cancellation.
import type { RecallMatcher } from './recall';
import type { SamplingOptions } from './sampling';
import { logProbability, logSumExp, pickToken, seededRandom } from './sampling';
import type { DecoderState, EncoderMemory, StepResult } from './session';
import { checkStop, type StopRules } from './stops';

export type StopReason = 'rule' | 'eos' | 'tokens' | 'time' | 'cancelled' | 'no-token';

export interface GenerateParams {
  /** Logits for the first generated token and the state after the prompt. */
  first: StepResult;
  memory: EncoderMemory | null;
  /** Feeds one token; the engine serialises it with the other users of the session. */
  step: (id: number, state: DecoderState, memory: EncoderMemory | null) => Promise<StepResult>;
  /** Frees a state decoding has moved past (its GPU buffers, when it has any). */
  release?: (state: DecoderState) => void;
  /** Each token's bytes as a binary string (one char per byte), for healing and decoding. */
  tokenBytes: readonly string[];
  /** Ids never generated (hole, pad). */
  banned: ReadonlySet<number>;
  eos: number;
  /** Bytes (binary string) the first tokens must reproduce: the text between the last stable token and the cursor. */
  heal: string;
  rules: StopRules;
  maxTokens: number;
  /** Absolute time (performance.now()) after which generation stops. */
  deadline: number;
  sampling: SamplingOptions;
  cancelled: () => boolean;
  now: () => number;
  /** Exact recall from the documents, mixed into every step's distribution (none: the model alone). */
  recall?: RecallMatcher;
  /** Copy drafts: with recall and greedy decoding, verify recall's continuation in one run. */
  draft?: DraftRunner;
}

/**
 * Speculative decoding with recall as the draft model (copy drafts): when the longest match proposes
 * a continuation, the decoder reads it in one chunk and the logits after each token are checked in
 * order, exactly as step-by-step greedy decoding would pick; the first disagreement costs one more
 * chunk from the state before the draft. The suggestion is the same, with fewer model runs.
 */
export interface DraftRunner {
  /** Feeds ids after state: the logits after each of them (row i: after ids[i]). */
  runAll: (
    ids: number[],
    state: DecoderState,
    memory: EncoderMemory | null,
  ) => Promise<{ rows: Float32Array[]; state: DecoderState }>;
  /** Feeds ids after state: the logits after the last (the chunk that resolves a rejected draft). */
  run: (ids: number[], state: DecoderState, memory: EncoderMemory | null) => Promise<StepResult>;
  /** Most tokens one run takes (the model's max_chunk). */
  maxChunk: number;
  /** Shortest match (tokens) whose continuation is drafted. */
  minOrder: number;
  /** A draft run failed: decoding goes on step by step. */
  onError?: (e: unknown) => void;
}

/** A verified-in-progress draft: `fed` (accepted since `base`) starts with the token before the draft. */
interface PendingDraft {
  base: DecoderState;
  fed: number[];
  draft: number[];
  rows: Float32Array[];
  end: DecoderState;
}

/** Where a suggestion's tokens came from: the model's own choices, recall's, or some of each. */
export type Origin = 'model' | 'recall' | 'both';

export interface Generated {
  /** The suggestion: text after the cursor (the healed prefix removed), cut by the stop rules. */
  text: string;
  ids: number[];
  stop: StopReason;
  /** Milliseconds per model run after the first token (one step, or one draft chunk). */
  stepMs: number[];
  origin: Origin;
  /** Model runs after the prompt's (steps and draft chunks). */
  runs: number;
  /** Tokens accepted from copy drafts without a run of their own. */
  drafted: number;
  /** p.now() when the first token past the healed text was chosen (null: none was). */
  firstTextAt: number | null;
  /**
   * Each chosen token's natural log-probability under the distribution it was picked from (the
   * model's, with recall mixed in), among the tokens allowed there: how sure decoding was.
   */
  logprobs: number[];
}

const utf8 = new TextDecoder('utf-8');

function bytesToText(binary: string): string {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return utf8.decode(bytes);
}

/** A token can follow the un-healed remainder if one is a prefix of the other. */
function compatible(token: string, remaining: string): boolean {
  return token.length > 0 && (remaining.startsWith(token) || token.startsWith(remaining));
}

/** Lets queued events (a cancel message, a newer keystroke) run: awaiting a model run alone only
 *  yields to microtasks, and a whole suggestion would otherwise run before a cancel is seen. */
export const yieldToEvents = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function generate(p: GenerateParams): Promise<Generated> {
  const random = seededRandom(p.sampling.seed);
  const ids: number[] = [];
  const stepMs: number[] = [];
  let remaining = p.heal;
  let bytes = '';
  let result = p.first;
  let stop: StopReason = 'tokens';
  let kept: string | null = null;
  let byModel = 0; // tokens recall did not propose
  let byRecall = 0; // tokens recall proposed (whether or not the model agreed)
  let runs = 0;
  let drafted = 0;
  let firstTextAt: number | null = null;
  const logprobs: number[] = [];
  // Drafts need recall to propose and greedy picks to verify against.
  let drafter = p.recall && p.sampling.temperature <= 0 ? p.draft : undefined;
  let pending: PendingDraft | null = null;
  while (ids.length < p.maxTokens) {
    await yieldToEvents();
    if (p.cancelled()) {
      stop = 'cancelled';
      break;
    }
    const rem = remaining;
    const allowed = (id: number) =>
      !p.banned.has(id) && (rem === '' ? true : id !== p.eos && compatible(p.tokenBytes[id], rem));
    let logits = pending ? pending.rows[pending.fed.length - 1] : result.logits;
    let recallTop = -1;
    let normaliser: number | undefined;
    if (p.recall) {
      const mixed = p.recall.mixLogits(logits);
      logits = mixed.logits;
      recallTop = mixed.vote.top;
      normaliser = mixed.logSumExp;
    }
    const id = pickToken(logits, allowed, p.sampling, random);
    if (recallTop >= 0 && id === recallTop) byRecall++;
    else if (id >= 0) byModel++;
    if (id < 0) {
      stop = 'no-token';
      break;
    }
    if (id === p.eos) {
      stop = 'eos';
      break;
    }
    ids.push(id);
    // past the healed text, over the whole vocabulary (the banned hole and pad carry ~no mass), with
    // recall's normaliser when it gave one: a second pass over the vocabulary costs ~5% of a step
    logprobs.push(
      rem === ''
        ? logits[id] - (normaliser ?? logSumExp(logits))
        : logProbability(logits, id, allowed),
    );
    p.recall?.advance(id);
    const hadText = bytes !== '';
    const tb = p.tokenBytes[id];
    if (remaining !== '') {
      if (tb.length >= remaining.length) {
        bytes += tb.slice(remaining.length);
        remaining = '';
      } else {
        remaining = remaining.slice(tb.length);
      }
    } else {
      bytes += tb;
    }
    if (!hadText && bytes !== '') firstTextAt ??= p.now();
    if (remaining === '' && bytes !== '') {
      kept = checkStop(bytesToText(bytes), p.rules);
      if (kept !== null) {
        stop = 'rule';
        break;
      }
    }
    if (p.now() >= p.deadline) {
      stop = 'time';
      break;
    }
    if (ids.length >= p.maxTokens) break;
    const t0 = p.now();
    if (pending) {
      const accepted: PendingDraft = pending;
      if (id === accepted.draft[accepted.fed.length - 1]) {
        accepted.fed.push(id);
        drafted++;
        if (accepted.fed.length > accepted.draft.length) {
          // every drafted token was the greedy choice: the chunk's state is where decoding stands
          p.release?.(accepted.base);
          result = { logits: accepted.rows[accepted.draft.length], state: accepted.end };
          pending = null;
        }
        continue;
      }
      // step by step would have fed the accepted tokens and this one after the draft's base
      pending = null;
      p.release?.(accepted.end);
      result = await drafter!.run([...accepted.fed, id], accepted.base, p.memory);
      p.release?.(accepted.base);
      runs++;
      stepMs.push(p.now() - t0);
      continue;
    }
    const prev = result.state;
    const draft = drafter
      ? p.recall!.draft(Math.min(drafter.maxChunk - 1, p.maxTokens - ids.length), drafter.minOrder)
      : [];
    if (drafter && draft.length >= 2) {
      try {
        const r = await drafter.runAll([id, ...draft], prev, p.memory);
        pending = { base: prev, fed: [id], draft, rows: r.rows, end: r.state };
        runs++;
        stepMs.push(p.now() - t0);
        continue;
      } catch (e) {
        drafter.onError?.(e);
        drafter = undefined;
      }
    }
    result = await p.step(id, prev, p.memory);
    p.release?.(prev);
    runs++;
    stepMs.push(p.now() - t0);
  }
  if (pending) p.release?.(pending.end);
  p.release?.(result.state);
  const text = kept ?? bytesToText(bytes);
  const origin: Origin = byRecall === 0 ? 'model' : byModel === 0 ? 'recall' : 'both';
  return {
    text: remaining === '' ? text : '',
    ids,
    stop,
    stepMs,
    origin,
    runs,
    drafted,
    firstTextAt,
    logprobs,
  };
}
