// Messages between the engine client (extension host, CLI) and the inference worker.
import type { TokenEdit } from '../engine/core/documentTokens';
import type { CompleteOptions, CompletionResult, EngineOptions } from '../engine/engine';
import type { Manifest } from '../engine/runtime/manifest';
import type { RuntimeOptions } from '../engine/runtime/runtime';
import type { BackendReport } from '../engine/core/session';

export interface LoadParams {
  folder: string;
  runtime: RuntimeOptions;
  engine: Partial<EngineOptions>;
}

export interface ModelInfo {
  manifest: Manifest;
  backend: string;
  /** Where each kind of run goes and why (null for a session without a scheduler). */
  report: BackendReport | null;
  loadMs: number;
}

export interface CompareParams {
  folders: string[];
  runtime: RuntimeOptions;
  text: string;
  /** The file's language, for models that read a language header. */
  languageId?: string;
  offset: number;
  contexts: number[];
  options: Partial<CompleteOptions>;
}

export interface CompareRow {
  id: string;
  variant: string;
  error?: string;
  suggestion?: string | null;
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
  edit: { request: { uri: string; edits: TokenEdit[] }; response: null };
  close: { request: { uri: string }; response: null };
  remember: { request: { uri: string; text: string }; response: null };
  forget: { request: { uri: string }; response: null };
  cursor: { request: { uri: string; offset: number }; response: null };
  complete: {
    request: { uri: string; offset: number; options: Partial<CompleteOptions> };
    response: CompletionResult;
  };
  encode: { request: { uri: string; offset?: number }; response: null };
  /** Cancels the request with id `target` (answered at once; the target ends as cancelled). */
  cancel: { request: { target: number }; response: null };
  idle: { request: object; response: null };
  stats: {
    request: object;
    response: {
      documents: number;
      stateBytes: number;
      budgetBytes: number;
      checkpoints: number;
    } | null;
  };
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
  report: BackendReport;
}
