// Messages between the engine client (extension host, CLI) and the inference worker. Their payloads
// are the protocol's own wire types, plain data with no classes or functions: the engine's types can
// change without changing what crosses the thread, and where the two drift apart the assertions at
// the end of this file stop the build instead of a field going missing at run time.
import type { TokenEdit } from '../engine/core/documentTokens';
import type { RecallOptions } from '../engine/core/recall';
import type { BackendReport, Manifest } from '../engine/core/session';
import type { CompleteOptions, CompletionResult, Engine, EngineOptions } from '../engine/engine';
import type { RuntimeOptions } from '../engine/runtime/runtime';

// ---- Wire types ------------------------------------------------------------------------------

export type WireBackendKind = 'wasm' | 'webgpu';

export interface WireWebGpuOptions {
  /** Folders searched for `<platform>-<arch>/dawn.node`. */
  addonDirs?: string[];
  /** Dawn toggles, e.g. ['backend=opengles']. */
  dawn?: string[];
}

export interface WireRuntimeOptions {
  /** WASM threads (0 = onnxruntime's default). */
  threads: number;
  /** Folder holding onnxruntime's .mjs/.wasm files when running from a bundle. */
  wasmPaths?: string;
  backend?: 'auto' | WireBackendKind;
  webgpu?: WireWebGpuOptions;
}

/** Recall's constants, all of them (`linea eval` sends the set it measures with). */
export interface WireRecallOptions {
  maxOrder: number;
  kappa: number;
  kappaPartial: number;
  maxCandidates: number;
  scanBudget: number;
  maxRescans: number;
  rescanBudget: number;
  draftMinOrder: number;
  orderDecay: number;
  kappaFar: number;
  orderDecayFar: number;
  distinctPower: number;
  distinctPowerFar: number;
}

export interface WireRecentFiles {
  maxFiles: number;
  maxBytes: number;
}

/** The engine options callers set (the extension: memory, warm-up, recent files; the CLI: exact reads, recall). */
export interface WireEngineOptions {
  memoryBudgetBytes?: number;
  syncReadLimit?: number;
  warmUpMs?: number;
  recall?: WireRecallOptions;
  recentFiles?: WireRecentFiles;
}

/** The completion options callers set: the editor's settings (sampling and copy drafts stay the engine's). */
export interface WireCompleteOptions {
  multiline?: boolean;
  maxLines?: number;
  maxTokens?: number;
  timeBudgetMs?: number;
  tabSize?: number;
  recall?: boolean;
  recallOpenEditors?: boolean;
  recallRecentFiles?: boolean;
  minConfidence?: number;
}

export type WireStopReason = 'rule' | 'eos' | 'tokens' | 'time' | 'cancelled' | 'no-token';

export interface WireTimings {
  totalMs: number;
  prefillMs: number;
  firstTokenMs: number;
  stepMs: number[];
}

export interface WireCompletionResult {
  /** The suggestion after post-processing; null when there is nothing worth showing. */
  text: string | null;
  /** Why text is null; null when there is a suggestion. */
  declined: string | null;
  raw: string;
  model: string;
  /** Tokens read to bring the state to the cursor. */
  reread: number;
  source: 'exact' | 'stale' | 'window';
  memory: 'file' | 'null' | 'none';
  stop: WireStopReason;
  tokens: number;
  origin: 'model' | 'recall' | 'both';
  runs: number;
  drafted: number;
  /** The probability decoding gave the first line, and each generated token's log-probability. */
  confidence: number;
  logprobs: number[];
  timings: WireTimings;
}

/** The part of a model's manifest.json that callers show. */
export interface WireManifest {
  id: string;
  variant: string;
  parameters: number;
}

export interface WireBackendReport {
  /** For the status bar: "WASM", "WebGPU", "WebGPU + WASM". */
  label: string;
  gpu: string | null;
  step: WireBackendKind;
  prefill: WireBackendKind;
  encoder: WireBackendKind;
  capture: boolean;
  timings: {
    step?: Record<string, number>;
    prefill?: Record<string, number>;
    encoder?: Record<string, number>;
  };
  transferMs: number | null;
  note: string | null;
}

/** Replace UTF-16 units [start, end) of the document with `text`. */
export interface WireTokenEdit {
  start: number;
  end: number;
  text: string;
}

export interface WireStats {
  documents: number;
  stateBytes: number;
  budgetBytes: number;
  checkpoints: number;
}

