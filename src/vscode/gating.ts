// When to ask for a completion at all, and how long to wait first: pure policy, tested without an editor.
import type { Origin } from '../engine/core/decode';

/** Closing punctuation and quotes that may follow the cursor without blocking a suggestion. */
const CLOSING = /^[\s)\]}>'"`;:,.]*$/;

/**
 * The least first-line probability a suggestion needs to be shown: the setting while the user
 * types, none when they asked for one (Trigger Inline Suggestion): then even an unsure guess helps.
 */
export function confidenceFloor(setting: number, explicit: boolean): number {
  return explicit ? 0 : setting;
}

/**
 * No suggestion in the middle of a word: the rest of the line must be empty or only closing
 * punctuation ("foo(|)" completes, "fo|o" does not). An explicit request (invoke) always completes.
 */
export function shouldComplete(lineText: string, column: number, explicit: boolean): boolean {
  if (explicit) return true;
  const rest = lineText.slice(column);
  return CLOSING.test(rest);
}

export interface DebounceInput {
  /** The configured base delay. */
  baseMs: number;
  /** Recent median completion latency of the engine (NaN when unknown). */
  engineMs: number;
  /** Recent median time between keystrokes in this editor (NaN when unknown). */
  keystrokeMs: number;
}

/**
 * Adaptive debounce: a fast engine waits less (a wasted request is cheap); a user typing fast waits
 * longer (every keystroke would cancel the request anyway). Bounded to [base/2, base*4].
 */
export function debounceDelay({ baseMs, engineMs, keystrokeMs }: DebounceInput): number {
  let d = baseMs;
  if (Number.isFinite(engineMs) && engineMs < baseMs) d = Math.max(baseMs / 2, engineMs);
  if (Number.isFinite(keystrokeMs) && keystrokeMs < 250) d = Math.max(d, keystrokeMs * 1.5);
  return Math.round(Math.min(Math.max(d, baseMs / 2), baseMs * 4));
}

export interface CachedSuggestion {
  uri: string;
  /** Text of the document before the suggestion's anchor. */
  prefix: string;
  suggestion: string;
  /** Where it came from, so an acceptance after typing through counts for the right source. */
  origin: Origin;
}

/**
 * "Typing through": the user typed the first characters of the suggestion shown at `prefix`. Returns
 * what is left of it for the new prefix, or null when the new text diverged (a new model call is due).
 */
export function typeThrough(cached: CachedSuggestion, uri: string, prefix: string): string | null {
  if (cached.uri !== uri || !prefix.startsWith(cached.prefix)) return null;
  const typed = prefix.slice(cached.prefix.length);
  if (typed.length === 0 || !cached.suggestion.startsWith(typed)) return null;
  const rest = cached.suggestion.slice(typed.length);
  return rest.trim() === '' ? null : rest;
}