// ---- Messages --------------------------------------------------------------------------------

export interface LoadParams {
  folder: string;
  runtime: WireRuntimeOptions;
  engine: WireEngineOptions;
}

export interface ModelInfo {
  manifest: WireManifest;
  backend: string;
  /** Where each kind of run goes and why (null for a session without a scheduler). */
  report: WireBackendReport | null;
  loadMs: number;
}

export interface CompareParams {
  folders: string[];
  runtime: WireRuntimeOptions;
  text: string;
  /** The file's language, for models that read a language header. */
  languageId?: string;
  offset: number;
  contexts: number[];
  options: WireCompleteOptions;
}

export interface CompareRow {
  id: string;
  variant: string;
  error?: string;
  suggestion?: string | null;
  /** The probability the model gave the suggestion's first line. */
  confidence?: number;
  ttfsMs?: number;
  stepMsByContext?: Array<{ context: number; ms: number }>;
  stateBytesByContext?: Array<{ context: number; bytes: number }>;
}

/**
 * Every message the worker takes, its request's fields beside its response: one entry per message,
 * so a request and what answers it cannot drift apart (the client's call() and the worker's handler
 * are both typed from this table).
 */
export interface Messages {
  load: { request: { params: LoadParams }; response: ModelInfo };
  unload: { request: object; response: null };
  open: { request: { uri: string; text: string; languageId?: string }; response: null };
  edit: { request: { uri: string; edits: WireTokenEdit[] }; response: null };
  close: { request: { uri: string }; response: null };
  remember: { request: { uri: string; text: string }; response: null };
  forget: { request: { uri: string }; response: null };
  cursor: { request: { uri: string; offset: number }; response: null };
  complete: {
    request: { uri: string; offset: number; options: WireCompleteOptions };
    response: WireCompletionResult;
  };
  encode: { request: { uri: string; offset?: number }; response: null };
  /** Cancels the request with id `target` (answered at once; the target ends as cancelled). */
  cancel: { request: { target: number }; response: null };
  idle: { request: object; response: null };
  stats: { request: object; response: WireStats | null };
  compare: { request: { params: CompareParams }; response: CompareRow[] };
  /** Test builds only: the worker exits as a crash would. */
  crash: { request: object; response: null };
}

export type Kind = keyof Messages;

/** The request of message K (all of them when K is the whole union). */
export type Request<K extends Kind = Kind> = K extends Kind
  ? { kind: K } & Messages[K]['request']
  : never;

export type Response<K extends Kind> = Messages[K]['response'];

export type Envelope = { id: number } & Request;

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string } };

/** Unasked news from the worker: the backend plan changed (measured, or WebGPU failed). */
export interface WorkerEvent {
  event: 'backend';
  report: WireBackendReport;
}

// ---- Wire types against the engine's ---------------------------------------------------------

/** true when A and B are the same type (fields, their types, optional and readonly marks). */
export type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Fails to compile unless T is true. */
export type Assert<T extends true> = T;

/** true when every field of Wire is a field of Engine with the same type; Engine may have more. */
export type Within<Wire, Engine> = [Exclude<keyof Wire, keyof Engine>] extends [never]
  ? Equals<Required<Wire>, Pick<Required<Engine>, keyof Wire & keyof Engine>>
  : false;

/**
 * Compiles only while the wire types match the engine's. Where the wire carries a whole engine value
 * (results, backend reports, stats, edits, recall's constants) the two types are equal: a field added
 * in the engine fails here until the wire type has it too (and then the worker's copy, which the
 * compiler asks for). Options and the manifest are narrower by design: each of their fields must be
 * the engine's field of that name and type, and a field the wire does not carry is no error.
 */
export type WireMatchesEngine = [
  Assert<Equals<WireCompletionResult, CompletionResult>>,
  Assert<Equals<WireBackendReport, BackendReport>>,
  Assert<Equals<WireTokenEdit, TokenEdit>>,
  Assert<Equals<WireStats, ReturnType<Engine['stats']>>>,
  Assert<Within<WireManifest, Manifest>>,
  Assert<Within<WireRuntimeOptions, RuntimeOptions>>,
  Assert<Within<WireCompleteOptions, CompleteOptions>>,
  Assert<Within<WireEngineOptions, EngineOptions>>,
  Assert<Equals<WireRecallOptions, RecallOptions>>,
];
